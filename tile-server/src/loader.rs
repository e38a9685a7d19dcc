//! Loading layers from the store into indexes, and keeping them current: on a PostGIS
//! NOTIFY or an embedded-catalogue change, the new version is built beside the old one and
//! swapped in atomically.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use cuulong_core::source::LayerSource;
use cuulong_core::LayerMeta;
use futures::{StreamExt, TryStreamExt};

use crate::state::{AppState, LayerEvent};
use crate::temporal::Epochs;

/// Why a sync with the store (or building one layer) failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Store(#[from] cuulong_store::StoreError),
    #[error("building the index failed: {0}")]
    Build(#[from] tokio::task::JoinError),
}

/// Reads the features of the listed version of a layer and builds its index off the async
/// threads. A version replaced since the listing is an error: the next sync loads the new one,
/// so an index never holds one version's catalogue entry and another's features.
async fn build(
    state: &AppState,
    meta: LayerMeta,
) -> Result<(Arc<dyn LayerSource>, Option<Arc<Epochs>>), LoadError> {
    if beyond_budget(state, &meta).await {
        if let Some(source) = state.store.open_source(&meta).await? {
            tracing::info!(layer = %meta.id, source = source.served_from(), "layer beyond the index budget: served from the store");
            return Ok((source, None));
        }
    }
    let features: Vec<_> = state
        .store
        .features_of(&meta.id, Some(meta.version))
        .await?
        .try_collect()
        .await?;
    let today = crate::temporal::today();
    // Released on both threads: the index was built on the blocking one, the features it
    // freed were decoded (and their pages are held) on this one.
    let built = tokio::task::spawn_blocking(move || {
        let built = crate::temporal::index(meta, features, today);
        crate::memory::release_freed();
        built
    })
    .await?;
    crate::memory::release_freed();
    Ok(built)
}

/// Index bytes per byte of a layer's FlatGeobuf file (or PostGIS table, of about the same
/// size), as `approx_bytes` counts them with columnar attributes: 0.90 for 200 000 synthetic
/// land-use polygons, 0.92 for the land-use sample, 1.3–2.7 for the small layers of a few big
/// polygons (`cargo run --example index_memory` prints them). 1.5 errs towards mapping the big
/// layers, the ones a budget is about.
const INDEX_BYTES_PER_FILE_BYTE: f64 = 1.5;

/// The bytes a layer's index is expected to take, from its file's size.
pub(crate) fn estimated_index_bytes(file_bytes: u64) -> u64 {
    (file_bytes as f64 * INDEX_BYTES_PER_FILE_BYTE) as u64
}

/// Whether `meta`'s index would not fit the budget beside the layers already held in memory
/// (by their `approx_bytes`, this layer's old version excluded), estimated from its size in
/// the store. Admin layers in time stay in memory (their periods are built from every
/// feature).
async fn beyond_budget(state: &AppState, meta: &LayerMeta) -> bool {
    let Some(budget) = state.index_memory_bytes else {
        return false;
    };
    if crate::temporal::is_temporal(meta) {
        return false;
    }
    let Some(file_bytes) = state.store.layer_bytes(meta).await else {
        return false;
    };
    let used: u64 = state
        .snapshot()
        .iter()
        .filter(|(id, l)| id.as_str() != meta.id.as_str() && l.served_from() == "memory")
        .map(|(_, l)| l.approx_bytes() as u64)
        .sum();
    used.saturating_add(estimated_index_bytes(file_bytes)) > budget
}

/// Brings the indexes in line with the store: builds new and changed layers, drops removed
/// ones. Each changed layer is swapped in on its own, as soon as it is built.
pub async fn sync(state: &AppState) -> Result<(), LoadError> {
    let result = sync_inner(state).await;
    state.set_store_ok(result.is_ok());
    result
}

async fn sync_inner(state: &AppState) -> Result<(), LoadError> {
    let keys = state.store.keys().await?;
    if **state.keys.load() != keys {
        state.keys.store(Arc::new(keys));
    }
    let network = state.store.sta_catalog().await?;
    let token = state.store.observations_token().await?;
    let seen = state
        .observations_token
        .lock()
        .map(|t| t.clone())
        .unwrap_or_default();
    if !state.observations.is_loaded()
        || **state.observations.catalog.load() != network
        || seen != token
    {
        crate::sta::load(state).await?;
        if let Ok(mut t) = state.observations_token.lock() {
            *t = token;
        }
    }
    let metas = state.store.layers().await?;
    let current = state.snapshot();
    for meta in &metas {
        let id = meta.id.to_string();
        let unchanged = current
            .get(&id)
            .is_some_and(|l| l.meta().version == meta.version && l.meta().access == meta.access);
        if unchanged {
            continue;
        }
        let version = meta.version;
        match build(state, meta.clone()).await {
            Ok((index, epochs)) => {
                state.temporal.rcu(|t| {
                    let mut next = (**t).clone();
                    match &epochs {
                        Some(e) => next.insert(id.clone(), e.clone()),
                        None => next.remove(&id),
                    };
                    next
                });
                state.layers.rcu(|layers| {
                    let mut next = (**layers).clone();
                    next.insert(id.clone(), index.clone());
                    next
                });
                tracing::info!(layer = %id, version, "layer loaded");
                let _ = state.events.send(LayerEvent { layer: id, version });
            }
            // The store may have moved on (replaced again) between listing and reading; the
            // next sync picks it up. The old version keeps being served meanwhile.
            Err(e) => tracing::warn!(layer = %id, error = %e, "could not load layer"),
        }
    }
    let gone: Vec<String> = state
        .snapshot()
        .keys()
        .filter(|id| !metas.iter().any(|m| m.id.as_str() == id.as_str()))
        .filter(|id| !state.live_layers.contains(id))
        .cloned()
        .collect();
    for id in gone {
        state.temporal.rcu(|t| {
            let mut next = (**t).clone();
            next.remove(&id);
            next
        });
        state.layers.rcu(|layers| {
            let mut next = (**layers).clone();
            next.remove(&id);
            next
        });
        let _ = state.events.send(LayerEvent {
            layer: id,
            version: 0,
        });
    }
    Ok(())
}

/// Writes the snapshot (if the server keeps one) after a sync; skipped while one is running.
fn save_snapshot(state: &Arc<AppState>) {
    let Some(dir) = state.snapshot_dir.clone() else {
        return;
    };
    if state.from_snapshot.load(Ordering::Acquire) {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let Ok(_guard) = state.snapshot_lock.try_lock() else {
            return;
        };
        // Admin layers in time are kept whole, every period.
        let layers: crate::state::Layers = state
            .snapshot()
            .iter()
            .map(|(id, l)| (id.clone(), state.whole(l)))
            .collect();
        let keys = state.keys.load_full();
        match crate::snapshot::save(&dir, &layers, &keys).await {
            Ok(0) => {}
            Ok(n) => {
                // Writing decoded every layer it wrote: hand those pages back.
                crate::memory::release_freed();
                tracing::info!(layers = n, dir = %dir.display(), "snapshot updated")
            }
            Err(e) => tracing::warn!(error = %e, dir = %dir.display(), "snapshot not written"),
        }
    });
}

/// Serves the snapshot while the store cannot be read at start.
async fn start_from_snapshot(state: &AppState) -> bool {
    let Some(dir) = &state.snapshot_dir else {
        return false;
    };
    if !crate::snapshot::exists(dir) {
        return false;
    }
    match crate::snapshot::load(dir, state.index_memory_bytes).await {
        Ok((layers, temporal, keys)) => {
            let n = layers.len();
            state.keys.store(Arc::new(keys));
            state.temporal.store(Arc::new(temporal));
            state.layers.store(Arc::new(layers));
            state.from_snapshot.store(true, Ordering::Release);
            state.set_store_ok(false);
            state.set_ready();
            tracing::warn!(layers = n, dir = %dir.display(), "store unreachable: serving the snapshot until it returns");
            eprintln!(
                "cuulong: the store is unreachable; serving {n} layers from the snapshot in {} until it returns",
                dir.display()
            );
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "snapshot unreadable");
            false
        }
    }
}

/// Initial load, then keeps watching. Runs until the process ends.
pub async fn run(state: Arc<AppState>) {
    let mut delay = Duration::from_millis(500);
    let mut tried_snapshot = false;
    loop {
        match sync(&state).await {
            Ok(()) => break,
            Err(e) => {
                tracing::error!(error = %e, "loading layers failed; retrying in {delay:?}");
                if !tried_snapshot && !state.is_ready() {
                    tried_snapshot = true;
                    start_from_snapshot(&state).await;
                }
                tokio::time::sleep(delay).await;
                // Back off up to 10 s while the store is away.
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
    if state.from_snapshot.swap(false, Ordering::AcqRel) {
        tracing::info!("store reachable: serving its layers again");
    }
    state.set_ready();
    save_snapshot(&state);
    tracing::info!(layers = state.snapshot().len(), "all layers loaded");
    let changes = state.store.changes().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot listen for layer changes; polling");
        None
    });
    match changes {
        Some(mut ids) => {
            // Pushed changes, plus a periodic resync for anything missed while disconnected.
            let mut resync = tokio::time::interval(Duration::from_secs(30));
            loop {
                tokio::select! {
                    id = ids.next() => match id {
                        Some(payload) => {
                            tracing::debug!(%payload, "change notified");
                            match sync(&state).await {
                                Ok(()) => save_snapshot(&state),
                                Err(e) => tracing::warn!(error = %e, "sync after NOTIFY failed"),
                            }
                        }
                        None => {
                            tracing::warn!("layer change stream ended; polling");
                            break;
                        }
                    },
                    _ = resync.tick() => {
                        match sync(&state).await {
                            Ok(()) => save_snapshot(&state),
                            Err(e) => tracing::warn!(error = %e, "periodic sync failed"),
                        }
                    }
                }
            }
            poll(state).await;
        }
        None => poll(state).await,
    }
}

/// Polls the catalogue (cheap for the embedded store: one small file).
async fn poll(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        match sync(&state).await {
            Ok(()) => save_snapshot(&state),
            Err(e) => tracing::warn!(error = %e, "sync failed"),
        }
    }
}

/// How often the styles folder is looked at for changes.
const STYLES_POLL: Duration = Duration::from_secs(1);

/// Reloads the styles when their folder changes, for the web map and WMS together: the new
/// set is read and compiled off the async workers and swapped in whole. Runs until the process
/// ends.
pub async fn watch_styles(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(STYLES_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let dir = state.styles_dir.clone();
        let current = state.styles.load_full();
        let reloaded = tokio::task::spawn_blocking(move || {
            current
                .is_stale(&dir)
                .then(|| crate::styles::StyleSet::load(&dir))
        })
        .await;
        if let Ok(Some(set)) = reloaded {
            state.styles.store(Arc::new(set));
            tracing::info!(dir = %state.styles_dir.display(), "styles reloaded");
        }
    }
}
