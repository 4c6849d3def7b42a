//! `ssl.principal.mapping.rules`: how a client certificate's subject becomes its principal's
//! name, as Kafka's `SslPrincipalMapper` does it. Rules are tried in order, each `DEFAULT`
//! (the subject unchanged) or `RULE:pattern/replacement/[L|U]` (a pattern matching the whole
//! subject, rewritten with `$n` groups and lower- or upper-cased); a subject no rule applies
//! to is refused.

use regex::{Captures, Regex};
use thiserror::Error;

/// Kafka's `ssl.principal.mapping.rules` default.
pub const MAPPING_RULES_DEFAULT: &str = "DEFAULT";

/// The parsed rules, kept with their text.
#[derive(Debug, Clone)]
pub struct PrincipalMapping {
    text: String,
    rules: Vec<Rule>,
}

/// Compared by their text: the same text gives the same rules.
impl PartialEq for PrincipalMapping {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for PrincipalMapping {}

impl Default for PrincipalMapping {
    fn default() -> Self {
        Self {
            text: MAPPING_RULES_DEFAULT.to_owned(),
            rules: vec![Rule::Default],
        }
    }
}

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Rewrite {
        /// The pattern anchored at both ends (Java's `matches`).
        pattern: Regex,
        replacement: String,
        case: Case,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Kept,
    Lower,
    Upper,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MappingError {
    #[error("Invalid rule: `{rule}`, unmatched substring: `{rest}`")]
    Invalid { rule: String, rest: String },
    #[error("Invalid rule pattern `{pattern}`: {message}")]
    Pattern { pattern: String, message: String },
    #[error("No rules apply to {subject}, rules {rules}")]
    NoMatchingRule { subject: String, rules: String },
}

impl PrincipalMapping {
    /// Parses a comma-separated list of rules (empty entries are ignored, as in Kafka).
    pub fn parse(text: &str) -> Result<Self, MappingError> {
        let mut rules = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            let (rule, after) = next_rule(rest)?;
            rules.extend(rule);
            rest = after;
        }
        Ok(Self {
            text: text.to_owned(),
            rules,
        })
    }

    /// The principal name of `subject`: what the first rule that applies makes of it.
    pub fn name(&self, subject: &str) -> Result<String, MappingError> {
        self.rules
            .iter()
            .find_map(|rule| rule.apply(subject))
            .ok_or_else(|| MappingError::NoMatchingRule {
                subject: subject.to_owned(),
                rules: self.text.clone(),
            })
    }
}

/// The first rule of `text` (none for an empty entry) and what follows its comma.
fn next_rule(text: &str) -> Result<(Option<Rule>, &str), MappingError> {
    let text = text.trim_start();
    let (rule, rest) = if let Some(rest) = text.strip_prefix("DEFAULT") {
        (Some(Rule::Default), rest)
    } else if let Some(body) = text.strip_prefix("RULE:") {
        let (pattern, rest) = until_slash(body).ok_or_else(|| invalid(text, body))?;
        let (replacement, rest) = until_slash(rest).ok_or_else(|| invalid(text, rest))?;
        let (case, rest) = match rest.chars().next() {
            Some('L') => (Case::Lower, &rest[1..]),
            Some('U') => (Case::Upper, &rest[1..]),
            _ => (Case::Kept, rest),
        };
        let anchored =
            Regex::new(&format!("^(?:{pattern})$")).map_err(|error| MappingError::Pattern {
                pattern: pattern.to_owned(),
                message: error.to_string(),
            })?;
        let rule = Rule::Rewrite {
            pattern: anchored,
            replacement: replacement.to_owned(),
            case,
        };
        (Some(rule), rest)
    } else {
        (None, text)
    };
    let (junk, rest) = rest.split_once(',').unwrap_or((rest, ""));
    if !junk.trim().is_empty() {
        let rule = &text[..text.len() - rest.len()];
        return Err(invalid(rule.trim_end_matches(','), junk.trim()));
    }
    Ok((rule, rest))
}

/// The text up to the first `/` not escaped by a backslash, and what follows that `/`.
fn until_slash(text: &str) -> Option<(&str, &str)> {
    let mut escaped = false;
    for (at, character) in text.char_indices() {
        match character {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '/' => return Some((&text[..at], &text[at + 1..])),
            _ => {}
        }
    }
    None
}

fn invalid(rule: &str, rest: &str) -> MappingError {
    MappingError::Invalid {
        rule: rule.trim().to_owned(),
        rest: rest.to_owned(),
    }
}

impl Rule {
    fn apply(&self, subject: &str) -> Option<String> {
        match self {
            Self::Default => Some(subject.to_owned()),
            Self::Rewrite {
                pattern,
                replacement,
                case,
            } => {
                let captures = pattern.captures(subject)?;
                let name = expand(replacement, &captures, pattern.captures_len() - 1);
                Some(match case {
                    Case::Kept => name,
                    Case::Lower => name.to_lowercase(),
                    Case::Upper => name.to_uppercase(),
                })
            }
        }
    }
}

/// Java's replacement syntax: `$n` is group n — as many digits as still name a group, a
/// reference past the last group kept literally (Kafka escapes those) — and `\c` is `c`.
fn expand(replacement: &str, captures: &Captures<'_>, groups: usize) -> String {
    let mut expanded = String::with_capacity(replacement.len());
    let mut characters = replacement.chars().peekable();
    while let Some(character) = characters.next() {
        match character {
            '\\' => expanded.extend(characters.next()),
            '$' => {
                let Some(first) = characters.peek().and_then(|c| c.to_digit(10)) else {
                    expanded.push('$');
                    continue;
                };
                if first as usize > groups {
                    expanded.push('$');
                    continue;
                }
                characters.next();
                let mut group = first as usize;
                while let Some(next) = characters.peek().and_then(|c| c.to_digit(10)) {
                    let longer = group * 10 + next as usize;
                    if longer > groups {
                        break;
                    }
                    group = longer;
                    characters.next();
                }
                expanded.push_str(captures.get(group).map_or("", |m| m.as_str()));
            }
            character => expanded.push(character),
        }
    }
    expanded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_rewrite_subjects_as_kafkas_mapper_does() {
        let mapping = PrincipalMapping::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/, RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L, RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, DEFAULT",
        )
        .unwrap();
        assert_eq!(
            mapping
                .name("CN=kafka-server1,OU=ServiceUsers,O=Org,C=US")
                .unwrap(),
            "kafka-server1"
        );
        assert_eq!(
            mapping
                .name("CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Santa Clara,ST=CA,C=US")
                .unwrap(),
            "duke@javasoft"
        );
        assert_eq!(mapping.name("OU=JavaSoft,CN=duke").unwrap(), "DUKE");
        assert_eq!(mapping.name("no common name").unwrap(), "no common name");
    }

    #[test]
    fn references_past_the_groups_and_escapes_stay_literal() {
        let mapping = PrincipalMapping::parse(r"RULE:^CN=(\w+)$/$1-$2-$12-\$1/").unwrap();
        assert_eq!(mapping.name("CN=ann").unwrap(), "ann-$2-ann2-$1");
        let slash = PrincipalMapping::parse(r"RULE:^CN=(.*)\/x$/$1/").unwrap();
        assert_eq!(slash.name("CN=a/x").unwrap(), "a");
    }

    #[test]
    fn a_subject_no_rule_applies_to_is_refused() {
        let mapping = PrincipalMapping::parse("RULE:^CN=bob,(.*)$/bob/").unwrap();
        assert!(matches!(
            mapping.name("CN=alice,O=x"),
            Err(MappingError::NoMatchingRule { .. })
        ));
        assert_eq!(PrincipalMapping::default().name("CN=a").unwrap(), "CN=a");
    }

    #[test]
    fn broken_rules_are_refused() {
        for text in [
            "DEFAULTS",
            "RULE:^CN=(.*)$/$1",
            "RULE:^CN=(.*)$/$1/LX",
            "nonsense",
            "RULE:^CN=(.*$/$1/",
        ] {
            assert!(PrincipalMapping::parse(text).is_err(), "{text}");
        }
        assert!(PrincipalMapping::parse("DEFAULT, ,DEFAULT").is_ok());
    }
}
