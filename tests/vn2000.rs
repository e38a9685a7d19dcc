//! VN-2000 coordinates land where PROJ's cs2cs puts them with the official EPSG:6960
//! transformation, within 0.05 m, whichever VN-2000 CRS and however the file writes it.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::process::Command;

use common::*;
use cuulong_core::{LayerId, Value};
use cuulong_store::Store;
use futures::TryStreamExt;

fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let lat = a.1.to_radians();
    let dx = (a.0 - b.0) * 111_320.0 * lat.cos();
    let dy = (a.1 - b.1) * 110_574.0;
    (dx * dx + dy * dy).sqrt()
}

/// Reads the imported points of a layer as name → (lon, lat).
async fn imported(store: &dyn Store, layer: &str) -> Vec<(String, (f64, f64))> {
    let id = LayerId::parse(layer).unwrap();
    let meta = store.layer(&id).await.unwrap().expect("layer exists");
    let name_idx = meta.schema.index_of("name").expect("name field");
    let feats: Vec<_> = store
        .features(&id)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    feats
        .into_iter()
        .map(|f| {
            let name = match &f.values[name_idx] {
                Value::Text(s) => s.clone(),
                other => panic!("name {other:?}"),
            };
            match f.geometry {
                geo_types::Geometry::Point(p) => (name, (p.x(), p.y())),
                other => panic!("not a point: {other:?}"),
            }
        })
        .collect()
}

struct Case {
    layer: &'static str,
    /// The CRS as cs2cs gets it (with the official +towgs84).
    cs2cs_src: String,
    /// CLI args telling cuulong the CRS, or none when the file carries it.
    import_args: Vec<String>,
    points: Vec<(f64, f64)>,
    /// Write a shapefile with this .prj definition instead of a CSV.
    shapefile_srs: Option<String>,
    expect_note: Option<&'static str>,
}

fn grid(xs: &[f64], ys: &[f64]) -> Vec<(f64, f64)> {
    xs.iter()
        .flat_map(|&x| ys.iter().map(move |&y| (x, y)))
        .collect()
}

#[test]
fn vn2000_control_points_match_cs2cs() {
    if !require_tool("cs2cs") || !require_tool("ogr2ogr") {
        return;
    }
    let db = TestDb::create("vn2000");
    let tmp = tempfile::tempdir().unwrap();
    let tm3 = grid(
        &[535_000.0, 560_000.0, 585_000.0, 610_000.0],
        &[1_090_000.0, 1_115_000.0, 1_140_000.0],
    );
    let cf_rotations_flipped =
        "-191.90441429,-39.30318279,-111.45032835,-0.00928836,0.01975479,-0.00427372,0.252906278";
    let cases = vec![
        Case {
            layer: "cp_tm3_epsg",
            cs2cs_src: format!("{TM3_10545} +towgs84={TOWGS84}"),
            import_args: vec!["--src-crs".into(), "EPSG:9210".into()],
            points: tm3.clone(),
            shapefile_srs: None,
            expect_note: None,
        },
        Case {
            // A web snippet with the rotation signs flipped, as many carry.
            layer: "cp_tm3_flipped",
            cs2cs_src: format!("{TM3_10545} +towgs84={TOWGS84}"),
            import_args: vec![
                "--src-crs".into(),
                format!("{TM3_10545} +towgs84={cf_rotations_flipped}"),
            ],
            points: tm3.clone(),
            shapefile_srs: None,
            expect_note: Some("rotation signs flipped"),
        },
        Case {
            // A .prj with the TM-3 projection but no datum at all.
            layer: "cp_tm3_bare_prj",
            cs2cs_src: format!("{TM3_10545} +towgs84={TOWGS84}"),
            import_args: vec![],
            points: tm3.clone(),
            shapefile_srs: Some(TM3_10545.to_string()),
            expect_note: Some("treated as VN-2000"),
        },
        Case {
            layer: "cp_utm48",
            cs2cs_src: format!("+proj=utm +zone=48 +ellps=WGS84 +towgs84={TOWGS84} +units=m"),
            import_args: vec!["--src-crs".into(), "EPSG:3405".into()],
            points: grid(
                &[615_000.0, 640_000.0, 665_000.0, 690_000.0],
                &[1_090_000.0, 1_115_000.0, 1_140_000.0],
            ),
            shapefile_srs: None,
            expect_note: None,
        },
        Case {
            layer: "cp_geographic",
            cs2cs_src: format!("+proj=longlat +ellps=WGS84 +towgs84={TOWGS84}"),
            import_args: vec!["--src-crs".into(), "EPSG:4756".into()],
            points: grid(&[106.05, 106.3, 106.55, 106.78], &[9.82, 10.05, 10.3]),
            shapefile_srs: None,
            expect_note: None,
        },
    ];
    let data_dir = tmp.path().join("store");
    for case in &cases {
        assert!(case.points.len() >= 10);
        let csv = tmp.path().join(format!("{}.csv", case.layer));
        let mut text = String::from("easting,northing,name\n");
        for (i, (x, y)) in case.points.iter().enumerate() {
            text.push_str(&format!("{x},{y},P{i:02}\n"));
        }
        fs::write(&csv, text).unwrap();
        let file = match &case.shapefile_srs {
            None => csv,
            Some(srs) => {
                let shp = tmp.path().join(format!("{}.shp", case.layer));
                let o = Command::new("ogr2ogr")
                    .args([
                        "-f",
                        "ESRI Shapefile",
                        shp.to_str().unwrap(),
                        csv.to_str().unwrap(),
                    ])
                    .args([
                        "-oo",
                        "X_POSSIBLE_NAMES=easting",
                        "-oo",
                        "Y_POSSIBLE_NAMES=northing",
                    ])
                    .args(["-a_srs", srs])
                    .output()
                    .unwrap();
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                shp
            }
        };
        let expected = cs2cs(&case.cs2cs_src, WGS84_LONLAT, &case.points);
        assert_eq!(expected.len(), case.points.len());
        for (label, store_args) in stores(db.as_ref(), &data_dir) {
            let o = ok(run(cuulong()
                .args(&store_args)
                .args([
                    "import",
                    file.to_str().unwrap(),
                    "--layer",
                    case.layer,
                    "--quiet",
                ])
                .args(&case.import_args)));
            let out = stdout(&o);
            assert!(out.contains("EPSG:6960"), "[{label}] {}: {out}", case.layer);
            if let Some(note) = case.expect_note {
                assert!(
                    out.contains(note),
                    "[{label}] {}: expected note '{note}': {out}",
                    case.layer
                );
            }
            let rt = tokio::runtime::Runtime::new().unwrap();
            let store_cfg = if label == "postgis" {
                cuulong_store::StoreConfig::Postgis {
                    url: db.as_ref().unwrap().url.clone(),
                }
            } else {
                cuulong_store::StoreConfig::Embedded {
                    data_dir: data_dir.clone(),
                }
            };
            let got = rt.block_on(async {
                let store = cuulong_store::open(&store_cfg).await.unwrap();
                imported(store.as_ref(), case.layer).await
            });
            assert_eq!(got.len(), case.points.len());
            for (name, lonlat) in got {
                let i: usize = name[1..].parse().unwrap();
                let d = metres(lonlat, expected[i]);
                assert!(
                    d < 0.05,
                    "[{label}] {} {name}: {d:.4} m from cs2cs ({lonlat:?} vs {:?})",
                    case.layer,
                    expected[i]
                );
            }
        }
    }
    // Pinning matters: PROJ's own choice for EPSG:9210 → 4326 lands far from EPSG:6960.
    let default = {
        let out = Command::new("sh")
            .arg("-c")
            .arg("echo 585000 1115000 | cs2cs -f %.10f EPSG:9210 +to +proj=longlat +datum=WGS84 +type=crs")
            .output()
            .unwrap();
        let s = String::from_utf8(out.stdout).unwrap();
        let v: Vec<f64> = s
            .split_whitespace()
            .take(2)
            .map(|t| t.parse().unwrap())
            .collect();
        (v[0], v[1])
    };
    let pinned = cs2cs(
        &format!("{TM3_10545} +towgs84={TOWGS84}"),
        WGS84_LONLAT,
        &[(585_000.0, 1_115_000.0)],
    )[0];
    let gap = metres(default, pinned);
    assert!(
        gap > 0.3,
        "PROJ's default operation is only {gap:.3} m from EPSG:6960"
    );
}
