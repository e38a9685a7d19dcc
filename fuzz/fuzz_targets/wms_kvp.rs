//! WMS key-value requests (SERVICE, VERSION, REQUEST, LAYERS, STYLES, CRS/SRS, BBOX, WIDTH,
//! HEIGHT, FORMAT, I/J, INFO_FORMAT, FEATURE_COUNT, EXCEPTIONS …) through the router: any query
//! string gets an image or a service exception, never a 500. Maps are capped at 64 pixels.
#![no_main]

use std::sync::OnceLock;

use cuulong_tile_server::fuzzing::{to_query, Harness};
use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<Harness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let harness = HARNESS.get_or_init(Harness::new);
    let path = format!("/wms?{}", to_query(data));
    if let Some(status) = harness.get(&path) {
        assert!(status != 500, "{path}: {status}");
    }
});
