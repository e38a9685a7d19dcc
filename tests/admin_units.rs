//! Administrative units in time, on PostGIS: the real 2025 lineage of former Bến Tre imported
//! over the 2009 communes, its derived boundaries against PostGIS `ST_Union`, inconsistent
//! tables refused with nothing written, and the lineage and old-address endpoints over HTTP.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

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
    let o = ok(run(cuulong().args(&store).args(["admin", "import-lineage"]).arg(lineage_csv()).args(["--parent-code", "86"])));
    let out = stdout(&o);
    assert!(out.contains("48 events into admin_communes (48 merge); 44 boundaries derived, 4 partial"), "{out}");
    // The four old units created after 2009 are named as gaps, with the new unit each feeds.
    for gap in ["28777 'Phường An Hội'", "28945 'Xã Bình Khánh'", "29137 'Xã Phước Ngãi'", "29179 'Thị trấn Tiệm Tôm'"] {
        assert!(out.contains(gap), "{gap} not reported: {out}");
    }
    let v = version(&store, "admin_communes");
    assert_eq!(v, before + 1);
    let table = format!("cuulong_data.\"l_admin_communes_v{v}\"");
    // 164 units of 2009 + 48 of 2025.
    assert_eq!(db.scalar_i64(&format!("SELECT count(*) FROM {table}")), 212);
    assert_eq!(db.scalar_i64(&format!("SELECT count(*) FROM {table} WHERE valid_from = '2025-07-01' AND valid_to IS NULL")), 48);
    // Every old unit of the table ends on the eve, and names its successor.
    assert_eq!(db.scalar_i64(&format!("SELECT count(*) FROM {table} WHERE successors IS NOT NULL AND valid_to = '2025-06-30'")), 144);

    // Each derived boundary is the union PostGIS computes from the same predecessors:
    // geodesic areas within 0.01 %.
    let mut rows = std::collections::BTreeMap::<String, Vec<String>>::new();
    let text = std::fs::read_to_string(lineage_csv()).unwrap();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        rows.entry(cols[0].to_owned()).or_default().push(cols[3].to_owned());
    }
    let mut compared = 0;
    let mut worst = 0.0f64;
    for (new, olds) in &rows {
        let status = db.strings(&format!("SELECT status FROM {table} WHERE code = '{new}' AND valid_from = '2025-07-01'"));
        if status != ["derived"] {
            assert_eq!(status, ["partial"], "{new}");
            continue;
        }
        let list = olds.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(",");
        let areas = db.strings(&format!(
            "SELECT (SELECT ST_Area(geom::geography) FROM {table} WHERE code = '{new}' AND valid_from = '2025-07-01')::text || ' ' || \
                    (SELECT ST_Area(ST_Union(geom)::geography) FROM {table} WHERE code IN ({list}) AND valid_to = '2025-06-30')::text"
        ));
        let (ours, postgis) = areas[0].split_once(' ').unwrap();
        let (ours, postgis): (f64, f64) = (ours.parse().unwrap(), postgis.parse().unwrap());
        assert!(postgis > 1e6, "{new}: {postgis} m²");
        assert!(((ours - postgis) / postgis).abs() < 1e-4, "{new}: {ours} vs ST_Union {postgis}");
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
    eprintln!("44 derived communes: largest area difference to ST_Union {:.2e}", worst);

    // Imported again (say, corrected): the derived units are made again, not doubled.
    ok(run(cuulong().args(&store).args(["admin", "import-lineage"]).arg(lineage_csv()).args(["--parent-code", "86"])));
    let v2 = version(&store, "admin_communes");
    assert_eq!(db.scalar_i64(&format!("SELECT count(*) FROM cuulong_data.\"l_admin_communes_v{v2}\"")), 212);
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
    let header = "new_code,new_name,new_kind,old_code,old_name,old_district,resolution,article,effective\n";
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
        let o = run(cuulong().args(&store).args(["admin", "import-lineage"]).arg(&file));
        assert!(!o.status.success(), "case {n} was accepted");
        let err = stderr(&o);
        assert!(err.contains(&format!("bad{n}.csv: the lineage table is inconsistent")), "{err}");
        assert!(err.contains("nothing written"), "{err}");
        for m in messages {
            assert!(err.contains(m), "case {n}: '{m}' not in {err}");
        }
        assert_eq!(version(&store, "admin_communes"), before, "case {n} wrote a version");
    }
}

#[test]
fn lineage_and_old_addresses_answer_over_http() {
    let Some(db) = TestDb::create("admin_http") else {
        return;
    };
    let store = vec!["--database-url".to_string(), db.url.clone()];
    import_admin(&store);
    ok(run(cuulong().args(&store).args(["admin", "import-lineage"]).arg(lineage_csv()).args(["--parent-code", "86"])));
    let server = Server::start(&store, &[]);
    let get = |path: &str| {
        let (s, _, body) = server.get(path, &[]).unwrap();
        (s, serde_json::from_slice::<serde_json::Value>(&body).unwrap())
    };
    // Code 28810: Thị trấn Châu Thành until 30 June 2025, Xã Phú Túc from 1 July (GSO re-uses it).
    let (s, j) = get("/admin/lineage/28810");
    assert_eq!(s, 200, "{j}");
    let versions = j["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{j}");
    assert_eq!(versions[0]["name"], "Thị trấn Châu Thành");
    assert_eq!(versions[0]["valid_to"], "2025-06-30");
    assert_eq!(versions[0]["successors"][0]["code"], "28810");
    assert_eq!(versions[0]["successors"][0]["citation"]["act"], "1687/NQ-UBTVQH15");
    assert_eq!(versions[1]["name"], "Xã Phú Túc");
    assert_eq!(versions[1]["status"], "derived");
    assert_eq!(versions[1]["citation"]["article"], "Điều 1, khoản 59");
    let names: Vec<&str> = versions[1]["predecessors"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 4);
    assert!(names.contains(&"Xã Tân Thạch") && names.contains(&"Xã Tường Đa"), "{names:?}");
    let (_, j) = get("/admin/lineage/28810?date=2020-01-01");
    assert_eq!(j["versions"].as_array().unwrap().len(), 1);
    assert_eq!(j["versions"][0]["name"], "Thị trấn Châu Thành");
    // A unit created after 2009 is known only from the lineage: no boundary, but a successor.
    let (s, j) = get("/admin/lineage/29179");
    assert_eq!(s, 200, "{j}");
    assert_eq!(j["versions"][0]["boundary"], false);
    assert_eq!(j["versions"][0]["successors"][0]["name"], "Xã Tân Thủy");
    assert_eq!(get("/admin/lineage/12345").0, 404);
    assert_eq!(get("/admin/lineage/12a45").0, 400);

    // Old addresses as people write them: diacritics or not, prefixes, capitals, TCVN3 text
    // read as Latin-1 (what an old DBF shows), with the former district.
    let tcvn3 = cuulong_core::tcvn3::encode("Tân Thạch").unwrap();
    let tcvn3: String = tcvn3.iter().map(|&b| char::from(b)).collect();
    for name in ["Xã Tân Thạch", "xa tan thach", "X. Tân Thạch", "TÂN THẠCH", tcvn3.as_str()] {
        let q: String = name.bytes().map(|b| format!("%{b:02X}")).collect();
        let (s, j) = get(&format!("/admin/resolve?name={q}&district=Ch%C3%A2u%20Th%C3%A0nh&at=2026-01-01"));
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
    let (_, j) = get("/admin/resolve?name=An%20Thanh&district=Thanh%20Phu&date=2020-01-01&at=2026-01-01");
    assert_eq!(j["matches"], 1, "{j}");
    // Asked before the reorganisation, a unit is its own answer.
    let (_, j) = get("/admin/resolve?name=Tan%20Thach&district=Chau%20Thanh&at=2024-01-01");
    assert_eq!(j["results"][0]["becomes"][0]["name"], "Xã Tân Thạch", "{j}");
    assert_eq!(get("/admin/resolve?name=Nowhere").0, 404);
    assert_eq!(get("/admin/resolve?name=x&date=yesterday").0, 400);
    assert_eq!(get("/admin/resolve").0, 400);
}
