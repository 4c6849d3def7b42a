//! The JAAS forms spool reads, as Kafka's broker takes them: a listener's
//! `…plain.sasl.jaas.config` naming Kafka's `PlainLoginModule`, whose `user_<name>="<password>"`
//! options are the users PLAIN accepts, and whose `username`/`password` (like those of a
//! `…scram-sha-256.sasl.jaas.config` naming `ScramLoginModule`) are what this broker
//! authenticates with to the others.

use std::collections::BTreeMap;

/// Kafka's PLAIN and SCRAM login modules.
pub(super) const PLAIN_LOGIN_MODULE: &str =
    "org.apache.kafka.common.security.plain.PlainLoginModule";
pub(super) const SCRAM_LOGIN_MODULE: &str =
    "org.apache.kafka.common.security.scram.ScramLoginModule";
const CONTROL_FLAGS: [&str; 4] = ["required", "requisite", "sufficient", "optional"];

/// The users (name → password) of a PlainLoginModule JAAS entry.
pub(super) fn plain_users(text: &str) -> Result<BTreeMap<String, String>, String> {
    let options = options(text, PLAIN_LOGIN_MODULE)?;
    Ok(options
        .into_iter()
        .filter_map(|(key, value)| Some((key.strip_prefix("user_")?.to_owned(), value)))
        .collect())
}

/// The `username` and `password` of a JAAS entry for `module`, if it names them.
pub(super) fn login(text: &str, module: &str) -> Result<Option<(String, String)>, String> {
    let mut options = options(text, module)?;
    match (options.remove("username"), options.remove("password")) {
        (Some(username), Some(password)) => Ok(Some((username, password))),
        (None, None) => Ok(None),
        _ => Err("username and password go together".into()),
    }
}

/// The options of a JAAS entry naming `module`.
fn options(text: &str, module: &str) -> Result<BTreeMap<String, String>, String> {
    let tokens = tokens(text)?;
    let (named, flag, options) = match tokens.as_slice() {
        [named, flag, options @ ..] => (named, flag, options),
        _ => return Err("expected `LoginModule flag options;`".into()),
    };
    if named != module {
        return Err(format!("spool reads {module} here, not {named}"));
    }
    if !CONTROL_FLAGS.contains(&flag.as_str()) {
        return Err(format!("`{flag}` is not a JAAS control flag"));
    }
    let mut found = BTreeMap::new();
    let mut options = options.iter();
    while let Some(key) = options.next() {
        let (Some(equals), Some(value)) = (options.next(), options.next()) else {
            return Err(format!("option `{key}` has no value"));
        };
        if equals != "=" {
            return Err(format!("option `{key}` has no value"));
        }
        found.insert(key.clone(), value.clone());
    }
    Ok(found)
}

/// Words, `=`, and double-quoted strings (backslash escapes the next character), up to
/// the closing `;`.
fn tokens(text: &str) -> Result<Vec<String>, String> {
    let body = text
        .trim()
        .strip_suffix(';')
        .ok_or("a JAAS entry ends with `;`")?;
    let mut tokens = Vec::new();
    let mut characters = body.chars().peekable();
    while let Some(&character) = characters.peek() {
        match character {
            c if c.is_whitespace() => {
                characters.next();
            }
            '=' => {
                characters.next();
                tokens.push("=".to_owned());
            }
            '"' => {
                characters.next();
                let mut quoted = String::new();
                loop {
                    match characters.next() {
                        Some('"') => break,
                        Some('\\') => quoted.extend(characters.next()),
                        Some(c) => quoted.push(c),
                        None => return Err("unterminated quoted string".into()),
                    }
                }
                tokens.push(quoted);
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = characters.peek() {
                    if c.is_whitespace() || c == '=' || c == '"' {
                        break;
                    }
                    word.push(c);
                    characters.next();
                }
                tokens.push(word);
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_come_from_the_user_options() {
        let users = plain_users(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required
               username="admin" password="admin-secret"
               user_admin="admin-secret" user_alice="al\"ice";"#,
        )
        .unwrap();
        assert_eq!(
            users,
            BTreeMap::from([
                ("admin".to_owned(), "admin-secret".to_owned()),
                ("alice".to_owned(), "al\"ice".to_owned()),
            ])
        );
    }

    #[test]
    fn a_login_is_its_username_and_password() {
        let login_of = |text: &str| login(text, SCRAM_LOGIN_MODULE);
        assert_eq!(
            login_of(&format!(
                r#"{SCRAM_LOGIN_MODULE} required username="broker" password="s3cret";"#
            )),
            Ok(Some(("broker".into(), "s3cret".into())))
        );
        assert_eq!(
            login_of(&format!("{SCRAM_LOGIN_MODULE} required;")),
            Ok(None)
        );
        assert!(login_of(&format!(r#"{SCRAM_LOGIN_MODULE} required username="b";"#)).is_err());
        assert!(login_of(&format!(
            r#"{PLAIN_LOGIN_MODULE} required username="b" password="p";"#
        ))
        .is_err());
    }

    #[test]
    fn other_modules_and_broken_entries_are_refused() {
        for text in [
            "com.example.Login required user_a=\"b\";",
            "org.apache.kafka.common.security.plain.PlainLoginModule always user_a=\"b\";",
            "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"b\"",
            "org.apache.kafka.common.security.plain.PlainLoginModule required user_a;",
            "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"b;",
        ] {
            assert!(plain_users(text).is_err(), "{text}");
        }
    }
}
