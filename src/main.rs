//! The `cuulong` command line: parses arguments and dispatches to the importers and stores.

mod config;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use cuulong_core::{Access, Bbox, Family, LayerId};
use cuulong_importers::{import, ImportOptions, ImportSummary, VIETNAM_EXTENT};
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
    Import(Box<ImportArgs>),
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
    Serve(config::ServeArgs),
    /// API keys: agencies' keys see shared layers; restricted layers need a grant.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// List the layers of the catalogue, or change one.
    Layers {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<LayersAction>,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key and print it once (only a salted hash is stored).
    Create {
        #[arg(long)]
        name: String,
        /// The agency the key belongs to.
        #[arg(long)]
        agency: String,
        /// A restricted layer this key may read (repeat for several).
        #[arg(long = "grant", value_name = "LAYER")]
        grants: Vec<String>,
        /// Last day the key works (YYYY-MM-DD, UTC); it stops at the end of that day.
        #[arg(long, value_name = "DATE")]
        expires: Option<chrono::NaiveDate>,
    },
    /// List keys (never the keys themselves).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key; running servers stop accepting it within seconds.
    Revoke { name: String },
}

#[derive(Subcommand)]
enum LayersAction {
    /// Change who may see a layer.
    SetAccess {
        layer: String,
        #[arg(value_parser = ["open", "shared", "restricted"])]
        access: String,
    },
    /// Show a layer's import history.
    History {
        layer: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct ImportArgs {
    /// The source file (Shapefile, GeoPackage, GeoJSON, FlatGeobuf, CSV, MapInfo TAB, KML, DGN, …).
    file: PathBuf,
    /// Layer id: a-z, 0-9 and _, starting with a letter.
    #[arg(long)]
    layer: String,
    /// admin, land_use, soil, hydrology or transport; without it the layer is generic.
    #[arg(long)]
    family: Option<String>,
    /// Source CRS (EPSG code, WKT or PROJ string); overrides the file's own.
    #[arg(long, value_name = "CRS")]
    src_crs: Option<String>,
    /// TOML file mapping source fields and values onto the family schema.
    #[arg(long, value_name = "FILE")]
    mapping: Option<PathBuf>,
    #[arg(long, value_name = "TITLE")]
    title_vi: Option<String>,
    #[arg(long, value_name = "TITLE")]
    title_en: Option<String>,
    #[arg(long, default_value = "open", value_parser = ["open", "shared", "restricted"])]
    access: String,
    /// Owner agency.
    #[arg(long, value_name = "AGENCY")]
    owner: Option<String>,
    #[arg(long)]
    licence: Option<String>,
    /// Write rejected features with their reasons to this GeoJSON file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Fail the import if any feature is rejected.
    #[arg(long)]
    strict: bool,
    /// Layer to read when the file has several.
    #[arg(long, value_name = "NAME")]
    source_layer: Option<String>,
    /// Attribute text encoding, e.g. TCVN3, CP1258, UTF-8 (default: from the file).
    #[arg(long)]
    encoding: Option<String>,
    /// CSV column holding easting / longitude (Vietnamese surveyors call the northing X).
    #[arg(long, value_name = "COLUMN")]
    csv_x: Option<String>,
    /// CSV column holding northing / latitude.
    #[arg(long, value_name = "COLUMN")]
    csv_y: Option<String>,
    /// Expected extent in lon/lat (minlon,minlat,maxlon,maxlat); features outside are rejected.
    #[arg(long, value_name = "BBOX")]
    extent: Option<String>,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn parse_extent(s: &str) -> Result<Bbox> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| {
            format!("--extent '{s}': expected four numbers minlon,minlat,maxlon,maxlat")
        })?;
    match v[..] {
        [a, b, c, d] if a < c && b < d && v.iter().all(|x| x.is_finite()) => Ok(Bbox([a, b, c, d])),
        _ => bail!(
            "--extent '{s}': expected four numbers minlon,minlat,maxlon,maxlat with min < max"
        ),
    }
}

fn import_options(a: Box<ImportArgs>) -> Result<ImportOptions> {
    let layer = LayerId::parse(&a.layer).map_err(anyhow::Error::msg)?;
    let mut opts = ImportOptions::new(a.file, layer);
    opts.family = a.family.as_deref().map(str::parse::<Family>).transpose()?;
    opts.src_crs = a.src_crs;
    opts.mapping = a.mapping;
    opts.title_vi = a.title_vi;
    opts.title_en = a.title_en;
    opts.access = a.access.parse::<Access>().map_err(anyhow::Error::msg)?;
    opts.owner = a.owner;
    opts.licence = a.licence;
    opts.report = a.report;
    opts.strict = a.strict;
    opts.source_layer = a.source_layer;
    opts.encoding = a.encoding;
    opts.csv_x = a.csv_x;
    opts.csv_y = a.csv_y;
    opts.extent = match a.extent {
        Some(e) => parse_extent(&e)?,
        None => VIETNAM_EXTENT,
    };
    opts.progress = !a.quiet;
    Ok(opts)
}

/// `cuulong serve` on PostGIS: falls back to the server's snapshot when PostgreSQL is
/// unreachable at start.
async fn serve_on_postgis(
    config: &StoreConfig,
    url: &str,
    serve_config: cuulong_tile_server::ServerConfig,
) -> Result<()> {
    let store: Arc<dyn Store> = match cuulong_store::open(config).await {
        Ok(store) => store,
        Err(e) => match &serve_config.snapshot_dir {
            Some(dir) if cuulong_tile_server::snapshot::exists(dir) => {
                eprintln!(
                    "cuulong: {e}; starting from the snapshot in {} and reconnecting in the background",
                    dir.display()
                );
                Arc::new(cuulong_store::PostgisStore::connect_lazy(url)?)
            }
            _ => return Err(e.into()),
        },
    };
    let bind = serve_config.bind;
    cuulong_tile_server::serve(store, serve_config)
        .await
        .with_context(|| format!("serving on {bind}"))
}

async fn run(cli: Cli) -> Result<()> {
    let file = config::load(cli.config.as_deref())?;
    let config = cli.store.config(file.data_dir.as_ref())?;
    let command = match cli.command {
        Command::Import(a) => {
            // Arguments are checked before the store is opened, so a mistake changes nothing.
            let opts = import_options(a)?;
            let store = cuulong_store::open(&config).await?;
            let summary = import(store.clone(), opts).await?;
            print_summary(&summary, &store.describe());
            return Ok(());
        }
        other => other,
    };
    let command = match (command, &config) {
        // A server on PostGIS keeps a snapshot of what it serves; with one it starts even while
        // PostgreSQL is unreachable and catches up when it returns.
        (Command::Serve(args), StoreConfig::Postgis { url }) => {
            return serve_on_postgis(&config, url, args.resolve(file.serve)).await
        }
        (other, _) => other,
    };
    let store: Arc<dyn Store> = cuulong_store::open(&config).await?;
    match command {
        Command::Import(_) => unreachable!("handled above"),
        Command::ImportManifest {
            manifest,
            strict,
            quiet,
        } => {
            let entries = cuulong_importers::manifest::read_manifest(&manifest)?;
            for mut opts in entries {
                opts.strict = strict;
                opts.progress = !quiet;
                let file = opts.file.display().to_string();
                let summary = import(store.clone(), opts).await.with_context(|| {
                    format!("manifest {}: importing {file}", manifest.display())
                })?;
                print_summary(&summary, &store.describe());
            }
        }
        Command::Serve(args) => {
            let mut config = args.resolve(file.serve);
            // The embedded store is already a local copy: no snapshot of it.
            config.snapshot_dir = None;
            let bind = config.bind;
            cuulong_tile_server::serve(store, config)
                .await
                .with_context(|| format!("serving on {bind}"))?;
        }
        Command::Keys { action } => keys_command(store.as_ref(), action).await?,
        Command::Layers { json, action: None } => {
            let layers = store.layers().await?;
            if json {
                let out: Vec<serde_json::Value> = layers
                    .iter()
                    .map(|l| {
                        serde_json::json!({
                            "id": l.id, "title_vi": l.title_vi, "title_en": l.title_en,
                            "family": l.family, "geometry_type": l.geometry_type,
                            "access": l.access, "owner": l.owner, "licence": l.licence,
                            "version": l.version, "feature_count": l.feature_count,
                            "updated_at": l.updated_at, "bbox": l.bbox.map(|b| b.0),
                            "fields": l.schema,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else if layers.is_empty() {
                println!(
                    "no layers in {} — import one with `cuulong import FILE --layer ID`",
                    store.describe()
                );
            } else {
                println!(
                    "{:<22} {:<10} {:<10} {:>4} {:>9}  {:<20} TITLE (vi / en)",
                    "ID", "FAMILY", "ACCESS", "VER", "FEATURES", "UPDATED (UTC)"
                );
                for l in &layers {
                    println!(
                        "{:<22} {:<10} {:<10} {:>4} {:>9}  {:<20} {} / {}",
                        l.id.as_str(),
                        l.family.as_deref().unwrap_or("-"),
                        l.access.as_str(),
                        l.version,
                        l.feature_count,
                        l.updated_at.format("%Y-%m-%d %H:%M:%S"),
                        l.title_vi,
                        l.title_en
                    );
                }
            }
        }
        Command::Layers {
            action: Some(LayersAction::SetAccess { layer, access }),
            ..
        } => {
            let id = LayerId::parse(&layer).map_err(anyhow::Error::msg)?;
            let access: Access = access.parse().map_err(anyhow::Error::msg)?;
            store.set_access(&id, access).await?;
            println!("layer '{id}' is now {}", access.as_str());
        }
        Command::Layers {
            action: Some(LayersAction::History { layer, json }),
            ..
        } => {
            let id = LayerId::parse(&layer).map_err(anyhow::Error::msg)?;
            if store.layer(&id).await?.is_none() {
                bail!("layer '{id}' does not exist");
            }
            let history = store.history(&id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&history)?);
            } else {
                for h in history {
                    println!(
                        "v{} {} {} read {} imported {} repaired {} rejected {} ({} ms) sha256 {} CRS {}",
                        h.version,
                        h.finished_at.format("%Y-%m-%d %H:%M:%S"),
                        h.file,
                        h.read,
                        h.imported,
                        h.repaired,
                        h.rejected,
                        h.duration_ms,
                        &h.sha256[..h.sha256.len().min(16)],
                        h.src_crs
                    );
                }
            }
        }
    }
    Ok(())
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness for a key: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

async fn keys_command(store: &dyn Store, action: KeysAction) -> Result<()> {
    use cuulong_core::access::{hash_key, ApiKey};
    match action {
        KeysAction::Create {
            name,
            agency,
            grants,
            expires,
        } => {
            if name.trim().is_empty() || agency.trim().is_empty() {
                bail!("--name and --agency must not be empty");
            }
            for g in &grants {
                let id = LayerId::parse(g).map_err(anyhow::Error::msg)?;
                if store.layer(&id).await?.is_none() {
                    bail!("--grant {g}: layer '{g}' does not exist");
                }
            }
            let prefix = random_hex(4)?;
            let key = format!("cl_{prefix}_{}", random_hex(20)?);
            let salt = random_hex(16)?;
            let expires_at = expires
                .and_then(|d| d.succ_opt())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc());
            store
                .add_key(ApiKey {
                    name: name.clone(),
                    agency,
                    grants,
                    prefix,
                    hash: hash_key(&salt, &key),
                    salt,
                    created_at: chrono::Utc::now(),
                    expires_at,
                    revoked_at: None,
                })
                .await?;
            eprintln!("cuulong: key '{name}' created; it is shown only now — keep it safe:");
            println!("{key}");
        }
        KeysAction::List { json } => {
            let keys = store.keys().await?;
            if json {
                let out: Vec<serde_json::Value> = keys
                    .iter()
                    .map(|k| {
                        serde_json::json!({
                            "name": k.name, "agency": k.agency, "grants": k.grants,
                            "created_at": k.created_at, "expires_at": k.expires_at,
                            "revoked_at": k.revoked_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for k in keys {
                    let state = match (k.revoked_at, k.expires_at) {
                        (Some(_), _) => "revoked",
                        (None, Some(e)) if e <= chrono::Utc::now() => "expired",
                        _ => "active",
                    };
                    println!(
                        "{:<20} {:<8} {:<30} grants: {}",
                        k.name,
                        state,
                        k.agency,
                        if k.grants.is_empty() {
                            "-".to_string()
                        } else {
                            k.grants.join(",")
                        }
                    );
                }
            }
        }
        KeysAction::Revoke { name } => {
            store.revoke_key(&name).await?;
            println!("key '{name}' revoked");
        }
    }
    Ok(())
}

fn print_summary(s: &ImportSummary, store: &str) {
    let r = &s.record;
    let secs = s.elapsed.as_secs_f64();
    println!(
        "imported layer '{}' version {} into {store}",
        s.layer.id, s.layer.version
    );
    println!(
        "  read {}, imported {}, repaired {}, rejected {} in {secs:.1} s ({:.0} features/s)",
        r.read,
        r.imported,
        r.repaired,
        r.rejected,
        r.read as f64 / secs.max(1e-3)
    );
    println!("  CRS {} → EPSG:4326", r.src_crs);
    println!("  transformation: {}", r.transformation);
    for (reason, n) in &s.reject_reasons {
        println!("  rejected: {n} × {reason}");
    }
    for w in &r.warnings {
        println!("  note: {w}");
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
