//! SensorThings API requests (resource paths and the `$filter`, `$orderby`, `$select`,
//! `$expand`, `$top`, `$skip`, `$count` options) through the router, on the sample network
//! with simulated readings, and the same query string on the aggregates and alerts endpoints
//! (`period`, `from`, `to`, `limits`, `state`, `limit`, `f`): any input is answered, never
//! with a 500.
//! Input: a resource path and a query string, split at the first `?`.
#![no_main]

use std::sync::OnceLock;

use cuulong_tile_server::fuzzing::{to_query, Harness};
use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<Harness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let harness = HARNESS.get_or_init(Harness::new);
    let (path, query) = match data.iter().position(|&b| b == b'?') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"Observations"[..], data),
    };
    let path = to_query(path);
    let query = to_query(query);
    for target in [
        format!("/sta/v1.1/{path}?{query}"),
        format!("/sta/v1.1/Things?{query}"),
        format!("/api/observations/1/aggregates?{query}"),
        format!("/api/alerts?{query}"),
    ] {
        if let Some(status) = harness.get(&target) {
            assert!(status != 500, "{target}: {status}");
        }
    }
});
