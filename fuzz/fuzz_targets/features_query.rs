//! OGC API – Features query parameters (bbox, bbox-crs, crs, datetime, limit/offset, filter,
//! property filters, f) through the router: any query string is answered, never with a 500.
//! Input: the query string (structure characters kept, the rest percent-encoded).
#![no_main]

use std::sync::OnceLock;

use cuulong_tile_server::fuzzing::{to_query, Harness};
use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<Harness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let harness = HARNESS.get_or_init(Harness::new);
    let query = to_query(data);
    for path in [
        format!("/collections/land_use/items?{query}"),
        format!("/collections/roads/items/1?{query}"),
    ] {
        if let Some(status) = harness.get(&path) {
            assert!(status != 500, "{path}: {status}");
        }
    }
});
