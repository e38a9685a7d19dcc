//! The server's counters: requests by route and status, latency histograms, requests in
//! flight and shed, tile cache hits and misses. Written by the middleware and handlers, read
//! by `GET /metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram, seconds.
pub(crate) const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
pub(crate) struct Histogram {
    pub(crate) counts: [u64; BUCKETS.len()],
    pub(crate) sum: f64,
    pub(crate) count: u64,
}

#[derive(Default)]
pub struct Metrics {
    pub(crate) requests: Mutex<BTreeMap<(String, u16), u64>>,
    pub(crate) latency: Mutex<BTreeMap<String, Histogram>>,
    pub tile_cache_hits: AtomicU64,
    pub tile_cache_misses: AtomicU64,
    pub wms_cache_hits: AtomicU64,
    pub wms_cache_misses: AtomicU64,
    pub in_flight: AtomicI64,
    pub shed: AtomicU64,
    pub(crate) next_id: AtomicU64,
}

impl Metrics {
    pub(crate) fn record(&self, route: &str, status: u16, elapsed: Duration) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((route.to_owned(), status)).or_default() += 1;
        }
        if let Ok(mut l) = self.latency.lock() {
            let h = l.entry(route.to_owned()).or_default();
            let secs = elapsed.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += secs;
            h.count += 1;
        }
    }
}
