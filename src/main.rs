//! The `spool` binary: parse the command line, load the config, run the broker until
//! SIGTERM/SIGINT, then shut down cleanly.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use spool::broker::Broker;
use spool::cli::configs::Resource;
use spool::cli::consume::{self, ConsumeOptions, StartAt};
use spool::cli::produce::{self, ProduceOptions};
use spool::cli::{self, CliError};
use spool::clock::SystemClock;
use spool::cluster::{BrokerRegistration, ClusterConfig, ClusterUrl, ListenerEndpoint, Membership};
use spool::config::{BrokerConfig, Overrides};
use spool::sasl::SaslServer;
use spool::tls::TlsServer;

/// Exit code for configuration errors.
const EXIT_CONFIG_ERROR: u8 = 2;
/// How long shutdown waits for in-flight requests before closing the logs anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A Kafka-compatible broker, and tools that talk to any Kafka-compatible broker.
#[derive(Debug, Parser)]
#[command(name = "spool", version)]
struct Cli {
    #[command(subcommand)]
    tool: Option<Tool>,
    /// TOML config file (Kafka key names).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Listeners, NAME://HOST:PORT,… or a bare HOST:PORT for PLAINTEXT (overrides `listeners`).
    #[arg(long)]
    listen: Option<String>,
    /// What clients are told to connect to, like --listen (overrides `advertised.listeners`).
    #[arg(long)]
    advertise: Option<String>,
    /// Data directory (overrides `log.dirs`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Node id (overrides `node.id`).
    #[arg(long)]
    node_id: Option<i32>,
    /// Join the cluster whose metadata is in this etcd, `etcd://HOST:PORT[,…][/ROOT]`
    /// (overrides `cluster.url`; without it, the broker runs as a single node).
    #[arg(long)]
    cluster: Option<String>,
}

/// Tools; without one, `spool` runs the broker.
#[derive(Debug, clap::Subcommand)]
enum Tool {
    /// Topics: list, create, describe, delete, add partitions.
    Topics {
        #[command(subcommand)]
        command: TopicsCommand,
    },
    /// Consumer groups: list them, describe one with its lag, delete empty ones.
    Groups {
        #[command(subcommand)]
        command: GroupsCommand,
    },
    /// Topic and broker configs: show them, or change topic configs.
    Configs {
        #[command(subcommand)]
        command: ConfigsCommand,
    },
    /// Produce one record per line of standard input (`KEY<sep>VALUE` with --key-separator).
    Produce {
        topic: String,
        #[command(flatten)]
        target: Target,
        /// Send every record to this partition (default: by key, like Kafka's partitioner).
        #[arg(short, long)]
        partition: Option<i32>,
        /// Split each line into key and value at the first occurrence of this text.
        #[arg(short = 'k', long)]
        key_separator: Option<String>,
        /// Acknowledgement: `all` (every in-sync replica) or `1` (the leader).
        #[arg(long, default_value = "all", value_parser = ["all", "-1", "1"])]
        acks: String,
    },
    /// Print records of a topic, one per line (the value; or JSON with --json).
    Consume {
        topic: String,
        #[command(flatten)]
        target: Target,
        /// Only these partitions (repeatable; default: all).
        #[arg(short, long)]
        partition: Vec<i32>,
        /// Where to start: `start`, `end`, or an offset.
        #[arg(short, long, default_value = "start")]
        offset: String,
        /// Stop after this many records.
        #[arg(short, long)]
        num: Option<u64>,
        /// Stop after this many milliseconds without a new record (default: follow forever).
        #[arg(long)]
        idle_timeout_ms: Option<u64>,
        /// Print `KEY<TAB>VALUE`.
        #[arg(long)]
        print_keys: bool,
    },
    /// Print the batches of a segment file (like kafka-dump-log.sh).
    DumpLog {
        /// A segment's `.log` file.
        file: std::path::PathBuf,
        /// Also check the `.index` and `.timeindex` beside it; exit 1 if inconsistent.
        #[arg(long)]
        verify: bool,
    },
}

/// The broker a tool talks to, and its output format.
#[derive(Debug, clap::Args)]
struct Target {
    /// A broker of the cluster, HOST:PORT.
    #[arg(long, env = "SPOOL_BOOTSTRAP", default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum TopicsCommand {
    /// Every topic with its partition count.
    List {
        #[command(flatten)]
        target: Target,
        /// Include internal topics (`__consumer_offsets`, …).
        #[arg(long)]
        internal: bool,
    },
    /// Create a topic.
    Create {
        topic: String,
        #[command(flatten)]
        target: Target,
        /// Partitions (default: the broker's `num.partitions`).
        #[arg(short, long, default_value_t = -1)]
        partitions: i32,
        /// Replication factor (default: the broker's `default.replication.factor`).
        #[arg(short, long, default_value_t = -1)]
        replication_factor: i16,
        /// A topic config, KEY=VALUE (repeatable).
        #[arg(short, long = "config", value_parser = key_value)]
        configs: Vec<(String, String)>,
    },
    /// Partitions with leaders and offsets, and the topic's own configs.
    Describe {
        topic: String,
        #[command(flatten)]
        target: Target,
    },
    /// Delete topics.
    Delete {
        #[arg(required = true)]
        topics: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Add partitions to a topic (partitions are never removed).
    AddPartitions {
        topic: String,
        #[command(flatten)]
        target: Target,
        /// How many partitions to add.
        #[arg(short, long)]
        num: i32,
    },
}

#[derive(Debug, clap::Subcommand)]
enum GroupsCommand {
    /// Every group and its state.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// A group's members, committed offsets, log end offsets and lag.
    Describe {
        group: String,
        #[command(flatten)]
        target: Target,
    },
    /// Delete groups (they must have no members).
    Delete {
        #[arg(required = true)]
        groups: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
}

/// A config resource: `topic NAME` or `broker ID`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ResourceKind {
    Topic,
    Broker,
}

#[derive(Debug, clap::Subcommand)]
enum ConfigsCommand {
    /// Every config of a topic or a broker, with its source.
    Get {
        kind: ResourceKind,
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Set (KEY=VALUE) or reset (--delete KEY) configs.
    Set {
        kind: ResourceKind,
        name: String,
        #[arg(value_parser = key_value)]
        configs: Vec<(String, String)>,
        /// Reset this key to its default (repeatable).
        #[arg(long = "delete")]
        deletes: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.trim().to_owned(), value.to_owned()))
        .filter(|(key, _)| !key.is_empty())
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))
}

fn resource(kind: ResourceKind, name: &str) -> Result<Resource, CliError> {
    match kind {
        ResourceKind::Topic => Ok(Resource::Topic(name.to_owned())),
        ResourceKind::Broker => name
            .parse()
            .map(Resource::Broker)
            .map_err(|_| CliError::Kafka(format!("broker id `{name}` is not a number"))),
    }
}

fn run_tool(tool: Tool) -> ExitCode {
    let output = match tool {
        Tool::Topics { command } => match command {
            TopicsCommand::List { target, internal } => {
                cli::topics_list(&target.bootstrap, internal, target.json)
            }
            TopicsCommand::Create {
                topic,
                target,
                partitions,
                replication_factor,
                configs,
            } => cli::topics_create(
                &target.bootstrap,
                &topic,
                partitions,
                replication_factor,
                &configs,
                target.json,
            ),
            TopicsCommand::Describe { topic, target } => {
                cli::topics_describe(&target.bootstrap, &topic, target.json)
            }
            TopicsCommand::Delete { topics, target } => {
                cli::topics_delete(&target.bootstrap, &topics, target.json)
            }
            TopicsCommand::AddPartitions { topic, target, num } => {
                cli::topics_add_partitions(&target.bootstrap, &topic, num, target.json)
            }
        },
        Tool::Groups { command } => match command {
            GroupsCommand::List { target } => cli::groups_list(&target.bootstrap, target.json),
            GroupsCommand::Describe { group, target } => {
                cli::groups_describe(&target.bootstrap, &group, target.json)
            }
            GroupsCommand::Delete { groups, target } => {
                cli::groups_delete(&target.bootstrap, &groups, target.json)
            }
        },
        Tool::Configs { command } => match command {
            ConfigsCommand::Get { kind, name, target } => resource(kind, &name)
                .and_then(|resource| cli::configs_get(&target.bootstrap, &resource, target.json)),
            ConfigsCommand::Set {
                kind,
                name,
                configs,
                deletes,
                target,
            } => resource(kind, &name).and_then(|resource| {
                cli::configs_set(
                    &target.bootstrap,
                    &resource,
                    &configs,
                    &deletes,
                    target.json,
                )
            }),
        },
        Tool::Produce {
            topic,
            target,
            partition,
            key_separator,
            acks,
        } => {
            let options = ProduceOptions {
                topic,
                partition,
                key_separator,
                acks: if acks == "1" { 1 } else { -1 },
            };
            let stdin = std::io::stdin().lock();
            produce::produce(&target.bootstrap, &options, stdin, &mut std::io::stderr()).and_then(
                |report| {
                    eprintln!(
                        "produced {} records to {} ({} partitions)",
                        report.records,
                        report.topic,
                        report.partitions.len()
                    );
                    if target.json {
                        serde_json::to_string(&report)
                            .map(|text| text + "\n")
                            .map_err(|error| CliError::Kafka(error.to_string()))
                    } else {
                        Ok(String::new())
                    }
                },
            )
        }
        Tool::Consume {
            topic,
            target,
            partition,
            offset,
            num,
            idle_timeout_ms,
            print_keys,
        } => {
            let start = match offset.as_str() {
                "start" | "beginning" | "earliest" => Ok(StartAt::Beginning),
                "end" | "latest" => Ok(StartAt::End),
                number => number.parse().map(StartAt::Offset).map_err(|_| {
                    CliError::Kafka(format!(
                        "--offset `{number}`: expected start, end or a number"
                    ))
                }),
            };
            start.and_then(|start| {
                let options = ConsumeOptions {
                    topic,
                    partitions: partition,
                    start,
                    max_records: num,
                    idle_timeout: idle_timeout_ms.map(Duration::from_millis),
                    json: target.json,
                    print_keys,
                };
                consume::consume(&target.bootstrap, &options, &mut std::io::stdout().lock())
                    .map(|_| String::new())
            })
        }
        Tool::DumpLog { file, verify } => {
            cli::dump_log::run(&file, verify).map_err(CliError::Inspection)
        }
    };
    match output {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(CliError::Partial { output, failed }) => {
            print!("{output}");
            eprintln!("spool: {failed} failed");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("spool: {error}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(tool) = cli.tool {
        return run_tool(tool);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match spool::open_files::raise_limit() {
        Ok((before, after)) if after > before => {
            tracing::info!(before, after, "raised the open files limit")
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "cannot raise the open files limit"),
    }
    let overrides = Overrides {
        listen: cli.listen,
        advertise: cli.advertise,
        data_dir: cli.data_dir,
        node_id: cli.node_id,
        cluster: cli.cluster,
    };
    let config = match BrokerConfig::load(cli.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("spool: {error}");
            return ExitCode::from(EXIT_CONFIG_ERROR);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("spool: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("spool: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(mut config: BrokerConfig) -> Result<(), Box<dyn std::error::Error>> {
    let endpoints = bind_listeners(&mut config).await?;
    let broker = Arc::new(match config.cluster.url.clone() {
        None => Broker::open(config, Arc::new(SystemClock))?,
        Some(url) => {
            let membership = join_cluster(&config, &url).await?;
            Broker::open_in_cluster(config, Arc::new(SystemClock), membership).await?
        }
    });
    if broker.cluster.is_some() {
        broker.take_up_roles();
        tokio::spawn(Arc::clone(&broker).run_cluster_reconciler());
        tokio::spawn(Arc::clone(&broker).run_isr_checks());
        tokio::spawn(Arc::clone(&broker).run_offline_reports());
        tokio::spawn(Arc::clone(&broker.logs).run_high_watermark_checkpoints());
    }
    tokio::spawn(Arc::clone(&broker.logs).run_flush_scheduler());
    tokio::spawn(
        Arc::clone(&broker.logs).run_retention(Duration::from_millis(
            broker.config.log.retention_check_interval_ms as u64,
        )),
    );
    tokio::spawn(Arc::clone(&broker.logs).run_cleaner(
        Duration::from_millis(broker.config.log.cleaner_backoff_ms as u64),
        usize::try_from(broker.config.log.cleaner_dedupe_buffer_bytes).unwrap_or(usize::MAX),
    ));
    tokio::spawn(Arc::clone(&broker.logs).run_producer_expiry(
        broker.config.producer_id_expiration_ms,
        Duration::from_millis(broker.config.producer_id_expiration_check_interval_ms as u64),
    ));
    let timers = Arc::clone(&broker);
    tokio::spawn(async move { timers.groups.run_timers().await });
    let transactions = Arc::clone(&broker);
    tokio::spawn(async move { transactions.txns.run_timers(&transactions.groups).await });
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    if let Some(address) = broker.config.metrics_listen {
        let metrics = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|error| format!("cannot listen for metrics on {address}: {error}"))?;
        let bound = metrics.local_addr()?;
        // Held weakly: a scrape during shutdown reports no state rather than keeping the
        // broker alive.
        let scraped = Arc::downgrade(&broker);
        tokio::spawn(spool::metrics::http::serve(
            Arc::new(move || scraped.upgrade().map(|broker| broker.metrics_sample())),
            metrics,
            shutdown.clone(),
        ));
        // Printed before the listening line, so whoever waits for that one has this too.
        println!("spool metrics on http://{bound}/metrics");
    }
    let server = tokio::spawn(spool::server::serve(
        Arc::clone(&broker),
        endpoints,
        shutdown,
    ));
    for listener in &broker.config.listeners.all {
        tracing::info!(listener = %listener.name, protocol = listener.protocol.name(), bind = %listener.bind, advertised = ?listener.advertised, "listening");
        // A line per listener on stdout that tests read (the port may have been 0).
        println!("spool listener {} on {}", listener.name, listener.bind);
    }
    tracing::info!(data_dir = %broker.config.data_dir.display(), "spool started");
    // The line scripts and tests wait for: the first listener's address, once all accept.
    println!(
        "spool listening on {}",
        broker.config.listeners.first().bind
    );

    wait_for_signal().await?;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    broker.groups.shutdown();
    if tokio::time::timeout(SHUTDOWN_GRACE, server).await.is_err() {
        tracing::warn!("in-flight requests did not finish in time");
    }
    if let Some(node) = &broker.cluster {
        node.membership().leave().await;
    }
    broker.logs.shutdown()?;
    tracing::info!("clean shutdown complete");
    Ok(())
}

/// A listening socket on `address` whose accept queue holds `backlog` connections.
fn listen(address: std::net::SocketAddr, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match address {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As std's TcpListener::bind: a restarted broker binds while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(backlog)
}

/// Binds every listener (noting the ports bound for port 0), reads the TLS stores of those
/// with TLS, whose files are then watched for changes, and the key sets of those that
/// validate OAUTHBEARER tokens.
async fn bind_listeners(
    config: &mut BrokerConfig,
) -> Result<Vec<spool::server::Endpoint>, Box<dyn std::error::Error>> {
    let mut endpoints = Vec::new();
    for listener in config.listeners.all.clone() {
        let socket = listen(listener.bind, config.socket_listen_backlog_size).map_err(|error| {
            format!(
                "cannot listen on {} ({}): {error}",
                listener.bind, listener.name
            )
        })?;
        config
            .listeners
            .set_bound_port(&listener.name, socket.local_addr()?.port());
        let tls = match listener.tls {
            Some(settings) => {
                let server = Arc::new(
                    TlsServer::new(settings)
                        .map_err(|error| format!("listener {}: {error}", listener.name))?,
                );
                tokio::spawn(Arc::clone(&server).run_reloads(listener.name.clone()));
                Some(server)
            }
            None => None,
        };
        let sasl = match listener.sasl {
            Some(settings) => {
                Some(Arc::new(SaslServer::new(settings).map_err(|error| {
                    format!("listener {}: {error}", listener.name)
                })?))
            }
            None => None,
        };
        endpoints.push(spool::server::Endpoint {
            name: listener.name,
            socket,
            tls,
            sasl,
        });
    }
    Ok(endpoints)
}

/// Registers this broker in the cluster of `url` with its advertised listeners.
async fn join_cluster(
    config: &BrokerConfig,
    url: &ClusterUrl,
) -> Result<Membership, Box<dyn std::error::Error>> {
    let settings = &config.cluster;
    let inter_broker = config.listeners.inter_broker();
    let cluster = ClusterConfig {
        node_id: config.node_id,
        root: url.root.clone(),
        session_timeout: Duration::from_millis(settings.session_timeout_ms as u64),
        registration: BrokerRegistration {
            node_id: config.node_id,
            host: inter_broker.advertised.0.clone(),
            port: inter_broker.advertised.1,
            rack: settings.rack.clone(),
            listeners: config
                .listeners
                .all
                .iter()
                .map(|listener| ListenerEndpoint {
                    name: listener.name.clone(),
                    host: listener.advertised.0.clone(),
                    port: listener.advertised.1,
                    security_protocol: listener.protocol.name().to_owned(),
                })
                .collect(),
            offline: Vec::new(),
        },
        new_cluster_id: spool::metadata::store::new_cluster_id(),
        controller: settings.controller.clone(),
    };
    let kv = url
        .connect()
        .await
        .map_err(|error| format!("cannot reach the cluster store {url:?}: {error}"))?;
    let membership = Membership::join(kv, &cluster).await?;
    tracing::info!(node_id = config.node_id, root = %url.root, "joined the cluster");
    Ok(membership)
}

async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}
