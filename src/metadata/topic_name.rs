//! Kafka's rules for topic names.

/// Kafka's limit on topic name length.
pub const TOPIC_NAME_MAX_CHARS: usize = 249;

/// Why a topic name is illegal; the text is what Kafka says.
pub fn validate(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > TOPIC_NAME_MAX_CHARS {
        return Err(format!(
            "Topic name is illegal, it can't be longer than {TOPIC_NAME_MAX_CHARS} characters"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_rules() {
        for good in ["a", "orders.v1", "A_b-c.9", &"x".repeat(249)] {
            assert!(validate(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "has space",
            "slash/",
            "ünï",
            &"x".repeat(250),
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
