//! The one JAAS form spool reads: a `…plain.sasl.jaas.config` value naming Kafka's
//! `PlainLoginModule`, whose `user_<name>="<password>"` options are the users PLAIN accepts,
//! as Kafka's broker takes them.

use std::collections::BTreeMap;

/// Kafka's PLAIN login module.
const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
const CONTROL_FLAGS: [&str; 4] = ["required", "requisite", "sufficient", "optional"];

/// The users (name → password) of a PlainLoginModule JAAS entry.
pub(super) fn plain_users(text: &str) -> Result<BTreeMap<String, String>, String> {
    let tokens = tokens(text)?;
    let (module, flag, options) = match tokens.as_slice() {
        [module, flag, options @ ..] => (module, flag, options),
        _ => return Err("expected `LoginModule flag options;`".into()),
    };
    if module != PLAIN_LOGIN_MODULE {
        return Err(format!(
            "spool reads {PLAIN_LOGIN_MODULE} only, not {module}"
        ));
    }
    if !CONTROL_FLAGS.contains(&flag.as_str()) {
        return Err(format!("`{flag}` is not a JAAS control flag"));
    }
    let mut users = BTreeMap::new();
    let mut options = options.iter();
    while let Some(key) = options.next() {
        let (Some(equals), Some(value)) = (options.next(), options.next()) else {
            return Err(format!("option `{key}` has no value"));
        };
        if equals != "=" {
            return Err(format!("option `{key}` has no value"));
        }
        if let Some(user) = key.strip_prefix("user_") {
            users.insert(user.to_owned(), value.clone());
        }
    }
    Ok(users)
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
