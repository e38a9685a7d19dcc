//! The point query without HTTP: loads every layer of a store into the same indexes
//! `cuulong serve` builds and asks `point_hits` (the kernel behind `/query/point`) about
//! random points inside Bến Tre on one thread. benches/query_point_vs_postgis.sh sets it
//! against PostGIS executing its prepared query inside the server (no protocol either).
//!
//!   cargo run --release --example point_engine -- DATABASE_URL [QUERIES]
//!
//! With `PER_LAYER=1` it also prints the time per query of each layer alone.

use std::sync::Arc;
use std::time::Instant;

use cuulong_core::index::LayerIndex;
use cuulong_core::query::point_hits;
use cuulong_core::source::LayerSource;
use cuulong_store::StoreConfig;
use futures::TryStreamExt;

/// Uniform in [0, 1) from a fixed-seed xorshift, so runs ask the same points.
struct Points(u64);

impl Points {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: point_engine DATABASE_URL [QUERIES]")?;
    let queries: usize = args.next().map_or(Ok(200_000), |s| s.parse())?;
    let store = cuulong_store::open(&StoreConfig::Postgis { url }).await?;
    let mut layers: Vec<Arc<dyn LayerSource>> = Vec::new();
    for meta in store.layers().await? {
        let features: Vec<_> = store.features(&meta.id).await?.try_collect().await?;
        layers.push(Arc::new(LayerIndex::build(meta, features)));
    }
    let mut points = Points(0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    let mut hits = 0usize;
    for _ in 0..queries {
        let lon = 106.05 + points.next() * 0.7;
        let lat = 9.85 + points.next() * 0.45;
        hits += point_hits(&layers, lon, lat, 0.0).len();
    }
    let secs = started.elapsed().as_secs_f64();
    if std::env::var_os("PER_LAYER").is_some() {
        for l in &layers {
            let one = [l.clone()];
            let mut p = Points(0x9E37_79B9_7F4A_7C15);
            let t = Instant::now();
            for _ in 0..queries {
                let lon = 106.05 + p.next() * 0.7;
                let lat = 9.85 + p.next() * 0.45;
                std::hint::black_box(point_hits(&one, lon, lat, 0.0));
            }
            println!(
                "{} {:.2} us",
                l.meta().id,
                t.elapsed().as_secs_f64() * 1e6 / queries as f64
            );
        }
    }
    println!(
        "layers {} queries {queries} hits {hits} seconds {secs:.3} queries_per_s {:.0}",
        layers.len(),
        queries as f64 / secs
    );
    Ok(())
}
