//! The `cuulong` command line: parses arguments and dispatches to the importers and stores.

mod admin;
mod config;
mod import;
mod keys;
mod layers;
mod observations;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use cuulong_store::{Store, StoreConfig};

#[derive(Parser)]
#[command(
    name = "cuulong",
    version,
    about = "Geospatial data service for Bến Tre province — dữ liệu không gian tỉnh Bến Tre"
)]
struct Cli {
    /// Configuration file [default: ./cuulong.toml if present].
    #[arg(long, global = true, env = "CUULONG_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct StoreArgs {
    /// PostGIS connection URL (else the DATABASE_URL environment variable).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Embedded store directory, used when no database URL is given [default: ./var/cuulong].
    #[arg(long, global = true, env = "CUULONG_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl StoreArgs {
    /// A flag beats the environment; both flags at once is an error. The config
    /// file may name the data dir (never a database URL: that is a secret).
    fn config(&self, file_data_dir: Option<&PathBuf>) -> Result<StoreConfig> {
        match (&self.database_url, &self.data_dir) {
            (Some(_), Some(_)) => {
                bail!("give either --database-url or --data-dir, not both")
            }
            (Some(url), None) => Ok(StoreConfig::Postgis { url: url.clone() }),
            (None, Some(dir)) => Ok(StoreConfig::Embedded {
                data_dir: dir.clone(),
            }),
            (None, None) => match std::env::var("DATABASE_URL") {
                Ok(url) if !url.is_empty() => Ok(StoreConfig::Postgis { url }),
                _ => Ok(StoreConfig::Embedded {
                    data_dir: file_data_dir
                        .cloned()
                        .unwrap_or_else(|| PathBuf::from("./var/cuulong")),
                }),
            },
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Import a file (any format GDAL reads) as a new version of a layer.
    Import(Box<import::ImportArgs>),
    /// Import every layer of a manifest (TOML with [[layer]] entries), e.g. data-samples/samples.toml.
    ImportManifest {
        manifest: PathBuf,
        /// Fail if any feature of any layer is rejected.
        #[arg(long)]
        strict: bool,
        #[arg(long)]
        quiet: bool,
    },
    /// Serve vector tiles, TileJSON, styles and the web map from memory.
    Serve(Box<config::ServeArgs>),
    /// API keys: agencies' keys see shared layers; restricted layers need a grant.
    Keys {
        #[command(subcommand)]
        action: keys::KeysAction,
    },
    /// Administrative units in time: import a lineage table (the 2025 reorganisation).
    Admin {
        #[command(subcommand)]
        action: admin::AdminAction,
    },
    /// Observations (SensorThings): set up the station network, import tables, simulate.
    Observations {
        #[command(subcommand)]
        action: observations::ObservationsAction,
    },
    /// List the layers of the catalogue, or change one.
    Layers {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<layers::LayersAction>,
    },
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off before the first allocation (`memory::
/// avoid_transparent_huge_pages` says why). From `main` was too late: the runtime's first
/// allocations had already faulted 6 MiB of the allocator's arena in as huge pages, which
/// then held 8 MiB more of a 200 000-parcel server. A constructor runs before the runtime,
/// as the `ctor` crate's do (written out: one function, no macro crate).
#[used]
#[unsafe(link_section = ".init_array")]
static NO_HUGE_PAGES: extern "C" fn() = {
    extern "C" fn no_huge_pages() {
        // A kernel without the setting (before 3.15) keeps them: nothing else changes.
        let _ = cuulong_tile_server::avoid_transparent_huge_pages();
    }
    no_huge_pages
};

/// `cuulong serve` on PostGIS: falls back to the server's snapshot when PostgreSQL is
/// unreachable at start.
async fn serve_on_postgis(
    url: &str,
    standby: Option<(String, std::time::Duration)>,
    serve_config: cuulong_tile_server::ServerConfig,
) -> Result<()> {
    let store = match cuulong_store::PostgisStore::connect(url).await {
        Ok(store) => store,
        Err(e) => match &serve_config.snapshot_dir {
            Some(dir) if cuulong_tile_server::snapshot::exists(dir) => {
                eprintln!(
                    "cuulong: {e}; starting from the snapshot in {} and reconnecting in the background",
                    dir.display()
                );
                cuulong_store::PostgisStore::connect_lazy(url)?
            }
            _ => return Err(e.into()),
        },
    };
    // A per-request read of a layer served from its table ends with the request.
    let store = store.with_layer_read_timeout(serve_config.request_timeout);
    // A replica: layer features from the standby once it has what the primary had.
    let store: Arc<dyn Store> = Arc::new(match standby {
        Some((standby, max_lag)) => store.with_standby(&standby, max_lag)?,
        None => store,
    });
    let bind = serve_config.bind;
    cuulong_tile_server::serve(store, serve_config)
        .await
        .with_context(|| format!("serving on {bind}"))
}

async fn run(cli: Cli) -> Result<()> {
    let file = config::load(cli.config.as_deref())?;
    let config = cli.store.config(file.data_dir.as_ref())?;
    match (cli.command, &config) {
        (Command::Import(args), _) => return import::run(&config, args).await,
        // A server on PostGIS keeps a snapshot of what it serves; with one it starts even
        // while PostgreSQL is unreachable and catches up when it returns.
        (Command::Serve(args), StoreConfig::Postgis { url }) => {
            let standby = args.standby();
            return serve_on_postgis(url, standby, config::serve_config(*args, file.serve, None)?)
                .await;
        }
        (Command::Serve(args), StoreConfig::Embedded { .. }) if args.standby().is_some() => {
            anyhow::bail!("--standby-url reads from a PostgreSQL standby: it needs --database-url (the primary)")
        }
        (command, _) => {
            let store: Arc<dyn Store> = cuulong_store::open(&config).await?;
            match command {
                Command::ImportManifest {
                    manifest,
                    strict,
                    quiet,
                } => import::manifest(store, &manifest, strict, quiet).await,
                Command::Serve(args) => {
                    let state_dir = match &config {
                        StoreConfig::Embedded { data_dir } => Some(data_dir.as_path()),
                        StoreConfig::Postgis { .. } => None,
                    };
                    let mut config = config::serve_config(*args, file.serve, state_dir)?;
                    // The embedded store is already a local copy: no snapshot of it.
                    config.snapshot_dir = None;
                    let bind = config.bind;
                    cuulong_tile_server::serve(store, config)
                        .await
                        .with_context(|| format!("serving on {bind}"))
                }
                Command::Keys { action } => keys::run(store.as_ref(), action).await,
                Command::Admin { action } => admin::run(store.as_ref(), action).await,
                Command::Layers { json, action } => layers::run(store.as_ref(), json, action).await,
                Command::Observations { action } => observations::run(store, action).await,
                Command::Import(_) => unreachable!("handled above"),
            }
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CUULONG_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // Threads with a stack well beyond what the bounded recursion of request parsing needs
    // (CQL2 filters, JSON bodies, style expressions), debug builds included. Pages of the
    // stack that are never touched cost no memory.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(16 * 1024 * 1024)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cuulong: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes.
            let msg: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            let mut line = msg[0].clone();
            for cause in &msg[1..] {
                if !line.contains(cause.as_str()) {
                    line.push_str(": ");
                    line.push_str(cause);
                }
            }
            eprintln!("cuulong: error: {}", line.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
