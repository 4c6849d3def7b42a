//! The bodies of spool's fuzz targets: everything a client can make the broker read before
//! (and while) it trusts nothing — the frame reader, request headers, every request decoder,
//! record batches, the SASL exchanges. Each function takes the fuzzer's bytes, drives the
//! broker's own code with them, and panics where an invariant breaks; an error answer is
//! fine, a panic, a hang or an outsized allocation is a finding.
//!
//! The binaries in `fuzz_targets/` hand these to libFuzzer (`make fuzz`, nightly);
//! `tests/corpus.rs` replays every committed input through them on stable, in CI.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use kafka_protocol::messages::RequestHeader;
use kafka_protocol::protocol::Decodable;
use ring::signature::KeyPair as _;
use spool::config::SOCKET_REQUEST_MAX_BYTES_DEFAULT;
use spool::handlers::SUPPORTED_APIS;
use spool::protocol::{decode_request, guard, DecodeError};
use spool::records::{batch, control, raw, stamps, BatchView};
use spool::sasl::{
    Exchange, JwtSettings, JwtValidator, Mechanism, OAuthBearerExchange, PlainExchange,
    ScramCredential, ScramExchange,
};
use spool::server::read_frame_size;

/// A fuzz target: one input in, a panic on a finding.
pub type Target = fn(&[u8]);

/// Every target by name: the name is its binary's and its corpus directory's.
pub const TARGETS: &[(&str, Target)] = &[
    ("request_stream", request_stream),
    ("request_header", request_header),
    ("request", request),
    ("record_batch", record_batch),
    ("sasl", sasl),
];

/// A connection's bytes as the broker reads them: size-prefixed frames, each size checked
/// before anything is taken for the body, each frame decoded. A refused size closes the
/// connection; a frame not all there yet waits for more bytes.
pub fn request_stream(data: &[u8]) {
    let max_frame = SOCKET_REQUEST_MAX_BYTES_DEFAULT as usize;
    let mut rest = data;
    while let Some((prefix, after)) = rest.split_first_chunk::<4>() {
        let Ok(size) = read_frame_size(*prefix, max_frame) else {
            return;
        };
        let Some(frame) = after.get(..size) else {
            return;
        };
        request(frame);
        rest = &after[size..];
    }
}

/// A request header (v1 or v2, by the first byte) as the guard and then the decoder read
/// it: whatever the guard admits decodes to exactly the length it measured.
pub fn request_header(data: &[u8]) {
    let Some((&choice, frame)) = data.split_first() else {
        return;
    };
    let header_version = 1 + i16::from(choice & 1);
    let Ok(length) = guard::check_header(header_version, frame) else {
        return;
    };
    let mut bytes = Bytes::copy_from_slice(frame);
    // The guard checks structure, not content: a client id that is not UTF-8 passes it
    // and fails to decode, which the broker answers by closing the connection.
    if RequestHeader::decode(&mut bytes, header_version).is_ok() {
        assert_eq!(
            frame.len() - bytes.len(),
            length,
            "the guard and the decoder disagree on the header's length"
        );
    }
}

/// One request frame (without its size prefix) through the broker's decoder, against every
/// API version it advertises. The guard must keep every input from the decoder that would
/// panic it. (Whether a decoded request encodes back to the same bytes is the crate's
/// business, not the broker's, which never re-encodes a request: the crate keeps unknown
/// tagged fields in a map, so a frame repeating a tag does not.)
pub fn request(frame: &[u8]) {
    if let Err(DecodeError::DecoderPanicked { api, version }) =
        decode_request(Bytes::copy_from_slice(frame), SUPPORTED_APIS)
    {
        panic!("the guard let a {api:?} v{version} request through that panics the decoder");
    }
}

/// A record batch as a producer (or a leader, to its follower) sends it, through every
/// path that reads inside one: framing, CRC, counts, decompression, the record walk,
/// record stamps, markers, and the rebuild and recompression that compaction and a topic's
/// `compression.type` do. The same bytes go through again with their CRC made right, so the
/// fuzzer reaches past the checksum.
pub fn record_batch(data: &[u8]) {
    let _ = batch::last_offset_in(data);
    read_batch(data);
    let Ok(view) = BatchView::parse_header(data) else {
        return;
    };
    let mut resealed = view.bytes().to_vec();
    batch::set_records(&mut resealed, view.records_count());
    read_batch(&resealed);
}

fn read_batch(bytes: &[u8]) {
    let Ok(view) = BatchView::parse(bytes) else {
        return;
    };
    let _ = view.check_dense();
    let _ = stamps::record_stamps(bytes);
    let _ = control::marker_kind(view.bytes());
    let counted = raw::check_record_count(&view);
    let Ok(section) = raw::decompressed_section(&view) else {
        return;
    };
    let Ok(records) = raw::records(&section, view.records_count()) else {
        return;
    };
    assert_eq!(
        counted,
        Ok(()),
        "the produce path's count check refused readable records"
    );
    // Every record kept: the same records section, whatever the codec.
    let rebuilt = raw::rebuild(&view, &records).expect("a batch whose records read rebuilds");
    assert_eq!(
        section_of(&rebuilt),
        section,
        "rebuilding changed the records"
    );
    // Another codec (chosen by the batch's last byte): the same records section.
    let codec = i16::from(bytes[bytes.len() - 1] % 5);
    let recompressed = raw::recompress(&view, codec).expect("a readable batch recompresses");
    assert_eq!(
        section_of(&recompressed),
        section,
        "recompression changed the records"
    );
}

fn section_of(batch: &[u8]) -> Vec<u8> {
    let view = BatchView::parse(batch).expect("a batch spool wrote parses");
    raw::decompressed_section(&view).expect("a batch spool wrote decompresses")
}

/// Messages separate at this byte, which no SCRAM message (text) holds.
const MESSAGE_SEPARATOR: u8 = 0xfe;

/// A client's SASL messages (separated by 0xfe) to the server side of the mechanism the
/// first byte picks: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER, each with a known
/// user, until the exchange ends or fails.
pub fn sasl(data: &[u8]) {
    let Some((&choice, messages)) = data.split_first() else {
        return;
    };
    let scram = |mechanism| {
        let credential = ScramCredential::from_salted_password(mechanism, b"salt", b"salted", 4096);
        let lookup = move |user: &str| (user == "alice").then(|| credential.clone());
        Exchange::Scram(Box::new(
            ScramExchange::new(mechanism, lookup).expect("the system has randomness"),
        ))
    };
    let mut exchange = match choice % 4 {
        0 => Exchange::Plain(PlainExchange::new(Arc::new(BTreeMap::from([(
            "alice".to_owned(),
            "secret".to_owned(),
        )])))),
        1 => scram(Mechanism::ScramSha256),
        2 => scram(Mechanism::ScramSha512),
        _ => Exchange::OAuthBearer(OAuthBearerExchange::new(token_validator())),
    };
    for message in messages.split(|byte| *byte == MESSAGE_SEPARATOR) {
        if exchange.respond(message).is_err() {
            return;
        }
    }
}

/// A validator over a key set of one EC P-256 key made for this process: no fuzzer input
/// carries a valid signature, so everything before the signature check is what is fuzzed.
fn token_validator() -> Arc<JwtValidator> {
    static VALIDATOR: OnceLock<Arc<JwtValidator>> = OnceLock::new();
    Arc::clone(VALIDATOR.get_or_init(|| {
        let random = ring::rand::SystemRandom::new();
        let algorithm = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(algorithm, &random)
            .expect("an EC key");
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(algorithm, pkcs8.as_ref(), &random)
            .expect("the EC key just made");
        // Uncompressed point: 0x04, x, y.
        let point = key.public_key().as_ref();
        let coordinate = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let key_set = format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"fuzz","use":"sig","x":"{}","y":"{}"}}]}}"#,
            coordinate(&point[1..33]),
            coordinate(&point[33..65])
        );
        let file = tempfile::NamedTempFile::new().expect("a key set file");
        std::fs::write(file.path(), key_set).expect("write the key set");
        let validator = JwtValidator::load(JwtSettings {
            jwks_file: file.path().to_owned(),
            expected_audience: Vec::new(),
            expected_issuer: None,
            clock_skew: Duration::from_secs(30),
            subject_claim: "sub".to_owned(),
        })
        .expect("the key set loads");
        Arc::new(validator)
    }))
}
