//! OAUTHBEARER (RFC 7628) as Kafka's `OAuthBearerSaslServer` runs it: the client's first
//! message carries `auth=Bearer <token>` among key-value pairs; a valid token authenticates
//! its subject until it expires, an invalid one is answered with `{"status":"invalid_token"}`,
//! and the client's `\x01` acknowledgement of that ends the exchange in failure.

use std::sync::Arc;
use std::time::SystemTime;

use super::jwt::JwtValidator;
use super::{AuthenticationError, Mechanism, Step};

/// The server's answer to a refused token, as Kafka words it.
const INVALID_TOKEN: &str = r#"{"status":"invalid_token"}"#;
/// The client's acknowledgement of an error answer.
const ACKNOWLEDGEMENT: &[u8] = b"\x01";
const SEPARATOR: char = '\x01';

/// An OAUTHBEARER exchange against the listener's token validator.
#[derive(Debug)]
pub struct OAuthBearerExchange {
    validator: Arc<JwtValidator>,
    refused: bool,
}

impl OAuthBearerExchange {
    pub fn new(validator: Arc<JwtValidator>) -> Self {
        Self {
            validator,
            refused: false,
        }
    }

    pub fn respond(&mut self, message: &[u8]) -> Result<Step, AuthenticationError> {
        if self.refused && message == ACKNOWLEDGEMENT {
            return Err(AuthenticationError::InvalidToken(INVALID_TOKEN));
        }
        self.refused = false;
        let Some(first) = ClientFirstMessage::parse(message) else {
            return Err(AuthenticationError::InvalidProof(
                Mechanism::OAuthBearer.name(),
            ));
        };
        let token = match self.validator.validate(first.token, SystemTime::now()) {
            Ok(token) => token,
            Err(error) => {
                tracing::info!(%error, "OAUTHBEARER token refused");
                self.refused = true;
                return Ok(Step::Continue(INVALID_TOKEN.as_bytes().to_vec()));
            }
        };
        if !first.authorization_id.is_empty() && first.authorization_id != token.subject {
            return Err(AuthenticationError::TokenAuthorizationId {
                requested: first.authorization_id.to_owned(),
                subject: token.subject,
            });
        }
        Ok(Step::Done {
            response: Vec::new(),
            user: token.subject,
            expires: Some(token.expires),
        })
    }
}

/// `n,[a=<authzid>],\x01<key>=<value>\x01…\x01`, of which spool reads the authorization id
/// and the bearer token (extensions are accepted and ignored, as Kafka's validator does).
#[derive(Debug, PartialEq, Eq)]
struct ClientFirstMessage<'a> {
    authorization_id: &'a str,
    token: &'a str,
}

impl<'a> ClientFirstMessage<'a> {
    fn parse(message: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(message).ok()?;
        let (gs2_header, pairs) = text.strip_prefix("n,")?.split_once(",\x01")?;
        let authorization_id = match gs2_header {
            "" => "",
            header => header.strip_prefix("a=").filter(|id| is_sasl_name(id))?,
        };
        let pairs = pairs.strip_suffix(SEPARATOR)?;
        if !pairs.is_empty() && !pairs.ends_with(SEPARATOR) {
            return None;
        }
        let mut auth = None;
        for pair in pairs.split_terminator(SEPARATOR) {
            let (key, value) = pair.split_once('=')?;
            let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphabetic());
            let value_ok = !value.is_empty()
                && value
                    .bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) || b" \t\r\n".contains(&b));
            if !key_ok || !value_ok {
                return None;
            }
            if key == "auth" {
                auth = Some(value);
            }
        }
        let (scheme, token) = auth?.split_once(' ')?;
        let token = token.trim_start_matches(' ');
        let scheme_ok = scheme.eq_ignore_ascii_case("bearer");
        let body = token.trim_end_matches('=');
        let token_ok = !body.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_~+/.".contains(&b));
        (scheme_ok && token_ok).then_some(Self {
            authorization_id,
            token,
        })
    }
}

/// RFC 5801's saslname: no `,` or `=` except as `=2C` / `=3D`.
fn is_sasl_name(name: &str) -> bool {
    let mut rest = name;
    while let Some(at) = rest.find(['=', ',']) {
        match rest[at..].get(..3) {
            Some("=2C" | "=3D") => rest = &rest[at + 3..],
            _ => return false,
        }
    }
    !name.is_empty() && name.bytes().all(|b| (0x01..=0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<ClientFirstMessage<'_>> {
        ClientFirstMessage::parse(text.as_bytes())
    }

    #[test]
    fn client_first_messages_parse_as_kafka_parses_them() {
        assert_eq!(
            parse("n,,\x01auth=Bearer a.b.c\x01\x01"),
            Some(ClientFirstMessage {
                authorization_id: "",
                token: "a.b.c"
            })
        );
        assert_eq!(
            parse("n,a=alice,\x01host=h\x01auth=bearer  a.b.c==\x01traceId=1\x01\x01"),
            Some(ClientFirstMessage {
                authorization_id: "alice",
                token: "a.b.c=="
            })
        );
        assert_eq!(
            parse("n,a=a=2Cb,\x01auth=Bearer t\x01\x01")
                .unwrap()
                .authorization_id,
            "a=2Cb"
        );
        for bad in [
            "n,,\x01\x01",
            "n,,\x01auth=Bearer a.b.c\x01",
            "y,,\x01auth=Bearer a.b.c\x01\x01",
            "n,a=a,b,\x01auth=Bearer t\x01\x01",
            "n,,\x01auth=Basic dXNlcg==\x01\x01",
            "n,,\x01auth=Bearer a b\x01\x01",
            "n,,\x01auth=Bearer \x01\x01",
            "n,,\x01au th=x\x01auth=Bearer t\x01\x01",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
