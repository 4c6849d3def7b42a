//! The `spool` command-line tools (beside running the broker): Kafka-protocol clients for
//! operators, like Redpanda's `rpk` (`spool groups list|describe`), and offline inspection of
//! segment files (`spool dump-log`).

pub mod client;
pub mod dump_log;
pub mod groups;

use thiserror::Error;

pub use client::ClientError;

/// A tool failure, printed to stderr.
#[derive(Debug, Error)]
pub enum CliError {
    #[error(transparent)]
    Client(ClientError),
    #[error("{0}")]
    Kafka(String),
    /// An offline tool found a problem; the text is its report.
    #[error("{0}")]
    Inspection(String),
}

/// `spool groups list`.
pub fn groups_list(bootstrap: &str, json: bool) -> Result<String, CliError> {
    let groups = groups::list(bootstrap)?;
    if json {
        let entries: Vec<serde_json::Value> = groups
            .iter()
            .map(|(group, state)| serde_json::json!({ "group": group, "state": state }))
            .collect();
        return Ok(serde_json::Value::Array(entries).to_string() + "\n");
    }
    Ok(groups
        .into_iter()
        .map(|(group, state)| format!("{group}\t{state}\n"))
        .collect())
}

/// `spool groups describe GROUP`.
pub fn groups_describe(bootstrap: &str, group: &str, json: bool) -> Result<String, CliError> {
    let report = groups::describe(bootstrap, group)?;
    if json {
        let text =
            serde_json::to_string(&report).map_err(|error| CliError::Kafka(error.to_string()))?;
        return Ok(text + "\n");
    }
    Ok(groups::render(&report))
}
