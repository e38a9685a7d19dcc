//! OGC API – Tiles over real HTTP from a running `cuulong serve`: the tile matrix sets against
//! `morecantile` (the reference TMS implementation), the HTTP contract in every grid, map
//! tiles against WMS GetMap of the same frame, and VN-2000 vector tiles against PostGIS.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::*;
use cuulong_core::tms::{self, TileMatrixSet};
use geozero::mvt::{Message, Tile};

const GRIDS: [&str; 3] = ["WebMercatorQuad", "WorldCRS84Quad", "VN2000TM3BenTreQuad"];

fn json(server: &Server, path: &str) -> serde_json::Value {
    let (status, h, body) = server.get(path, &[]).unwrap();
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    assert!(
        header(&h, "content-type").is_some_and(|t| t.contains("json")),
        "{path}"
    );
    serde_json::from_slice(&body).unwrap()
}

/// The served grid, parsed by cuulong's own reader.
fn grid(server: &Server, id: &str) -> TileMatrixSet {
    let doc = json(server, &format!("/tileMatrixSets/{id}"));
    TileMatrixSet::from_json(&doc.to_string()).unwrap()
}

/// A tile of `layer` in `grid` near lon/lat at `level`: (row, col).
fn tile_near(server: &Server, layer: &str, grid: &str, level: usize) -> (u64, u64) {
    let doc = json(server, &format!("/collections/{layer}/tiles/{grid}"));
    let limits = doc["tileMatrixSetLimits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["tileMatrix"].as_str() == Some(level.to_string().as_str()))
        .unwrap_or_else(|| panic!("{grid}: no limits at level {level}: {doc}"))
        .clone();
    let mid = |a: &str, b: &str| (limits[a].as_u64().unwrap() + limits[b].as_u64().unwrap()) / 2;
    (
        mid("minTileRow", "maxTileRow"),
        mid("minTileCol", "maxTileCol"),
    )
}

#[test]
fn tile_matrix_sets_match_morecantile() {
    if !test_tools() {
        return;
    }
    let (_tmp, _store, server) = serve_samples(&[]);
    let list = json(&server, "/tileMatrixSets");
    let ids: Vec<&str> = list["tileMatrixSets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, GRIDS);
    let dir = tempfile::tempdir().unwrap();
    for id in GRIDS {
        let served = grid(&server, id);
        assert_eq!(
            served,
            tms::built_in().into_iter().find(|t| t.id == id).unwrap()
        );
        // Tiles to compare at every level: the corners of the matrix and one inside.
        let mut tiles = Vec::new();
        for (level, m) in served.tile_matrices.iter().enumerate() {
            for (row, col) in [
                (0, 0),
                (m.matrix_height - 1, m.matrix_width - 1),
                (m.matrix_height / 3, m.matrix_width * 2 / 3),
            ] {
                let t = served.tile(&m.id, row, col).unwrap();
                tiles.push(serde_json::json!({
                    "level": level, "row": row, "col": col, "bounds": served.bounds(t),
                }));
            }
        }
        let doc = dir.path().join(format!("{id}.json"));
        std::fs::write(&doc, serde_json::to_vec(&served).unwrap()).unwrap();
        let expect = dir.path().join(format!("{id}.tiles.json"));
        std::fs::write(&expect, serde_json::to_vec(&tiles).unwrap()).unwrap();
        let r = python_json(
            "morecantile",
            [
                "-c",
                r#"
import json, sys, morecantile
doc = json.load(open(sys.argv[1]))
tiles = json.load(open(sys.argv[2]))
ours = morecantile.TileMatrixSet.model_validate(doc)
problems = []
# The standard grids: every level as morecantile defines them.
if doc["id"] in ("WebMercatorQuad", "WorldCRS84Quad"):
    ref = morecantile.tms.get(doc["id"])
    if len(ref.tileMatrices) != len(ours.tileMatrices):
        problems.append(f"levels {len(ours.tileMatrices)} vs {len(ref.tileMatrices)}")
    for a, b in zip(ours.tileMatrices, ref.tileMatrices):
        for k in ("matrixWidth", "matrixHeight", "tileWidth", "tileHeight"):
            if getattr(a, k) != getattr(b, k):
                problems.append(f"level {a.id} {k}: {getattr(a, k)} vs {getattr(b, k)}")
        if abs(a.cellSize - b.cellSize) > 1e-9 * b.cellSize:
            problems.append(f"level {a.id} cellSize {a.cellSize} vs {b.cellSize}")
        if abs(a.scaleDenominator - b.scaleDenominator) > 1e-6 * b.scaleDenominator:
            problems.append(f"level {a.id} scaleDenominator {a.scaleDenominator} vs {b.scaleDenominator}")
        if any(abs(p - q) > 1e-6 for p, q in zip(a.pointOfOrigin, b.pointOfOrigin)):
            problems.append(f"level {a.id} pointOfOrigin {a.pointOfOrigin} vs {b.pointOfOrigin}")
# Every grid: the bounds of sample tiles at every level, as morecantile computes them.
worst = 0.0
for t in tiles:
    b = ours.xy_bounds(morecantile.Tile(x=t["col"], y=t["row"], z=t["level"]))
    d = max(abs(p - q) for p, q in zip(b, t["bounds"]))
    size = abs(b[2] - b[0])
    worst = max(worst, d / size)
    if d > 1e-6 * size:
        problems.append(f"tile {t}: morecantile {list(b)}")
print(json.dumps({"problems": problems[:10], "tiles": len(tiles), "worst": worst, "crs": str(ours.crs.to_epsg())}))
"#,
                doc.to_str().unwrap(),
                expect.to_str().unwrap(),
            ],
        );
        assert_eq!(r["problems"], serde_json::json!([]), "{id}: {r}");
        assert!(r["tiles"].as_u64().unwrap() >= 3 * 13, "{id}: {r}");
        eprintln!(
            "{id}: {} tiles agree with morecantile (worst {})",
            r["tiles"], r["worst"]
        );
    }
}

#[test]
fn tiles_in_every_grid_keep_the_tile_contract() {
    let (_tmp, _store, server) = serve_samples(&[]);
    let conformance = json(&server, "/conformance");
    for class in [
        "core",
        "tileset",
        "tilesets-list",
        "geodata-tilesets",
        "mvt",
        "png",
    ] {
        let uri = format!("http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/{class}");
        assert!(
            conformance["conformsTo"]
                .as_array()
                .unwrap()
                .contains(&uri.clone().into()),
            "{uri}"
        );
    }
    let landing = json(&server, "/");
    assert!(landing["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"));
    for kind in ["tiles", "map/tiles"] {
        let sets = json(&server, &format!("/collections/land_use/{kind}"));
        assert_eq!(
            sets["tilesets"].as_array().unwrap().len(),
            GRIDS.len(),
            "{kind}"
        );
        for id in GRIDS {
            let doc = json(&server, &format!("/collections/land_use/{kind}/{id}"));
            let item = doc["links"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["rel"] == "item")
                .unwrap();
            assert_eq!(item["templated"], true);
            let (row, col) = tile_near(&server, "land_use", id, 8);
            let path = item["href"]
                .as_str()
                .unwrap()
                .replace(&format!("http://127.0.0.1:{}", server.port), "")
                .replace("{tileMatrix}", "8")
                .replace("{tileRow}", &row.to_string())
                .replace("{tileCol}", &col.to_string());
            let (status, h, body) = server.get(&path, &[]).unwrap();
            assert_eq!(status, 200, "{path}");
            let etag = header(&h, "etag").unwrap().to_string();
            assert!(
                etag.contains(id) || id == "WebMercatorQuad",
                "{path}: {etag}"
            );
            let (again, _, _) = server.get(&path, &[("If-None-Match", &etag)]).unwrap();
            assert_eq!(again, 304, "{path}");
            if kind == "tiles" {
                assert_eq!(
                    header(&h, "content-type"),
                    Some("application/vnd.mapbox-vector-tile")
                );
                let tile = Tile::decode(&body[..]).unwrap();
                assert_eq!(tile.layers[0].name, "land_use");
                assert!(!tile.layers[0].features.is_empty(), "{path}");
            } else {
                assert_eq!(header(&h, "content-type"), Some("image/png"));
            }
        }
    }
    // WebMercatorQuad is the XYZ grid: the same bytes as /tiles (row is y, col is x).
    let (row, col) = tile_near(&server, "land_use", "WebMercatorQuad", 12);
    let (_, _, a) = server
        .get(
            &format!("/collections/land_use/tiles/WebMercatorQuad/12/{row}/{col}"),
            &[],
        )
        .unwrap();
    let (_, _, b) = server
        .get(&format!("/tiles/land_use/12/{col}/{row}.mvt"), &[])
        .unwrap();
    assert_eq!(a, b);
    // Inside the tileset's limits but without data (the corner of the layer's box): 204;
    // outside the limits (abstract test /conf/core/tc-error), outside the matrix, an unknown
    // grid or level: 404; bad numbers and formats: 400 — all JSON errors.
    let doc = json(&server, "/collections/land_use/tiles/VN2000TM3BenTreQuad");
    let l12 = doc["tileMatrixSetLimits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["tileMatrix"] == "12")
        .unwrap()
        .clone();
    let corner = format!(
        "/collections/land_use/tiles/VN2000TM3BenTreQuad/12/{}/{}",
        l12["minTileRow"], l12["minTileCol"]
    );
    assert_eq!(server.get(&corner, &[]).unwrap().0, 204, "{corner}");
    let below = format!(
        "/collections/land_use/tiles/VN2000TM3BenTreQuad/12/{}/{}",
        l12["maxTileRow"].as_u64().unwrap() + 1,
        l12["minTileCol"]
    );
    assert_eq!(server.get(&below, &[]).unwrap().0, 404, "{below}");
    let cases = [
        (
            "/collections/land_use/tiles/VN2000TM3BenTreQuad/12/0/0",
            404,
        ),
        (
            "/collections/land_use/tiles/VN2000TM3BenTreQuad/5/32/0",
            404,
        ),
        (
            "/collections/land_use/tiles/VN2000TM3BenTreQuad/13/0/0",
            404,
        ),
        ("/collections/land_use/tiles/Nowhere/5/0/0", 404),
        ("/collections/nowhere/tiles/WebMercatorQuad/5/0/0", 404),
        ("/collections/land_use/tiles/WorldCRS84Quad/5/-1/0", 400),
        (
            "/collections/land_use/tiles/WorldCRS84Quad/5/99999999999/0",
            400,
        ),
        (
            "/collections/land_use/tiles/WorldCRS84Quad/5/0/0?f=png",
            400,
        ),
        (
            "/collections/land_use/map/tiles/WorldCRS84Quad/5/0/0?f=gif",
            400,
        ),
        ("/tileMatrixSets/Nowhere", 404),
    ];
    for (path, want) in cases {
        let (status, h, body) = server.get(path, &[]).unwrap();
        assert_eq!(status, want, "{path}: {}", String::from_utf8_lossy(&body));
        if want >= 400 {
            let e: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert!(e["description"].as_str().is_some(), "{path}: {e}");
            assert!(header(&h, "content-type").unwrap().contains("json"));
        }
    }
    let (status, _, _) = server.get("/health", &[]).unwrap();
    assert_eq!(status, 200);
}

#[test]
fn map_tiles_are_what_wms_draws_for_the_same_frame() {
    let (_tmp, _store, server) = serve_samples(&[]);
    for id in GRIDS {
        let g = grid(&server, id);
        for level in [6usize, 9] {
            let (row, col) = tile_near(&server, "land_use", id, level);
            let t = g.tile(&g.tile_matrices[level].id, row, col).unwrap();
            let b = g.bounds(t);
            let (status, h, tile) = server
                .get(
                    &format!("/collections/land_use/map/tiles/{id}/{level}/{row}/{col}"),
                    &[],
                )
                .unwrap();
            assert_eq!(status, 200, "{id} {level}");
            assert_eq!(header(&h, "content-type"), Some("image/png"));
            let crs = match id {
                "WebMercatorQuad" => "EPSG:3857".to_string(),
                "WorldCRS84Quad" => "CRS:84".to_string(),
                _ => "EPSG:9210".to_string(),
            };
            let wms = format!(
                "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=land_use&STYLES=&CRS={crs}&BBOX={},{},{},{}&WIDTH=256&HEIGHT=256&FORMAT=image/png&TRANSPARENT=TRUE",
                b[0], b[1], b[2], b[3]
            );
            let (status, _, map) = server.get(&wms, &[]).unwrap();
            assert_eq!(status, 200, "{wms}");
            assert!(tile.len() > 1000, "{id} {level}: an empty-looking tile");
            assert_eq!(
                tile, map,
                "{id} level {level}: map tile differs from GetMap {wms}"
            );
        }
    }
}

#[test]
fn vn2000_vector_tiles_hold_what_postgis_finds_in_epsg_9210() {
    let Some(db) = TestDb::create("ogc_tiles") else {
        return;
    };
    let store = vec!["--database-url".to_string(), db.url.clone()];
    import_samples(&store);
    let server = Server::start(&store, &[]);
    let grid_id = "VN2000TM3BenTreQuad";
    let g = grid(&server, grid_id);
    let table =
        db.strings("SELECT table_name FROM cuulong.layers WHERE id = 'land_use'")[0].clone();
    let mut checked = 0;
    // Bến Tre town, Mỏ Cày and the Hàm Luông, in EPSG:9210 (cs2cs with the official
    // parameters): dense land use.
    let places = [
        (568_273.0, 1_132_466.0),
        (560_064.0, 1_128_027.0),
        (576_535.0, 1_111_468.0),
    ];
    for level in [5usize, 7] {
        let size = g.tile_matrices[level].cell_size * 256.0;
        for (e, n) in places {
            let col = ((e - 465_000.0) / size).floor() as u64;
            let row = ((1_180_000.0 - n) / size).floor() as u64;
            let t = g.tile(&g.tile_matrices[level].id, row, col).unwrap();
            let b = g.bounds(t);
            let path = format!("/collections/land_use/tiles/{grid_id}/{level}/{row}/{col}");
            let (status, _, body) = server.get(&path, &[]).unwrap();
            assert!(status == 200 || status == 204, "{path}: {status}");
            let got: BTreeSet<i64> = if status == 200 {
                Tile::decode(&body[..]).unwrap().layers[0]
                    .features
                    .iter()
                    .map(|f| f.id.unwrap() as i64)
                    .collect()
            } else {
                BTreeSet::new()
            };
            // The tile plus its 64/4096 buffer, in EPSG:9210, grown and shrunk by a metre for
            // the difference between PROJ's choice of VN-2000 ↔ WGS 84 operation and ours.
            let pad = (b[2] - b[0]) * 64.0 / 4096.0;
            // PostGIS 3.3 knows no EPSG:9210: the same CRS as PROJ text, with the official
            // VN-2000 → WGS 84 parameters.
            let env = |d: f64| {
                format!(
                    "ST_Transform(ST_Segmentize(ST_MakeEnvelope({}, {}, {}, {}), 10), '{TM3_10545} +towgs84={TOWGS84}', 4326)",
                    b[0] - pad - d,
                    b[1] - pad - d,
                    b[2] + pad + d,
                    b[3] + pad + d
                )
            };
            let ids = |d: f64| -> BTreeSet<i64> {
                db.strings(&format!(
                    "SELECT fid::text FROM cuulong_data.\"{table}\" WHERE ST_Intersects(geom, {})",
                    env(d)
                ))
                .into_iter()
                .map(|s| s.parse().unwrap())
                .collect()
            };
            let (inner, outer) = (ids(-1.0), ids(1.0));
            let extra: Vec<_> = got.difference(&outer).collect();
            let missing: Vec<_> = inner.difference(&got).collect();
            assert!(extra.is_empty(), "{path}: ids not in PostGIS: {extra:?}");
            assert!(
                missing.is_empty(),
                "{path}: ids PostGIS finds, missing: {missing:?}"
            );
            checked += got.len();
        }
    }
    assert!(checked > 200, "too few features compared ({checked})");

    // Where a feature lands: its extent in the tile equals PostGIS's ST_Transform to
    // EPSG:9210 (PROJ, official parameters) within a tile unit and a metre.
    let level = 5usize;
    let size = g.tile_matrices[level].cell_size * 256.0;
    let col = ((places[0].0 - 465_000.0) / size).floor() as u64;
    let row = ((1_180_000.0 - places[0].1) / size).floor() as u64;
    let t = g.tile(&g.tile_matrices[level].id, row, col).unwrap();
    let b = g.bounds(t);
    let path = format!("/collections/land_use/tiles/{grid_id}/{level}/{row}/{col}");
    let (_, _, body) = server.get(&path, &[]).unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &body).unwrap();
    let decoded = python_json(
        "mapbox-vector-tile",
        [
            "-c",
            r#"
import json, sys, mapbox_vector_tile
t = mapbox_vector_tile.decode(open(sys.argv[1], "rb").read(), default_options={"y_coord_down": True})
out = {}
for f in t["land_use"]["features"]:
    g = f["geometry"]
    rings = g["coordinates"] if g["type"] == "Polygon" else [r for p in g["coordinates"] for r in p]
    xs = [p[0] for r in rings for p in r]; ys = [p[1] for r in rings for p in r]
    out[str(f["id"])] = [min(xs), min(ys), max(xs), max(ys)]
print(json.dumps(out))
"#,
            file.path().to_str().unwrap(),
        ],
    );
    let unit = (b[2] - b[0]) / 4096.0;
    let mut compared = 0;
    for (id, ext) in decoded.as_object().unwrap() {
        let e: Vec<f64> = ext
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        // Only features wholly inside the tile (clipping moves the extent of the others).
        if e[0] <= 0.0 || e[1] <= 0.0 || e[2] >= 4096.0 || e[3] >= 4096.0 {
            continue;
        }
        let want = db.strings(&format!(
            "SELECT concat_ws(',', ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g)) FROM \
             (SELECT ST_Transform(geom, '{TM3_10545} +towgs84={TOWGS84}') g FROM cuulong_data.\"{table}\" WHERE fid = {id}) f"
        ));
        let w: Vec<f64> = want[0].split(',').map(|v| v.parse().unwrap()).collect();
        let ours = [
            b[0] + e[0] * unit,
            b[3] - e[3] * unit,
            b[0] + e[2] * unit,
            b[3] - e[1] * unit,
        ];
        for k in 0..4 {
            assert!(
                (ours[k] - w[k]).abs() <= unit + 1.0,
                "feature {id}: extent {ours:?} in the tile, PostGIS {w:?}"
            );
        }
        compared += 1;
    }
    assert!(
        compared > 20,
        "too few whole features compared ({compared})"
    );
}

#[test]
fn configured_grids_are_served_and_bad_ones_stop_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let store = vec![
        "--data-dir".to_string(),
        tmp.path().join("s").display().to_string(),
    ];
    import_samples(&store);
    // VN-2000 / UTM zone 48N (EPSG:3405): ten levels from 1 280 m a pixel.
    let mut utm = tms::vn2000_quad();
    utm.id = "VN2000UTM48NQuad".into();
    utm.title = "VN-2000 / UTM 48N".into();
    utm.crs = "http://www.opengis.net/def/crs/EPSG/0/3405".into();
    utm.tile_matrices.truncate(10);
    for (z, m) in utm.tile_matrices.iter_mut().enumerate() {
        m.point_of_origin = [400_000.0, 1_300_000.0];
        m.cell_size = 1280.0 / f64::from(1u32 << z);
        m.scale_denominator = m.cell_size / 0.00028;
    }
    let grids = tmp.path().join("grids");
    std::fs::create_dir(&grids).unwrap();
    std::fs::write(grids.join("utm48n.json"), serde_json::to_vec(&utm).unwrap()).unwrap();
    let dir = grids.display().to_string();
    let server = Server::start(&store, &["--tile-matrix-sets", &dir]);
    assert_eq!(grid(&server, "VN2000UTM48NQuad"), utm);
    let (row, col) = tile_near(&server, "land_use", "VN2000UTM48NQuad", 6);
    let (status, _, body) = server
        .get(
            &format!("/collections/land_use/tiles/VN2000UTM48NQuad/6/{row}/{col}"),
            &[],
        )
        .unwrap();
    assert_eq!(status, 200);
    assert!(!Tile::decode(&body[..]).unwrap().layers[0]
        .features
        .is_empty());
    let (status, _, caps) = server
        .get("/wmts?SERVICE=WMTS&REQUEST=GetCapabilities", &[])
        .unwrap();
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&caps).contains("urn:ogc:def:crs:EPSG::3405"));
    drop(server);

    // A grid in a CRS cuulong cannot reproject to: the start stops, naming file and problem.
    let mut lambert = utm.clone();
    lambert.id = "Lambert93".into();
    lambert.crs = "http://www.opengis.net/def/crs/EPSG/0/2154".into();
    std::fs::write(
        grids.join("zz_lambert.json"),
        serde_json::to_vec(&lambert).unwrap(),
    )
    .unwrap();
    let o = run(cuulong().args(&store).args([
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--no-snapshot",
        "--tile-matrix-sets",
        &dir,
    ]));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("zz_lambert.json") && err.contains("2154"),
        "{err}"
    );
}

#[test]
fn dataset_tiles_select_collections_in_every_grid() {
    let (_tmp, _store, server) = serve_samples(&[]);
    let sets = json(&server, "/tiles");
    assert_eq!(sets["tilesets"].as_array().unwrap().len(), GRIDS.len());
    let doc = json(
        &server,
        "/tiles/VN2000TM3BenTreQuad?collections=land_use,soil",
    );
    let ids: Vec<&str> = doc["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["land_use", "soil"]);
    let all = json(&server, "/tiles/VN2000TM3BenTreQuad");
    assert!(all["layers"].as_array().unwrap().len() >= 8, "{all}");
    // A tile inside the layers' limits, with one MVT layer per selected collection.
    let limits = doc["tileMatrixSetLimits"].as_array().unwrap();
    let l5 = limits.iter().find(|l| l["tileMatrix"] == "5").unwrap();
    let row = (l5["minTileRow"].as_u64().unwrap() + l5["maxTileRow"].as_u64().unwrap()) / 2;
    let col = (l5["minTileCol"].as_u64().unwrap() + l5["maxTileCol"].as_u64().unwrap()) / 2;
    let path = format!("/tiles/VN2000TM3BenTreQuad/5/{row}/{col}?collections=land_use,soil");
    let (status, _, body) = server.get(&path, &[]).unwrap();
    assert_eq!(status, 200, "{path}");
    let names: Vec<String> = Tile::decode(&body[..])
        .unwrap()
        .layers
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["land_use", "soil"], "{path}");
    let (status, _, _) = server
        .get(
            &format!("/tiles/VN2000TM3BenTreQuad/5/{row}/{col}?collections=nowhere"),
            &[],
        )
        .unwrap();
    assert_eq!(status, 404);
    // The dataset's map tile is the WMS map of the same layers and frame.
    let g = tms::world_crs84_quad();
    let (row, col) = tile_near(&server, "land_use", "WorldCRS84Quad", 9);
    let b = g.bounds(g.tile("9", row, col).unwrap());
    let (status, _, tile) = server
        .get(
            &format!(
                "/map/tiles/WorldCRS84Quad/9/{row}/{col}?collections=land_use,provincial_roads"
            ),
            &[],
        )
        .unwrap();
    assert_eq!(status, 200);
    let wms = format!(
        "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=land_use,provincial_roads&STYLES=&CRS=CRS:84&BBOX={},{},{},{}&WIDTH=256&HEIGHT=256&FORMAT=image/png&TRANSPARENT=TRUE",
        b[0], b[1], b[2], b[3]
    );
    let (_, _, map) = server.get(&wms, &[]).unwrap();
    assert_eq!(tile, map, "dataset map tile differs from {wms}");
    // XYZ tiles and TileJSON keep their paths beside the dataset's.
    let (status, h, _) = server.get("/tiles/land_use.json", &[]).unwrap();
    assert_eq!(status, 200);
    assert!(header(&h, "content-type").unwrap().contains("json"));
}

/// The checks of OGC's executable test suite for OGC API – Tiles 1.0 (ets-ogcapi-tiles10,
/// its TestNG classes, run here over HTTP because the suite needs a Java runtime), with the
/// abstract tests (20-057 Annex A) they implement.
#[test]
fn answers_what_the_ogc_tiles_test_suite_checks() {
    let (_tmp, _store, server) = serve_samples(&[]);
    let accept_json = [("Accept", "application/json")];
    let get_json = |url: &str| {
        let path = url
            .strip_prefix(&server.url(""))
            .map_or(url.to_owned(), |p| {
                format!("/{}", p.trim_start_matches('/'))
            });
        let (s, _, body) = server.get(&path, &accept_json).unwrap();
        assert_eq!(s, 200, "{url}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()
    };
    let path_of = |url: &str| {
        format!(
            "/{}",
            url.strip_prefix(&server.url(""))
                .unwrap_or(url)
                .trim_start_matches('/')
        )
    };
    // A.1 /conf/core/conformance-success (Conformance.validateConformanceOperationAndResponse).
    let conf = get_json("/conformance");
    let conforms: Vec<&str> = conf["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for class in [
        "core",
        "tileset",
        "tilesets-list",
        "dataset-tilesets",
        "geodata-tilesets",
        "collections-selection",
        "mvt",
        "png",
    ] {
        let uri = format!("http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/{class}");
        assert!(conforms.contains(&uri.as_str()), "{uri}");
    }
    // A.10 /conf/dataset-tilesets/landingpage (LandingPage.landingPageRetrieval), A.23 the
    // API definition link (ApiDefinition.apiDefinitionValidation).
    let landing = get_json("/");
    let links = landing["links"].as_array().unwrap();
    let tilesets_links: Vec<&serde_json::Value> = links
        .iter()
        .filter(|l| {
            l["rel"]
                .as_str()
                .unwrap()
                .starts_with("http://www.opengis.net/def/rel/ogc/1.0/tilesets-")
        })
        .collect();
    assert_eq!(tilesets_links.len(), 2, "{landing}");
    let service_desc = links.iter().find(|l| l["rel"] == "service-desc").unwrap();
    assert_eq!(
        service_desc["type"],
        "application/vnd.oai.openapi+json;version=3.0"
    );
    let (s, _, api) = server
        .get(
            &path_of(service_desc["href"].as_str().unwrap()),
            &[("Accept", "application/vnd.oai.openapi+json;version=3.0")],
        )
        .unwrap();
    assert_eq!(s, 200);
    let api: serde_json::Value = serde_json::from_slice(&api).unwrap();
    // A.24 operation ids, A.3–A.5 the tileMatrix (string), tileRow and tileCol (integer ≥ 0)
    // path parameters of every tile operation.
    let mut tile_operations = 0;
    for (path, item) in api["paths"].as_object().unwrap() {
        let Some(op) = item.get("get") else { continue };
        if !path.ends_with("/{tileMatrix}/{tileRow}/{tileCol}") {
            continue;
        }
        tile_operations += 1;
        assert!(
            op["operationId"].as_str().unwrap().ends_with(".getTile"),
            "{path}: {}",
            op["operationId"]
        );
        let param = |name: &str| {
            op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name && p["in"] == "path" && p["required"] == true)
                .unwrap_or_else(|| panic!("{path}: {name}"))
                .clone()
        };
        assert_eq!(param("tileMatrix")["schema"]["type"], "string", "{path}");
        for rc in ["tileRow", "tileCol"] {
            assert_eq!(param(rc)["schema"]["type"], "integer", "{path}");
            assert_eq!(param(rc)["schema"]["minimum"], 0, "{path}");
        }
    }
    assert_eq!(tile_operations, 4, "dataset and collection, vector and map");

    // A.2 / A.6 / A.7 from the landing page's tilesets (Tile.validateTilesAreAvailable,
    // validateSuccessfulTilesExecutionFollowingLinks, validateTilesErrorConditions) and from a
    // collection's (A.12 / A.13, GeospatialDataResource), with A.8 /conf/tilesets-list.
    let collections = get_json("/collections");
    let land_use = collections["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "land_use")
        .unwrap();
    let collection_links: Vec<&serde_json::Value> = land_use["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| {
            l["rel"]
                .as_str()
                .unwrap()
                .starts_with("http://www.opengis.net/def/rel/ogc/1.0/tilesets-")
        })
        .collect();
    assert_eq!(collection_links.len(), 2);
    let mut tiles_fetched = 0;
    for l in tilesets_links.iter().chain(&collection_links) {
        let href = l["href"].as_str().unwrap();
        assert!(href.ends_with("/tiles"), "{href}");
        let list = get_json(&path_of(href));
        let sets = list["tilesets"].as_array().unwrap();
        assert_eq!(sets.len(), 3, "{href}");
        for set in sets {
            assert!(set["tileMatrixSetId"].is_string(), "{set}");
            assert!(
                set["dataType"].is_string() && set["crs"].is_string(),
                "{set}"
            );
            let first = &set["tileMatrixSetLimits"][0];
            for k in ["tileMatrix", "maxTileRow", "minTileCol"] {
                assert!(!first[k].is_null(), "{href}: {k} in {set}");
            }
            let set_links = set["links"].as_array().unwrap();
            assert!(set_links
                .iter()
                .any(|k| k["rel"] == "self" && k["type"] == "application/json"));
            assert!(set_links
                .iter()
                .any(|k| k["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"));
            let template = set_links
                .iter()
                .map(|k| k["href"].as_str().unwrap())
                .find(|h| {
                    h.contains("{tileMatrix}") && h.contains("{tileRow}") && h.contains("{tileCol}")
                })
                .unwrap_or_else(|| panic!("no tile template in {set}"));
            let at = |row: u64, col: u64| {
                path_of(
                    &template
                        .replace("{tileMatrix}", first["tileMatrix"].as_str().unwrap())
                        .replace("{tileRow}", &row.to_string())
                        .replace("{tileCol}", &col.to_string()),
                )
            };
            let (max_row, min_col) = (
                first["maxTileRow"].as_u64().unwrap(),
                first["minTileCol"].as_u64().unwrap(),
            );
            let (s, _, _) = server.get(&at(max_row, min_col), &[]).unwrap();
            assert!(s == 200 || s == 204, "{}: {s}", at(max_row, min_col));
            for (row, col) in [(max_row + 1, min_col), (2_147_483_647, 2_147_483_647)] {
                let (s, _, _) = server.get(&at(row, col), &[]).unwrap();
                assert!(s == 404 || s == 400, "{}: {s}", at(row, col));
            }
            tiles_fetched += 1;
            // A.8 /conf/tileset/description: the full metadata behind `self`.
            let own = set_links.iter().find(|k| k["rel"] == "self").unwrap();
            let meta = get_json(&path_of(own["href"].as_str().unwrap()));
            let item = meta["links"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["rel"] == "item")
                .unwrap();
            assert_eq!(item["templated"], true);
            if set["tileMatrixSetId"] == "WebMercatorQuad" {
                assert_eq!(
                    meta["tileMatrixSetURI"],
                    "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
                );
            }
        }
    }
    assert_eq!(tiles_fetched, 12);
}
