//! The client's side of PLAIN and SCRAM, for a broker authenticating to the others over a
//! SASL inter-broker listener (`sasl.mechanism.inter.broker.protocol`, with the username and
//! password of the listener's JAAS entry, as Kafka's brokers do).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ring::rand::SecureRandom;

use super::scram::{hash, mac, salted_password};
use super::{equal_in_constant_time, Mechanism, SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN};

/// Random bytes in the client's part of a SCRAM nonce.
const CLIENT_NONCE_BYTES: usize = 24;

/// Who a broker authenticates as, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslCredentials {
    pub mechanism: Mechanism,
    pub username: String,
    pub password: String,
}

/// Why the server's side of an exchange was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ClientExchangeError(String);

fn refused(message: impl Into<String>) -> ClientExchangeError {
    ClientExchangeError(message.into())
}

/// One authentication in progress, from the client's side.
#[derive(Debug)]
pub struct ClientExchange {
    credentials: SaslCredentials,
    state: ClientState,
}

#[derive(Debug)]
enum ClientState {
    /// PLAIN: the one message was sent; the server's (empty) answer ends it.
    PlainSent,
    /// SCRAM: the first message was sent; waiting for the server's salt and iterations.
    ScramFirstSent {
        client_nonce: String,
        client_first_bare: String,
    },
    /// SCRAM: the proof was sent; waiting for the server's signature.
    ScramProofSent {
        server_signature: Vec<u8>,
    },
    Over,
}

impl ClientExchange {
    /// Starts an exchange: the exchange and its first message. PLAIN and SCRAM only.
    pub fn start(credentials: SaslCredentials) -> Result<(Self, Vec<u8>), ClientExchangeError> {
        let (state, first) = match credentials.mechanism {
            Mechanism::Plain => {
                let message = format!("\0{}\0{}", credentials.username, credentials.password);
                (ClientState::PlainSent, message.into_bytes())
            }
            Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
                let mut nonce = [0u8; CLIENT_NONCE_BYTES];
                ring::rand::SystemRandom::new()
                    .fill(&mut nonce)
                    .map_err(|_| refused("no randomness for a SCRAM nonce"))?;
                let client_nonce = BASE64.encode(nonce);
                let client_first_bare =
                    format!("n={},r={client_nonce}", sasl_name(&credentials.username));
                let first = format!("n,,{client_first_bare}").into_bytes();
                let state = ClientState::ScramFirstSent {
                    client_nonce,
                    client_first_bare,
                };
                (state, first)
            }
            Mechanism::OAuthBearer => {
                return Err(refused("OAUTHBEARER is not offered between brokers"))
            }
        };
        Ok((Self { credentials, state }, first))
    }

    /// The answer to the server's `message`; `None` once authenticated.
    pub fn respond(&mut self, message: &[u8]) -> Result<Option<Vec<u8>>, ClientExchangeError> {
        match std::mem::replace(&mut self.state, ClientState::Over) {
            ClientState::PlainSent => Ok(None),
            ClientState::ScramFirstSent {
                client_nonce,
                client_first_bare,
            } => {
                let server_first = std::str::from_utf8(message)
                    .map_err(|_| refused("the server's SCRAM message is not UTF-8"))?;
                let (proof, server_signature) =
                    self.prove(&client_nonce, &client_first_bare, server_first)?;
                self.state = ClientState::ScramProofSent { server_signature };
                Ok(Some(proof.into_bytes()))
            }
            ClientState::ScramProofSent { server_signature } => {
                let server_final = std::str::from_utf8(message)
                    .map_err(|_| refused("the server's SCRAM message is not UTF-8"))?;
                if let Some(error) = server_final.strip_prefix("e=") {
                    return Err(refused(format!("the server refused the proof: {error}")));
                }
                let told = server_final
                    .strip_prefix("v=")
                    .and_then(|signature| BASE64.decode(signature).ok())
                    .ok_or_else(|| refused("no server signature"))?;
                if !equal_in_constant_time(&told, &server_signature) {
                    return Err(refused("the server does not know the credential"));
                }
                Ok(None)
            }
            ClientState::Over => Err(refused("the exchange is over")),
        }
    }

    /// The client's final message for `server_first` (`r=nonce,s=salt,i=iterations`), and
    /// the signature the server must answer with.
    fn prove(
        &self,
        client_nonce: &str,
        client_first_bare: &str,
        server_first: &str,
    ) -> Result<(String, Vec<u8>), ClientExchangeError> {
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attribute in server_first.split(',') {
            match attribute.split_at_checked(2) {
                Some(("r=", value)) => nonce = Some(value),
                Some(("s=", value)) => salt = BASE64.decode(value).ok(),
                Some(("i=", value)) => iterations = value.parse::<i32>().ok(),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(refused(format!(
                "invalid SCRAM server message: {server_first}"
            )));
        };
        if !nonce.starts_with(client_nonce) || nonce.len() == client_nonce.len() {
            return Err(refused("the server's nonce does not extend the client's"));
        }
        if !(SCRAM_ITERATIONS_MIN..=SCRAM_ITERATIONS_MAX).contains(&iterations) {
            return Err(refused(format!("{iterations} SCRAM iterations")));
        }
        let mechanism = self.credentials.mechanism;
        let salted = salted_password(
            mechanism,
            &self.credentials.password,
            &salt,
            iterations.unsigned_abs(),
        );
        let client_key = mac(mechanism, &salted, b"Client Key");
        let stored_key = hash(mechanism, &client_key);
        let without_proof = format!("c={},r={nonce}", BASE64.encode("n,,"));
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = mac(mechanism, &stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(key, signature)| key ^ signature)
            .collect();
        let server_key = mac(mechanism, &salted, b"Server Key");
        let server_signature = mac(mechanism, &server_key, auth_message.as_bytes());
        let client_final = format!("{without_proof},p={}", BASE64.encode(proof));
        Ok((client_final, server_signature))
    }
}

/// A user name as SCRAM writes it (`,` and `=` escaped).
fn sasl_name(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sasl::{PlainExchange, ScramCredential, ScramExchange, Step};

    fn credentials(mechanism: Mechanism, password: &str) -> SaslCredentials {
        SaslCredentials {
            mechanism,
            username: "bro,ker".into(),
            password: password.into(),
        }
    }

    /// Runs the client against `server` to the end: whether both sides accepted.
    fn authenticate(
        credentials: SaslCredentials,
        server: &mut dyn FnMut(&[u8]) -> Result<Step, crate::sasl::AuthenticationError>,
    ) -> Result<String, String> {
        let (mut client, mut message) = ClientExchange::start(credentials).unwrap();
        loop {
            match server(&message).map_err(|error| error.to_string())? {
                Step::Continue(challenge) => {
                    message = client
                        .respond(&challenge)
                        .map_err(|error| error.to_string())?
                        .ok_or("the client ended early")?;
                }
                Step::Done { response, user, .. } => {
                    let last = client
                        .respond(&response)
                        .map_err(|error| error.to_string())?;
                    assert!(last.is_none());
                    return Ok(user);
                }
            }
        }
    }

    #[test]
    fn scram_clients_authenticate_to_the_server_with_the_right_password_only() {
        for mechanism in [Mechanism::ScramSha256, Mechanism::ScramSha512] {
            let salted = salted_password(mechanism, "secret", b"salt", 4096);
            let credential =
                ScramCredential::from_salted_password(mechanism, b"salt", &salted, 4096);
            let lookup = move |user: &str| (user == "bro,ker").then(|| credential.clone());
            let mut server = ScramExchange::new(mechanism, lookup.clone()).unwrap();
            let user = authenticate(credentials(mechanism, "secret"), &mut |m| server.respond(m));
            assert_eq!(user.as_deref(), Ok("bro,ker"));
            let mut server = ScramExchange::new(mechanism, lookup).unwrap();
            let wrong = authenticate(credentials(mechanism, "wrong"), &mut |m| server.respond(m));
            assert!(wrong.is_err(), "{wrong:?}");
        }
    }

    #[test]
    fn a_plain_client_sends_its_user_and_password() {
        let users = [("bro,ker".to_owned(), "secret".to_owned())].into();
        let mut server = PlainExchange::new(std::sync::Arc::new(users));
        let user = authenticate(credentials(Mechanism::Plain, "secret"), &mut |m| {
            server.respond(m)
        });
        assert_eq!(user.as_deref(), Ok("bro,ker"));
    }

    #[test]
    fn a_server_signature_that_does_not_match_is_refused() {
        let (mut client, _) =
            ClientExchange::start(credentials(Mechanism::ScramSha256, "secret")).unwrap();
        let ClientState::ScramFirstSent { client_nonce, .. } = &client.state else {
            panic!("{:?}", client.state);
        };
        let server_first = format!("r={client_nonce}xyz,s={},i=4096", BASE64.encode("salt"));
        assert!(client.respond(server_first.as_bytes()).unwrap().is_some());
        let forged = format!("v={}", BASE64.encode([0u8; 32]));
        assert!(client.respond(forged.as_bytes()).is_err());
        assert!(ClientExchange::start(credentials(Mechanism::OAuthBearer, "x")).is_err());
    }
}
