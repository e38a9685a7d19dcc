//! Server state: the layer indexes (swapped atomically when a layer changes), the store, the
//! tile cache and the change events.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::body::Bytes;
use cuulong_core::access::{ApiKey, Caller};
use cuulong_core::source::LayerSource;
use cuulong_store::Store;
use tokio::sync::broadcast;

/// Every loaded layer, by id. Replaced as a whole: a request takes one snapshot and finishes
/// on it even if a new version is swapped in meanwhile.
pub type Layers = BTreeMap<String, Served>;

/// A served layer version, whatever source holds it.
pub type Served = Arc<dyn LayerSource>;

#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerEvent {
    pub layer: String,
    /// The new version, or 0 when the layer was removed.
    pub version: i64,
}

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub layers: ArcSwap<Layers>,
    /// The periods of the admin layers in time (by layer id); `layers` holds today's.
    pub temporal: ArcSwap<std::collections::HashMap<String, Arc<crate::temporal::Epochs>>>,
    /// API key records (hashes only), refreshed with every sync.
    pub keys: ArcSwap<Vec<ApiKey>>,
    pub cache: Option<moka::sync::Cache<String, Bytes>>,
    pub events: broadcast::Sender<LayerEvent>,
    ready: AtomicBool,
    pub styles_dir: PathBuf,
    pub web_dir: PathBuf,
    pub rate_limit: crate::ratelimit::RateLimit,
    /// Budgets of callers without a valid key, by address.
    pub anonymous_limit: crate::ratelimit::RateLimit,
    /// Proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Where CPU-bound work runs, and the render memory budget.
    pub work: crate::work::Work,
    pub metrics_token: Option<String>,
    /// Event streams open now, and the most allowed.
    pub event_streams: std::sync::atomic::AtomicU32,
    pub max_event_streams: u32,
    pub metrics: crate::telemetry::Metrics,
    /// Process start (seconds since the epoch), the prefix of request ids.
    pub started_at: u64,
    pub max_concurrency: u32,
    pub request_timeout: std::time::Duration,
    store_ok: AtomicBool,
    /// Turns true when the server is shutting down; long-lived streams (SSE) end on it.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// Reads of non-open layers on their way to the store's audit log.
    pub audit: tokio::sync::mpsc::Sender<cuulong_core::access::AuditRecord>,
    /// Base URL written into TileJSON and styles; from the request's Host header when unset.
    pub public_url: Option<String>,
    /// The styles compiled for WMS rendering.
    /// The styles, as served to the web map and compiled for WMS: one set for both, swapped
    /// whole when the styles folder changes.
    pub styles: ArcSwap<crate::styles::StyleSet>,
    pub wms_max_size: u32,
    /// The tile grids served (OGC API – Tiles, WMTS): the built-in ones, then the configured.
    pub grids: Vec<cuulong_core::tms::TileMatrixSet>,
    pub snapshot_dir: Option<PathBuf>,
    /// True while the layers come from the snapshot (the store has not answered yet).
    pub from_snapshot: AtomicBool,
    /// One snapshot write at a time.
    pub snapshot_lock: tokio::sync::Mutex<()>,
    /// The observation network, the series of every datastream, ingest counters.
    pub observations: crate::observations::Observations,
    /// The live layers (built from observations, not from the store).
    pub live_layers: crate::observations::LiveIds,
    /// The store's observation import token last seen.
    pub observations_token: std::sync::Mutex<Option<String>>,
    /// Alerts, fronts and webhooks from the salinity rules (idle without rules).
    pub salinity: crate::salinity::Salinity,
    /// Bytes the in-memory indexes may take in all; `None`: no limit.
    pub index_memory_bytes: Option<u64>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        config: &crate::ServerConfig,
        audit: tokio::sync::mpsc::Sender<cuulong_core::access::AuditRecord>,
    ) -> Self {
        let cache = (config.tile_cache_mb > 0).then(|| {
            moka::sync::Cache::builder()
                .weigher(|k: &String, v: &Bytes| {
                    u32::try_from(k.len() + v.len() + 64).unwrap_or(u32::MAX)
                })
                .max_capacity(config.tile_cache_mb * 1024 * 1024)
                .build()
        });
        Self {
            store,
            layers: ArcSwap::from_pointee(Layers::new()),
            temporal: ArcSwap::from_pointee(Default::default()),
            keys: ArcSwap::from_pointee(Vec::new()),
            cache,
            events: broadcast::channel(256).0,
            ready: AtomicBool::new(false),
            styles_dir: config.styles_dir.clone(),
            web_dir: config.web_dir.clone(),
            public_url: config.public_url.clone(),
            rate_limit: crate::ratelimit::RateLimit::new(config.rate_limit_per_minute),
            anonymous_limit: crate::ratelimit::RateLimit::new(
                config.anonymous_rate_limit_per_minute,
            ),
            trusted_proxies: config.trusted_proxies.clone(),
            work: crate::work::Work::new(0, config.render_memory_mb, config.request_timeout),
            metrics_token: config.metrics_token.clone(),
            event_streams: std::sync::atomic::AtomicU32::new(0),
            max_event_streams: config.max_event_streams,
            index_memory_bytes: config.index_memory_mb.map(|mb| mb.saturating_mul(1 << 20)),
            audit,
            metrics: crate::telemetry::Metrics::default(),
            started_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            max_concurrency: config.max_concurrency,
            request_timeout: config.request_timeout,
            store_ok: AtomicBool::new(true),
            shutdown: tokio::sync::watch::channel(false).0,
            styles: ArcSwap::from_pointee(crate::styles::StyleSet::load(&config.styles_dir)),
            grids: cuulong_core::tms::built_in()
                .into_iter()
                .chain(config.tile_matrix_sets.iter().cloned())
                .collect(),
            wms_max_size: config.wms_max_size,
            snapshot_dir: config.snapshot_dir.clone(),
            from_snapshot: AtomicBool::new(false),
            snapshot_lock: tokio::sync::Mutex::new(()),
            observations: Default::default(),
            live_layers: Default::default(),
            observations_token: Default::default(),
            salinity: match &config.salinity {
                Some(s) => {
                    crate::salinity::Salinity::new(Some(s.rules.clone()), s.deliveries.clone())
                }
                None => crate::salinity::Salinity::default(),
            },
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
        // Alerts wait for every layer (their zones measure land use): evaluate now.
        self.observations.live_dirty.notify_one();
    }

    /// Whether the last contact with the store worked (else serving from memory: degraded).
    pub fn store_ok(&self) -> bool {
        self.store_ok.load(Ordering::Acquire)
    }

    pub fn set_store_ok(&self, ok: bool) {
        let was = self.store_ok.swap(ok, Ordering::AcqRel);
        if was != ok {
            if ok {
                tracing::info!("store reachable again");
            } else {
                tracing::warn!("store unreachable: serving the layers in memory");
            }
        }
    }

    pub fn snapshot(&self) -> Arc<Layers> {
        self.layers.load_full()
    }

    /// `layers` as they were on `day` (`None`: as served, today): admin layers in time give
    /// that day's units, the others are themselves.
    pub fn on_day(&self, layers: Vec<Served>, day: Option<chrono::NaiveDate>) -> Vec<Served> {
        let Some(day) = day else {
            return layers;
        };
        let temporal = self.temporal.load();
        layers
            .into_iter()
            .map(|l| match temporal.get(l.meta().id.as_str()) {
                Some(e) => e.at(day),
                None => l,
            })
            .collect()
    }

    /// Everything an admin layer in time ever recorded, replaced boundaries included (for the
    /// lineage endpoints); else the layer.
    pub fn history(&self, layer: &Served) -> Served {
        self.temporal
            .load()
            .get(layer.meta().id.as_str())
            .map_or_else(|| layer.clone(), |e| e.history.clone())
    }

    /// The whole of a layer: every period of an admin layer in time, else the layer.
    pub fn whole(&self, layer: &Served) -> Served {
        self.temporal
            .load()
            .get(layer.meta().id.as_str())
            .map_or_else(|| layer.clone(), |e| e.all.clone())
    }

    /// The one enforcement point: the layers this caller may see. A layer it may not see does
    /// not exist for it, in every handler.
    pub fn visible(&self, caller: &Caller) -> Arc<Layers> {
        let all = self.snapshot();
        if all.values().all(|l| caller.can_see(l.meta())) {
            return all;
        }
        Arc::new(
            all.iter()
                .filter(|(_, l)| caller.can_see(l.meta()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }
}

/// Most distinct layers one request may name (tiles, queries, summaries, WMS).
pub const MAX_LAYERS: usize = 64;
/// Longest layer list accepted, in bytes (64 ids of up to 64 characters, with commas).
const MAX_LIST_BYTES: usize = 64 * 65;

/// Why a layer list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}: give one layer id or a comma list of them")]
    Empty(&'static str),
    #[error("{0}: at most {MAX_LAYERS} layers (and {MAX_LIST_BYTES} characters)")]
    TooMany(&'static str),
    #[error("layer '{0}' does not exist")]
    Unknown(String),
}

impl From<ResolveError> for crate::ApiError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Unknown(_) => crate::ApiError::NotFound(e.to_string()),
            _ => crate::ApiError::BadRequest(e.to_string()),
        }
    }
}

impl AppState {
    /// The tile grid with this id.
    pub fn grid(&self, id: &str) -> Option<&cuulong_core::tms::TileMatrixSet> {
        self.grids.iter().find(|g| g.id == id)
    }

    /// One collection the caller may see, its read audited; a layer it may not see does not
    /// exist for it.
    pub fn collection(
        &self,
        caller: &Caller,
        id: &str,
        endpoint: &str,
    ) -> Result<Served, crate::ApiError> {
        let l = self.visible(caller).get(id).cloned().ok_or_else(|| {
            crate::ApiError::NotFound(format!(
                "collection '{}' does not exist",
                id.chars().take(64).collect::<String>()
            ))
        })?;
        self.audit_read(caller, l.meta(), endpoint);
        Ok(l)
    }

    /// The one reader of a layer list (`a,b,c` of `param`): split, trimmed, deduplicated
    /// (first mention wins), capped at [`MAX_LAYERS`], each id checked against what `caller`
    /// may see (one it may not see does not exist for it) and each read audited. Returns each
    /// layer with its position in the list as given (WMS pairs STYLES by position).
    pub fn resolve_positions(
        &self,
        caller: &Caller,
        param: &'static str,
        list: &str,
        endpoint: &str,
    ) -> Result<Vec<(usize, Served)>, ResolveError> {
        if list.trim().is_empty() {
            return Err(ResolveError::Empty(param));
        }
        if list.len() > MAX_LIST_BYTES {
            return Err(ResolveError::TooMany(param));
        }
        // Distinct names first (first mention wins), counted before any lookup.
        let mut names: Vec<(usize, &str)> = Vec::new();
        for (position, id) in list.split(',').map(str::trim).enumerate() {
            if names.iter().any(|(_, n)| *n == id) {
                continue;
            }
            if names.len() == MAX_LAYERS {
                return Err(ResolveError::TooMany(param));
            }
            names.push((position, id));
        }
        let visible = self.visible(caller);
        let out = names
            .into_iter()
            .map(|(position, id)| {
                cuulong_core::LayerId::parse(id)
                    .ok()
                    .and_then(|_| visible.get(id))
                    .map(|index| (position, index.clone()))
                    .ok_or_else(|| ResolveError::Unknown(id.chars().take(64).collect()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (_, l) in &out {
            self.audit_read(caller, l.meta(), endpoint);
        }
        Ok(out)
    }

    /// [`AppState::resolve_positions`] without the positions.
    pub fn resolve(
        &self,
        caller: &Caller,
        param: &'static str,
        list: &str,
        endpoint: &str,
    ) -> Result<Vec<Served>, ResolveError> {
        Ok(self
            .resolve_positions(caller, param, list, endpoint)?
            .into_iter()
            .map(|(_, l)| l)
            .collect())
    }
}

impl AppState {
    /// The base URL clients reach this server at (configured, else from the Host header).
    pub fn base_url(&self, headers: &axum::http::HeaderMap) -> String {
        crate::http::base_url(self.public_url.as_deref(), headers)
    }

    /// Records a read of a non-open layer: who, which layer, through which endpoint — as a
    /// structured log line, and queued for the store's audit table.
    pub fn audit_read(&self, caller: &Caller, layer: &cuulong_core::LayerMeta, endpoint: &str) {
        if layer.access == cuulong_core::Access::Open {
            return;
        }
        if let Caller::Key { name, agency, .. } = caller {
            tracing::info!(target: "cuulong::audit", key = %name, %agency, layer = %layer.id, access = layer.access.as_str(), endpoint, "read");
            let record = cuulong_core::access::AuditRecord {
                at: chrono::Utc::now(),
                key_name: name.clone(),
                agency: agency.clone(),
                layer: layer.id.to_string(),
                access: layer.access.as_str().to_owned(),
                endpoint: endpoint.to_owned(),
            };
            if self.audit.try_send(record).is_err() {
                tracing::warn!(target: "cuulong::audit", "audit queue full; the log line above is the record");
            }
        }
    }
}
