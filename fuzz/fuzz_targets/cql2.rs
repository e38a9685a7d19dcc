//! CQL2 text filters through cuulong's own entry point (the shape check, the `cql2` crate's
//! parser, the property check) and evaluated on every feature of a small layer: any text is
//! a count or an error, never a crash or a stack overflow.
#![no_main]

use std::sync::OnceLock;

use cuulong_tile_server::fuzzing::Harness;
use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<Harness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let harness = HARNESS.get_or_init(Harness::new);
    let text = String::from_utf8_lossy(data);
    match harness.cql2(&text) {
        Ok(n) => assert!(n <= 25, "{n} matches of 25 features"),
        Err(e) => assert_eq!(e.status().as_u16() / 100, 4, "{e}"),
    }
});
