//! Gauges read from the broker at each scrape: partition offsets and sizes, and consumer
//! groups (states, rebalances, committed offsets and lag = log end offset − committed).

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::broker::Broker;

/// The broker's state as metrics; holds the broker weakly (a scrape during shutdown reports
/// nothing rather than keeping it alive).
#[derive(Debug)]
pub(super) struct BrokerState {
    broker: Weak<Broker>,
}

impl BrokerState {
    pub(super) fn new(broker: &Arc<Broker>) -> Self {
        Self {
            broker: Arc::downgrade(broker),
        }
    }
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

impl Collector for BrokerState {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(broker) = self.broker.upgrade() else {
            return Ok(());
        };
        let mut ends = BTreeMap::new();
        let (mut end_offsets, mut start_offsets, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
        for log in broker.logs.partitions() {
            let labels: Labels = vec![
                ("topic", log.topic().to_owned()),
                ("partition", log.index().to_string()),
            ];
            let end = log.log_end_offset();
            ends.insert((log.topic().to_owned(), log.index()), end);
            end_offsets.push((labels.clone(), ConstGauge::new(end)));
            start_offsets.push((labels.clone(), ConstGauge::new(log.log_start_offset())));
            sizes.push((labels, ConstGauge::new(log.size_bytes() as i64)));
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

        let groups = broker.groups.list_groups();
        let mut states: BTreeMap<String, i64> = BTreeMap::new();
        let mut rebalances = Vec::new();
        let (mut committed, mut lags) = (Vec::new(), Vec::new());
        for group in &groups {
            *states.entry(group.state.name().to_owned()).or_default() += 1;
            rebalances.push((
                vec![("group", group.group_id.clone())],
                ConstCounter::new(group.rebalances),
            ));
            for ((topic, partition), offset) in broker.groups.group_offsets(&group.group_id) {
                let labels: Labels = vec![
                    ("group", group.group_id.clone()),
                    ("topic", topic.clone()),
                    ("partition", partition.to_string()),
                ];
                if let Some(end) = ends.get(&(topic, partition)) {
                    lags.push((
                        labels.clone(),
                        ConstGauge::new((end - offset.offset).max(0)),
                    ));
                }
                committed.push((labels, ConstGauge::new(offset.offset)));
            }
        }
        let states: Vec<(Labels, ConstGauge)> = states
            .into_iter()
            .map(|(state, count)| (vec![("state", state)], ConstGauge::new(count)))
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
