//! cuulong-store: the catalogue of layers and their features behind one trait, with two
//! backends — PostGIS (sqlx) and an embedded store of FlatGeobuf files. Both replace a layer
//! all-or-nothing: until the swap, readers see the previous version unchanged.

mod copy;
pub mod embedded;
pub mod mapped;
pub mod obs_log;
mod obs_pg;
pub mod pg_layer;
pub mod postgis;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use cuulong_core::access::{ApiKey, AuditRecord};
use cuulong_core::source::LayerSource;
use cuulong_core::{Access, Bbox, Feature, ImportRecord, LayerDef, LayerId, LayerMeta};
use futures::stream::BoxStream;

pub use embedded::EmbeddedStore;
pub use postgis::PostgisStore;

/// Where a PostGIS store with a standby read layer features from (for `/metrics`).
#[derive(Debug, Default)]
pub struct ReadStats {
    /// Reads the standby served, having replayed the primary's position.
    pub standby: std::sync::atomic::AtomicU64,
    /// Reads the primary served: the standby away, or behind for longer than allowed.
    pub primary: std::sync::atomic::AtomicU64,
    /// Milliseconds spent waiting for the standby to replay, in all.
    pub waited_ms: std::sync::atomic::AtomicU64,
}

/// The PostgreSQL channel a layer change is announced on (payload: the layer id).
pub const NOTIFY_CHANNEL: &str = "cuulong_layers";
/// The payload announcing a change of API keys (not a valid layer id).
pub const KEYS_CHANGED: &str = "!keys";
/// The payload announcing a change of the observation network or a batch import.
pub const OBSERVATIONS_CHANGED: &str = "!observations";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error while {context}: {source}")]
    Database {
        context: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("could not apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("FlatGeobuf file {}: {message}", path.display())]
    Fgb { path: PathBuf, message: String },
    #[error("catalogue {}: {message}", path.display())]
    Catalog { path: PathBuf, message: String },
    #[error("layer '{0}' does not exist")]
    NotFound(String),
    #[error("layer '{layer}': version {version} is no longer the current one (now {current})")]
    VersionGone {
        layer: String,
        version: i64,
        current: i64,
    },
    #[error("layer '{layer}', feature {feature}: {message}")]
    Feature {
        layer: String,
        feature: i64,
        message: String,
    },
    #[error("{0}")]
    Config(String),
    #[error("API key '{0}' already exists")]
    KeyExists(String),
    #[error("no API key named '{0}'")]
    NoSuchKey(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Database { context, source }
}

pub type FeatureStream = BoxStream<'static, Result<Feature>>;

/// The store: a catalogue of layers, their features as a stream, an atomic replace, and the
/// import history. Object safe, held as `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync {
    /// A human description for logs, without secrets: "PostGIS db@host" or "embedded /path".
    fn describe(&self) -> String;

    async fn layers(&self) -> Result<Vec<LayerMeta>>;

    async fn layer(&self, id: &LayerId) -> Result<Option<LayerMeta>> {
        Ok(self.layers().await?.into_iter().find(|l| &l.id == id))
    }

    /// The features of the current version of a layer, streamed (memory stays bounded). The
    /// order is the backend's: id order for PostGIS, spatial (Hilbert) order for embedded.
    async fn features(&self, id: &LayerId) -> Result<FeatureStream> {
        self.features_of(id, None).await
    }

    /// The features of `version` of a layer (`None`: the current one), streamed as
    /// [`Store::features`] does. Only the current version is kept: asking for another is
    /// [`StoreError::VersionGone`], so a reader never mixes two versions (a server streams
    /// the version it serves, or says it is being replaced). Once the stream has started it
    /// finishes on its version even if a replace commits meanwhile.
    async fn features_of(&self, id: &LayerId, version: Option<i64>) -> Result<FeatureStream>;

    /// Bytes a layer version takes in the store (its FlatGeobuf file, or its table without
    /// indexes), for estimating its in-memory index; `None` when unknown.
    async fn layer_bytes(&self, _meta: &LayerMeta) -> Option<u64> {
        None
    }

    /// The version `meta` served without loading it: read per request from the store (the
    /// embedded store's file mapped, the PostGIS table by spatial SQL). `None` when the
    /// backend cannot.
    async fn open_source(&self, _meta: &LayerMeta) -> Result<Option<Arc<dyn LayerSource>>> {
        Ok(None)
    }

    /// Where layer features were read from, for a store with a standby.
    fn read_stats(&self) -> Option<Arc<ReadStats>> {
        None
    }

    /// Starts replacing (or creating) a layer. Nothing is visible to readers until
    /// [`LayerWriter::commit`]; dropping the writer or a crash abandons it without trace.
    async fn begin_replace(&self, def: LayerDef) -> Result<Box<dyn LayerWriter>>;

    /// Import history of a layer, oldest first.
    async fn history(&self, id: &LayerId) -> Result<Vec<ImportRecord>>;

    async fn set_access(&self, id: &LayerId, access: Access) -> Result<()>;

    /// Every API key record (hashes only), revoked and expired ones included.
    async fn keys(&self) -> Result<Vec<ApiKey>>;

    /// Stores a new key record; a key of the same name is an error.
    async fn add_key(&self, key: ApiKey) -> Result<()>;

    /// Marks a key revoked (it stays listed); servers stop accepting it on their next sync.
    async fn revoke_key(&self, name: &str) -> Result<()>;

    /// Appends reads of non-open layers to the audit log, where the backend keeps one
    /// (PostGIS: `cuulong.audit_log`). The server also writes them as structured log lines.
    async fn record_reads(&self, reads: &[AuditRecord]) -> Result<()> {
        let _ = reads;
        Ok(())
    }

    /// A stream of ids of layers that changed, where the backend can push them (PostGIS
    /// `LISTEN cuulong_layers`). `None`: the caller polls [`Store::layers`].
    async fn changes(&self) -> Result<Option<BoxStream<'static, String>>> {
        Ok(None)
    }

    /// The observation network (SensorThings catalogue); empty until set up.
    async fn sta_catalog(&self) -> Result<cuulong_core::sta::Catalog>;

    /// Replaces the observation network (ids are the caller's: see `Catalog::merge`).
    async fn save_sta_catalog(&self, catalog: &cuulong_core::sta::Catalog) -> Result<()>;

    /// Stores observations durably (fsync'd log, committed transaction) before it returns; a
    /// (datastream, phenomenon time) already stored is skipped, so a retried batch duplicates
    /// nothing. Returns how many were new.
    async fn append_observations(&self, batch: &[cuulong_core::sta::Observation]) -> Result<u64>;

    /// Every stored observation of a datastream.
    async fn observations(&self, datastream: u32) -> Result<Vec<cuulong_core::sta::Observation>>;

    /// Tells servers that observations were written outside them (a batch import): they
    /// reload the series. Servers write through their own ingest and need no announcement.
    async fn announce_observations(&self) -> Result<()>;

    /// Changes whenever [`Store::announce_observations`] is called.
    async fn observations_token(&self) -> Result<Option<String>>;
}

/// Receives the features of a new layer version, then swaps it in.
#[async_trait]
pub trait LayerWriter: Send {
    async fn write_batch(&mut self, batch: &[Feature]) -> Result<()>;
    /// The geometry type seen in the data (known only once every feature was read).
    fn set_geometry_type(&mut self, geometry_type: &str);
    /// Swaps the new version in and records `record` in the import history (its `version`
    /// field is set by the store). Returns the catalogue entry of the new version.
    async fn commit(self: Box<Self>, record: ImportRecord) -> Result<LayerMeta>;
}

/// Where the data lives, as chosen on the command line.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    Postgis { url: String },
    Embedded { data_dir: PathBuf },
}

pub async fn open(config: &StoreConfig) -> Result<Arc<dyn Store>> {
    Ok(match config {
        StoreConfig::Postgis { url } => Arc::new(PostgisStore::connect(url).await?),
        StoreConfig::Embedded { data_dir } => Arc::new(EmbeddedStore::open(data_dir)?),
    })
}

/// Tracks bbox and count of the features a writer receives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Extent {
    pub bbox: Bbox,
    pub count: i64,
}

impl Default for Extent {
    fn default() -> Self {
        Self {
            bbox: Bbox::EMPTY,
            count: 0,
        }
    }
}

impl Extent {
    pub fn add(&mut self, f: &Feature) {
        self.bbox.extend(&Bbox::of_geometry(&f.geometry));
        self.count += 1;
    }

    pub fn bbox(&self) -> Option<Bbox> {
        (!self.bbox.is_empty()).then_some(self.bbox)
    }
}
