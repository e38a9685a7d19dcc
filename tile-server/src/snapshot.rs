//! The server's own copy of the layers it serves from PostGIS, so it can start — and keep
//! serving — while PostgreSQL is unreachable. Kept as an embedded store (FlatGeobuf files +
//! catalogue, written all-or-nothing) beside `snapshot.json`, which holds the served
//! catalogue entries (with PostGIS's versions) and the API key records (hashes only).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cuulong_core::access::ApiKey;
use cuulong_core::source::LayerSource;
use cuulong_core::tile::geometry_to_lonlat;
use cuulong_core::{Feature, ImportRecord, LayerMeta};
use cuulong_store::{EmbeddedStore, Store};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::state::Layers;

const SIDECAR: &str = "snapshot.json";

#[derive(Default, Serialize, Deserialize)]
struct Sidecar {
    layers: BTreeMap<String, LayerMeta>,
    keys: Vec<ApiKey>,
}

fn read_sidecar(dir: &Path) -> Option<Sidecar> {
    let text = std::fs::read_to_string(dir.join(SIDECAR)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether `dir` holds a snapshot to start from.
pub fn exists(dir: &Path) -> bool {
    read_sidecar(dir).is_some_and(|s| !s.layers.is_empty())
}

/// Why the snapshot could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] cuulong_store::StoreError),
    #[error("{}: {source}", path.display())]
    Sidecar {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("no snapshot in {}", .0.display())]
    Missing(PathBuf),
    #[error("building a layer's index failed: {0}")]
    Build(#[from] tokio::task::JoinError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Brings the snapshot in line with what is served: writes layers whose version or access
/// changed, then the sidecar (temp file + rename, so a crash leaves the old one).
pub async fn save(dir: &Path, layers: &Layers, keys: &[ApiKey]) -> Result<usize, SnapshotError> {
    create_owner_only(dir).map_err(io(dir))?;
    let old = read_sidecar(dir).unwrap_or_default();
    let store = EmbeddedStore::open(dir)?;
    let mut written = 0;
    for (id, index) in layers {
        if old.layers.get(id) == Some(index.meta()) {
            continue;
        }
        write_layer(&store, &**index).await?;
        written += 1;
    }
    let changed_keys = old.keys != keys;
    if written == 0 && !changed_keys && old.layers.len() == layers.len() {
        return Ok(0);
    }
    let sidecar = Sidecar {
        layers: layers
            .iter()
            .map(|(id, l)| (id.clone(), l.meta().clone()))
            .collect(),
        keys: keys.to_vec(),
    };
    let tmp = dir.join(format!("{SIDECAR}.tmp"));
    let text = serde_json::to_vec(&sidecar).map_err(|source| SnapshotError::Sidecar {
        path: tmp.clone(),
        source,
    })?;
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    // Everything owner-only before the sidecar names it.
    restrict_tree(dir).map_err(io(dir))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io(&tmp))?;
    std::fs::rename(&tmp, dir.join(SIDECAR)).map_err(io(&tmp))?;
    Ok(written)
}

/// Creates `dir` readable by its owner only (it holds restricted layers and key hashes).
fn create_owner_only(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    restrict_tree(dir)
}

/// Makes every folder in `dir` 0700 and every file 0600 (what the embedded store wrote with
/// the process's umask included).
fn restrict_tree(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut folders = vec![dir.to_path_buf()];
        while let Some(folder) = folders.pop() {
            std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700))?;
            for entry in std::fs::read_dir(&folder)? {
                let entry = entry?;
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    folders.push(entry.path());
                } else if kind.is_file() {
                    std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600))?;
                }
            }
        }
    }
    let _ = dir;
    Ok(())
}

async fn write_layer(store: &EmbeddedStore, index: &dyn LayerSource) -> Result<(), SnapshotError> {
    let m = index.meta();
    let def = m.def(m.schema.clone());
    let mut writer = store.begin_replace(def).await?;
    let mut batch = Vec::with_capacity(1000);
    for f in index.features() {
        batch.push(Feature {
            id: f.id,
            // Sources hold EPSG:3857; back to lon/lat (sub-millimetre round trip).
            geometry: geometry_to_lonlat(&f.geometry),
            values: f.values.to_vec(),
        });
        if batch.len() == 1000 {
            writer.write_batch(&batch).await?;
            batch.clear();
        }
    }
    writer.write_batch(&batch).await?;
    writer.set_geometry_type(&m.geometry_type);
    writer
        .commit(ImportRecord {
            layer_id: m.id.to_string(),
            version: 0,
            file: "server snapshot".into(),
            sha256: String::new(),
            src_crs: "EPSG:4326".into(),
            transformation: "none".into(),
            read: index.len() as i64,
            imported: index.len() as i64,
            repaired: 0,
            rejected: 0,
            duration_ms: 0,
            finished_at: chrono::Utc::now(),
            warnings: Vec::new(),
        })
        .await?;
    Ok(())
}

/// The periods of the admin layers in time, by layer id.
pub type Temporal = std::collections::HashMap<String, Arc<crate::temporal::Epochs>>;

/// Loads the snapshot: the layers (with the versions PostGIS had) and the key records. With
/// an index budget (`--index-memory-mb`, in bytes) a layer that would not fit beside those
/// already loaded is served from its snapshot file, memory-mapped, as the embedded store's
/// layers are (in id order, as PostGIS gave it): a server that starts from its snapshot
/// holds no more than one that starts from PostGIS.
pub async fn load(
    dir: &Path,
    index_budget: Option<u64>,
) -> Result<(Layers, Temporal, Vec<ApiKey>), SnapshotError> {
    let sidecar = read_sidecar(dir).ok_or_else(|| SnapshotError::Missing(dir.to_owned()))?;
    let store = EmbeddedStore::open(dir)?;
    // The snapshot store numbers its own versions; its files are found by id.
    let files: std::collections::HashMap<String, PathBuf> = store
        .layers()
        .await?
        .into_iter()
        .filter_map(|m| Some((m.id.to_string(), store.layer_file(&m.id, m.version)?)))
        .collect();
    let mut layers = Layers::new();
    let mut temporal = Temporal::new();
    let mut in_memory = 0u64;
    let today = crate::temporal::today();
    for (id, meta) in sidecar.layers {
        let file = files.get(&id);
        let mapped = match (index_budget, file) {
            (Some(budget), Some(path)) if !crate::temporal::is_temporal(&meta) => {
                let file_bytes = std::fs::metadata(path).map_err(io(path))?.len();
                in_memory.saturating_add(crate::loader::estimated_index_bytes(file_bytes)) > budget
            }
            _ => false,
        };
        if let (true, Some(path)) = (mapped, file) {
            let path = path.clone();
            let source = tokio::task::spawn_blocking(move || {
                cuulong_store::mapped::MappedLayer::open(meta, &path).map(|m| m.in_id_order())
            })
            .await??;
            tracing::info!(layer = %id, "layer beyond the index budget: served from the snapshot file");
            layers.insert(id, Arc::new(source));
            continue;
        }
        let mut features: Vec<Feature> = store.features(&meta.id).await?.try_collect().await?;
        // PostGIS streams in id order, the embedded store in spatial order: restore id order
        // so the index — and every tile from it — is the one the store gave.
        features.sort_unstable_by_key(|f| f.id);
        let (index, epochs) =
            tokio::task::spawn_blocking(move || crate::temporal::index(meta, features, today))
                .await?;
        if let Some(e) = epochs {
            temporal.insert(id.clone(), e);
        }
        in_memory += index.approx_bytes() as u64;
        layers.insert(id, index);
    }
    crate::memory::release_freed();
    Ok((layers, temporal, sidecar.keys))
}

/// The default snapshot folder for a server on PostGIS.
pub fn default_dir() -> PathBuf {
    PathBuf::from("var/cuulong-snapshot")
}
