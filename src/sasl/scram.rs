//! SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677), the server's side: the client's first
//! message names the user, the server answers with its nonce, the user's salt and
//! iterations, the client proves it knows the password, the server proves it knows the
//! credential. Credentials are kept as Kafka keeps them: salt, stored key, server key and
//! iterations, never the password.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ring::rand::SecureRandom;
use ring::{digest, hmac};

use super::{equal_in_constant_time, AuthenticationError, Mechanism, Step};

/// Kafka's bounds on a credential's iterations (`ScramMechanism`, `ScramControlManager`).
pub const SCRAM_ITERATIONS_MIN: i32 = 4096;
pub const SCRAM_ITERATIONS_MAX: i32 = 16384;
/// Random bytes in the server's part of the nonce.
const SERVER_NONCE_BYTES: usize = 24;

/// A user's SCRAM credential for one mechanism.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl ScramCredential {
    /// The credential of a salted password (what AlterUserScramCredentials carries:
    /// `Hi(password, salt, iterations)`, computed by the client).
    pub fn from_salted_password(
        mechanism: Mechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: i32,
    ) -> Self {
        let client_key = mac(mechanism, salted_password, b"Client Key");
        Self {
            salt: salt.to_vec(),
            stored_key: hash(mechanism, &client_key),
            server_key: mac(mechanism, salted_password, b"Server Key"),
            iterations,
        }
    }
}

pub(super) fn mac(mechanism: Mechanism, key: &[u8], data: &[u8]) -> Vec<u8> {
    let algorithm = match mechanism {
        Mechanism::ScramSha512 => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    };
    hmac::sign(&hmac::Key::new(algorithm, key), data)
        .as_ref()
        .to_vec()
}

pub(super) fn hash(mechanism: Mechanism, data: &[u8]) -> Vec<u8> {
    let algorithm = match mechanism {
        Mechanism::ScramSha512 => &digest::SHA512,
        _ => &digest::SHA256,
    };
    digest::digest(algorithm, data).as_ref().to_vec()
}

/// `Hi(password, salt, iterations)`: PBKDF2 with the mechanism's HMAC, what a client derives
/// its keys from.
pub(super) fn salted_password(
    mechanism: Mechanism,
    password: &str,
    salt: &[u8],
    iterations: u32,
) -> Vec<u8> {
    let (algorithm, length) = match mechanism {
        Mechanism::ScramSha512 => (ring::pbkdf2::PBKDF2_HMAC_SHA512, 64),
        _ => (ring::pbkdf2::PBKDF2_HMAC_SHA256, 32),
    };
    let mut salted = vec![0u8; length];
    let iterations = std::num::NonZeroU32::new(iterations).unwrap_or(std::num::NonZeroU32::MIN);
    ring::pbkdf2::derive(
        algorithm,
        iterations,
        salt,
        password.as_bytes(),
        &mut salted,
    );
    salted
}

/// Where an exchange stands.
#[derive(Debug)]
enum State {
    /// Waiting for the client's first message.
    First,
    /// Waiting for the client's proof.
    Final {
        user: String,
        credential: ScramCredential,
        gs2_header: String,
        nonce: String,
        client_first_bare: String,
        server_first: String,
    },
    /// Finished, or failed: nothing more is accepted.
    Over,
}

/// Finds a user's credential for the exchange's mechanism.
type CredentialLookup = dyn Fn(&str) -> Option<ScramCredential> + Send + Sync;

/// One SCRAM authentication; `lookup` finds a user's credential for the mechanism.
pub struct ScramExchange {
    mechanism: Mechanism,
    lookup: Box<CredentialLookup>,
    server_nonce: String,
    state: State,
}

impl std::fmt::Debug for ScramExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramExchange")
            .field("mechanism", &self.mechanism)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ScramExchange {
    /// An exchange with a fresh random server nonce; `None` if the system has no randomness.
    pub fn new(
        mechanism: Mechanism,
        lookup: impl Fn(&str) -> Option<ScramCredential> + Send + Sync + 'static,
    ) -> Option<Self> {
        let mut nonce = [0u8; SERVER_NONCE_BYTES];
        ring::rand::SystemRandom::new().fill(&mut nonce).ok()?;
        Some(Self::with_nonce(mechanism, lookup, BASE64.encode(nonce)))
    }

    fn with_nonce(
        mechanism: Mechanism,
        lookup: impl Fn(&str) -> Option<ScramCredential> + Send + Sync + 'static,
        server_nonce: String,
    ) -> Self {
        Self {
            mechanism,
            lookup: Box::new(lookup),
            server_nonce,
            state: State::First,
        }
    }

    pub fn respond(&mut self, message: &[u8]) -> Result<Step, AuthenticationError> {
        let message = std::str::from_utf8(message)
            .map_err(|_| malformed("the SCRAM message is not UTF-8"))?;
        match std::mem::replace(&mut self.state, State::Over) {
            State::First => self.first(message),
            State::Final {
                user,
                credential,
                gs2_header,
                nonce,
                client_first_bare,
                server_first,
            } => {
                let auth_message_start = format!("{client_first_bare},{server_first}");
                self.last(
                    message,
                    user,
                    credential,
                    &gs2_header,
                    &nonce,
                    &auth_message_start,
                )
            }
            State::Over => Err(malformed("the SCRAM exchange is over")),
        }
    }

    /// `n,[a=authzid],n=user,r=nonce[,extensions]` → `r=nonce,s=salt,i=iterations`.
    fn first(&mut self, message: &str) -> Result<Step, AuthenticationError> {
        let (flag, rest) = message
            .split_once(',')
            .ok_or_else(|| malformed("Invalid SCRAM client first message"))?;
        if flag != "n" && flag != "y" {
            return Err(malformed("channel binding is not supported"));
        }
        let (authorization_id, bare) = rest
            .split_once(',')
            .ok_or_else(|| malformed("Invalid SCRAM client first message"))?;
        let gs2_header = format!("{flag},{authorization_id},");
        let mut attributes = bare.split(',');
        let user = attributes
            .next()
            .and_then(|field| field.strip_prefix("n="))
            .map(sasl_name)
            .transpose()?
            .ok_or_else(|| malformed("Invalid SCRAM client first message: no user name"))?;
        let client_nonce = attributes
            .next()
            .and_then(|field| field.strip_prefix("r="))
            .filter(|nonce| !nonce.is_empty())
            .ok_or_else(|| malformed("Invalid SCRAM client first message: no nonce"))?;
        if let Some(requested) = authorization_id.strip_prefix("a=") {
            if sasl_name(requested)? != user {
                return Err(AuthenticationError::AuthorizationId);
            }
        }
        let credential = (self.lookup)(&user).ok_or(AuthenticationError::UnknownUser)?;
        if credential.iterations < SCRAM_ITERATIONS_MIN {
            return Err(AuthenticationError::UnknownUser);
        }
        let nonce = format!("{client_nonce}{}", self.server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        let response = server_first.clone().into_bytes();
        self.state = State::Final {
            user,
            credential,
            gs2_header,
            nonce,
            client_first_bare: bare.to_owned(),
            server_first,
        };
        Ok(Step::Continue(response))
    }

    /// `c=base64(gs2 header),r=nonce[,extensions],p=proof` → `v=server signature`.
    fn last(
        &mut self,
        message: &str,
        user: String,
        credential: ScramCredential,
        gs2_header: &str,
        nonce: &str,
        auth_message_start: &str,
    ) -> Result<Step, AuthenticationError> {
        let (without_proof, proof) = message
            .rsplit_once(",p=")
            .ok_or_else(|| malformed("Invalid SCRAM client final message: no proof"))?;
        let mut attributes = without_proof.split(',');
        let binding = attributes.next().and_then(|field| field.strip_prefix("c="));
        if binding != Some(BASE64.encode(gs2_header).as_str()) {
            return Err(malformed(
                "Invalid SCRAM client final message: channel binding",
            ));
        }
        if attributes.next().and_then(|field| field.strip_prefix("r=")) != Some(nonce) {
            return Err(malformed("Invalid SCRAM client final message: nonce"));
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| malformed("Invalid SCRAM client final message: proof"))?;
        let auth_message = format!("{auth_message_start},{without_proof}");
        let client_signature = mac(
            self.mechanism,
            &credential.stored_key,
            auth_message.as_bytes(),
        );
        if proof.len() != client_signature.len() {
            return Err(AuthenticationError::InvalidProof(self.mechanism.name()));
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let computed = hash(self.mechanism, &client_key);
        if !equal_in_constant_time(&computed, &credential.stored_key) {
            return Err(AuthenticationError::InvalidProof(self.mechanism.name()));
        }
        let server_signature = mac(
            self.mechanism,
            &credential.server_key,
            auth_message.as_bytes(),
        );
        Ok(Step::Done {
            response: format!("v={}", BASE64.encode(server_signature)).into_bytes(),
            user,
            expires: None,
        })
    }
}

/// A `saslname` decoded: `=2C` is `,` and `=3D` is `=`; any other `=` is malformed.
fn sasl_name(text: &str) -> Result<String, AuthenticationError> {
    let mut name = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('=') {
        name.push_str(&rest[..at]);
        match rest.get(at..at + 3) {
            Some("=2C") => name.push(','),
            Some("=3D") => name.push('='),
            _ => return Err(malformed("Invalid SCRAM user name encoding")),
        }
        rest = &rest[at + 3..];
    }
    name.push_str(rest);
    Ok(name)
}

fn malformed(message: &str) -> AuthenticationError {
    AuthenticationError::Malformed(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &[u8] = b"pencil";
    const SALT: &[u8] = b"salt-of-user";
    const ITERATIONS: i32 = 4096;

    fn salted_password(mechanism: Mechanism) -> Vec<u8> {
        let password = std::str::from_utf8(PASSWORD).unwrap();
        super::salted_password(mechanism, password, SALT, ITERATIONS as u32)
    }

    fn exchange(mechanism: Mechanism) -> ScramExchange {
        let credential = ScramCredential::from_salted_password(
            mechanism,
            SALT,
            &salted_password(mechanism),
            ITERATIONS,
        );
        ScramExchange::with_nonce(
            mechanism,
            move |user| (user == "us,er").then(|| credential.clone()),
            "server-nonce".into(),
        )
    }

    /// A client's final message for `server_first`, and the signature it expects back.
    fn client_final(
        mechanism: Mechanism,
        client_first_bare: &str,
        server_first: &str,
        password_salted: &[u8],
    ) -> (String, String) {
        let nonce = server_first.split(',').next().unwrap();
        let without_proof = format!("c={},{nonce}", BASE64.encode("n,,"));
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_key = mac(mechanism, password_salted, b"Client Key");
        let signature = mac(
            mechanism,
            &hash(mechanism, &client_key),
            auth_message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = mac(mechanism, password_salted, b"Server Key");
        let expected = format!(
            "v={}",
            BASE64.encode(mac(mechanism, &server_key, auth_message.as_bytes()))
        );
        (
            format!("{without_proof},p={}", BASE64.encode(proof)),
            expected,
        )
    }

    #[test]
    fn a_client_that_knows_the_password_is_authenticated_with_both_hashes() {
        for mechanism in [Mechanism::ScramSha256, Mechanism::ScramSha512] {
            let mut server = exchange(mechanism);
            let bare = "n=us=2Cer,r=client-nonce";
            let Step::Continue(first) = server.respond(format!("n,,{bare}").as_bytes()).unwrap()
            else {
                panic!("the server answers the first message")
            };
            let first = String::from_utf8(first).unwrap();
            assert_eq!(
                first,
                format!(
                    "r=client-nonceserver-nonce,s={},i=4096",
                    BASE64.encode(SALT)
                )
            );
            let (last, expected) =
                client_final(mechanism, bare, &first, &salted_password(mechanism));
            assert_eq!(
                server.respond(last.as_bytes()).unwrap(),
                Step::Done {
                    response: expected.into_bytes(),
                    user: "us,er".into(),
                    expires: None,
                }
            );
            assert!(server.respond(b"more").is_err());
        }
    }

    #[test]
    fn a_wrong_password_unknown_user_or_tampered_nonce_is_refused() {
        let mechanism = Mechanism::ScramSha256;
        let bare = "n=us=2Cer,r=c";
        let mut server = exchange(mechanism);
        let Step::Continue(first) = server.respond(format!("n,,{bare}").as_bytes()).unwrap() else {
            panic!()
        };
        let first = String::from_utf8(first).unwrap();
        let (last, _) = client_final(mechanism, bare, &first, b"not the salted password");
        assert_eq!(
            server.respond(last.as_bytes()).unwrap_err(),
            AuthenticationError::InvalidProof("SCRAM-SHA-256")
        );

        let mut server = exchange(mechanism);
        assert_eq!(
            server.respond(b"n,,n=nobody,r=c").unwrap_err(),
            AuthenticationError::UnknownUser
        );
        let mut server = exchange(mechanism);
        assert_eq!(
            server.respond(b"n,a=other,n=us=2Cer,r=c").unwrap_err(),
            AuthenticationError::AuthorizationId
        );
        for garbage in [
            "",
            "p=tls-unique,,n=u,r=c",
            "n,,r=c",
            "n,,n=u",
            "n,,n=a=1,r=c",
        ] {
            assert!(
                exchange(mechanism).respond(garbage.as_bytes()).is_err(),
                "{garbage}"
            );
        }

        let mut server = exchange(mechanism);
        let Step::Continue(first) = server.respond(format!("n,,{bare}").as_bytes()).unwrap() else {
            panic!()
        };
        let first = String::from_utf8(first)
            .unwrap()
            .replace("server-nonce", "forged");
        let (last, _) = client_final(mechanism, bare, &first, &salted_password(mechanism));
        assert!(matches!(
            server.respond(last.as_bytes()).unwrap_err(),
            AuthenticationError::Malformed(_)
        ));
    }
}
