//! A batch's records section through Kafka's codecs. Decompression is bounded: what a client sent
//! decides how much it claims to expand to, so no more than [`MAX_DECOMPRESSED_BYTES`] is
//! ever produced or allocated for one batch — a few bytes claiming gigabytes (a raw snappy
//! length, a zstd frame of zeros) are refused, not allocated.

use std::io::Read;

use bytes::BytesMut;
use flate2::read::MultiGzDecoder;
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};

use super::batch::BatchError;

/// Most bytes one batch's records may decompress to: 128 × Kafka's default
/// `max.message.bytes` (1 MiB), well above what real records compress by, and small enough
/// that a handful of concurrent bombs cannot exhaust the broker's memory.
pub const MAX_DECOMPRESSED_BYTES: usize = 128 << 20;

/// Kafka's codec ids (the low three bits of the batch attributes).
pub const NONE: i16 = 0;
pub const GZIP: i16 = 1;
pub const SNAPPY: i16 = 2;
pub const LZ4: i16 = 3;
pub const ZSTD: i16 = 4;

/// The framing the Java client's snappy output stream (xerial) writes: this magic, a version
/// and a compatible version (i32 each), then blocks of an i32 length and raw snappy bytes.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_BYTES: usize = XERIAL_MAGIC.len() + 8;

fn failed(codec: &str, error: impl std::fmt::Display) -> BatchError {
    BatchError::Records(format!("{codec} decompression failed: {error}"))
}

fn too_large() -> BatchError {
    BatchError::Records(format!(
        "records decompress to more than {MAX_DECOMPRESSED_BYTES} bytes"
    ))
}

/// `section` decompressed with `codec` (a Kafka codec id), at most
/// [`MAX_DECOMPRESSED_BYTES`] of it.
pub fn decompress(codec: i16, section: &[u8]) -> Result<Vec<u8>, BatchError> {
    match codec {
        NONE => Ok(section.to_vec()),
        // Java's GZIPInputStream reads concatenated members too.
        GZIP => read_bounded("gzip", MultiGzDecoder::new(section)),
        SNAPPY => snappy(section),
        LZ4 => read_bounded(
            "lz4",
            lz4::Decoder::new(section).map_err(|error| failed("lz4", error))?,
        ),
        ZSTD => read_bounded(
            "zstd",
            zstd::stream::read::Decoder::new(section).map_err(|error| failed("zstd", error))?,
        ),
        other => Err(BatchError::Records(format!("unknown codec {other}"))),
    }
}

/// `section` compressed with `codec` (a Kafka codec id).
pub fn compress(codec: i16, section: &[u8]) -> Result<Vec<u8>, BatchError> {
    let mut out = BytesMut::new();
    let fill = |buf: &mut BytesMut| {
        buf.extend_from_slice(section);
        Ok(())
    };
    let compressed = match codec {
        NONE => {
            out.extend_from_slice(section);
            Ok(())
        }
        GZIP => Gzip::compress(&mut out, fill),
        SNAPPY => Snappy::compress(&mut out, fill),
        LZ4 => Lz4::compress(&mut out, fill),
        ZSTD => Zstd::compress(&mut out, fill),
        other => return Err(BatchError::Records(format!("unknown codec {other}"))),
    };
    compressed.map_err(|error| BatchError::Records(format!("compress: {error}")))?;
    Ok(out.to_vec())
}

/// Everything `reader` yields, refused once it passes the bound.
fn read_bounded(codec: &str, reader: impl Read) -> Result<Vec<u8>, BatchError> {
    let mut out = Vec::new();
    reader
        .take(MAX_DECOMPRESSED_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|error| failed(codec, error))?;
    if out.len() > MAX_DECOMPRESSED_BYTES {
        return Err(too_large());
    }
    Ok(out)
}

/// Snappy as the Java client frames it (xerial blocks), or one raw block as other clients
/// send it; each block's claimed length is checked against the bound before any allocation.
fn snappy(section: &[u8]) -> Result<Vec<u8>, BatchError> {
    let mut out = Vec::new();
    if !section.starts_with(&XERIAL_MAGIC) {
        append_raw_snappy(section, &mut out)?;
        return Ok(out);
    }
    let mut rest = section
        .get(XERIAL_HEADER_BYTES..)
        .ok_or_else(|| failed("snappy", "truncated stream header"))?;
    while !rest.is_empty() {
        let (length, after) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| failed("snappy", "truncated block length"))?;
        let length = usize::try_from(i32::from_be_bytes(*length))
            .map_err(|_| failed("snappy", "negative block length"))?;
        let block = after
            .get(..length)
            .ok_or_else(|| failed("snappy", "block runs past the records"))?;
        append_raw_snappy(block, &mut out)?;
        rest = &after[length..];
    }
    Ok(out)
}

fn append_raw_snappy(block: &[u8], out: &mut Vec<u8>) -> Result<(), BatchError> {
    let length = snap::raw::decompress_len(block).map_err(|error| failed("snappy", error))?;
    let start = out.len();
    if length > MAX_DECOMPRESSED_BYTES - start {
        return Err(too_large());
    }
    out.resize(start + length, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|error| failed("snappy", error))?;
    out.truncate(start + written);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_CODECS: [i16; 5] = [NONE, GZIP, SNAPPY, LZ4, ZSTD];

    fn compressed(codec: i16, bytes: &[u8]) -> Vec<u8> {
        compress(codec, bytes).unwrap()
    }

    #[test]
    fn every_codec_round_trips() {
        let original: Vec<u8> = (0..100_000u32)
            .flat_map(|n| (n % 251).to_be_bytes())
            .collect();
        for codec in ALL_CODECS {
            assert_eq!(
                decompress(codec, &compressed(codec, &original)).unwrap(),
                original,
                "codec {codec}"
            );
        }
    }

    #[test]
    fn raw_snappy_from_other_clients_is_read_too() {
        let raw = snap::raw::Encoder::new()
            .compress_vec(b"abcabcabc")
            .unwrap();
        assert_eq!(decompress(SNAPPY, &raw).unwrap(), b"abcabcabc");
    }

    #[test]
    fn a_raw_snappy_block_claiming_gigabytes_is_refused_before_allocating() {
        // A varint length of 4 GiB - 1 and nothing behind it.
        let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f];
        let error = decompress(SNAPPY, &bomb).unwrap_err();
        assert!(error.to_string().contains("more than"), "{error}");
    }

    #[test]
    fn a_stream_expanding_past_the_bound_is_refused() {
        let zeros = vec![0u8; MAX_DECOMPRESSED_BYTES + 1];
        for codec in [GZIP, LZ4, ZSTD, SNAPPY] {
            let error = decompress(codec, &compressed(codec, &zeros)).unwrap_err();
            assert!(
                error.to_string().contains("more than"),
                "codec {codec}: {error}"
            );
        }
    }

    #[test]
    fn truncated_and_garbage_input_is_an_error_not_a_panic() {
        let original = b"some records worth compressing, some records worth compressing";
        for codec in ALL_CODECS.into_iter().filter(|codec| *codec != NONE) {
            let bytes = compressed(codec, original);
            for cut in 0..bytes.len() {
                let _ = decompress(codec, &bytes[..cut]);
            }
            let _ = decompress(codec, &[0x5a; 64]);
        }
    }
}
