//! The `spool` command-line tools (beside running the broker): Kafka-protocol clients for
//! operators, like Redpanda's `rpk` (`spool topics`, `groups`, `configs`, `produce`,
//! `consume`), and offline inspection of segment files (`spool dump-log`). Each prints a table
//! by default and JSON with `--json`.

pub mod client;
pub mod cluster;
pub mod configs;
pub mod consume;
pub mod dump_log;
pub mod groups;
pub mod produce;
pub mod table;
pub mod topics;

use serde::Serialize;
use thiserror::Error;

pub use client::ClientError;
use configs::{ConfigRow, Resource};
use table::or_dash;

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
    /// Some items of a multi-item command failed; `output` says which.
    #[error("{output}{failed} failed")]
    Partial { output: String, failed: usize },
}

/// `spool groups list`.
pub fn groups_list(bootstrap: &str, as_json: bool) -> Result<String, CliError> {
    let groups = groups::list(bootstrap)?;
    if as_json {
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
pub fn groups_describe(bootstrap: &str, group: &str, as_json: bool) -> Result<String, CliError> {
    let report = groups::describe(bootstrap, group)?;
    if as_json {
        return json(&report);
    }
    Ok(groups::render(&report))
}

fn json(value: &impl Serialize) -> Result<String, CliError> {
    serde_json::to_string(value)
        .map(|text| text + "\n")
        .map_err(|error| CliError::Kafka(error.to_string()))
}

/// What happened to one item of a multi-item command (a topic, a group): its name, and the
/// error if it failed.
pub type Outcome = (String, Result<(), String>);

/// Per-item outcomes (delete of several topics or groups): one line each; fails if any did.
fn outcomes(items: Vec<Outcome>, as_json: bool) -> Result<String, CliError> {
    let failed = items.iter().filter(|(_, outcome)| outcome.is_err()).count();
    let text = if as_json {
        let entries: Vec<serde_json::Value> = items
            .iter()
            .map(|(name, outcome)| {
                serde_json::json!({ "name": name, "error": outcome.as_ref().err() })
            })
            .collect();
        json(&entries)?
    } else {
        let rows: Vec<Vec<String>> = items
            .into_iter()
            .map(|(name, outcome)| vec![name, outcome.err().unwrap_or_else(|| "OK".to_owned())])
            .collect();
        table::render(&["NAME", "STATUS"], &rows)
    };
    if failed > 0 {
        return Err(CliError::Partial {
            output: text,
            failed,
        });
    }
    Ok(text)
}

/// `spool groups delete GROUP...`.
pub fn groups_delete(bootstrap: &str, names: &[String], as_json: bool) -> Result<String, CliError> {
    outcomes(groups::delete(bootstrap, names)?, as_json)
}

/// `spool topics list`.
pub fn topics_list(bootstrap: &str, internal: bool, as_json: bool) -> Result<String, CliError> {
    let topics = topics::list(bootstrap, internal)?;
    if as_json {
        return json(&topics);
    }
    let rows: Vec<Vec<String>> = topics
        .into_iter()
        .map(|topic| {
            vec![
                topic.name,
                topic.partitions.to_string(),
                topic.replicas.to_string(),
                topic.id,
            ]
        })
        .collect();
    Ok(table::render(
        &["NAME", "PARTITIONS", "REPLICAS", "ID"],
        &rows,
    ))
}

/// `spool topics describe TOPIC`.
pub fn topics_describe(bootstrap: &str, topic: &str, as_json: bool) -> Result<String, CliError> {
    let details = topics::describe(bootstrap, topic)?;
    if as_json {
        return json(&details);
    }
    let ids = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    let mut text = format!(
        "Topic: {}\tTopicId: {}\tPartitionCount: {}\tInternal: {}\n\n",
        details.name,
        details.id,
        details.partitions.len(),
        details.internal
    );
    let rows: Vec<Vec<String>> = details
        .partitions
        .iter()
        .map(|partition| {
            vec![
                partition.partition.to_string(),
                partition.leader.to_string(),
                partition.leader_epoch.to_string(),
                ids(&partition.replicas),
                ids(&partition.isr),
                partition.log_start_offset.to_string(),
                partition.high_watermark.to_string(),
            ]
        })
        .collect();
    text.push_str(&table::render(
        &[
            "PARTITION",
            "LEADER",
            "EPOCH",
            "REPLICAS",
            "ISR",
            "LOG-START-OFFSET",
            "HIGH-WATERMARK",
        ],
        &rows,
    ));
    if !details.configs.is_empty() {
        text.push('\n');
        text.push_str(&render_configs(&details.configs));
    }
    Ok(text)
}

/// `spool topics create TOPIC`.
pub fn topics_create(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(String, String)],
    as_json: bool,
) -> Result<String, CliError> {
    topics::create(bootstrap, topic, partitions, replication_factor, configs)?;
    outcomes(vec![(topic.to_owned(), Ok(()))], as_json)
}

/// `spool topics delete TOPIC...`.
pub fn topics_delete(bootstrap: &str, names: &[String], as_json: bool) -> Result<String, CliError> {
    outcomes(topics::delete(bootstrap, names)?, as_json)
}

/// `spool topics add-partitions TOPIC --num N`.
pub fn topics_add_partitions(
    bootstrap: &str,
    topic: &str,
    count: i32,
    as_json: bool,
) -> Result<String, CliError> {
    let total = topics::add_partitions(bootstrap, topic, count)?;
    if as_json {
        return json(&serde_json::json!({ "name": topic, "partitions": total }));
    }
    Ok(format!("{topic}: now {total} partitions\n"))
}

fn render_configs(rows: &[ConfigRow]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                row.name.clone(),
                if row.sensitive {
                    "(sensitive)".to_owned()
                } else {
                    or_dash(row.value.as_ref())
                },
                row.source.to_owned(),
                if row.read_only { "read-only" } else { "" }.to_owned(),
            ]
        })
        .collect();
    table::render(&["KEY", "VALUE", "SOURCE", ""], &rows)
}

/// `spool configs get topic|broker NAME`.
pub fn configs_get(
    bootstrap: &str,
    resource: &Resource,
    as_json: bool,
) -> Result<String, CliError> {
    let rows = configs::get(&mut cluster::Cluster::connect(bootstrap)?, resource)?;
    if as_json {
        return json(&rows);
    }
    Ok(render_configs(&rows))
}

/// `spool configs set topic|broker NAME KEY=VALUE... --delete KEY...`.
pub fn configs_set(
    bootstrap: &str,
    resource: &Resource,
    sets: &[(String, String)],
    deletes: &[String],
    as_json: bool,
) -> Result<String, CliError> {
    configs::set(
        &mut cluster::Cluster::connect(bootstrap)?,
        resource,
        sets,
        deletes,
    )?;
    let name = match resource {
        Resource::Topic(name) => name.clone(),
        Resource::Broker(id) => id.to_string(),
    };
    outcomes(vec![(name, Ok(()))], as_json)
}
