//! Configuration (STYLE.md, Config): an optional `cuulong.toml` (or `--config FILE` /
//! `CUULONG_CONFIG`), overridden by `CUULONG_*` environment variables, overridden by flags.
//! Secrets (the database URL) come only from a flag or the environment, never from the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Embedded store directory.
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub serve: ServeFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeFile {
    pub bind: Option<SocketAddr>,
    pub tile_cache_mb: Option<u64>,
    pub public_url: Option<String>,
    pub styles_dir: Option<PathBuf>,
    pub web_dir: Option<PathBuf>,
    pub rate_limit_per_minute: Option<u32>,
    pub max_concurrency: Option<u32>,
    pub request_timeout_s: Option<u64>,
    pub wms_max_size: Option<u32>,
    pub snapshot_dir: Option<PathBuf>,
    pub anonymous_rate_limit_per_minute: Option<u32>,
    /// Networks or addresses, as `--trusted-proxy`.
    pub trusted_proxies: Option<Vec<String>>,
    pub render_memory_mb: Option<u32>,
    pub index_memory_mb: Option<u64>,
    pub max_event_streams: Option<u32>,
    pub tile_matrix_sets: Option<PathBuf>,
    pub salinity_rules: Option<PathBuf>,
    pub webhook_outbox: Option<PathBuf>,
}

/// Reads the file named by `explicit`, else `./cuulong.toml` if it exists, else defaults.
pub fn load(explicit: Option<&Path>) -> Result<FileConfig> {
    let path = match explicit {
        Some(p) => p.to_owned(),
        None => {
            let p = PathBuf::from("cuulong.toml");
            if !p.exists() {
                return Ok(FileConfig::default());
            }
            p
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("config {}: cannot read", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config {}", path.display()))
}

/// Flags (and their `CUULONG_*` variables, which clap reads) of `cuulong serve`, all optional
/// so the file and the defaults can fill what is not given.
#[derive(Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "CUULONG_BIND")]
    pub bind: Option<SocketAddr>,
    /// Tile cache size in MiB, 0 turns it off (for benchmarks) [default: 256].
    #[arg(long, env = "CUULONG_TILE_CACHE_MB")]
    pub tile_cache_mb: Option<u64>,
    /// Base URL clients reach this server at [default: from the request's Host header].
    #[arg(long, env = "CUULONG_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Folder of MapLibre styles [default: the source tree's styles/].
    #[arg(long, env = "CUULONG_STYLES_DIR", value_name = "DIR")]
    pub styles_dir: Option<PathBuf>,
    /// Folder of the web map and its assets [default: the source tree's tile-server/web/].
    #[arg(long, env = "CUULONG_WEB_DIR", value_name = "DIR")]
    pub web_dir: Option<PathBuf>,
    /// Requests a minute per API key, 0 = unlimited; beyond it 429 [default: 6000].
    #[arg(long, env = "CUULONG_RATE_LIMIT_PER_MINUTE")]
    pub rate_limit_per_minute: Option<u32>,
    /// Requests served at once; beyond it 503 + Retry-After [default: 1024].
    #[arg(long, env = "CUULONG_MAX_CONCURRENCY")]
    pub max_concurrency: Option<u32>,
    /// Per-request timeout in seconds [default: 60].
    #[arg(long, env = "CUULONG_REQUEST_TIMEOUT_S")]
    pub request_timeout_s: Option<u64>,
    /// Largest WMS GetMap WIDTH/HEIGHT in pixels [default: 4096].
    #[arg(long, env = "CUULONG_WMS_MAX_SIZE", value_parser = clap::value_parser!(u32).range(64..=16384))]
    pub wms_max_size: Option<u32>,
    /// On PostGIS: where to keep a copy of the served layers, to start and serve from while
    /// PostgreSQL is unreachable [default: ./var/cuulong-snapshot].
    #[arg(long, env = "CUULONG_SNAPSHOT_DIR", value_name = "DIR")]
    pub snapshot_dir: Option<PathBuf>,
    /// Keep no snapshot (a server on PostGIS then cannot start without it).
    #[arg(long, conflicts_with = "snapshot_dir")]
    pub no_snapshot: bool,
    /// Requests a minute per address for callers without a valid key (anonymous, or a wrong
    /// key), 0 = unlimited; beyond it 429 [default: 6000].
    #[arg(long, env = "CUULONG_ANONYMOUS_RATE_LIMIT_PER_MINUTE")]
    pub anonymous_rate_limit_per_minute: Option<u32>,
    /// A load balancer or proxy in front of the server (an address or a network such as
    /// 10.0.0.0/8; repeat for more): its requests are charged to the client its
    /// X-Forwarded-For names, read from the right past the trusted proxies. Without it the
    /// header is ignored and the connected address is the client [default: none].
    #[arg(
        long = "trusted-proxy",
        env = "CUULONG_TRUSTED_PROXIES",
        value_name = "NETWORK",
        value_delimiter = ',',
        value_parser = cuulong_tile_server::auth::parse_trusted_proxy
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// MiB of map images (WMS) drawn at once; a GetMap that does not fit waits a moment or
    /// gets 503 + Retry-After [default: an eighth of the machine's memory, 256–2048].
    #[arg(long, env = "CUULONG_RENDER_MEMORY_MB", value_parser = clap::value_parser!(u32).range(16..=1048576))]
    pub render_memory_mb: Option<u32>,
    /// MiB the in-memory layer indexes may take in all (estimated); a layer that would not
    /// fit is served from its FlatGeobuf file, memory-mapped and searched through the file's
    /// own R-tree (embedded store) [default: no limit: every layer in memory].
    #[arg(long, env = "CUULONG_INDEX_MEMORY_MB")]
    pub index_memory_mb: Option<u64>,
    /// A replica's hot standby of the PostGIS primary (`--database-url`): layer features are
    /// read from it once it has replayed what the primary had (notifications, catalogue and
    /// writes stay on the primary). Away, or behind for longer than --standby-max-lag-s, the
    /// primary serves the read. A secret: flag or environment only.
    #[arg(
        long,
        env = "CUULONG_STANDBY_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub standby_url: Option<String>,
    /// How long a replica waits for the standby to replay a change before reading it from the
    /// primary, in seconds [default: 10].
    #[arg(long, env = "CUULONG_STANDBY_MAX_LAG_S", value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub standby_max_lag_s: Option<u64>,
    /// Event streams (`/events`) open at once; beyond it 503 [default: 256].
    #[arg(long, env = "CUULONG_MAX_EVENT_STREAMS")]
    pub max_event_streams: Option<u32>,
    /// Folder of tile matrix sets (OGC TMS 2.0 JSON, one grid a file) served beside the
    /// built-in WebMercatorQuad, WorldCRS84Quad and VN2000TM3BenTreQuad.
    #[arg(long, env = "CUULONG_TILE_MATRIX_SETS", value_name = "DIR")]
    pub tile_matrix_sets: Option<PathBuf>,
    /// A secret that lets a `/metrics` scrape (`Authorization: Bearer TOKEN`) see every
    /// layer's series; without it a scrape sees those of the layers its caller may see.
    /// A secret: flag or environment only, never the file.
    #[arg(
        long,
        env = "CUULONG_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,
    /// Take observations from an MQTT broker (`mqtt://host:port`): SensorThings topics
    /// `v1.1/Datastreams(id)/Observations`, `v1.1/Observations`, and each --mqtt-topic.
    #[arg(long, env = "CUULONG_MQTT_URL", value_name = "URL")]
    pub mqtt_url: Option<String>,
    /// The API key (scope observations:write) MQTT readings are written with, or a file
    /// holding it. A secret: flag or environment only.
    #[arg(
        long,
        env = "CUULONG_MQTT_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub mqtt_key: Option<String>,
    /// An extra topic pattern with {station} and {property} levels, e.g.
    /// bentre/{station}/{property} (payload {"time", "value"} or a SensorThings Observation).
    #[arg(long = "mqtt-topic", value_name = "PATTERN")]
    pub mqtt_topics: Vec<String>,
    /// The MQTT client id; the broker keeps its session (and what it has not acknowledged)
    /// while the server is away [default: cuulong-<bind address>].
    #[arg(long, env = "CUULONG_MQTT_CLIENT_ID", value_name = "ID")]
    pub mqtt_client_id: Option<String>,
    /// Salinity alerts, fronts and webhooks: the rules file (README, "Salinity alerts";
    /// the sample is data-samples/observations/salinity.toml). Without it none run.
    #[arg(long, env = "CUULONG_SALINITY_RULES", value_name = "FILE")]
    pub salinity_rules: Option<PathBuf>,
    /// Where undelivered webhooks are kept across restarts [default: webhook-outbox.jsonl in
    /// the embedded data directory, or in the snapshot directory on PostGIS].
    #[arg(long, env = "CUULONG_WEBHOOK_OUTBOX", value_name = "FILE")]
    pub webhook_outbox: Option<PathBuf>,
}

/// The server's configuration: [`ServeArgs::resolve`], and the tile grids of the configured
/// folder read and checked (a bad file stops the start, naming the file and the problem).
/// `state_dir` is where the server may keep files of its own (the webhook outbox) when no
/// flag says: the embedded data directory, or `None` on PostGIS (then the snapshot folder).
pub fn serve_config(
    args: ServeArgs,
    file: ServeFile,
    state_dir: Option<&Path>,
) -> Result<cuulong_tile_server::ServerConfig> {
    let grids_dir = args
        .tile_matrix_sets
        .clone()
        .or_else(|| file.tile_matrix_sets.clone());
    let mqtt = mqtt_config(&args)?;
    let rules = args
        .salinity_rules
        .clone()
        .or_else(|| file.salinity_rules.clone());
    let outbox = args
        .webhook_outbox
        .clone()
        .or_else(|| file.webhook_outbox.clone());
    let file_proxies = file.trusted_proxies.clone().unwrap_or_default();
    let mut config = args.resolve(file);
    if config.trusted_proxies.is_empty() {
        config.trusted_proxies = file_proxies
            .iter()
            .map(|p| cuulong_tile_server::auth::parse_trusted_proxy(p))
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("config: trusted_proxies: {e}"))?;
    }
    if let Some(dir) = grids_dir {
        config.tile_matrix_sets = load_grids(&dir)?;
    }
    config.mqtt = mqtt;
    if let Some(path) = rules {
        let outbox = outbox.or_else(|| {
            state_dir
                .or(config.snapshot_dir.as_deref())
                .map(|d| d.join("webhook-outbox.jsonl"))
        });
        config.salinity = Some(salinity_setup(&path, outbox.as_deref())?);
    }
    Ok(config)
}

/// The rules file read and checked, the webhooks' secrets read and their outbox opened: a
/// problem stops the start, naming the file (or the variable) and what is wrong.
fn salinity_setup(
    path: &Path,
    outbox: Option<&Path>,
) -> Result<cuulong_tile_server::salinity::SalinitySetup> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--salinity-rules {}: cannot read", path.display()))?;
    let rules = cuulong_core::sta::alert::Rules::parse(&text)
        .with_context(|| format!("--salinity-rules {}", path.display()))?;
    let deliveries = if rules.webhooks.is_empty() {
        None
    } else {
        Some(std::sync::Arc::new(
            cuulong_tile_server::salinity::webhook::Deliveries::new(&rules.webhooks, outbox)
                .with_context(|| format!("--salinity-rules {}", path.display()))?,
        ))
    };
    Ok(cuulong_tile_server::salinity::SalinitySetup { rules, deliveries })
}

/// The MQTT subscription asked for, checked (URL, key, patterns) before the server starts.
fn mqtt_config(args: &ServeArgs) -> Result<Option<cuulong_tile_server::sta::mqtt::MqttConfig>> {
    let Some(url) = args.mqtt_url.clone() else {
        if args.mqtt_key.is_some() || !args.mqtt_topics.is_empty() {
            anyhow::bail!("--mqtt-key and --mqtt-topic need --mqtt-url");
        }
        return Ok(None);
    };
    let key = match args.mqtt_key.clone() {
        Some(k) if Path::new(&k).is_file() => std::fs::read_to_string(&k)
            .map_err(|e| anyhow::anyhow!("--mqtt-key {k}: {e}"))?
            .trim()
            .to_owned(),
        Some(k) => k,
        None => {
            anyhow::bail!("--mqtt-url needs --mqtt-key (a key with the scope observations:write)")
        }
    };
    let bind = args
        .bind
        .map_or_else(|| "127.0.0.1:8080".to_owned(), |b| b.to_string());
    let config = cuulong_tile_server::sta::mqtt::MqttConfig {
        url,
        key,
        topics: args.mqtt_topics.clone(),
        client_id: args
            .mqtt_client_id
            .clone()
            .unwrap_or_else(|| format!("cuulong-{}", bind.replace([':', '.', '[', ']'], "-"))),
    };
    cuulong_tile_server::sta::mqtt::check(&config)?;
    Ok(Some(config))
}

/// Every `*.json` of `dir` as a tile matrix set, in file name order; ids must be new.
fn load_grids(dir: &Path) -> Result<Vec<cuulong_core::tms::TileMatrixSet>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("--tile-matrix-sets {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut ids: Vec<String> = cuulong_core::tms::built_in()
        .into_iter()
        .map(|t| t.id)
        .collect();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)
            .with_context(|| format!("tile matrix set {}", f.display()))?;
        let tms = cuulong_core::tms::TileMatrixSet::from_json(&text)
            .with_context(|| format!("tile matrix set {}", f.display()))?;
        if ids.contains(&tms.id) {
            anyhow::bail!(
                "tile matrix set {}: id '{}' is already served",
                f.display(),
                tms.id
            );
        }
        ids.push(tms.id.clone());
        out.push(tms);
    }
    Ok(out)
}

impl ServeArgs {
    /// The standby to read layer features from and how long to wait for it, if given.
    pub fn standby(&self) -> Option<(String, Duration)> {
        self.standby_url
            .clone()
            .filter(|u| !u.is_empty())
            .map(|u| (u, Duration::from_secs(self.standby_max_lag_s.unwrap_or(10))))
    }

    /// Flags/env over the file over the defaults.
    pub fn resolve(self, file: ServeFile) -> cuulong_tile_server::ServerConfig {
        let d = cuulong_tile_server::ServerConfig::default();
        cuulong_tile_server::ServerConfig {
            bind: self.bind.or(file.bind).unwrap_or(d.bind),
            tile_cache_mb: self
                .tile_cache_mb
                .or(file.tile_cache_mb)
                .unwrap_or(d.tile_cache_mb),
            public_url: self.public_url.or(file.public_url).or(d.public_url),
            styles_dir: self.styles_dir.or(file.styles_dir).unwrap_or(d.styles_dir),
            web_dir: self.web_dir.or(file.web_dir).unwrap_or(d.web_dir),
            rate_limit_per_minute: self
                .rate_limit_per_minute
                .or(file.rate_limit_per_minute)
                .unwrap_or(d.rate_limit_per_minute),
            max_concurrency: self
                .max_concurrency
                .or(file.max_concurrency)
                .unwrap_or(d.max_concurrency),
            request_timeout: self
                .request_timeout_s
                .or(file.request_timeout_s)
                .map(|s| Duration::from_secs(s.max(1)))
                .unwrap_or(d.request_timeout),
            wms_max_size: self
                .wms_max_size
                .or(file.wms_max_size)
                .unwrap_or(d.wms_max_size),
            anonymous_rate_limit_per_minute: self
                .anonymous_rate_limit_per_minute
                .or(file.anonymous_rate_limit_per_minute)
                .unwrap_or(d.anonymous_rate_limit_per_minute),
            // The file's list is parsed (and checked) by serve_config.
            trusted_proxies: self.trusted_proxies,
            render_memory_mb: self
                .render_memory_mb
                .or(file.render_memory_mb)
                .unwrap_or(d.render_memory_mb),
            index_memory_mb: self.index_memory_mb.or(file.index_memory_mb),
            max_event_streams: self
                .max_event_streams
                .or(file.max_event_streams)
                .unwrap_or(d.max_event_streams),
            metrics_token: self.metrics_token.filter(|t| !t.is_empty()),
            tile_matrix_sets: Vec::new(),
            mqtt: None,
            salinity: None,
            snapshot_dir: if self.no_snapshot {
                None
            } else {
                Some(
                    self.snapshot_dir
                        .or(file.snapshot_dir)
                        .unwrap_or_else(cuulong_tile_server::snapshot::default_dir),
                )
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beats_defaults() {
        let file: FileConfig = toml::from_str(
            "data_dir = \"/srv/cuulong\"\n[serve]\nbind = \"0.0.0.0:9000\"\ntile_cache_mb = 64\nmax_concurrency = 10\n",
        )
        .unwrap();
        assert_eq!(file.data_dir, Some(PathBuf::from("/srv/cuulong")));
        let args = ServeArgs {
            tile_cache_mb: Some(0),
            ..Default::default()
        };
        let c = args.resolve(file.serve);
        assert_eq!(c.bind, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(c.tile_cache_mb, 0);
        assert_eq!(c.max_concurrency, 10);
        assert_eq!(c.rate_limit_per_minute, 6000);
        assert!(
            toml::from_str::<FileConfig>("databse_url = \"x\"").is_err(),
            "unknown keys are refused"
        );
        assert!(
            toml::from_str::<FileConfig>("database_url = \"x\"").is_err(),
            "no secrets in the file"
        );
    }
}
