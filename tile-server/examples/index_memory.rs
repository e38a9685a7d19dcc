//! What the served index of each layer really holds on the heap (a counting allocator: live
//! bytes requested, no allocator overhead), beside the size of the layer's FlatGeobuf file —
//! the memory target (the index within 2× its FlatGeobuf) —, what `approx_bytes` (metrics, the
//! index budget) says of it, and what the same layer costs served mapped from its file. Used
//! by benches/memory.sh.
//!
//!   cargo run --release --example index_memory -- DATA_DIR

use cuulong_core::source::LayerSource;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use cuulong_core::index::LayerIndex;
use cuulong_store::StoreConfig;
use futures::TryStreamExt;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: index_memory DATA_DIR")?,
    );
    let store = cuulong_store::open(&StoreConfig::Embedded {
        data_dir: dir.clone(),
    })
    .await?;
    println!("layer features fgb_bytes index_bytes ratio approx_bytes approx_ratio mapped_bytes");
    let mut indexes = Vec::new();
    for meta in store.layers().await? {
        let path = dir
            .join("layers")
            .join(format!("{}.v{}.fgb", meta.id, meta.version));
        let fgb = std::fs::metadata(&path)?.len();
        let before = LIVE.load(Ordering::Relaxed);
        let mapped = cuulong_store::mapped::MappedLayer::open(meta.clone(), &path)?;
        let mapped_bytes = LIVE.load(Ordering::Relaxed) - before;
        drop(mapped);
        let before = LIVE.load(Ordering::Relaxed);
        let features: Vec<_> = store.features(&meta.id).await?.try_collect().await?;
        let index = LayerIndex::build(meta, features);
        let bytes = LIVE.load(Ordering::Relaxed) - before;
        println!(
            "{} {} {fgb} {bytes} {:.2} {} {:.2} {mapped_bytes}",
            index.meta().id,
            index.len(),
            bytes as f64 / fgb as f64,
            index.approx_bytes(),
            index.approx_bytes() as f64 / fgb as f64,
        );
        // Kept alive so the next layer's figure is its own.
        indexes.push(index);
    }
    Ok(())
}
