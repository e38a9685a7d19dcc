//! Layer lists, read by the one resolver, directly and through every endpoint that takes one
//! (composite tiles, TileJSON, the point query, summaries): never more than 64 layers, never a
//! crash or a 500.
#![no_main]

use std::sync::OnceLock;

use cuulong_tile_server::fuzzing::{to_query, Harness};
use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<Harness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let harness = HARNESS.get_or_init(Harness::new);
    let list = String::from_utf8_lossy(data);
    if let Ok(n) = harness.layer_list(&list) {
        assert!((1..=3).contains(&n), "{n} layers from a list of 3 known");
    }
    let list = to_query(data).replace('/', "%2F");
    for path in [
        format!("/tiles/{list}/12/3256/1931.mvt"),
        format!("/tiles/{list}.json"),
        format!("/query/point?lon=106.25&lat=10.15&layers={list}"),
        format!("/query/summary?admin=29011&layers={list}"),
    ] {
        if let Some(status) = harness.get(&path) {
            assert!(status != 500, "{path}: {status}");
        }
    }
});
