//! A test OAuth 2.0 token endpoint for OAUTHBEARER clients that fetch their tokens themselves
//! (`sasl.oauthbearer.method=oidc`): an HTTP/1.1 server on a loopback port that hands out
//! tokens of a [`TokenIssuer`], which the broker validates with the issuer's key set.
//!
//! It grants what an identity provider grants to one registered client:
//! - `POST /retrieve` with `grant_type=client_credentials` and the client's id and secret in
//!   Basic authorization (RFC 6749 §4.4), or with
//!   `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and an assertion the client
//!   signed with its RSA key (RFC 7523), optionally with one of [`SCOPES`];
//! - `GET /retrieve?api-version=…&resource=…&client_id=…` with `Metadata: true`, as Azure's
//!   instance metadata service does;
//! - `POST /retrieve/badformat` and `POST /retrieve/expire`: a token whose signature is broken,
//!   and one that has expired, for clients' failure paths.
//!
//! Anything else gets `400 Bad Request` (or `404`), with the reason in the body.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD as BASE64URL};
use base64::Engine;
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

use crate::jwt::{unix_now, TokenIssuer};

/// The registered client's id and secret.
pub const CLIENT_ID: &str = "spool-client";
pub const CLIENT_SECRET: &str = "spool-client-secret";
/// Scopes the endpoint grants.
pub const SCOPES: [&str; 2] = ["test", "test-scope"];
/// Passphrase of the client's encrypted private key file.
pub const KEY_PASSPHRASE: &str = "spool-key-passphrase";
/// Lifetime of a granted token. Long enough that a client never holds an expired one:
/// librdkafka looks at its token once a second and fetches a new one after 80 % of its
/// lifetime, and re-authenticates at 85–95 % of a session, which ends with the token; with
/// trivup's 4 s tokens both leave clients authenticating with a token that has expired or
/// is about to, whose session then ends at once (as Kafka's does). Brokers make sessions
/// short with `connections.max.reauth.ms` instead.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Largest request head or body the endpoint reads.
const MAX_REQUEST_BYTES: usize = 64 * 1024;
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The running endpoint; stopped when dropped.
pub struct TokenEndpoint {
    address: String,
    stopping: Arc<AtomicBool>,
    grants: Arc<Grants>,
}

/// The client's RSA key pair (files written with the `openssl` tool) and what the endpoint
/// verifies its assertions with.
struct ClientKey {
    private: PathBuf,
    private_encrypted: PathBuf,
    public_pkcs1_der: Vec<u8>,
}

impl TokenEndpoint {
    /// Starts an endpoint granting tokens of `issuer`; the client's key files go to `dir`.
    pub fn start(issuer: TokenIssuer, dir: &Path) -> Self {
        let client_key = ClientKey::generate(dir);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the token endpoint");
        let address = listener.local_addr().expect("its address").to_string();
        let stopping = Arc::new(AtomicBool::new(false));
        let grants = Arc::new(Grants { issuer, client_key });
        let endpoint = Self {
            address,
            stopping: stopping.clone(),
            grants: grants.clone(),
        };
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::Acquire) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let grants = grants.clone();
                thread::spawn(move || grants.serve(stream));
            }
        });
        endpoint
    }

    /// Where clients fetch a valid token.
    pub fn valid_url(&self) -> String {
        format!("http://{}/retrieve", self.address)
    }

    /// Where clients get a token whose signature does not verify.
    pub fn bad_format_url(&self) -> String {
        format!("http://{}/retrieve/badformat", self.address)
    }

    /// Where clients get an expired token.
    pub fn expired_url(&self) -> String {
        format!("http://{}/retrieve/expire", self.address)
    }

    /// The client's RSA private key (PKCS#8 PEM) it signs jwt-bearer assertions with.
    pub fn client_key(&self) -> &Path {
        &self.grants.client_key.private
    }

    /// The same key encrypted with [`KEY_PASSPHRASE`].
    pub fn client_key_encrypted(&self) -> &Path {
        &self.grants.client_key.private_encrypted
    }
}

impl Drop for TokenEndpoint {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(&self.address);
    }
}

impl ClientKey {
    fn generate(dir: &Path) -> Self {
        let private = dir.join("oidc-client.key");
        let private_encrypted = dir.join("oidc-client-encrypted.key");
        let public = dir.join("oidc-client-public.der");
        let passphrase = format!("pass:{KEY_PASSPHRASE}");
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            path_str(&private),
        ]);
        openssl(&[
            "pkcs8",
            "-topk8",
            "-in",
            path_str(&private),
            "-out",
            path_str(&private_encrypted),
            "-passout",
            &passphrase,
        ]);
        openssl(&[
            "rsa",
            "-in",
            path_str(&private),
            "-RSAPublicKey_out",
            "-outform",
            "DER",
            "-out",
            path_str(&public),
        ]);
        Self {
            private,
            private_encrypted,
            public_pkcs1_der: std::fs::read(&public).expect("the client's public key"),
        }
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl tool (make test-deps installs it)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One parsed request.
struct Request {
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
    form: HashMap<String, String>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A refusal: the status and why.
struct Refusal(u16, String);

fn refuse<T>(reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(400, reason.into()))
}

struct Grants {
    issuer: TokenIssuer,
    client_key: ClientKey,
}

impl Grants {
    fn serve(&self, stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let Ok(mut writer) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(stream);
        let answer =
            read_request(&mut reader, &mut writer).and_then(|request| self.grant(&request));
        let (status, body) = match answer {
            Ok(token) => (
                200,
                serde_json::json!({ "access_token": token }).to_string(),
            ),
            Err(Refusal(status, reason)) => {
                (status, serde_json::json!({ "error": reason }).to_string())
            }
        };
        let reason = if status == 200 { "OK" } else { "Refused" };
        let _ = write!(
            writer,
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    /// The token `request` earns.
    fn grant(&self, request: &Request) -> Result<String, Refusal> {
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/retrieve") => self.grant_posted(request),
            ("GET", "/retrieve") => self.grant_instance(request),
            ("POST", "/retrieve/badformat") => {
                let token = self.issuer.token(CLIENT_ID, TOKEN_LIFETIME);
                Ok(format!("{token}invalid"))
            }
            ("POST", "/retrieve/expire") => {
                let now = unix_now();
                Ok(self.issuer.token_between(CLIENT_ID, now - 120, now - 60))
            }
            (method, path) => Err(Refusal(404, format!("no {method} {path} here"))),
        }
    }

    /// Client credentials or a jwt-bearer assertion.
    fn grant_posted(&self, request: &Request) -> Result<String, Refusal> {
        if request.header("accept") != Some("application/json") {
            return refuse("Accept must be application/json");
        }
        if let Some(scope) = request.form.get("scope") {
            if !SCOPES.contains(&scope.as_str()) {
                return refuse(format!("invalid scope {scope:?}"));
            }
        }
        let subject = match request.form.get("grant_type").map(String::as_str) {
            Some("client_credentials") => {
                let expected = BASE64.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
                if request.header("authorization") != Some(&format!("Basic {expected}")) {
                    return Err(Refusal(401, "wrong client credentials".into()));
                }
                CLIENT_ID.to_owned()
            }
            Some(JWT_BEARER_GRANT) => match request.form.get("assertion") {
                Some(assertion) => self.assertion_subject(assertion)?,
                None => return refuse("no assertion"),
            },
            other => return refuse(format!("unsupported grant_type {other:?}")),
        };
        Ok(self.issuer.token(&subject, TOKEN_LIFETIME))
    }

    /// The subject of an assertion signed (RS256) with the client's key and not expired.
    fn assertion_subject(&self, assertion: &str) -> Result<String, Refusal> {
        let Some((signed, signature)) = assertion.rsplit_once('.') else {
            return refuse("the assertion is not a signed JWT");
        };
        let Some((header, claims)) = signed.split_once('.').filter(|(_, c)| !c.contains('.'))
        else {
            return refuse("the assertion is not a signed JWT");
        };
        let header = decode_json(header)?;
        if header["alg"] != "RS256" {
            return refuse(format!(
                "assertion algorithm {} is not the client's",
                header["alg"]
            ));
        }
        let signature = BASE64URL
            .decode(signature)
            .or_else(|_| refuse("assertion signature is not base64url"))?;
        UnparsedPublicKey::new(
            &RSA_PKCS1_2048_8192_SHA256,
            &self.client_key.public_pkcs1_der,
        )
        .verify(signed.as_bytes(), &signature)
        .or_else(|_| refuse("the assertion's signature does not verify"))?;
        let claims = decode_json(claims)?;
        if claims["exp"].as_u64().is_none_or(|exp| exp <= unix_now()) {
            return refuse("the assertion has expired or has no exp");
        }
        match claims["sub"].as_str() {
            Some(subject) if !subject.is_empty() => Ok(subject.to_owned()),
            _ => refuse("the assertion names no subject"),
        }
    }

    /// A token for a managed identity, asked for as Azure's instance metadata service is.
    fn grant_instance(&self, request: &Request) -> Result<String, Refusal> {
        if request.header("metadata") != Some("true") {
            return refuse("Metadata: true is required");
        }
        for parameter in ["api-version", "resource", "client_id"] {
            if !request.query.contains_key(parameter) {
                return refuse(format!("{parameter} is required"));
            }
        }
        Ok(self
            .issuer
            .token(&request.query["client_id"], TOKEN_LIFETIME))
    }
}

fn decode_json(part: &str) -> Result<serde_json::Value, Refusal> {
    let bytes = BASE64URL
        .decode(part)
        .or_else(|_| refuse("assertion part is not base64url"))?;
    serde_json::from_slice(&bytes).or_else(|_| refuse("assertion part is not JSON"))
}

/// Reads a request's head and its body (answering `Expect: 100-continue`), each bounded by
/// [`MAX_REQUEST_BYTES`].
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> Result<Request, Refusal> {
    let mut head_bytes = 0;
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let read = reader
            .by_ref()
            .take((MAX_REQUEST_BYTES - head_bytes) as u64)
            .read_line(&mut line)
            .or_else(|_| refuse("unreadable request"))?;
        head_bytes += read;
        if read == 0 || !line.ends_with('\n') {
            return refuse("request head incomplete or too long");
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    let request_line = lines
        .first()
        .ok_or_else(|| Refusal(400, "no request line".into()))?;
    let mut words = request_line.split(' ');
    let (Some(method), Some(target)) = (words.next(), words.next()) else {
        return refuse("malformed request line");
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: HashMap<String, String> = lines[1..]
        .iter()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = match headers.get("content-length") {
        Some(length) => length.parse().or_else(|_| refuse("bad Content-Length"))?,
        None => 0,
    };
    if length > MAX_REQUEST_BYTES {
        return refuse("request body too large");
    }
    if headers.get("expect").map(String::as_str) == Some("100-continue") {
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .or_else(|_| refuse("connection lost"))?;
    }
    let mut body = vec![0; length];
    reader
        .read_exact(&mut body)
        .or_else(|_| refuse("request body incomplete"))?;
    Ok(Request {
        method: method.to_owned(),
        path: path.to_owned(),
        query: form_fields(query),
        headers,
        form: form_fields(&String::from_utf8_lossy(&body)),
    })
}

/// `application/x-www-form-urlencoded` fields (also a URL's query).
fn form_fields(text: &str) -> HashMap<String, String> {
    text.split('&')
        .filter(|field| !field.is_empty())
        .map(|field| {
            let (name, value) = field.split_once('=').unwrap_or((field, ""));
            (percent_decoded(name), percent_decoded(value))
        })
        .collect()
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                decoded.push(byte);
                i += 2;
            }
            (None, b'+') => decoded.push(b' '),
            (None, byte) => decoded.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_percent_decoded() {
        let fields = form_fields("grant_type=urn%3Aietf%3Aparams&scope=a+b&bad=%zz&end=%4");
        assert_eq!(fields["grant_type"], "urn:ietf:params");
        assert_eq!(fields["scope"], "a b");
        assert_eq!(fields["bad"], "%zz");
        assert_eq!(fields["end"], "%4");
    }
}
