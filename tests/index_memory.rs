//! The memory of an in-memory layer against its FlatGeobuf file: 20 000 synthetic parcels
//! (scripts/make_parcels.py, ten attributes) imported into the embedded store, the layer's
//! index built as the server builds it, its live heap counted by this test's allocator.
//! Columnar attributes keep it near the file's size (1.96× with a `Vec<Value>` and a `String`
//! per text value a feature, before); `approx_bytes`, which the index budget sums, must say
//! about what the index holds.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../tile-server/examples/support/counting_alloc.rs"]
mod counting_alloc;

use common::*;
use cuulong_core::index::LayerIndex;
use cuulong_core::source::LayerSource;
use futures::TryStreamExt;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

#[test]
fn an_in_memory_layer_holds_about_its_flatgeobuf_size() {
    let tmp = tempfile::tempdir().unwrap();
    let parcels = tmp.path().join("parcels.fgb");
    make_parcels(20_000, &parcels);
    let data = tmp.path().join("data");
    ok(run(cuulong().arg("--data-dir").arg(&data).args([
        "import",
        parcels.to_str().unwrap(),
        "--layer",
        "parcels",
        "--family",
        "land_use",
        "--quiet",
    ])));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (index, live, file) = rt.block_on(async {
        let store = cuulong_store::open(&cuulong_store::StoreConfig::Embedded {
            data_dir: data.clone(),
        })
        .await
        .unwrap();
        let meta = store.layers().await.unwrap().remove(0);
        let file = std::fs::metadata(
            data.join("layers")
                .join(format!("{}.v{}.fgb", meta.id, meta.version)),
        )
        .unwrap()
        .len() as usize;
        let before = counting_alloc::live_bytes();
        let features: Vec<_> = store
            .features(&meta.id)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let index = LayerIndex::build(meta, features);
        let live = counting_alloc::live_bytes() - before;
        (index, live, file)
    });
    assert_eq!(index.len(), 20_000);
    let ratio = live as f64 / file as f64;
    eprintln!(
        "index {live} B, FlatGeobuf {file} B: {ratio:.2}×; approx_bytes {}",
        index.approx_bytes()
    );
    assert!(
        ratio <= 1.25,
        "the index holds {ratio:.2}× its FlatGeobuf file ({live} of {file} bytes)"
    );
    let approx = index.approx_bytes() as f64 / live as f64;
    assert!(
        (0.7..=1.3).contains(&approx),
        "approx_bytes says {} of {live} live bytes",
        index.approx_bytes()
    );
}

/// The server keeps off transparent huge pages: with them, the kernel backed each touched
/// 2 MiB of the allocator's arenas whole (RssAnon 19 MiB for a server with no layers, 8
/// without; 118–123 MiB for 200 000 parcels, 98 without). On a kernel with THP in `madvise`
/// or `always` mode this fails if the server lets the allocator have them.
#[test]
fn the_server_holds_its_heap_in_small_pages() {
    let (_tmp, _store, server) = serve_samples(&[]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let thp = status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .map(str::trim);
    // Kernels before 5.0 do not report it; smaps below still tells.
    if let Some(v) = thp {
        assert_eq!(v, "0", "transparent huge pages left on for the server");
    }
    let rollup = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", server.pid())).unwrap();
    let huge_kib: u64 = rollup
        .lines()
        .find_map(|l| l.strip_prefix("AnonHugePages:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("AnonHugePages in smaps_rollup");
    // Switched off before the first allocation: not one.
    assert_eq!(
        huge_kib, 0,
        "{huge_kib} KiB of the server's memory in transparent huge pages"
    );
}
