//! What the server holds of observations, below every handler: the network catalogue, the
//! series of every datastream in memory (loaded from the store at start, appended to by every
//! ingest once the store holds the readings durably), the ingest counters, the observation
//! events, and the ids of the live layers built from them. The SensorThings API, the MQTT
//! subscriber and the live layers (`sta`) work on it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use arc_swap::ArcSwap;
use cuulong_core::access::Caller;
use cuulong_core::sta::series::Series;
use cuulong_core::sta::{Catalog, Observation};
use tokio::sync::broadcast;

/// What a `/events` stream says when a datastream gains readings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ObservationEvent {
    pub datastream: u32,
    /// New readings in this batch.
    pub count: usize,
    /// The latest reading of the datastream now.
    pub phenomenon_time: String,
    pub result: f64,
}

/// Ingest counters, for `/metrics`.
#[derive(Default)]
pub struct Counters {
    pub accepted: AtomicU64,
    pub duplicates: AtomicU64,
    /// MQTT messages taken and acknowledged.
    pub mqtt_messages: AtomicU64,
    pub rejected: Mutex<BTreeMap<&'static str, u64>>,
}

impl Counters {
    pub fn reject(&self, reason: &'static str) {
        if let Ok(mut r) = self.rejected.lock() {
            *r.entry(reason).or_default() += 1;
        }
    }
}

/// The observation side of the server's state.
pub struct Observations {
    pub catalog: ArcSwap<Catalog>,
    series: ArcSwap<HashMap<u32, Arc<RwLock<Series>>>>,
    pub events: broadcast::Sender<ObservationEvent>,
    pub counters: Counters,
    /// Set when readings arrived; the live-layer task rebuilds and clears it.
    pub live_dirty: tokio::sync::Notify,
    /// True once the network and the series were read from the store (a server started from
    /// its snapshot while PostgreSQL is away has not: it takes no readings until then).
    pub loaded: std::sync::atomic::AtomicBool,
}

impl Default for Observations {
    fn default() -> Self {
        Self {
            catalog: ArcSwap::from_pointee(Catalog::default()),
            series: ArcSwap::from_pointee(HashMap::new()),
            events: broadcast::channel(1024).0,
            counters: Counters::default(),
            live_dirty: tokio::sync::Notify::new(),
            loaded: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl Observations {
    /// The series of a datastream (an empty one is made for a datastream of the catalogue).
    pub fn series(&self, datastream: u32) -> Arc<RwLock<Series>> {
        if let Some(s) = self.series.load().get(&datastream) {
            return s.clone();
        }
        let mut made = None;
        self.series.rcu(|m| {
            let mut next = (**m).clone();
            let s = next.entry(datastream).or_default().clone();
            made = Some(s);
            next
        });
        made.unwrap_or_default()
    }

    /// A copy of a datastream's readings in `[from, to)`.
    pub fn copy(&self, datastream: u32, from: i64, to: i64) -> Vec<Observation> {
        let s = self.series(datastream);
        let s = s.read().unwrap_or_else(|e| e.into_inner());
        let r = s.range(from, to);
        r.map(|i| {
            let (time_ms, result, quality) = s.at(i);
            Observation {
                datastream,
                time_ms,
                result,
                quality,
            }
        })
        .collect()
    }

    pub fn len(&self, datastream: u32) -> usize {
        self.series(datastream).read().map_or(0, |s| s.len())
    }

    /// Adds durable readings to the series; returns the new ones per datastream (those held
    /// already are re-sends).
    pub fn insert(&self, batch: &[Observation]) -> usize {
        let mut new = 0;
        let mut by_stream: HashMap<u32, Vec<&Observation>> = HashMap::new();
        for o in batch {
            by_stream.entry(o.datastream).or_default().push(o);
        }
        for (ds, obs) in by_stream {
            let series = self.series(ds);
            let mut s = series.write().unwrap_or_else(|e| e.into_inner());
            let mut added = 0;
            for o in obs {
                added += usize::from(s.insert(o.time_ms, o.result, o.quality));
            }
            new += added;
            if added > 0 {
                if let Some((t, v)) = s.latest() {
                    let _ = self.events.send(ObservationEvent {
                        datastream: ds,
                        count: added,
                        phenomenon_time: cuulong_core::sta::iso_time(t),
                        result: v,
                    });
                }
            }
        }
        if new > 0 {
            self.live_dirty.notify_one();
        }
        new
    }

    /// Adds what the store holds of a datastream to its series. A union, not a replacement:
    /// every reading already in memory was stored before it got there, and an ingest may
    /// have stored (and added) one since the store was read.
    pub fn merge(&self, datastream: u32, obs: &[Observation]) {
        let series = self.series(datastream);
        let mut s = series.write().unwrap_or_else(|e| e.into_inner());
        for o in obs {
            s.insert(o.time_ms, o.result, o.quality);
        }
    }

    /// Whether a caller may see a datastream.
    pub fn may_see(&self, caller: &Caller, catalog: &Catalog, datastream: u32) -> bool {
        catalog.datastream(datastream).is_some_and(|d| {
            caller.may_see(
                d.access,
                &format!("datastream:{}", d.id),
                d.owner.as_deref(),
            )
        })
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    pub fn accepted(&self) -> u64 {
        self.counters.accepted.load(Ordering::Relaxed)
    }
}

/// The ids of the live layers served (the store's sync leaves them alone).
#[derive(Default)]
pub struct LiveIds(pub Mutex<HashSet<String>>);

impl LiveIds {
    pub fn contains(&self, id: &str) -> bool {
        self.0.lock().is_ok_and(|s| s.contains(id))
    }
}
