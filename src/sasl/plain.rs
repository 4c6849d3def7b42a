//! PLAIN (RFC 4616): one message, `authzid NUL user NUL password`, checked against the
//! configured users' passwords in constant time.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{equal_in_constant_time, AuthenticationError, Step};

/// A PLAIN exchange against `users` (user → password).
#[derive(Debug)]
pub struct PlainExchange {
    users: Arc<BTreeMap<String, String>>,
}

impl PlainExchange {
    pub fn new(users: Arc<BTreeMap<String, String>>) -> Self {
        Self { users }
    }

    pub fn respond(&mut self, message: &[u8]) -> Result<Step, AuthenticationError> {
        let text = std::str::from_utf8(message)
            .map_err(|_| AuthenticationError::Malformed("Invalid SASL/PLAIN response".into()))?;
        let mut parts = text.split('\0');
        let (Some(authorization_id), Some(user), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthenticationError::Malformed(
                "Invalid SASL/PLAIN response: expected 3 tokens".into(),
            ));
        };
        if user.is_empty() {
            return Err(AuthenticationError::Malformed(
                "Invalid SASL/PLAIN response: username not specified".into(),
            ));
        }
        if !authorization_id.is_empty() && authorization_id != user {
            return Err(AuthenticationError::AuthorizationId);
        }
        let known = self.users.get(user).map(String::as_bytes);
        // Compared whether or not the user exists, so the time tells nothing.
        let expected = known.unwrap_or(b"");
        let matches = equal_in_constant_time(expected, password.as_bytes());
        if known.is_none() || !matches {
            return Err(AuthenticationError::InvalidPassword);
        }
        Ok(Step::Done {
            response: Vec::new(),
            user: user.to_owned(),
            expires: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange() -> PlainExchange {
        PlainExchange::new(Arc::new(BTreeMap::from([(
            "alice".to_owned(),
            "alice-secret".to_owned(),
        )])))
    }

    #[test]
    fn a_known_user_with_the_password_is_authenticated() {
        let step = exchange().respond(b"\0alice\0alice-secret").unwrap();
        assert_eq!(
            step,
            Step::Done {
                response: Vec::new(),
                user: "alice".into(),
                expires: None,
            }
        );
        assert!(exchange().respond(b"alice\0alice\0alice-secret").is_ok());
    }

    #[test]
    fn wrong_passwords_unknown_users_and_garbage_are_refused() {
        let refused = |message: &[u8]| exchange().respond(message).unwrap_err();
        assert_eq!(
            refused(b"\0alice\0wrong"),
            AuthenticationError::InvalidPassword
        );
        assert_eq!(refused(b"\0bob\0"), AuthenticationError::InvalidPassword);
        assert_eq!(
            refused(b"bob\0alice\0alice-secret"),
            AuthenticationError::AuthorizationId
        );
        assert!(matches!(
            refused(b"no separators"),
            AuthenticationError::Malformed(_)
        ));
        assert!(matches!(
            refused(b"\0\0pw"),
            AuthenticationError::Malformed(_)
        ));
        assert!(matches!(
            refused(&[0, 0xff, 0, 1]),
            AuthenticationError::Malformed(_)
        ));
    }
}
