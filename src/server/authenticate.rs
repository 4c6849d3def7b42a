//! SASL authentication of a connection on a SASL listener, in the order Kafka's
//! `SaslServerAuthenticator` enforces: ApiVersions and SaslHandshake first, then
//! SaslAuthenticate until the mechanism's exchange ends. Any other request before that, an
//! unknown mechanism or a failed exchange ends the connection (the last two after an answer
//! saying why). Until then frames are held to `sasl.server.max.receive.size`.
//!
//! A session lasts until its credential expires (an OAUTHBEARER token) or for the
//! mechanism's `connections.max.reauth.ms`, whichever is sooner (KIP-368): the client is told
//! the lifetime, re-authenticates in place with another SaslHandshake as the same principal
//! and mechanism, and a request arriving after the session ended closes the connection.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::handlers::sasl as answers;
use crate::metrics;
use crate::sasl::{
    AuthenticationError, Exchange, Mechanism, OAuthBearerExchange, PlainExchange, SaslServer,
    ScramExchange, Step,
};

/// Where a connection's authentication stands.
#[derive(Debug)]
enum State {
    /// Expecting ApiVersions or SaslHandshake.
    Handshake,
    /// Expecting SaslAuthenticate for the exchange under way.
    Exchange(Mechanism, Exchange),
    /// A re-authentication asked for another mechanism than the session's; the next
    /// SaslAuthenticate is refused, as Kafka refuses it.
    MechanismChanged { from: Mechanism, to: Mechanism },
    /// Authenticated: requests go to the handlers while the session lasts.
    Authenticated,
}

/// What the connection does with a request while it authenticates.
#[derive(Debug)]
pub(super) enum Verdict {
    /// Not an authentication matter: dispatch it as usual.
    Dispatch,
    /// Answer with this and read on.
    Answer(ResponseKind),
    /// Answer with this, then close the connection.
    AnswerAndClose(ResponseKind),
    /// Close the connection without an answer.
    Close(&'static str),
}

/// A successful authentication and how long it holds.
#[derive(Debug)]
struct Session {
    mechanism: Mechanism,
    user: String,
    /// `User:<user>`, as requests carry it.
    principal: Arc<str>,
    /// When the client must have re-authenticated; `None`: never.
    expires: Option<Instant>,
}

/// One connection's authentication.
#[derive(Debug)]
pub(super) struct Authenticator {
    server: Arc<SaslServer>,
    broker: Arc<Broker>,
    listener: Arc<str>,
    state: State,
    /// The latest successful authentication.
    session: Option<Session>,
    /// Whether the client sent SaslAuthenticate v1+, and so can re-authenticate (KIP-368).
    can_reauthenticate: bool,
}

impl Authenticator {
    pub(super) fn new(server: Arc<SaslServer>, broker: Arc<Broker>, listener: Arc<str>) -> Self {
        Self {
            server,
            broker,
            listener,
            state: State::Handshake,
            session: None,
            can_reauthenticate: false,
        }
    }

    /// The principal the connection authenticated as, once it has.
    pub(super) fn principal(&self) -> Option<&Arc<str>> {
        self.session.as_ref().map(|session| &session.principal)
    }

    /// The largest frame the connection may send now.
    pub(super) fn frame_max_bytes(&self, authenticated_max: usize) -> usize {
        match self.state {
            State::Authenticated => authenticated_max,
            _ => self
                .server
                .settings
                .max_receive_bytes
                .min(authenticated_max),
        }
    }

    /// What to do with `request`, of version `version`.
    pub(super) fn examine(&mut self, version: i16, request: &RequestKind) -> Verdict {
        match (&mut self.state, request) {
            (State::Authenticated, RequestKind::SaslHandshake(handshake))
                if self.can_reauthenticate =>
            {
                self.handshake(handshake.mechanism.as_str())
            }
            (State::Authenticated, _) => match &self.session {
                Some(Session {
                    expires: Some(expires),
                    ..
                }) if Instant::now() >= *expires => {
                    metrics::global().expired_session_closed();
                    Verdict::Close("the session expired and the client did not re-authenticate")
                }
                _ => Verdict::Dispatch,
            },
            (State::Handshake, RequestKind::ApiVersions(_)) => Verdict::Dispatch,
            (State::Handshake, RequestKind::SaslHandshake(handshake)) => {
                self.handshake(handshake.mechanism.as_str())
            }
            (State::Exchange(mechanism, exchange), RequestKind::SaslAuthenticate(request)) => {
                let mechanism = *mechanism;
                self.can_reauthenticate |= version > 0;
                match exchange.respond(&request.auth_bytes) {
                    Ok(Step::Continue(bytes)) => Verdict::Answer(ResponseKind::SaslAuthenticate(
                        answers::authenticate_step(bytes, 0),
                    )),
                    Ok(Step::Done {
                        response,
                        user,
                        expires,
                    }) => self.authenticated(mechanism, user, expires, response),
                    Err(error) => self.failed(mechanism, error.to_string()),
                }
            }
            (&mut State::MechanismChanged { from, to }, RequestKind::SaslAuthenticate(_)) => {
                let error = AuthenticationError::MechanismChanged {
                    from: from.name(),
                    to: to.name(),
                };
                self.failed(from, error.to_string())
            }
            _ => Verdict::Close("unexpected request during SASL authentication"),
        }
    }

    fn handshake(&mut self, name: &str) -> Verdict {
        let offered = &self.server.settings.mechanisms;
        let Some(mechanism) = Mechanism::parse(name).filter(|m| offered.contains(m)) else {
            tracing::info!(mechanism = name, "SASL mechanism not enabled");
            return Verdict::AnswerAndClose(ResponseKind::SaslHandshake(answers::handshake(
                Some(ResponseError::UnsupportedSaslMechanism),
                offered,
            )));
        };
        let accepted = ResponseKind::SaslHandshake(answers::handshake(None, offered));
        if let Some(session) = self.session.as_ref().filter(|s| s.mechanism != mechanism) {
            self.state = State::MechanismChanged {
                from: session.mechanism,
                to: mechanism,
            };
            return Verdict::Answer(accepted);
        }
        let exchange = match mechanism {
            Mechanism::Plain => Exchange::Plain(PlainExchange::new(Arc::clone(
                &self.server.settings.plain_users,
            ))),
            Mechanism::OAuthBearer => match &self.server.token_validator {
                Some(validator) => {
                    Exchange::OAuthBearer(OAuthBearerExchange::new(Arc::clone(validator)))
                }
                None => return Verdict::Close("OAUTHBEARER enabled without a token validator"),
            },
            scram => {
                let broker = Arc::clone(&self.broker);
                match ScramExchange::new(scram, move |user| broker.scram_credential(user, scram)) {
                    Some(exchange) => Exchange::Scram(Box::new(exchange)),
                    None => return Verdict::Close("no randomness for a SCRAM nonce"),
                }
            }
        };
        self.state = State::Exchange(mechanism, exchange);
        Verdict::Answer(accepted)
    }

    /// The exchange succeeded for `user`: a new session, or the current one renewed.
    fn authenticated(
        &mut self,
        mechanism: Mechanism,
        user: String,
        credential_expires: Option<SystemTime>,
        response: Vec<u8>,
    ) -> Verdict {
        let reauthentication = self.session.is_some();
        if let Some(session) = self.session.as_ref().filter(|s| s.user != user) {
            let message = AuthenticationError::PrincipalChanged {
                from: session.user.clone(),
                to: user,
            };
            return self.failed(mechanism, message.to_string());
        }
        let lifetime = session_lifetime(
            credential_expires,
            self.server.settings.session_max.get(&mechanism).copied(),
        );
        tracing::debug!(%user, ?lifetime, reauthentication, "SASL authentication succeeded");
        metrics::global().authentication(&self.listener, mechanism.name(), reauthentication, true);
        self.session = Some(Session {
            mechanism,
            principal: Arc::from(format!("User:{user}")),
            user,
            expires: lifetime.map(|lifetime| Instant::now() + lifetime),
        });
        self.state = State::Authenticated;
        let lifetime_ms = lifetime.map_or(0, |l| i64::try_from(l.as_millis()).unwrap_or(i64::MAX));
        Verdict::Answer(ResponseKind::SaslAuthenticate(answers::authenticate_step(
            response,
            lifetime_ms,
        )))
    }

    fn failed(&mut self, mechanism: Mechanism, message: String) -> Verdict {
        let reauthentication = self.session.is_some();
        tracing::info!(%message, reauthentication, "SASL authentication failed");
        metrics::global().authentication(&self.listener, mechanism.name(), reauthentication, false);
        Verdict::AnswerAndClose(ResponseKind::SaslAuthenticate(
            answers::authenticate_failed(ResponseError::SaslAuthenticationFailed, message),
        ))
    }
}

/// How long a session lasts: until the credential expires, or `maximum` (the mechanism's
/// `connections.max.reauth.ms`), whichever is sooner; `None` when neither limits it.
fn session_lifetime(
    credential_expires: Option<SystemTime>,
    maximum: Option<Duration>,
) -> Option<Duration> {
    let credential = credential_expires.map(|expires| {
        expires
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    });
    match (credential, maximum) {
        (Some(credential), Some(maximum)) => Some(credential.min(maximum)),
        (credential, maximum) => credential.or(maximum),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_with_its_credential_or_the_configured_maximum() {
        let minute = Duration::from_secs(60);
        assert_eq!(session_lifetime(None, None), None);
        assert_eq!(session_lifetime(None, Some(minute)), Some(minute));
        let in_an_hour = SystemTime::now() + 60 * minute;
        let from_credential = session_lifetime(Some(in_an_hour), None).unwrap();
        assert!(from_credential > 59 * minute && from_credential <= 60 * minute);
        assert_eq!(
            session_lifetime(Some(in_an_hour), Some(minute)),
            Some(minute)
        );
        let expired = SystemTime::now() - minute;
        assert_eq!(
            session_lifetime(Some(expired), Some(minute)),
            Some(Duration::ZERO)
        );
    }
}
