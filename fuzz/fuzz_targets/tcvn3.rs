//! cuulong's own TCVN3 (ABC) decoder for DBF attribute bytes: any bytes decode to a string of
//! at most one character per byte, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = cuulong_importers::tcvn3::decode(data);
    assert!(s.chars().count() <= data.len());
});
