//! SASL authentication of a connection on a SASL listener, in the order Kafka's
//! `SaslServerAuthenticator` enforces: ApiVersions and SaslHandshake first, then
//! SaslAuthenticate until the mechanism's exchange ends. Any other request before that, an
//! unknown mechanism or a failed exchange ends the connection (the last two after an answer
//! saying why). Until then frames are held to `sasl.server.max.receive.size`.

use std::sync::Arc;

use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::handlers::sasl as answers;
use crate::sasl::{Exchange, Mechanism, PlainExchange, SaslSettings, ScramExchange, Step};

/// Where a connection's authentication stands.
#[derive(Debug)]
enum State {
    /// Expecting ApiVersions or SaslHandshake.
    Handshake,
    /// Expecting SaslAuthenticate for the exchange under way.
    Exchange(Exchange),
    /// Authenticated: requests go to the handlers.
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

/// One connection's authentication.
#[derive(Debug)]
pub(super) struct Authenticator {
    settings: Arc<SaslSettings>,
    broker: Arc<Broker>,
    state: State,
    user: Option<String>,
}

impl Authenticator {
    pub(super) fn new(settings: Arc<SaslSettings>, broker: Arc<Broker>) -> Self {
        Self {
            settings,
            broker,
            state: State::Handshake,
            user: None,
        }
    }

    pub(super) fn authenticated(&self) -> bool {
        matches!(self.state, State::Authenticated)
    }

    /// The principal the connection authenticated as, once it has.
    pub(super) fn principal(&self) -> Option<String> {
        self.user.as_ref().map(|user| format!("User:{user}"))
    }

    /// The largest frame the connection may send now.
    pub(super) fn frame_max_bytes(&self, authenticated_max: usize) -> usize {
        match self.state {
            State::Authenticated => authenticated_max,
            _ => self.settings.max_receive_bytes.min(authenticated_max),
        }
    }

    /// What to do with `request`.
    pub(super) fn examine(&mut self, request: &RequestKind) -> Verdict {
        match (&mut self.state, request) {
            (State::Authenticated, _) => Verdict::Dispatch,
            (State::Handshake, RequestKind::ApiVersions(_)) => Verdict::Dispatch,
            (State::Handshake, RequestKind::SaslHandshake(handshake)) => {
                self.handshake(handshake.mechanism.as_str())
            }
            (State::Exchange(exchange), RequestKind::SaslAuthenticate(request)) => {
                match exchange.respond(&request.auth_bytes) {
                    Ok(Step::Continue(bytes)) => Verdict::Answer(ResponseKind::SaslAuthenticate(
                        answers::authenticate_step(bytes, 0),
                    )),
                    Ok(Step::Done { response, user }) => {
                        self.state = State::Authenticated;
                        self.user = Some(user);
                        Verdict::Answer(ResponseKind::SaslAuthenticate(answers::authenticate_step(
                            response, 0,
                        )))
                    }
                    Err(error) => {
                        tracing::info!(%error, "SASL authentication failed");
                        Verdict::AnswerAndClose(ResponseKind::SaslAuthenticate(
                            answers::authenticate_failed(
                                ResponseError::SaslAuthenticationFailed,
                                error.to_string(),
                            ),
                        ))
                    }
                }
            }
            _ => Verdict::Close("unexpected request during SASL authentication"),
        }
    }

    fn handshake(&mut self, name: &str) -> Verdict {
        let offered = &self.settings.mechanisms;
        let Some(mechanism) = Mechanism::parse(name).filter(|m| offered.contains(m)) else {
            tracing::info!(mechanism = name, "SASL mechanism not enabled");
            return Verdict::AnswerAndClose(ResponseKind::SaslHandshake(answers::handshake(
                Some(ResponseError::UnsupportedSaslMechanism),
                offered,
            )));
        };
        let exchange = match mechanism {
            Mechanism::Plain => {
                Exchange::Plain(PlainExchange::new(Arc::clone(&self.settings.plain_users)))
            }
            scram => {
                let broker = Arc::clone(&self.broker);
                match ScramExchange::new(scram, move |user| broker.scram_credential(user, scram)) {
                    Some(exchange) => Exchange::Scram(Box::new(exchange)),
                    None => return Verdict::Close("no randomness for a SCRAM nonce"),
                }
            }
        };
        self.state = State::Exchange(exchange);
        Verdict::Answer(ResponseKind::SaslHandshake(answers::handshake(
            None, offered,
        )))
    }
}
