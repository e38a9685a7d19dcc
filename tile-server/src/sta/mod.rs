//! Observations: the SensorThings API v1.1 under `/sta/v1.1` (reads in [`read`], writes in
//! [`write`]), the series of every datastream in memory (loaded from the store at start,
//! appended to by every ingest once the store holds the readings durably), and the live
//! layers (`salinity_latest`, …): each observed property's latest values as an ordinary
//! served layer, rebuilt within a moment of each new reading.

mod entity;
pub mod live;
pub mod mqtt;
mod read;
mod write;

use std::sync::atomic::Ordering;
use std::sync::Arc;

pub use crate::observations::{ObservationEvent, Observations};
pub use read::{get, root};
pub use write::post;

/// The path prefix of the API.
pub const PREFIX: &str = "/sta/v1.1";

/// Most observations one `CreateObservations` request may carry.
pub const MAX_BATCH: usize = 200_000;
/// Largest request body, bytes.
pub const MAX_BODY: usize = 32 * 1024 * 1024;
/// Most entities one response may hold (expanded ones included).
pub const MAX_ENTITIES: usize = 200_000;
/// Largest `$top`.
pub const MAX_TOP: usize = 100_000;

/// Loads the network and every datastream's readings from the store (at start, and again
/// when the store says the network changed).
pub async fn load(state: &crate::AppState) -> Result<(), cuulong_store::StoreError> {
    let catalog = state.store.sta_catalog().await?;
    for d in &catalog.datastreams {
        let obs = state.store.observations(d.id).await?;
        state.observations.merge(d.id, &obs);
    }
    let n = catalog.datastreams.len();
    state.observations.catalog.store(Arc::new(catalog));
    state.observations.loaded.store(true, Ordering::Release);
    if n > 0 {
        tracing::info!(datastreams = n, "observations loaded");
        state.observations.live_dirty.notify_one();
    }
    Ok(())
}
