//! SIGKILL an import of a 200 000-feature layer at ten points: afterwards the layer is
//! either its previous version or the complete new one, never a mix, and nothing half-written
//! (staging tables, temp files) is visible through the store. Both backends.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::*;

const BIG: usize = 200_000;

fn state(store: &[String], layer: &str) -> (i64, i64) {
    let l = layer_entry(store, layer);
    (
        l["version"].as_i64().unwrap(),
        l["feature_count"].as_i64().unwrap(),
    )
}

fn import_cmd(store: &[String], file: &Path, layer: &str) -> Command {
    let mut c = cuulong();
    c.args(store)
        .args([
            "import",
            file.to_str().unwrap(),
            "--layer",
            layer,
            "--family",
            "land_use",
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

#[test]
fn sigkill_during_import_keeps_previous_version() {
    if !require_tool("/usr/bin/python3") {
        return;
    }
    let db = TestDb::create("sigkill");
    let big = big_gpkg(BIG);
    let small = big_gpkg(1000);
    let tmp = tempfile::tempdir().unwrap();
    for (label, store) in stores(db.as_ref(), &tmp.path().join("store")) {
        ok(run(cuulong().args(&store).args([
            "import",
            small.to_str().unwrap(),
            "--layer",
            "parcels",
            "--family",
            "land_use",
            "--quiet",
        ])));
        assert_eq!(state(&store, "parcels"), (1, 1000));
        // How long a full import takes here, to spread the kills over its whole run.
        let t0 = Instant::now();
        let status = import_cmd(&store, &big, "calibration").status().unwrap();
        assert!(status.success());
        let full = t0.elapsed();
        let mut kept_old = 0;
        for fraction in [0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95] {
            let before = state(&store, "parcels");
            let mut child = import_cmd(&store, &big, "parcels").spawn().unwrap();
            std::thread::sleep(full.mul_f64(fraction));
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            let after = state(&store, "parcels");
            let expected_new = (before.0 + 1, BIG as i64);
            assert!(
                after == before || after == expected_new,
                "[{label}] killed at {fraction}: {after:?} is neither {before:?} nor {expected_new:?}"
            );
            if after == before {
                kept_old += 1;
            }
            // The rows behind the catalogue are complete.
            if let Some(db) = db.as_ref().filter(|_| label == "postgis") {
                let rows = db.scalar_i64(&format!(
                    "SELECT count(*) FROM cuulong_data.l_parcels_v{}",
                    after.0
                ));
                assert_eq!(rows, after.1, "[{label}] killed at {fraction}");
                let tables = db.strings(
                    "SELECT tablename::text FROM pg_tables WHERE schemaname = 'cuulong_data' ORDER BY 1",
                );
                assert_eq!(
                    tables,
                    vec![
                        "l_calibration_v1".to_string(),
                        format!("l_parcels_v{}", after.0)
                    ],
                    "[{label}] stray tables after kill at {fraction}"
                );
            } else {
                let layers_dir = tmp.path().join("store/layers");
                let mut files: Vec<String> = std::fs::read_dir(&layers_dir)
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                files.sort();
                assert_eq!(
                    files,
                    vec![
                        "calibration.v1.fgb".to_string(),
                        format!("parcels.v{}.fgb", after.0)
                    ],
                    "[{label}] stray files after kill at {fraction}"
                );
                let stray_tmp = std::fs::read_dir(tmp.path().join("store"))
                    .unwrap()
                    .filter(|e| {
                        e.as_ref()
                            .unwrap()
                            .file_name()
                            .to_string_lossy()
                            .starts_with(".tmp-")
                    })
                    .count();
                assert_eq!(
                    stray_tmp, 0,
                    "[{label}] temp files after kill at {fraction}"
                );
            }
        }
        assert!(
            kept_old > 0,
            "[{label}] no kill landed before the commit; the test proved nothing"
        );
        // And a complete import still works afterwards.
        let before = state(&store, "parcels");
        assert!(import_cmd(&store, &big, "parcels")
            .status()
            .unwrap()
            .success());
        assert_eq!(state(&store, "parcels"), (before.0 + 1, BIG as i64));
    }
}
