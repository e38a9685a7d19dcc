//! The importer reads what agencies hand over: the same 500 land-use parcels converted by GDAL
//! into each format import with the same count and extent.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn ogr2ogr(args: &[&str]) {
    let o = Command::new("ogr2ogr")
        .args(args)
        .output()
        .expect("run ogr2ogr");
    assert!(
        o.status.success(),
        "ogr2ogr {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn imported(store: &[String], file: &Path, layer: &str, extra: &[&str]) -> (i64, Vec<f64>) {
    ok(run(cuulong()
        .args(store)
        .args([
            "import",
            file.to_str().unwrap(),
            "--layer",
            layer,
            "--quiet",
        ])
        .args(extra)));
    let l = layer_entry(store, layer);
    let bbox = l["bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    (l["feature_count"].as_i64().unwrap(), bbox)
}

#[test]
fn every_agency_format_imports_the_same_features() {
    if !require_tool("ogr2ogr") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let src = samples().join("land-use/land_use_synthetic_tm3.shp");
    // Reference: 500 parcels in VN-2000 / TM-3, as a shapefile with .prj.
    let shp = d.join("ref.shp");
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        shp.to_str().unwrap(),
        src.to_str().unwrap(),
        "-limit",
        "500",
    ]);
    let store = vec![
        "--data-dir".to_string(),
        d.join("store").display().to_string(),
    ];
    let (n, bbox) = imported(&store, &shp, "ref", &[]);
    assert!(n >= 498, "{n}");

    let p = |name: &str| d.join(name).display().to_string();
    let shp_s = shp.display().to_string();
    // (file, ogr2ogr args, extra import args)
    let conversions: Vec<(String, Vec<String>, Vec<&str>)> = vec![
        (p("parcels.gpkg"), vec!["-f".into(), "GPKG".into()], vec![]),
        (
            p("parcels.fgb"),
            vec!["-f".into(), "FlatGeobuf".into()],
            vec![],
        ),
        (
            p("parcels.geojson"),
            vec![
                "-f".into(),
                "GeoJSON".into(),
                "-t_srs".into(),
                "EPSG:4326".into(),
            ],
            vec![],
        ),
        (p("parcels.kml"), vec!["-f".into(), "KML".into()], vec![]),
        (
            p("parcels.tab"),
            vec!["-f".into(), "MapInfo File".into()],
            vec![],
        ),
        (
            p("parcels_wkt.csv"),
            vec![
                "-f".into(),
                "CSV".into(),
                "-lco".into(),
                "GEOMETRY=AS_WKT".into(),
            ],
            vec!["--src-crs", "EPSG:9210"],
        ),
        // MicroStation DGN v7 carries no CRS and no attributes of ours: geometry only.
        (
            p("parcels.dgn"),
            vec!["-f".into(), "DGN".into(), "-dsco".into(), "3D=NO".into()],
            vec!["--src-crs", "EPSG:9210"],
        ),
    ];
    for (file, args, extra) in conversions {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.push(&file);
        all.push(&shp_s);
        ogr2ogr(&all);
        let layer = Path::new(&file)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace('.', "_");
        let (count, b) = imported(&store, Path::new(&file), &layer, &extra);
        assert_eq!(count, n, "{file}: feature count");
        for i in 0..4 {
            assert!(
                (b[i] - bbox[i]).abs() < 1e-4,
                "{file}: bbox {b:?} vs {bbox:?}"
            );
        }
    }
}

#[test]
fn csv_with_ambiguous_x_y_columns_is_refused_then_accepted_with_explicit_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("survey.csv");
    // Vietnamese surveying: X is the northing, Y the easting.
    std::fs::write(
        &csv,
        "X,Y,ten\n1131913.12,568273.57,Mốc 1\n1115000,585000,Mốc 2\n",
    )
    .unwrap();
    let store = vec![
        "--data-dir".to_string(),
        tmp.path().join("s").display().to_string(),
    ];
    let o = run(cuulong().args(&store).args([
        "import",
        csv.to_str().unwrap(),
        "--layer",
        "moc",
        "--src-crs",
        "EPSG:9210",
    ]));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("X is the northing"), "{}", stderr(&o));
    ok(run(cuulong().args(&store).args([
        "import",
        csv.to_str().unwrap(),
        "--layer",
        "moc",
        "--src-crs",
        "EPSG:9210",
        "--csv-x",
        "Y",
        "--csv-y",
        "X",
        "--quiet",
    ])));
    let l = layers_json(&store);
    let bbox = l[0]["bbox"].as_array().unwrap();
    // Mốc 1 is in Bến Tre city: lon ≈ 106.375, lat ≈ 10.235.
    assert!(
        (bbox[0].as_f64().unwrap() - 106.375).abs() < 0.01,
        "{bbox:?}"
    );
    assert!(
        (bbox[3].as_f64().unwrap() - 10.235).abs() < 0.01,
        "{bbox:?}"
    );
}
