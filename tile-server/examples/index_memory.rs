//! What the served index of each layer really holds on the heap (a counting allocator: live
//! bytes requested, no allocator overhead), beside the size of the layer's FlatGeobuf file —
//! the memory target (the index within 2× its FlatGeobuf) —, what `approx_bytes` (metrics, the
//! index budget) says of it, and what the same layer costs served mapped from its file. Used
//! by benches/memory.sh.
//!
//!   cargo run --release --example index_memory -- DATA_DIR

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use cuulong_core::index::LayerIndex;
use cuulong_core::source::LayerSource;
use cuulong_store::StoreConfig;
use futures::TryStreamExt;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

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
        let before = counting_alloc::live_bytes();
        let mapped = cuulong_store::mapped::MappedLayer::open(meta.clone(), &path)?;
        let mapped_bytes = counting_alloc::live_bytes() - before;
        drop(mapped);
        let before = counting_alloc::live_bytes();
        let features: Vec<_> = store.features(&meta.id).await?.try_collect().await?;
        let index = LayerIndex::build(meta, features);
        let bytes = counting_alloc::live_bytes() - before;
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
