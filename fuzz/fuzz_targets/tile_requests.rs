//! Tile requests of every kind through the router: WMTS key-value requests (the first byte
//! 0), WMTS RESTful paths (1) and OGC API – Tiles paths (2) with any grid, level, row, column
//! and format — a tile, a 204, or a 4xx naming the problem, never a 500.
#![no_main]

use std::sync::OnceLock;

use cuulong_tile_server::fuzzing::{to_query, Harness};
use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<Harness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let harness = HARNESS.get_or_init(Harness::new);
    let text = to_query(rest);
    let path = match kind % 3 {
        0 => format!("/wmts?{text}"),
        1 => format!("/wmts/1.0.0/{text}"),
        _ => format!("/collections/{text}"),
    };
    if let Some(status) = harness.get(&path) {
        assert!(status != 500, "{path}: {status}");
    }
});
