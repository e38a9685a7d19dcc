//! Source equivalence: a layer served from the store per request (beyond the index budget) —
//! mapped from its FlatGeobuf file on the embedded store, read by spatial SQL on PostGIS —
//! answers every operation of the read floor as the in-memory index does — the same tiles
//! (bytes), drawing candidates (WMS), features in an envelope, point hits, pages of items and
//! summaries — on every sample layer and a synthetic cadastre; and a server with
//! `--index-memory-mb` serves its big layer that way through the same endpoints, with the same
//! answers, saying so in `/catalog` and `/metrics`.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use cuulong_core::index::LayerIndex;
use cuulong_core::interrupt::Interrupt;
use cuulong_core::source::{FeatureRef, LayerSource, Selection};
use cuulong_core::tile::{to_mercator, TileId};
use cuulong_core::Value;
use futures::TryStreamExt;
use geo_types::{polygon, Geometry, MultiPolygon};

/// What a layer beyond the budget is served from (`flatgeobuf`, `postgis`), and the store's
/// arguments.
type Store = (&'static str, Vec<String>);
/// A layer held in memory and served per request from the store.
type Pair = (LayerIndex, Arc<dyn LayerSource>);

/// The embedded store and PostGIS, each with the samples and 20 000 synthetic parcels
/// (scripts/make_parcels.py): (what a layer beyond the budget is served from, store args).
fn stores_with_parcels() -> (tempfile::TempDir, Option<TestDb>, Vec<Store>) {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDb::create("sources");
    let parcels = tmp.path().join("parcels.fgb");
    make_parcels(20_000, &parcels);
    let mut out = Vec::new();
    for (kind, store) in stores(db.as_ref(), &tmp.path().join("s")) {
        import_samples(&store);
        ok(run(cuulong().args(&store).args([
            "import",
            parcels.to_str().unwrap(),
            "--layer",
            "parcels",
            "--family",
            "land_use",
            "--quiet",
        ])));
        out.push((
            if kind == "embedded" {
                "flatgeobuf"
            } else {
                "postgis"
            },
            store,
        ));
    }
    (tmp, db, out)
}

/// Every layer of the store held both ways: (in-memory index, the store's per-request
/// source), with the runtime the per-request source reads through.
fn both_sources(store_args: &[String]) -> (tokio::runtime::Runtime, Vec<Pair>) {
    let config = match store_args[0].as_str() {
        "--data-dir" => cuulong_store::StoreConfig::Embedded {
            data_dir: PathBuf::from(&store_args[1]),
        },
        _ => cuulong_store::StoreConfig::Postgis {
            url: store_args[1].clone(),
        },
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sources = rt.block_on(async {
        let store = cuulong_store::open(&config).await.unwrap();
        let mut out = Vec::new();
        for meta in store.layers().await.unwrap() {
            let features: Vec<_> = store
                .features(&meta.id)
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            let source = store
                .open_source(&meta)
                .await
                .unwrap()
                .expect("both stores serve a layer per request");
            out.push((LayerIndex::build(meta, features), source));
        }
        out
    });
    (rt, sources)
}

fn key(f: &FeatureRef<'_>) -> (i64, Vec<Value>, Geometry<f64>) {
    (f.id, f.values.to_vec(), f.geometry.clone().into_owned())
}

fn center(g: &Geometry<f64>) -> (f64, f64) {
    use geo::BoundingRect;
    let r = g.bounding_rect().unwrap();
    ((r.min().x + r.max().x) / 2.0, (r.min().y + r.max().y) / 2.0)
}

fn tile_of(x: f64, y: f64, z: u8) -> TileId {
    use cuulong_core::tile::{tile_size, HALF_WORLD};
    let n = f64::from(1u32 << z);
    let size = tile_size(z);
    let tx = ((x + HALF_WORLD) / size).floor().clamp(0.0, n - 1.0) as u64;
    let ty = ((HALF_WORLD - y) / size).floor().clamp(0.0, n - 1.0) as u64;
    TileId::new(u64::from(z), tx, ty).unwrap()
}

#[test]
fn a_mapped_or_postgis_layer_answers_every_read_as_the_in_memory_index_does() {
    let (_tmp, _db, stores) = stores_with_parcels();
    assert_eq!(stores.len(), 2, "the embedded store and PostGIS");
    for (kind, store) in &stores {
        let (_rt, sources) = both_sources(store);
        let compared = compare(kind, &sources);
        // Enough was compared for the equalities to mean something.
        assert!(compared["tiles"] > 3000, "{kind}: {compared:?}");
        assert!(compared["summaries"] >= 5, "{kind}: {compared:?}");
    }
}

/// Compares every read of each (in-memory, per-request) pair; counts what was compared.
fn compare(
    kind: &str,
    sources: &[(LayerIndex, Arc<dyn LayerSource>)],
) -> BTreeMap<&'static str, usize> {
    assert!(
        sources.len() >= 10,
        "samples and parcels: {}",
        sources.len()
    );
    let never = Interrupt::never();
    let mut compared = BTreeMap::<&str, usize>::new();
    for (memory, mapped) in sources {
        let mapped: &dyn LayerSource = mapped.as_ref();
        let id = format!("{kind} {}", memory.meta().id);
        assert_eq!(memory.len(), mapped.len(), "{id}: feature count");
        assert_eq!(mapped.served_from(), kind);
        // What a per-request source holds is a few bytes a feature at most.
        assert!(
            mapped.approx_bytes() <= 32 * memory.len() + 4096,
            "{id}: served from the store {} B for {} features",
            mapped.approx_bytes(),
            memory.len()
        );
        assert!(
            memory.len() < 1000 || mapped.approx_bytes() * 10 < memory.approx_bytes(),
            "{id}: served from the store {} B, in memory {} B",
            mapped.approx_bytes(),
            memory.approx_bytes()
        );
        // Every feature, in the same (store) order, with the same values and geometry.
        let all_memory: Vec<_> = memory.features().map(|f| key(&f)).collect();
        let all_mapped: Vec<_> = mapped.features().map(|f| key(&f)).collect();
        assert!(all_memory == all_mapped, "{id}: features differ");
        // Probe points: the centres of up to 60 features spread through the layer.
        let step = (all_memory.len() / 60).max(1);
        let probes: Vec<(f64, f64)> = all_memory
            .iter()
            .step_by(step)
            .map(|(_, _, g)| center(g))
            .collect();
        for (fid, _, _) in all_memory.iter().step_by(step) {
            assert_eq!(
                memory.feature(*fid).map(|f| key(&f)),
                mapped.feature(*fid).map(|f| key(&f)),
                "{id}: feature {fid}"
            );
        }
        for &(x, y) in &probes {
            // Tiles at every band and above: the same MVT layer, feature for feature.
            for z in [4u8, 6, 8, 9, 10, 11, 12, 13, 14, 16] {
                let t = tile_of(x, y, z);
                assert!(memory.tile(t) == mapped.tile(t), "{id}: tile {t:?}");
                *compared.entry("tiles").or_default() += 1;
            }
            // What WMS draws for a 1 km and a 20 km frame.
            for (z, half) in [(15u8, 500.0), (11, 10_000.0)] {
                let b = [x - half, y - half, x + half, y + half];
                let a: Vec<_> = memory.candidates(z, b).iter().map(key).collect();
                let c: Vec<_> = mapped.candidates(z, b).iter().map(key).collect();
                assert!(a == c, "{id}: candidates at z{z} around ({x}, {y})");
            }
            // Point hits, inside and within 100 m.
            for radius in [0.0, 100.0] {
                let scale = (cuulong_core::tile::to_lonlat(x, y).1).to_radians().cos();
                let hits = |s: &dyn LayerSource| {
                    let mut out = Vec::new();
                    s.hits(x, y, radius, scale, &mut out);
                    let mut v: Vec<(i64, u64)> =
                        out.iter().map(|(d, f)| (f.id, d.to_bits())).collect();
                    v.sort_unstable();
                    v
                };
                assert_eq!(
                    hits(memory),
                    hits(mapped),
                    "{id}: hits at ({x}, {y}) r={radius}"
                );
                *compared.entry("hits").or_default() += 1;
            }
            // A page of the items in a 2 km box.
            let b = [x - 1000.0, y - 1000.0, x + 1000.0, y + 1000.0];
            let sel = Selection {
                envelope: Some(b),
                ..Default::default()
            };
            let page = |s: &dyn LayerSource, offset| {
                let p = s.select(&sel, offset, 7, &never).unwrap();
                (p.matched, p.features.iter().map(key).collect::<Vec<_>>())
            };
            assert!(
                page(memory, 0) == page(mapped, 0),
                "{id}: items near ({x}, {y})"
            );
            assert!(
                page(memory, 3) == page(mapped, 3),
                "{id}: items near ({x}, {y}), offset 3"
            );
            *compared.entry("pages").or_default() += 2;
        }
        // Pages without an envelope: plain, past the start, and with an equality and a
        // predicate (the ids in order are read through the id list on the mapped side).
        let first_text = memory
            .meta()
            .schema
            .fields
            .iter()
            .position(|f| matches!(f.kind, cuulong_core::FieldType::Text));
        let odd = |f: &FeatureRef<'_>| Ok(f.id % 2 == 1);
        let mut selections = vec![
            Selection::default(),
            Selection {
                predicate: Some(&odd),
                ..Default::default()
            },
        ];
        if let Some(field) = first_text {
            let value = all_memory[all_memory.len() / 2].1[field].clone();
            selections.push(Selection {
                equals: vec![(field, value)],
                ..Default::default()
            });
        }
        for sel in &selections {
            for offset in [0, 5, all_memory.len().saturating_sub(3)] {
                let a = memory.select(sel, offset, 10, &never).unwrap();
                let b = mapped.select(sel, offset, 10, &never).unwrap();
                assert_eq!(a.matched, b.matched, "{id}: matched");
                assert!(
                    a.features.iter().map(key).collect::<Vec<_>>()
                        == b.features.iter().map(key).collect::<Vec<_>>(),
                    "{id}: page from {offset}"
                );
            }
        }
        // A summary of a 3 km square at the layer's middle, by the first text field.
        let (cx, cy) =
            cuulong_core::tile::to_lonlat(probes[probes.len() / 2].0, probes[probes.len() / 2].1);
        let d = 0.015;
        let area = MultiPolygon(vec![polygon![
            (x: cx - d, y: cy - d), (x: cx + d, y: cy - d), (x: cx + d, y: cy + d),
            (x: cx - d, y: cy + d), (x: cx - d, y: cy - d)
        ]]);
        let a = memory.measure(&area, first_text, &never).unwrap();
        let b = mapped.measure(&area, first_text, &never).unwrap();
        match (a, b) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                assert_eq!(a.is_area, b.is_area);
                assert_eq!(
                    a.classes.keys().collect::<Vec<_>>(),
                    b.classes.keys().collect::<Vec<_>>(),
                    "{id}: summary classes"
                );
                for (class, (va, na)) in &a.classes {
                    let (vb, nb) = b.classes[class];
                    assert_eq!(*na, nb, "{id}: {class} count");
                    // The same parts summed in another order.
                    assert!(
                        (va - vb).abs() <= 1e-9 * va.abs().max(1.0),
                        "{id}: {class} {va} vs {vb}"
                    );
                }
                *compared.entry("summaries").or_default() += 1;
            }
            (a, b) => panic!("{id}: summary {:?} vs {:?}", a.is_some(), b.is_some()),
        }
    }
    compared
}

/// `cuulong_layer_source{layer="id",source="…"}` of a metrics page.
fn source_of(metrics: &str, layer: &str) -> Option<String> {
    let prefix = format!("cuulong_layer_source{{layer=\"{layer}\",source=\"");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
}

#[test]
fn a_layer_beyond_the_index_budget_is_served_from_the_store_with_the_same_answers() {
    let (_tmp, _db, stores) = stores_with_parcels();
    assert_eq!(stores.len(), 2, "the embedded store and PostGIS");
    for (kind, store) in &stores {
        beyond_the_budget(kind, store);
    }
}

/// A server whose budget the parcels do not fit against one holding every layer, same store.
fn beyond_the_budget(kind: &str, store: &[String]) {
    let store = store.to_vec();
    // The parcels (8 MB of FlatGeobuf, estimated 12 MB as an index) do not fit 10 MiB
    // whatever was loaded before them; every sample layer does (~5 MB all together).
    let budget = Server::start(&store, &["--index-memory-mb", "10", "--tile-cache-mb", "0"]);
    let whole = Server::start(&store, &["--tile-cache-mb", "0"]);
    let (_, _, m) = budget.get("/metrics", &[]).unwrap();
    let m = String::from_utf8(m).unwrap();
    assert_eq!(source_of(&m, "parcels").as_deref(), Some(kind), "{m}");
    assert_eq!(source_of(&m, "land_use").as_deref(), Some("memory"));
    let (_, _, m) = whole.get("/metrics", &[]).unwrap();
    assert_eq!(
        source_of(&String::from_utf8(m).unwrap(), "parcels").as_deref(),
        Some("memory")
    );
    let (status, catalog) = get_json_as(&budget, "/catalog?f=json", None);
    assert_eq!(status, 200);
    let served = |id: &str| {
        catalog["dataset"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["identifier"] == id)
            .unwrap()["servedFrom"]
            .clone()
    };
    assert_eq!(served("parcels"), kind);
    assert_eq!(served("soil"), "memory");

    // The same bytes from both servers: tiles at z12–z16, items, point queries, a WMS map,
    // a summary — around the first parcel.
    let (_, _, first) = budget
        .get("/collections/parcels/items?limit=3&f=json", &[])
        .unwrap();
    let first: serde_json::Value = serde_json::from_slice(&first).unwrap();
    // The first vertex of the first parcel (a Polygon or a MultiPolygon).
    let mut vertex = &first["features"][0]["geometry"]["coordinates"];
    while vertex[0].is_array() {
        vertex = &vertex[0];
    }
    let [lon, lat] = [0, 1].map(|i| vertex[i].as_f64().unwrap());
    let (x, y) = to_mercator(lon, lat);
    let mut paths = Vec::new();
    for z in [12u8, 13, 14, 15, 16] {
        for (dx, dy) in [(0.0, 0.0), (300.0, -200.0), (-400.0, 150.0)] {
            let t = tile_of(x + dx, y + dy, z);
            paths.push(format!("/tiles/parcels/{}/{}/{}.mvt", t.z, t.x, t.y));
        }
    }
    let (w, s, e, n) = (lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01);
    paths.extend([
        "/collections/parcels/items?limit=5&offset=1000&f=json".to_string(),
        format!("/collections/parcels/items?limit=5&bbox={w},{s},{e},{n}&f=json"),
        format!("/query/point?lon={lon}&lat={lat}&layers=parcels&radius_m=50"),
        format!("/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=parcels&STYLES=&CRS=EPSG:4326&BBOX={s},{w},{n},{e}&WIDTH=256&HEIGHT=256&FORMAT=image/png"),
    ]);
    let mut non_empty = 0;
    for p in &paths {
        let (sa, _, a) = budget.get(p, &[]).unwrap();
        let (sb, _, b) = whole.get(p, &[]).unwrap();
        assert_eq!(sa, 200, "{p}: {}", String::from_utf8_lossy(&a));
        assert_eq!(sb, 200, "{p}: {}", String::from_utf8_lossy(&b));
        // Links name each server's own address (replaced whole: a bare port number can
        // also be digits of a coordinate); a JSON answer says when it was made.
        let same = |body: &[u8], port: u16| -> Vec<u8> {
            let text = String::from_utf8_lossy(body).replace(&format!("127.0.0.1:{port}"), "HOST");
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(mut v) => {
                    if let Some(o) = v.as_object_mut() {
                        o.remove("timeStamp");
                    }
                    v.to_string().into_bytes()
                }
                Err(_) => body.to_vec(),
            }
        };
        let (a_same, b_same) = (same(&a, budget.port), same(&b, whole.port));
        if a_same != b_same {
            let at = a_same
                .iter()
                .zip(&b_same)
                .take_while(|(x, y)| x == y)
                .count();
            let around = |v: &[u8]| {
                String::from_utf8_lossy(&v[at.saturating_sub(80)..(at + 80).min(v.len())])
                    .into_owned()
            };
            panic!(
                "{kind}: {p}: the layer served from the store answers differently from byte {at}:\n  store:  {}\n  memory: {}",
                around(&a_same),
                around(&b_same)
            );
        }
        non_empty += usize::from(a.len() > 100);
    }
    assert_eq!(non_empty, paths.len(), "every answer carries parcels");

    // A re-import while serving mapped: the new version is served (mapped again); the old
    // file, removed by the store, is never read again.
    let before = layer_entry(&store, "parcels")["version"].as_i64().unwrap();
    let again = std::env::temp_dir().join(format!("cuulong-parcels-{}.fgb", std::process::id()));
    let o = std::process::Command::new("/usr/bin/python3")
        .arg(root().join("scripts/make_parcels.py"))
        .args(["5000"])
        .arg(&again)
        .args(["--seed", "7"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    ok(run(cuulong().args(&store).args([
        "import",
        again.to_str().unwrap(),
        "--layer",
        "parcels",
        "--family",
        "land_use",
        "--quiet",
    ])));
    let _ = std::fs::remove_file(&again);
    let mut n = 0;
    loop {
        let (_, _, m) = budget.get("/metrics", &[]).unwrap();
        let m = String::from_utf8(m).unwrap();
        if metric(&m, "cuulong_layer_version{layer=\"parcels\"}") == Some((before + 1) as f64) {
            assert_eq!(
                metric(&m, "cuulong_layer_features{layer=\"parcels\"}"),
                Some(5000.0)
            );
            break;
        }
        n += 1;
        assert!(n < 600, "the re-imported parcels were not served");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (s, _, _) = budget.get(&paths[0], &[]).unwrap();
    assert_eq!(s, 200);
}

/// A per-request read of a layer served from PostGIS ends with the request: a tile asked
/// while another session holds a lock on the layer's table gets an answer, and PostgreSQL
/// ends the server's blocked statement (`statement_timeout` at the request timeout) instead
/// of leaving it waiting on the lock; once the lock goes the layer serves again.
#[test]
fn a_postgis_layer_read_blocked_in_the_database_ends_with_the_request() {
    let Some(db) = TestDb::create("pg_read_bound") else {
        return;
    };
    let store = vec!["--database-url".to_string(), db.url.clone()];
    import_samples(&store);
    // Every sample layer beyond a 1 MiB budget but the smallest: land use is read per request.
    let server = Server::start(
        &store,
        &[
            "--index-memory-mb",
            "1",
            "--tile-cache-mb",
            "0",
            "--request-timeout-s",
            "2",
        ],
    );
    let (_, _, m) = server.get("/metrics", &[]).unwrap();
    assert_eq!(
        source_of(&String::from_utf8(m).unwrap(), "land_use").as_deref(),
        Some("postgis")
    );
    let (z, x, y) = tile_at(106.38, 10.24, 13);
    let tile = format!("/tiles/land_use/{z}/{x}/{y}.mvt");
    let (status, _, before) = server.get(&tile, &[]).unwrap();
    assert_eq!(status, 200, "the tile before the lock");
    assert!(!before.is_empty());

    let table = db.strings("SELECT table_name FROM cuulong.layers WHERE id = 'land_use'");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut holder = rt.block_on(db.connect());
    rt.block_on(async {
        sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
        sqlx::query(&format!(
            "LOCK TABLE cuulong_data.\"{}\" IN ACCESS EXCLUSIVE MODE",
            table[0]
        ))
        .execute(&mut holder)
        .await
        .unwrap();
    });
    // Answered (by the timeout, or empty after the cancelled read), not left hanging.
    let (status, _, body) = server.get(&tile, &[]).unwrap();
    assert_ne!(
        (status, body.as_slice()),
        (200, before.as_slice()),
        "a read through an exclusive lock"
    );
    // No statement of the server's is left waiting on the lock (without the bound it waits
    // as long as the lock is held).
    let waiting = || {
        db.scalar_i64(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
    };
    let mut left = waiting();
    for _ in 0..300 {
        if left == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        left = waiting();
    }
    assert_eq!(left, 0, "the server's read is still waiting on the lock");
    rt.block_on(async { sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap() });
    let (status, _, after) = server.get(&tile, &[]).unwrap();
    assert_eq!(status, 200, "the tile after the lock");
    assert_eq!(after, before);
}
