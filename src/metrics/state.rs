//! Gauges of the broker's state, sampled at each scrape: partition offsets and sizes, and
//! consumer groups (states, rebalances, committed offsets and lag = log end offset −
//! committed). The broker fills a [`StateSample`]; this module only turns it into metrics.

use std::collections::BTreeMap;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// The broker's state at one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateSample {
    pub partitions: Vec<PartitionSample>,
    pub groups: Vec<GroupSample>,
}

/// One partition's offsets and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSample {
    pub topic: String,
    pub partition: i32,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub size_bytes: u64,
}

/// One consumer group: its state, rebalance count and committed offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSample {
    pub group_id: String,
    /// Kafka's name of the group state (`Stable`, `Empty`, ...).
    pub state: &'static str,
    pub rebalances: u64,
    /// (topic, partition, committed offset)
    pub committed: Vec<(String, i32, i64)>,
}

type Labels = Vec<(&'static str, String)>;

/// One metric family: its samples, written under one descriptor.
fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: &[(Labels, M)],
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in samples {
        value.encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

impl Collector for StateSample {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut ends = BTreeMap::new();
        let (mut end_offsets, mut start_offsets, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
        for partition in &self.partitions {
            let labels: Labels = vec![
                ("topic", partition.topic.clone()),
                ("partition", partition.partition.to_string()),
            ];
            ends.insert(
                (partition.topic.as_str(), partition.partition),
                partition.log_end_offset,
            );
            end_offsets.push((labels.clone(), ConstGauge::new(partition.log_end_offset)));
            start_offsets.push((labels.clone(), ConstGauge::new(partition.log_start_offset)));
            sizes.push((labels, ConstGauge::new(partition.size_bytes as i64)));
        }
        let gauge = MetricType::Gauge;
        family(
            &mut encoder,
            "partition_log_end_offset",
            "Offset the next record gets",
            gauge,
            &end_offsets,
        )?;
        family(
            &mut encoder,
            "partition_log_start_offset",
            "First readable offset",
            gauge,
            &start_offsets,
        )?;
        family(
            &mut encoder,
            "partition_size_bytes",
            "Bytes in the partition's segments",
            gauge,
            &sizes,
        )?;

        let mut states: BTreeMap<&str, i64> = BTreeMap::new();
        let mut rebalances = Vec::new();
        let (mut committed, mut lags) = (Vec::new(), Vec::new());
        for group in &self.groups {
            *states.entry(group.state).or_default() += 1;
            rebalances.push((
                vec![("group", group.group_id.clone())],
                ConstCounter::new(group.rebalances),
            ));
            for (topic, partition, offset) in &group.committed {
                let labels: Labels = vec![
                    ("group", group.group_id.clone()),
                    ("topic", topic.clone()),
                    ("partition", partition.to_string()),
                ];
                if let Some(end) = ends.get(&(topic.as_str(), *partition)) {
                    lags.push((labels.clone(), ConstGauge::new((end - offset).max(0))));
                }
                committed.push((labels, ConstGauge::new(*offset)));
            }
        }
        let states: Vec<(Labels, ConstGauge)> = states
            .into_iter()
            .map(|(state, count)| (vec![("state", state.to_owned())], ConstGauge::new(count)))
            .collect();
        family(
            &mut encoder,
            "consumer_groups",
            "Consumer groups, by state",
            gauge,
            &states,
        )?;
        family(
            &mut encoder,
            "consumer_group_rebalances",
            "Rebalances a group started since the broker started",
            MetricType::Counter,
            &rebalances,
        )?;
        family(
            &mut encoder,
            "consumer_group_committed_offset",
            "A group's committed offset of a partition",
            gauge,
            &committed,
        )?;
        family(
            &mut encoder,
            "consumer_group_lag",
            "Log end offset minus the group's committed offset",
            gauge,
            &lags,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_the_log_end_minus_the_committed_offset() {
        let sample = StateSample {
            partitions: vec![PartitionSample {
                topic: "t".into(),
                partition: 0,
                log_start_offset: 2,
                log_end_offset: 10,
                size_bytes: 100,
            }],
            groups: vec![GroupSample {
                group_id: "g".into(),
                state: "Stable",
                rebalances: 3,
                committed: vec![("t".into(), 0, 4), ("deleted".into(), 0, 1)],
            }],
        };
        let text = crate::metrics::render(Some(sample)).unwrap();
        for line in [
            r#"spool_partition_log_end_offset{topic="t",partition="0"} 10"#,
            r#"spool_partition_log_start_offset{topic="t",partition="0"} 2"#,
            r#"spool_consumer_groups{state="Stable"} 1"#,
            r#"spool_consumer_group_rebalances_total{group="g"} 3"#,
            r#"spool_consumer_group_committed_offset{group="g",topic="deleted",partition="0"} 1"#,
            r#"spool_consumer_group_lag{group="g",topic="t",partition="0"} 6"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(
            !text.contains(r#"spool_consumer_group_lag{group="g",topic="deleted""#),
            "no lag without a partition"
        );
    }
}
