//! Bad input gets a one-line error naming the problem, a non-zero exit, and leaves both stores
//! exactly as they were (the layer keeps its previous version).

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use common::*;

fn geojson(path: &Path, features: &[(&str, &str)]) {
    let feats: Vec<String> = features
        .iter()
        .map(|(props, geom)| {
            format!(r#"{{"type":"Feature","properties":{props},"geometry":{geom}}}"#)
        })
        .collect();
    fs::write(
        path,
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            feats.join(",")
        ),
    )
    .unwrap();
}

const SQUARE: &str = r#"{"type":"Polygon","coordinates":[[[106.30,10.20],[106.31,10.20],[106.31,10.21],[106.30,10.21],[106.30,10.20]]]}"#;

/// Copies a shapefile's parts (those that exist) under a new base name.
fn copy_shapefile(src: &Path, dst_dir: &Path, name: &str, exts: &[&str]) -> std::path::PathBuf {
    for ext in exts {
        let from = src.with_extension(ext);
        if from.exists() {
            fs::copy(&from, dst_dir.join(format!("{name}.{ext}"))).unwrap();
        }
    }
    dst_dir.join(format!("{name}.shp"))
}

fn snapshot(args: &[String]) -> Vec<(String, i64, i64, String)> {
    layers_json(args)
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["id"].as_str().unwrap().to_owned(),
                l["version"].as_i64().unwrap(),
                l["feature_count"].as_i64().unwrap(),
                l["updated_at"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn bad_inputs_fail_cleanly_and_change_nothing() {
    let db = TestDb::create("bad_inputs");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let land_use = samples().join("land-use/land_use_synthetic_tm3.shp");

    // Fixtures.
    let good = dir.join("good.geojson");
    geojson(
        &good,
        &[
            (r#"{"lu_code":"CLN"}"#, SQUARE),
            (r#"{"lu_code":"LUC"}"#, SQUARE),
        ],
    );
    let empty = dir.join("empty.geojson");
    geojson(&empty, &[]);
    let bad_code = dir.join("bad_code.geojson");
    geojson(
        &bad_code,
        &[
            (r#"{"lu_code":"CLN"}"#, SQUARE),
            (r#"{"lu_code":"XYZ"}"#, SQUARE),
        ],
    );
    let paris = dir.join("paris.geojson");
    geojson(
        &paris,
        &[
            (
                r#"{"lu_code":"CLN"}"#,
                r#"{"type":"Point","coordinates":[2.35,48.85]}"#,
            ),
            (
                r#"{"lu_code":"CLN"}"#,
                r#"{"type":"Point","coordinates":[-74.0,40.7]}"#,
            ),
        ],
    );
    let no_prj = copy_shapefile(&land_use, dir, "no_prj", &["shp", "shx", "dbf", "cpg"]);
    let truncated = copy_shapefile(
        &land_use,
        dir,
        "truncated",
        &["shp", "shx", "dbf", "cpg", "prj"],
    );
    let len = fs::metadata(&truncated).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .unwrap()
        .set_len(len / 2)
        .unwrap();

    let data_dir = dir.join("store");
    for (label, store) in stores(db.as_ref(), &data_dir) {
        ok(run(cuulong().args(&store).args([
            "import",
            good.to_str().unwrap(),
            "--layer",
            "keep",
            "--family",
            "land_use",
            "--quiet",
        ])));
        let before = snapshot(&store);
        assert_eq!(before.len(), 1);
        assert_eq!((before[0].1, before[0].2), (1, 2));

        let cases: Vec<(Vec<String>, &str)> = vec![
            (
                vec![dir.join("missing.shp").display().to_string()],
                "file not found",
            ),
            (
                vec![
                    truncated.display().to_string(),
                    "--family".into(),
                    "land_use".into(),
                ],
                "truncated.shp",
            ),
            (
                vec![
                    no_prj.display().to_string(),
                    "--family".into(),
                    "land_use".into(),
                ],
                "no coordinate reference system",
            ),
            (
                vec![
                    good.display().to_string(),
                    "--src-crs".into(),
                    "EPSG:999999".into(),
                ],
                "unknown CRS 'EPSG:999999'",
            ),
            (
                vec![
                    good.display().to_string(),
                    "--src-crs".into(),
                    "not a crs".into(),
                ],
                "unknown CRS 'not a crs'",
            ),
            (vec![empty.display().to_string()], "contains no features"),
            (
                vec![
                    good.display().to_string(),
                    "--family".into(),
                    "landuse".into(),
                ],
                "unknown family 'landuse'",
            ),
            (
                vec![
                    bad_code.display().to_string(),
                    "--family".into(),
                    "land_use".into(),
                    "--strict".into(),
                ],
                "'XYZ' is not in the land-use",
            ),
            (
                vec![paris.display().to_string()],
                "outside the expected extent",
            ),
        ];
        for (args, expected) in cases {
            let o = run(cuulong()
                .args(&store)
                .arg("import")
                .args(&args)
                .args(["--layer", "keep", "--quiet"]));
            let err = stderr(&o);
            assert!(!o.status.success(), "[{label}] {args:?} succeeded");
            assert!(
                err.contains(expected),
                "[{label}] {args:?}: expected '{expected}' in: {err}"
            );
            assert_eq!(
                err.trim().lines().count(),
                1,
                "[{label}] {args:?}: not one line: {err}"
            );
            assert!(!err.contains("panicked"), "[{label}] {err}");
            assert_eq!(
                snapshot(&store),
                before,
                "[{label}] {args:?} changed the store"
            );
        }
        // The previous version is still whole and readable.
        let after = layers_json(&store);
        assert_eq!(after[0]["feature_count"], 2, "[{label}]");
    }
    if let Some(db) = &db {
        // Only the current version's table exists: failed imports left nothing behind.
        let tables =
            db.strings("SELECT tablename::text FROM pg_tables WHERE schemaname = 'cuulong_data'");
        assert_eq!(tables, vec!["l_keep_v1".to_string()]);
        assert_eq!(
            db.scalar_i64("SELECT count(*) FROM cuulong_data.l_keep_v1"),
            2
        );
    }
    let leftovers: Vec<_> = fs::read_dir(data_dir.join("layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, vec!["keep.v1.fgb".to_string()]);
}

#[test]
fn strict_off_reports_rejects_and_imports_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let bad_code = tmp.path().join("bad_code.geojson");
    geojson(
        &bad_code,
        &[
            (r#"{"lu_code":"CLN"}"#, SQUARE),
            (r#"{"lu_code":"XYZ","owner":"x"}"#, SQUARE),
        ],
    );
    let report = tmp.path().join("report.geojson");
    let o = ok(run(cuulong().args([
        "--data-dir",
        tmp.path().join("s").to_str().unwrap(),
        "import",
        bad_code.to_str().unwrap(),
        "--layer",
        "lu",
        "--family",
        "land_use",
        "--quiet",
        "--report",
        report.to_str().unwrap(),
    ])));
    let out = stdout(&o);
    assert!(
        out.contains("read 2, imported 1, repaired 0, rejected 1"),
        "{out}"
    );
    let r: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    let feats = r["features"].as_array().unwrap();
    assert_eq!(feats.len(), 1);
    assert_eq!(feats[0]["properties"]["_feature"], 2);
    assert_eq!(feats[0]["properties"]["lu_code"], "XYZ");
    assert!(feats[0]["properties"]["_reason"]
        .as_str()
        .unwrap()
        .contains("'XYZ'"));
    assert_eq!(feats[0]["geometry"]["type"], "MultiPolygon");
}
