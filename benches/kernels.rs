//! Criterion benches of the kernels behind the server, on synthetic Bến Tre-like data built
//! here (deterministic): 50 000 land-use parcels of 5–9 vertices over the province and one
//! river polygon of 4 000 vertices.
//!
//!   cargo bench -p cuulong-core --bench kernels
//!
//! Side-by-side runs against the peers are the scripts beside this file.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use cuulong_core::containment::RingBands;
use cuulong_core::feature::{Field, FieldType, Schema};
use cuulong_core::index::LayerIndex;
use cuulong_core::layer::{LayerId, LayerMeta};
use cuulong_core::query::point_hits;
use cuulong_core::render::{render, DrawLayer, MapRequest, MercatorView};
use cuulong_core::source::LayerSource;
use cuulong_core::style::Style;
use cuulong_core::tile::{tile_size, to_lonlat, to_mercator, TileId, HALF_WORLD};
use cuulong_core::{Feature, Value};
use geo::coordinate_position::coord_pos_relative_to_ring;
use geo_types::{Coord, Geometry, LineString, Polygon};

/// Bến Tre's bounding box, lon/lat.
const WEST: f64 = 106.05;
const SOUTH: f64 = 9.85;
const EAST: f64 = 106.75;
const NORTH: f64 = 10.30;

/// Uniform in [0, 1) from a fixed-seed xorshift.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn point(&mut self) -> (f64, f64) {
        (
            WEST + self.next() * (EAST - WEST),
            SOUTH + self.next() * (NORTH - SOUTH),
        )
    }
}

fn meta(id: &str, fields: Vec<Field>, geometry_type: &str, count: i64) -> LayerMeta {
    let id = LayerId::parse(id).expect("a valid layer id");
    LayerMeta {
        feature_count: count,
        ..LayerMeta::new(id, geometry_type, Schema::new(fields))
    }
}

/// A star-shaped ring of `n` vertices with jagged radii (degrees) around (cx, cy).
fn jagged_ring(rng: &mut Rng, n: usize, cx: f64, cy: f64, r: f64) -> LineString<f64> {
    let mut pts: Vec<(f64, f64)> = (0..n)
        .map(|k| {
            let a = k as f64 / n as f64 * std::f64::consts::TAU;
            let jag = r * (0.6 + 0.4 * rng.next());
            (cx + jag * a.cos(), cy + jag * a.sin())
        })
        .collect();
    pts.push(pts[0]);
    LineString::from(pts)
}

/// 50 000 parcels of 5–9 vertices on a jittered grid over the province, with land-use codes.
fn parcels() -> LayerIndex {
    const CODES: [&str; 8] = ["LUC", "LUK", "CLN", "HNK", "NTS", "ONT", "ODT", "SON"];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (cols, rows) = (250, 200);
    let (dx, dy) = ((EAST - WEST) / cols as f64, (NORTH - SOUTH) / rows as f64);
    let mut features = Vec::with_capacity(cols * rows);
    for i in 0..cols {
        for j in 0..rows {
            let n = 5 + (rng.next() * 5.0) as usize;
            let cx = WEST + (i as f64 + 0.5) * dx;
            let cy = SOUTH + (j as f64 + 0.5) * dy;
            let ring = jagged_ring(&mut rng, n, cx, cy, dx.min(dy) * 0.5);
            let code = CODES[(rng.next() * CODES.len() as f64) as usize];
            features.push(Feature {
                id: features.len() as i64 + 1,
                geometry: Geometry::Polygon(Polygon::new(ring, vec![])),
                values: vec![Value::Text(code.into())],
            });
        }
    }
    let count = features.len() as i64;
    LayerIndex::build(
        meta(
            "land_use",
            vec![Field::new("lu_code", FieldType::Text)],
            "Polygon",
            count,
        ),
        features,
    )
}

/// The dense layer of issue 18: 200 000 squares of 240 m on a 300 m grid (500 × 400 cells,
/// 150 km × 120 km around Bến Tre, in EPSG:3857 metres), so a cell is ~2 px wide at z10 and
/// ~4 px at z11: every one must be drawn, filled and outlined.
fn dense_grid() -> LayerIndex {
    const PITCH: f64 = 300.0;
    const SIDE: f64 = 240.0;
    let (cx, cy) = to_mercator(106.40, 10.075);
    let (x0, y0) = (cx - 250.0 * PITCH, cy - 200.0 * PITCH);
    let mut features = Vec::with_capacity(200_000);
    for i in 0..500 {
        for j in 0..400 {
            let (mx, my) = (x0 + f64::from(i) * PITCH, y0 + f64::from(j) * PITCH);
            let corners = [
                (mx, my),
                (mx + SIDE, my),
                (mx + SIDE, my + SIDE),
                (mx, my + SIDE),
            ];
            let mut ring: Vec<(f64, f64)> = corners.iter().map(|&(x, y)| to_lonlat(x, y)).collect();
            ring.push(ring[0]);
            features.push(Feature {
                id: features.len() as i64 + 1,
                geometry: Geometry::Polygon(Polygon::new(LineString::from(ring), vec![])),
                values: vec![],
            });
        }
    }
    LayerIndex::build(meta("dense_grid", vec![], "Polygon", 200_000), features)
}

/// One river polygon of 4 000 vertices across the province.
fn river_ring() -> LineString<f64> {
    let mut rng = Rng(7);
    jagged_ring(&mut rng, 4000, 106.40, 10.07, 0.3)
}

fn bench_point_in_polygon(c: &mut Criterion) {
    let ring = river_ring();
    let bands = RingBands::build(&ring).expect("a ring this large gets bands");
    let mut rng = Rng(11);
    let probes: Vec<Coord<f64>> = (0..1024)
        .map(|_| {
            let (x, y) = rng.point();
            Coord { x, y }
        })
        .collect();
    let mut g = c.benchmark_group("point_in_ring_4000");
    g.bench_function("banded", |b| {
        let mut k = 0;
        b.iter(|| {
            k = (k + 1) % probes.len();
            black_box(bands.position(&ring, probes[k]))
        })
    });
    g.bench_function("geo_winding", |b| {
        let mut k = 0;
        b.iter(|| {
            k = (k + 1) % probes.len();
            black_box(coord_pos_relative_to_ring(probes[k], &ring))
        })
    });
    g.finish();
}

fn bench_point_hits(c: &mut Criterion) {
    let river = LayerIndex::build(
        meta("water_areas", vec![], "Polygon", 1),
        vec![Feature {
            id: 1,
            geometry: Geometry::Polygon(Polygon::new(river_ring(), vec![])),
            values: vec![],
        }],
    );
    let layers: Vec<Arc<dyn LayerSource>> = vec![Arc::new(parcels()), Arc::new(river)];
    let mut rng = Rng(13);
    c.bench_function("point_hits_50k_parcels_and_river", |b| {
        b.iter(|| {
            let (lon, lat) = rng.point();
            black_box(point_hits(&layers, lon, lat, 0.0).len())
        })
    });
}

/// The tile at zoom `z` holding lon/lat.
fn tile_at(z: u8, lon: f64, lat: f64) -> TileId {
    let (x, y) = to_mercator(lon, lat);
    let size = tile_size(z);
    TileId::new(
        u64::from(z),
        ((x + HALF_WORLD) / size) as u64,
        ((HALF_WORLD - y) / size) as u64,
    )
    .expect("a tile inside the world")
}

fn bench_tiles_and_maps(c: &mut Criterion) {
    let layer = parcels();
    let mut g = c.benchmark_group("mvt_land_use_50k");
    for z in [10u8, 12, 14] {
        let tile = tile_at(z, 106.38, 10.24);
        g.bench_function(format!("z{z}"), |b| b.iter(|| black_box(layer.tile(tile))));
    }
    g.finish();

    let style = Style::parse("land_use", include_str!("../styles/land_use.json"))
        .expect("the land-use style compiles");
    let mut g = c.benchmark_group("render_land_use_50k");
    for z in [10u8, 12, 14] {
        let bounds = tile_at(z, 106.38, 10.24).bounds();
        let view = MercatorView {
            bbox: bounds,
            width: 256,
            height: 256,
        };
        let request = MapRequest {
            width: 256,
            height: 256,
            bounds,
            metres_per_pixel: (bounds[2] - bounds[0]) / 256.0,
            projector: &view,
            background: None,
        };
        let draw = [DrawLayer {
            source: &layer,
            style_layers: style.layers_for("land_use").collect(),
        }];
        g.bench_function(format!("pixmap_256_z{z}"), |b| {
            b.iter(|| black_box(render(&request, &draw)))
        });
    }
    g.finish();
}

/// A map request of `width`×`height` centred on lon/lat at (256-pixel) tile zoom `z`.
fn view_at(z: u8, lon: f64, lat: f64, width: u32, height: u32) -> MercatorView {
    let (x, y) = to_mercator(lon, lat);
    let mpp = tile_size(z) / 256.0;
    let (hw, hh) = (f64::from(width) * mpp / 2.0, f64::from(height) * mpp / 2.0);
    MercatorView {
        bbox: [x - hw, y - hh, x + hw, y + hh],
        width,
        height,
    }
}

/// Map images of dense layers (issue 18): the 200 000-square grid with the generic style (fill
/// and outline) at 256×256 z10–z12 and 1024×768, and the parcels at 1024×768.
fn bench_dense_maps(c: &mut Criterion) {
    let grid = dense_grid();
    let parcels = parcels();
    let generic = include_str!("../styles/generic.json").replace("{{layer}}", "dense_grid");
    let generic = Style::parse("generic", &generic).expect("the generic style compiles");
    let land_use = Style::parse("land_use", include_str!("../styles/land_use.json"))
        .expect("the land-use style compiles");
    let mut g = c.benchmark_group("render_dense");
    g.sample_size(20);
    let scenes: [(&str, &LayerIndex, &Style, &str, u8, u32, u32); 6] = [
        ("grid_256_z10", &grid, &generic, "dense_grid", 10, 256, 256),
        ("grid_256_z11", &grid, &generic, "dense_grid", 11, 256, 256),
        ("grid_256_z12", &grid, &generic, "dense_grid", 12, 256, 256),
        (
            "grid_1024_z12",
            &grid,
            &generic,
            "dense_grid",
            12,
            1024,
            768,
        ),
        (
            "parcels_1024_z11",
            &parcels,
            &land_use,
            "land_use",
            11,
            1024,
            768,
        ),
        (
            "parcels_1024_z13",
            &parcels,
            &land_use,
            "land_use",
            13,
            1024,
            768,
        ),
    ];
    for (name, layer, style, source_layer, z, width, height) in scenes {
        let view = view_at(z, 106.38, 10.10, width, height);
        let request = MapRequest {
            width,
            height,
            bounds: view.bbox,
            metres_per_pixel: (view.bbox[2] - view.bbox[0]) / f64::from(width),
            projector: &view,
            background: cuulong_core::style::Rgba::parse("#FFFFFF"),
        };
        let draw = [DrawLayer {
            source: layer,
            style_layers: style.layers_for(source_layer).collect(),
        }];
        g.bench_function(name, |b| b.iter(|| black_box(render(&request, &draw))));
    }
    g.finish();
}

criterion_group!(
    kernels,
    bench_point_in_polygon,
    bench_point_hits,
    bench_tiles_and_maps,
    bench_dense_maps
);
criterion_main!(kernels);
