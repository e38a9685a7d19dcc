//! Administrative units in time, on PostGIS: the real 2025 lineage of former Bến Tre imported
//! over the 2009 communes, its derived boundaries against PostGIS `ST_Union`, inconsistent
//! tables refused with nothing written, and the lineage and old-address endpoints over HTTP.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use geozero::mvt::Message;

fn lineage_csv() -> std::path::PathBuf {
    samples().join("admin/bentre_2025_lineage.csv")
}

/// The sample layers (2009 communes and districts among them) in `store`.
fn import_admin(store: &[String]) {
    import_samples(store);
}

fn version(store: &[String], id: &str) -> i64 {
    layer_entry(store, id)["version"].as_i64().unwrap()
}

#[test]
fn the_2025_lineage_derives_communes_that_postgis_unions_agree_with() {
    let Some(db) = TestDb::create("admin_lineage") else {
        return;
    };
    let store = vec!["--database-url".to_string(), db.url.clone()];
    import_admin(&store);
    let before = version(&store, "admin_communes");
    let o = ok(run(cuulong()
        .args(&store)
        .args(["admin", "import-lineage"])
        .arg(lineage_csv())
        .args(["--parent-code", "86"])));
    let out = stdout(&o);
    assert!(
        out.contains("48 events into admin_communes (48 merge); 44 boundaries derived, 4 partial"),
        "{out}"
    );
    // The four old units created after 2009 are named as gaps, with the new unit each feeds.
    for gap in [
        "28777 'Phường An Hội'",
        "28945 'Xã Bình Khánh'",
        "29137 'Xã Phước Ngãi'",
        "29179 'Thị trấn Tiệm Tôm'",
    ] {
        assert!(out.contains(gap), "{gap} not reported: {out}");
    }
    let v = version(&store, "admin_communes");
    assert_eq!(v, before + 1);
    let table = format!("cuulong_data.\"l_admin_communes_v{v}\"");
    // 164 units of 2009 + 48 of 2025.
    assert_eq!(db.scalar_i64(&format!("SELECT count(*) FROM {table}")), 212);
    assert_eq!(
        db.scalar_i64(&format!(
            "SELECT count(*) FROM {table} WHERE valid_from = '2025-07-01' AND valid_to IS NULL"
        )),
        48
    );
    // Every old unit of the table ends on the eve, and names its successor.
    assert_eq!(
        db.scalar_i64(&format!(
            "SELECT count(*) FROM {table} WHERE successors IS NOT NULL AND valid_to = '2025-06-30'"
        )),
        144
    );

    // Each derived boundary is the union PostGIS computes from the same predecessors:
    // geodesic areas within 0.01 %.
    let mut rows = std::collections::BTreeMap::<String, Vec<String>>::new();
    let text = std::fs::read_to_string(lineage_csv()).unwrap();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        rows.entry(cols[0].to_owned())
            .or_default()
            .push(cols[3].to_owned());
    }
    let mut compared = 0;
    let mut worst = 0.0f64;
    for (new, olds) in &rows {
        let status = db.strings(&format!(
            "SELECT status FROM {table} WHERE code = '{new}' AND valid_from = '2025-07-01'"
        ));
        if status != ["derived"] {
            assert_eq!(status, ["partial"], "{new}");
            continue;
        }
        let list = olds
            .iter()
            .map(|c| format!("'{c}'"))
            .collect::<Vec<_>>()
            .join(",");
        let areas = db.strings(&format!(
            "SELECT (SELECT ST_Area(geom::geography) FROM {table} WHERE code = '{new}' AND valid_from = '2025-07-01')::text || ' ' || \
                    (SELECT ST_Area(ST_Union(geom)::geography) FROM {table} WHERE code IN ({list}) AND valid_to = '2025-06-30')::text"
        ));
        let (ours, postgis) = areas[0].split_once(' ').unwrap();
        let (ours, postgis): (f64, f64) = (ours.parse().unwrap(), postgis.parse().unwrap());
        assert!(postgis > 1e6, "{new}: {postgis} m²");
        assert!(
            ((ours - postgis) / postgis).abs() < 1e-4,
            "{new}: {ours} vs ST_Union {postgis}"
        );
        worst = worst.max(((ours - postgis) / postgis).abs());
        // One piece where PostGIS has one: no slivers left between the parts.
        let parts = db.scalar_i64(&format!(
            "SELECT ((SELECT ST_NumGeometries(geom) FROM {table} WHERE code = '{new}' AND valid_from = '2025-07-01') - \
                    (SELECT ST_NumGeometries(ST_Union(geom)) FROM {table} WHERE code IN ({list}) AND valid_to = '2025-06-30'))::bigint"
        ));
        assert_eq!(parts, 0, "{new}: piece count differs from ST_Union");
        compared += 1;
    }
    assert_eq!(compared, 44);
    eprintln!(
        "44 derived communes: largest area difference to ST_Union {:.2e}",
        worst
    );

    // Imported again (say, corrected): the derived units are made again, not doubled.
    ok(run(cuulong()
        .args(&store)
        .args(["admin", "import-lineage"])
        .arg(lineage_csv())
        .args(["--parent-code", "86"])));
    let v2 = version(&store, "admin_communes");
    assert_eq!(
        db.scalar_i64(&format!(
            "SELECT count(*) FROM cuulong_data.\"l_admin_communes_v{v2}\""
        )),
        212
    );
}

#[test]
fn inconsistent_lineage_tables_are_refused_and_nothing_is_written() {
    let Some(db) = TestDb::create("admin_lineage_bad") else {
        return;
    };
    let store = vec!["--database-url".to_string(), db.url.clone()];
    import_admin(&store);
    let before = version(&store, "admin_communes");
    let tmp = tempfile::tempdir().unwrap();
    let header =
        "new_code,new_name,new_kind,old_code,old_name,old_district,resolution,article,effective\n";
    let cases = [
        // A bad date and a code that is no code.
        ("28810,Xã Phú Túc,xa,28810,Thị trấn Châu Thành,,1687/NQ-UBTVQH15,k59,1/7/2025\n28810,Xã Phú Túc,xa,2880x,Xã Tân Thạch,,1687/NQ-UBTVQH15,k59,2025-07-01\n",
         vec!["line 2: effective '1/7/2025' is not a date", "line 3: old_code '2880x' is not a GSO code"]),
        // The same pair twice; one new code under two names.
        ("28810,Xã Phú Túc,xa,28810,Thị trấn Châu Thành,,R,k,2025-07-01\n28810,Xã Phú Túc,xa,28810,Thị trấn Châu Thành,,R,k,2025-07-01\n28810,Xã Khác,xa,28804,Xã Tân Thạch,,R,k,2025-07-01\n",
         vec!["line 3: old 28810 → new 28810 on 2025-07-01 repeats line 2", "line 4: new unit 28810 on 2025-07-01 is 'Xã Khác' here but 'Xã Phú Túc' on line 2"]),
        // A 2009 unit that the samples end on 2025-06-30 cannot be merged in 2026.
        ("99999,Xã Mới,xa,28804,Xã Tân Thạch,,R,k,2026-01-01\n",
         vec!["line 2: old unit 28804 'Xã Tân Thạch' is not valid on 2025-12-31"]),
        // A code still held by a unit nobody ends (before 2025, Phú Túc has 28819).
        ("28819,Xã Trùng,xa,28804,Xã Tân Thạch,,R,k,2024-01-01\n",
         vec!["line 2: new unit 28819 'Xã Trùng' cannot begin on 2024-01-01: code 28819 is still 'Xã Phú Túc' then"]),
        // Made and ended the same day.
        ("99990,Xã X,xa,28804,Xã Tân Thạch,,R,k,2025-07-01\n99991,Xã Y,xa,99990,Xã X,,R,k,2025-07-01\n",
         vec!["line 3: unit 99990 'Xã X' would begin and end on 2025-07-01 (made on line 2): the lineage runs in a cycle"]),
    ];
    for (n, (body, messages)) in cases.iter().enumerate() {
        let file = tmp.path().join(format!("bad{n}.csv"));
        std::fs::write(&file, format!("{header}{body}")).unwrap();
        let o = run(cuulong()
            .args(&store)
            .args(["admin", "import-lineage"])
            .arg(&file));
        assert!(!o.status.success(), "case {n} was accepted");
        let err = stderr(&o);
        assert!(
            err.contains(&format!("bad{n}.csv: the lineage table is inconsistent")),
            "{err}"
        );
        assert!(err.contains("nothing written"), "{err}");
        for m in messages {
            assert!(err.contains(m), "case {n}: '{m}' not in {err}");
        }
        assert_eq!(
            version(&store, "admin_communes"),
            before,
            "case {n} wrote a version"
        );
    }
}

#[test]
fn lineage_and_old_addresses_answer_over_http() {
    let Some(db) = TestDb::create("admin_http") else {
        return;
    };
    let store = vec!["--database-url".to_string(), db.url.clone()];
    import_admin(&store);
    ok(run(cuulong()
        .args(&store)
        .args(["admin", "import-lineage"])
        .arg(lineage_csv())
        .args(["--parent-code", "86"])));
    let server = Server::start(&store, &[]);
    let get = |path: &str| {
        let (s, _, body) = server.get(path, &[]).unwrap();
        (
            s,
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        )
    };
    // Code 28810: Thị trấn Châu Thành until 30 June 2025, Xã Phú Túc from 1 July (GSO re-uses it).
    let (s, j) = get("/admin/lineage/28810");
    assert_eq!(s, 200, "{j}");
    let versions = j["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{j}");
    assert_eq!(versions[0]["name"], "Thị trấn Châu Thành");
    assert_eq!(versions[0]["valid_to"], "2025-06-30");
    assert_eq!(versions[0]["successors"][0]["code"], "28810");
    assert_eq!(
        versions[0]["successors"][0]["citation"]["act"],
        "1687/NQ-UBTVQH15"
    );
    assert_eq!(versions[1]["name"], "Xã Phú Túc");
    assert_eq!(versions[1]["status"], "derived");
    assert_eq!(versions[1]["citation"]["article"], "Điều 1, khoản 59");
    let names: Vec<&str> = versions[1]["predecessors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 4);
    assert!(
        names.contains(&"Xã Tân Thạch") && names.contains(&"Xã Tường Đa"),
        "{names:?}"
    );
    let (_, j) = get("/admin/lineage/28810?date=2020-01-01");
    assert_eq!(j["versions"].as_array().unwrap().len(), 1);
    assert_eq!(j["versions"][0]["name"], "Thị trấn Châu Thành");
    // A unit created after 2009 is known only from the lineage: no boundary, but a successor.
    let (s, j) = get("/admin/lineage/29179");
    assert_eq!(s, 200, "{j}");
    assert_eq!(j["versions"][0]["boundary"], false);
    assert_eq!(j["versions"][0]["successors"][0]["name"], "Xã Tân Thủy");
    // The catalogue names the province as of each period.
    let (_, catalogue) = get("/catalog");
    let province = catalogue["dataset"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["identifier"] == "admin_province")
        .unwrap();
    let names: Vec<&str> = province["temporal"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
        })
        .collect();
    assert_eq!(
        names,
        [
            "Tỉnh Bến Tre (đến 30/6/2025)",
            "Tỉnh Vĩnh Long (từ 1/7/2025), khu vực Bến Tre cũ"
        ],
        "{province}"
    );
    assert_eq!(get("/admin/lineage/12345").0, 404);
    assert_eq!(get("/admin/lineage/12a45").0, 400);

    // Old addresses as people write them: diacritics or not, prefixes, capitals, TCVN3 text
    // read as Latin-1 (what an old DBF shows), with the former district.
    let tcvn3 = cuulong_core::tcvn3::encode("Tân Thạch").unwrap();
    let tcvn3: String = tcvn3.iter().map(|&b| char::from(b)).collect();
    for name in [
        "Xã Tân Thạch",
        "xa tan thach",
        "X. Tân Thạch",
        "TÂN THẠCH",
        tcvn3.as_str(),
    ] {
        let q: String = name.bytes().map(|b| format!("%{b:02X}")).collect();
        let (s, j) = get(&format!(
            "/admin/resolve?name={q}&district=Ch%C3%A2u%20Th%C3%A0nh&at=2026-01-01"
        ));
        assert_eq!(s, 200, "{name}: {j}");
        assert_eq!(j["matches"], 1, "{name}: {j}");
        assert_eq!(j["results"][0]["unit"]["valid_to"], "2025-06-30", "{name}");
        let today = j["results"][0]["becomes"].as_array().unwrap();
        assert_eq!(today.len(), 1, "{name}: {j}");
        assert_eq!(today[0]["code"], "28810");
        assert_eq!(today[0]["name"], "Xã Phú Túc", "{name}");
    }
    // "TT Châu Thành" is the thị trấn, which became Phú Túc too.
    let (_, j) = get("/admin/resolve?name=TT%20Chau%20Thanh&at=2026-01-01");
    assert_eq!(j["results"][0]["becomes"][0]["name"], "Xã Phú Túc", "{j}");
    // Two An Thạnh (Mỏ Cày Nam, Thạnh Phú): ambiguous without the district.
    let (_, j) = get("/admin/resolve?name=An%20Thanh&date=2020-01-01&at=2026-01-01");
    assert_eq!(j["ambiguous"], true, "{j}");
    assert_eq!(j["matches"], 2, "{j}");
    let (_, j) =
        get("/admin/resolve?name=An%20Thanh&district=Thanh%20Phu&date=2020-01-01&at=2026-01-01");
    assert_eq!(j["matches"], 1, "{j}");
    // Asked before the reorganisation, a unit is its own answer.
    let (_, j) = get("/admin/resolve?name=Tan%20Thach&district=Chau%20Thanh&at=2024-01-01");
    assert_eq!(j["results"][0]["becomes"][0]["name"], "Xã Tân Thạch", "{j}");
    assert_eq!(get("/admin/resolve?name=Nowhere").0, 404);
    assert_eq!(get("/admin/resolve?name=x&date=yesterday").0, 400);
    assert_eq!(get("/admin/resolve").0, 400);
}

/// The day clause of a PostGIS query over the units' validity (inclusive days).
fn valid_on(day: &str) -> String {
    format!("(valid_from IS NULL OR valid_from <= DATE '{day}') AND (valid_to IS NULL OR valid_to >= DATE '{day}')")
}

#[test]
fn every_endpoint_answers_with_the_units_of_its_day() {
    let Some(db) = TestDb::create("admin_datetime") else {
        return;
    };
    let store = vec!["--database-url".to_string(), db.url.clone()];
    import_admin(&store);
    ok(run(cuulong()
        .args(&store)
        .args(["admin", "import-lineage"])
        .arg(lineage_csv())
        .args(["--parent-code", "86"])));
    let v = version(&store, "admin_communes");
    let table = format!("cuulong_data.\"l_admin_communes_v{v}\"");
    let server = Server::start(&store, &[]);
    let get = |path: &str| {
        let (s, _, body) = server.get(path, &[]).unwrap();
        assert_eq!(s, 200, "{path}: {}", String::from_utf8_lossy(&body));
        body
    };
    let json = |path: &str| serde_json::from_slice::<serde_json::Value>(&get(path)).unwrap();
    // A point inside old Xã Tân Thạch (now part of Xã Phú Túc).
    let p = db.strings(&format!("SELECT ST_X(ST_PointOnSurface(geom))::text || ' ' || ST_Y(ST_PointOnSurface(geom))::text FROM {table} WHERE code = '28804'"));
    let (lon, lat) = p[0].split_once(' ').unwrap();
    let (lon, lat): (f64, f64) = (lon.parse().unwrap(), lat.parse().unwrap());
    let today = chrono::Utc::now().date_naive().to_string();
    for day in [
        None,
        Some("2020-01-01"),
        Some("2025-06-30"),
        Some("2025-07-01"),
    ] {
        let d = day.unwrap_or(&today);
        let arg = day.map(|d| format!("&datetime={d}")).unwrap_or_default();
        // Features: the units valid that day.
        let want = db.scalar_i64(&format!(
            "SELECT count(*) FROM {table} WHERE {}",
            valid_on(d)
        ));
        let items = json(&format!(
            "/collections/admin_communes/items?limit=1000{arg}"
        ));
        assert_eq!(items["numberMatched"], want, "items on {d}");
        // What is here: the unit PostGIS finds covering the point that day.
        let want: Vec<String> = db.strings(&format!(
            "SELECT name FROM {table} WHERE ST_Covers(geom, ST_SetSRID(ST_Point({lon}, {lat}), 4326)) AND {}", valid_on(d)));
        let here = json(&format!(
            "/query/point?lon={lon}&lat={lat}&layers=admin_communes{arg}"
        ));
        let got: Vec<&str> = here["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["properties"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, want, "point on {d}");
        // A vector tile there: the codes of the units PostGIS finds in the tile (with its
        // 64/4096 buffer) that day.
        let (z, x, y) = tile_at(lon, lat, 11);
        let tile = get(&format!(
            "/tiles/admin_communes/{z}/{x}/{y}.mvt?{}",
            arg.trim_start_matches('&')
        ));
        // OGC API – Tiles in WebMercatorQuad: the same tile of the same day.
        let ogc = get(&format!(
            "/collections/admin_communes/tiles/WebMercatorQuad/{z}/{y}/{x}?{}",
            arg.trim_start_matches('&')
        ));
        assert_eq!(ogc, tile, "OGC API tile {z}/{y}/{x} on {d}");
        let tile = geozero::mvt::Tile::decode(&tile[..]).unwrap();
        let l = &tile.layers[0];
        let code_key = l.keys.iter().position(|k| k == "name").unwrap() as u32;
        let mut got: Vec<String> = l
            .features
            .iter()
            .filter_map(|f| {
                f.tags.chunks(2).find(|t| t[0] == code_key).map(|t| {
                    l.values[t[1] as usize]
                        .string_value
                        .clone()
                        .unwrap_or_default()
                })
            })
            .collect();
        got.sort();
        let buffer = 40_075_016.685_578_5 / f64::from(1u32 << z) * 64.0 / 4096.0;
        let mut want = db.strings(&format!(
            "SELECT name FROM {table} WHERE ST_Intersects(geom, ST_Transform(ST_Expand(ST_TileEnvelope({z}, {x}, {y}), {buffer}), 4326)) AND {}", valid_on(d)));
        want.sort();
        assert_eq!(got, want, "tile {z}/{x}/{y} on {d}");
        // A summary in unit 28810: Thị trấn Châu Thành before, Xã Phú Túc after.
        let s = json(&format!("/query/summary?admin=28810&layers=land_use{arg}"));
        let area: f64 = db.strings(&format!("SELECT (ST_Area(geom::geography) / 10000)::text FROM {table} WHERE code = '28810' AND {}", valid_on(d)))[0].parse().unwrap();
        let ours = s["area_ha"].as_f64().unwrap();
        assert!(
            (ours - area).abs() / area < 1e-3,
            "summary of 28810 on {d}: {ours} ha vs PostGIS {area} ha"
        );
        // WMS GetFeatureInfo at the point, with TIME.
        let time = day.map(|d| format!("&TIME={d}")).unwrap_or_default();
        let info = json(&format!(
            "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=admin_communes&QUERY_LAYERS=admin_communes&STYLES=&CRS=CRS:84&BBOX={},{},{},{}&WIDTH=11&HEIGHT=11&I=5&J=5&INFO_FORMAT=application/json{time}",
            lon - 0.0005, lat - 0.0005, lon + 0.0005, lat + 0.0005));
        let names: Vec<&str> = info["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["properties"]["name"].as_str().unwrap())
            .collect();
        let want: Vec<String> = db.strings(&format!(
            "SELECT name FROM {table} WHERE ST_Covers(geom, ST_SetSRID(ST_Point({lon}, {lat}), 4326)) AND {}", valid_on(d)));
        assert_eq!(names, want, "GetFeatureInfo on {d}");
    }
    // TileJSON hands the day on to its tiles.
    let tj = json("/tiles/admin_communes.json?datetime=2020-01-01");
    assert!(
        tj["tiles"][0]
            .as_str()
            .unwrap()
            .ends_with("&datetime=2020-01-01"),
        "{tj}"
    );
    // A bad day is a 400 naming it; WMS says InvalidDimensionValue.
    let (s, _, b) = server
        .get(
            "/tiles/admin_communes/9/406/241.mvt?datetime=yesterday",
            &[],
        )
        .unwrap();
    assert_eq!(s, 400);
    assert!(String::from_utf8_lossy(&b).contains("datetime: 'yesterday' is not an instant"));
    let (s, _, b) = server.get("/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=admin_communes&STYLES=&CRS=EPSG:3857&BBOX=11800000,1100000,11850000,1150000&WIDTH=64&HEIGHT=64&FORMAT=image/png&TIME=soon", &[]).unwrap();
    assert_eq!(s, 400);
    assert!(String::from_utf8_lossy(&b).contains("InvalidDimensionValue"));
    // The capabilities declare the time dimension: owslib reads it.
    if test_tools() {
        let r = python_json(
            "owslib WebMapService",
            [
                "-c",
                r#"
import json, sys
from owslib.wms import WebMapService
w = WebMapService(sys.argv[1], version="1.3.0")
l = w.contents["admin_communes"]
print(json.dumps({"dimensions": l.dimensions, "land_use": w.contents["land_use"].dimensions}))
"#,
                &server.url("/wms"),
            ],
        );
        let time = &r["dimensions"]["time"];
        assert_eq!(time["units"], "ISO8601", "{r}");
        let values = serde_json::to_string(&time["values"]).unwrap();
        assert!(
            values.contains("2009-04-01/2025-06-30/P1D")
                && values.contains("2025-07-01/current/P1D"),
            "{r}"
        );
        assert_eq!(
            r["land_use"],
            serde_json::json!({}),
            "only admin layers in time have it"
        );
    }
}

/// Reads the CSV `admin reexpress` writes: (code or "(unplaced)", value of the first column).
fn reexpressed(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.split(',').collect();
            let code = if cols[0].is_empty() {
                "(unplaced)".to_owned()
            } else {
                cols[0].to_owned()
            };
            (code, cols.last().unwrap().parse().unwrap())
        })
        .collect()
}

#[test]
fn statistics_of_2009_communes_are_re_expressed_in_the_2025_ones() {
    let Some(db) = TestDb::create("admin_reexpress") else {
        return;
    };
    let store = vec!["--database-url".to_string(), db.url.clone()];
    import_admin(&store);
    let v = version(&store, "admin_communes");
    let table = format!("cuulong_data.\"l_admin_communes_v{v}\"");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("population_2025.csv");
    // The 2009 census population of every commune (coded or not), in the 2025 communes.
    let o = ok(run(cuulong()
        .args(&store)
        .args([
            "admin",
            "reexpress",
            "--field",
            "population_2009",
            "--from",
            "2020-01-01",
            "--to",
            "2025-07-01",
            "--out",
        ])
        .arg(&out)));
    let rows = reexpressed(&std::fs::read_to_string(&out).unwrap());
    let total_in = db.scalar_i64(&format!(
        "SELECT sum(population_2009)::bigint FROM {table} WHERE {}",
        valid_on("2020-01-01")
    ));
    let total_out: f64 = rows.iter().map(|(_, v)| v).sum();
    assert!(
        (total_out - total_in as f64).abs() < 1e-6,
        "totals {total_out} vs {total_in}"
    );
    assert!(stderr(&o).contains("144 by lineage"), "{}", stderr(&o));
    // Each 2025 commune's value equals the same computation in PostGIS: a 2009 commune with a
    // recorded successor gives it all its population; one without (ended before 2025, no
    // lineage here) gives each 2025 commune the share of its geodesic area that commune covers.
    let want: std::collections::HashMap<String, f64> = db
        .strings(&format!(
            "WITH o AS (SELECT fid, population_2009::float8 v, geom, successors FROM {table} WHERE {old}), \
                  n AS (SELECT code, geom FROM {table} WHERE {new}), \
                  l AS (SELECT (successors::jsonb)->0->>'code' code, v x FROM o WHERE successors IS NOT NULL), \
                  ov AS (SELECT o.fid, n.code, o.v, ST_Area(ST_Intersection(o.geom, n.geom)::geography) a FROM o JOIN n ON ST_Intersects(o.geom, n.geom) WHERE o.successors IS NULL), \
                  s AS (SELECT ov.code, ov.v * ov.a / ST_Area(o.geom::geography) x FROM ov JOIN o USING (fid) UNION ALL SELECT code, x FROM l) \
             SELECT code || ' ' || sum(x)::text FROM s WHERE x IS NOT NULL GROUP BY code",
            old = valid_on("2020-01-01"),
            new = valid_on("2025-07-01")
        ))
        .iter()
        .map(|r| {
            let (c, v) = r.split_once(' ').unwrap();
            (c.to_owned(), v.parse().unwrap())
        })
        .collect();
    let mut compared = 0;
    for (code, got) in &rows {
        if code == "(unplaced)" {
            continue;
        }
        let w = want.get(code).copied().unwrap_or(0.0);
        assert!(
            (got - w).abs() <= 1e-3 * w.max(1.0),
            "{code}: {got} vs PostGIS {w}"
        );
        compared += 1;
    }
    assert_eq!(compared, 48);
    // The endpoint answers the same.
    let server = Server::start(&store, &[]);
    let (st, _, body) = server
        .get(
            "/admin/reexpress?field=population_2009&from=2020-01-01&to=2025-07-01",
            &[],
        )
        .unwrap();
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(j["total_in"], total_in as f64);
    for (code, got) in &rows {
        let served = if code == "(unplaced)" {
            j["unplaced"].as_f64().unwrap()
        } else {
            j["units"]
                .as_array()
                .unwrap()
                .iter()
                .find(|u| u["code"] == code.as_str())
                .unwrap()["value"]
                .as_f64()
                .unwrap()
        };
        // The server holds EPSG:3857 and measures after the way back to lon/lat.
        assert!(
            (served - got).abs() <= 1e-6 * got.abs().max(1.0),
            "{code}: endpoint {served} vs CLI {got}"
        );
    }
    assert_eq!(
        server
            .get("/admin/reexpress?field=name&to=2025-07-01", &[])
            .unwrap()
            .0,
        400
    );
    // A day with no units: nothing to carry, an empty answer (schemathesis found a 500 here).
    let (st, _, body) = server
        .get(
            "/admin/reexpress?field=population_2009&to=2025-07-01&from=2000-01-01",
            &[],
        )
        .unwrap();
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(j["total_in"].as_f64(), Some(0.0));
    assert_eq!(j["units"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        server
            .get(
                "/admin/reexpress?field=population_2009&to=2020-01-01&from=2025-07-01",
                &[]
            )
            .unwrap()
            .0,
        400
    );
    drop(server);

    // Weighted by rice land (LUC) instead of plain area: the same lineage sums, the overlap
    // shares by rice land; totals kept; the endpoint answers the same.
    let weighted = tmp.path().join("population_2025_by_rice.csv");
    ok(run(cuulong()
        .args(&store)
        .args([
            "admin",
            "reexpress",
            "--field",
            "population_2009",
            "--from",
            "2020-01-01",
            "--to",
            "2025-07-01",
            "--weight-layer",
            "land_use",
            "--weight-class",
            "LUC",
            "--out",
        ])
        .arg(&weighted)));
    let by_rice = reexpressed(&std::fs::read_to_string(&weighted).unwrap());
    let total: f64 = by_rice.iter().map(|(_, v)| v).sum();
    assert!(
        (total - total_in as f64).abs() < 1e-6,
        "weighted totals {total} vs {total_in}"
    );
    let phu_tuc = |rows: &[(String, f64)]| rows.iter().find(|(c, _)| c == "28810").unwrap().1;
    assert!(
        phu_tuc(&by_rice) >= 30_727.0 && phu_tuc(&rows) >= 30_727.0,
        "lineage sums stay"
    );
    let server = Server::start(&store, &[]);
    let (st, _, body) = server
        .get("/admin/reexpress?field=population_2009&from=2020-01-01&to=2025-07-01&weight_layer=land_use&weight_class=LUC", &[])
        .unwrap();
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
    for (code, got) in by_rice.iter().filter(|(c, _)| c != "(unplaced)") {
        let served = j["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["code"] == code.as_str())
            .unwrap()["value"]
            .as_f64()
            .unwrap();
        assert!(
            (served - got).abs() <= 1e-6 * got.abs().max(1.0),
            "{code}: endpoint {served} vs CLI {got}"
        );
    }
    assert_eq!(
        server
            .get(
                "/admin/reexpress?field=population_2009&to=2025-07-01&weight_class=LUC",
                &[]
            )
            .unwrap()
            .0,
        400
    );
    drop(server);

    // A table keyed by the old codes (what agencies hold): sums follow the lineage exactly.
    let input = tmp.path().join("households_2020.csv");
    let mut csv = String::from("code,households\n");
    for row in db.strings(&format!("SELECT code || ',' || (population_2009 / 4)::text FROM {table} WHERE code IS NOT NULL AND {}", valid_on("2020-01-01"))) {
        csv.push_str(&row);
        csv.push('\n');
    }
    std::fs::write(&input, &csv).unwrap();
    let o = ok(run(cuulong()
        .args(&store)
        .args(["admin", "reexpress"])
        .arg(&input)
        .args(["--to", "2025-07-01"])));
    let rows = reexpressed(&stdout(&o));
    let phu_tuc = rows.iter().find(|(c, _)| c == "28810").unwrap().1;
    let want = db.scalar_i64(&format!(
        "SELECT sum(population_2009 / 4)::bigint FROM {table} WHERE code IN ('28810','28804','28855','28819') AND valid_to = '2025-06-30'"
    ));
    assert_eq!(phu_tuc, want as f64, "Xã Phú Túc = its four predecessors");
    // An unknown code or a non-number is named, with its line; nothing is printed.
    std::fs::write(&input, "code,households\n28810,10\n99999,5\n28804,many\n").unwrap();
    let o = run(cuulong()
        .args(&store)
        .args(["admin", "reexpress"])
        .arg(&input)
        .args(["--to", "2025-07-01"]));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("line 3: no unit with code '99999' valid on 2025-06-30"),
        "{err}"
    );
    assert!(
        err.contains("line 4: households 'many' is not a number"),
        "{err}"
    );
    assert!(stdout(&o).is_empty());
}

#[test]
fn an_official_boundary_supersedes_the_derived_one_and_the_record_keeps_it() {
    let Some(db) = TestDb::create("admin_official") else {
        return;
    };
    let store = vec!["--database-url".to_string(), db.url.clone()];
    import_admin(&store);
    let v = version(&store, "admin_communes");
    let table = format!("cuulong_data.\"l_admin_communes_v{v}\"");
    // "Official" boundary of Phường An Hội (partial here: old An Hội has no 2009 boundary): the
    // partial one grown by ~200 m, as a GeoJSON file an agency would send.
    let geojson = db.strings(&format!(
        "SELECT json_build_object('type','FeatureCollection','features',json_agg(json_build_object('type','Feature','properties',json_build_object('code',code,'ten','Phường An Hội'),'geometry',ST_AsGeoJSON(ST_Buffer(geom, 0.002))::json)))::text \
         FROM {table} WHERE code = '28777' AND valid_from = '2025-07-01'"
    ));
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("an_hoi_official.geojson");
    std::fs::write(&file, &geojson[0]).unwrap();
    let o = ok(run(cuulong()
        .args(&store)
        .args(["admin", "import-boundaries"])
        .arg(&file)
        .args(["--valid-from", "2025-07-01"])));
    assert!(
        stdout(&o).contains("1 official boundaries"),
        "{}",
        stdout(&o)
    );
    let v2 = version(&store, "admin_communes");
    let t2 = format!("cuulong_data.\"l_admin_communes_v{v2}\"");
    // Both are in the record: the partial one replaced (recorded_to set), the official one current.
    let rows = db.strings(&format!(
        "SELECT status || ' ' || (recorded_to IS NULL)::text FROM {t2} WHERE code = '28777' AND valid_from = '2025-07-01' ORDER BY fid"
    ));
    assert_eq!(rows, ["partial false", "official true"]);
    let server = Server::start(&store, &[]);
    let get = |path: &str| {
        let (s, _, body) = server.get(path, &[]).unwrap();
        assert_eq!(s, 200, "{path}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()
    };
    // Served: the official boundary, once.
    let items = get("/collections/admin_communes/items?code=28777&limit=10");
    assert_eq!(items["numberMatched"], 1, "{items}");
    assert_eq!(items["features"][0]["properties"]["status"], "official");
    let official_ha: f64 = db.strings(&format!("SELECT (ST_Area(geom::geography) / 10000)::text FROM {t2} WHERE code = '28777' AND status = 'official'"))[0].parse().unwrap();
    let s = get("/query/summary?admin=28777&layers=land_use");
    assert!(
        (s["area_ha"].as_f64().unwrap() - official_ha).abs() / official_ha < 1e-3,
        "{s} vs {official_ha}"
    );
    // The lineage keeps the replaced version, with when it was replaced.
    let l = get("/admin/lineage/28777");
    let versions = l["versions"].as_array().unwrap();
    let replaced: Vec<&serde_json::Value> = versions
        .iter()
        .filter(|x| x["recorded_to"].is_string())
        .collect();
    assert_eq!(replaced.len(), 1, "{l}");
    assert_eq!(replaced[0]["status"], "partial");
    assert!(
        versions
            .iter()
            .any(|x| x["status"] == "official" && x["recorded_to"].is_null()),
        "{l}"
    );
    drop(server);
    // The lineage imported again keeps the official boundary (nothing derived over it).
    ok(run(cuulong()
        .args(&store)
        .args(["admin", "import-lineage"])
        .arg(lineage_csv())
        .args(["--parent-code", "86"])));
    let v3 = version(&store, "admin_communes");
    let t3 = format!("cuulong_data.\"l_admin_communes_v{v3}\"");
    assert_eq!(
        db.strings(&format!("SELECT status FROM {t3} WHERE code = '28777' AND valid_from = '2025-07-01' AND recorded_to IS NULL")),
        ["official"]
    );
    assert_eq!(
        db.scalar_i64(&format!(
            "SELECT count(*) FROM {t3} WHERE valid_from = '2025-07-01' AND recorded_to IS NULL"
        )),
        48
    );
    // A code no unit has is refused, naming the feature; nothing is written.
    std::fs::write(&file, r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"99999"},"geometry":{"type":"Polygon","coordinates":[[[106.3,10.2],[106.31,10.2],[106.31,10.21],[106.3,10.2]]]}}]}"#).unwrap();
    let o = run(cuulong()
        .args(&store)
        .args(["admin", "import-boundaries"])
        .arg(&file)
        .args(["--valid-from", "2025-07-01"]));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("feature 1: no unit with code '99999' beginning on 2025-07-01"),
        "{}",
        stderr(&o)
    );
    assert_eq!(version(&store, "admin_communes"), v3);
}

#[test]
fn a_split_without_an_official_boundary_is_a_gap_not_a_guess() {
    let Some(db) = TestDb::create("admin_split") else {
        return;
    };
    let store = vec!["--database-url".to_string(), db.url.clone()];
    import_admin(&store);
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("split.csv");
    // Xã Tân Thạch of 2025-07-01 (made by the samples' lineage, code 28810 is Phú Túc) split in
    // two on 2026-01-01, the way a boundary adjustment would read.
    std::fs::write(
        &file,
        "new_code,new_name,new_kind,old_code,old_name,old_district,resolution,article,effective\n\
         90001,Xã Phú Túc Bắc,xa,28810,Xã Phú Túc,,R/TEST,k1,2026-01-01\n\
         90002,Xã Phú Túc Nam,xa,28810,Xã Phú Túc,,R/TEST,k2,2026-01-01\n",
    )
    .unwrap();
    let o = ok(run(cuulong()
        .args(&store)
        .args(["admin", "import-lineage"])
        .arg(&file)));
    let out = stdout(&o);
    assert!(
        out.contains("2 events into admin_communes (2 split)"),
        "{out}"
    );
    assert!(out.contains("90001 'Xã Phú Túc Bắc' (Split, R/TEST): no boundary — part of a predecessor goes elsewhere"), "{out}");
    let v = version(&store, "admin_communes");
    let table = format!("cuulong_data.\"l_admin_communes_v{v}\"");
    // No boundary guessed for either part; the old unit ends on the eve and names both.
    assert_eq!(
        db.scalar_i64(&format!(
            "SELECT count(*) FROM {table} WHERE code IN ('90001', '90002')"
        )),
        0
    );
    let successors = db.strings(&format!(
        "SELECT successors FROM {table} WHERE code = '28810' AND valid_from = '2025-07-01'"
    ));
    assert!(
        successors[0].contains("90001")
            && successors[0].contains("90002")
            && successors[0].contains("\"whole\":false"),
        "{successors:?}"
    );
    assert_eq!(
        db.strings(&format!(
            "SELECT valid_to::text FROM {table} WHERE code = '28810' AND valid_from = '2025-07-01'"
        )),
        ["2025-12-31"]
    );
    // The units of the earlier table stay (a table only makes again what it makes itself)...
    assert_eq!(
        db.scalar_i64(&format!(
            "SELECT count(*) FROM {table} WHERE valid_from = '2025-07-01'"
        )),
        48
    );
    // ...and the earlier table imported again keeps what the later one recorded on them.
    ok(run(cuulong()
        .args(&store)
        .args(["admin", "import-lineage"])
        .arg(lineage_csv())
        .args(["--parent-code", "86"])));
    let v = version(&store, "admin_communes");
    let table = format!("cuulong_data.\"l_admin_communes_v{v}\"");
    assert_eq!(
        db.strings(&format!(
            "SELECT valid_to::text FROM {table} WHERE code = '28810' AND valid_from = '2025-07-01'"
        )),
        ["2025-12-31"]
    );
    assert_eq!(
        db.scalar_i64(&format!(
            "SELECT count(*) FROM {table} WHERE valid_from = '2025-07-01'"
        )),
        48
    );
}
