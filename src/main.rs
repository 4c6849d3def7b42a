//! The `spool` binary: parse the command line, load the config, run the broker until
//! SIGTERM/SIGINT, then shut down cleanly.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use spool::broker::Broker;
use spool::clock::SystemClock;
use spool::config::{BrokerConfig, Overrides};

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
    /// Address to listen on, HOST:PORT (overrides `listeners`).
    #[arg(long)]
    listen: Option<String>,
    /// Address clients are told to connect to, HOST:PORT (overrides `advertised.listeners`).
    #[arg(long)]
    advertise: Option<String>,
    /// Data directory (overrides `log.dirs`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Node id (overrides `node.id`).
    #[arg(long)]
    node_id: Option<i32>,
}

/// Tools; without one, `spool` runs the broker.
#[derive(Debug, clap::Subcommand)]
enum Tool {
    /// Consumer groups: list them, or describe one with its lag.
    Groups {
        #[command(subcommand)]
        command: GroupsCommand,
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

#[derive(Debug, clap::Subcommand)]
enum GroupsCommand {
    /// Every group and its state.
    List {
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// A group's members, committed offsets, log end offsets and lag.
    Describe {
        group: String,
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn run_tool(tool: Tool) -> ExitCode {
    let output = match tool {
        Tool::Groups {
            command: GroupsCommand::List { bootstrap, json },
        } => spool::cli::groups_list(&bootstrap, json),
        Tool::Groups {
            command:
                GroupsCommand::Describe {
                    group,
                    bootstrap,
                    json,
                },
        } => spool::cli::groups_describe(&bootstrap, &group, json),
        Tool::DumpLog { file, verify } => {
            spool::cli::dump_log::run(&file, verify).map_err(spool::cli::CliError::Inspection)
        }
    };
    match output {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
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
    let overrides = Overrides {
        listen: cli.listen,
        advertise: cli.advertise,
        data_dir: cli.data_dir,
        node_id: cli.node_id,
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
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", config.listen))?;
    let bound = listener.local_addr()?;
    if config.advertise.1 == 0 {
        config.advertise.1 = bound.port();
    }
    let broker = Arc::new(Broker::open(config, Arc::new(SystemClock))?);
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
    let server = tokio::spawn(spool::server::serve(
        Arc::clone(&broker),
        listener,
        shutdown,
    ));
    tracing::info!(listen = %bound, advertise = ?broker.config.advertise, data_dir = %broker.config.data_dir.display(), "spool started");
    // A line on stdout that scripts and tests can wait for (the port may have been 0).
    println!("spool listening on {bound}");

    wait_for_signal().await?;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    broker.groups.shutdown();
    if tokio::time::timeout(SHUTDOWN_GRACE, server).await.is_err() {
        tracing::warn!("in-flight requests did not finish in time");
    }
    broker.logs.shutdown()?;
    tracing::info!("clean shutdown complete");
    Ok(())
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
