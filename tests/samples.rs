//! Every data sample imports into both stores; per layer the PostGIS row count equals
//! features read minus rejects, and the embedded store holds exactly the same features.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use cuulong_core::{Feature, LayerId, Value};
use cuulong_store::{Store, StoreConfig};
use futures::TryStreamExt;

/// All features of a layer in id order (backends stream in their own order).
async fn all_features(store: &dyn Store, id: &LayerId) -> Vec<Feature> {
    let mut v: Vec<Feature> = store
        .features(id)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    v.sort_by_key(|f| f.id);
    v
}

#[test]
fn samples_import_into_both_stores_identically() {
    let Some(db) = TestDb::create("samples") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let manifest = samples().join("samples.toml");
    let stores = stores(Some(&db), &tmp.path().join("store"));
    for (_, args) in &stores {
        let o = ok(run(cuulong().args(args).args([
            "import-manifest",
            manifest.to_str().unwrap(),
            "--quiet",
        ])));
        assert!(stdout(&o).contains("imported layer 'land_use'"));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pg = cuulong_store::open(&StoreConfig::Postgis { url: db.url.clone() }).await.unwrap();
        let emb = cuulong_store::open(&StoreConfig::Embedded { data_dir: tmp.path().join("store") })
            .await
            .unwrap();
        let pg_layers = pg.layers().await.unwrap();
        let emb_layers = emb.layers().await.unwrap();
        assert_eq!(pg_layers.len(), 10, "all ten sample layers");
        assert_eq!(
            pg_layers.iter().map(|l| l.id.to_string()).collect::<Vec<_>>(),
            emb_layers.iter().map(|l| l.id.to_string()).collect::<Vec<_>>()
        );
        let mut c = db.connect().await;
        for (p, e) in pg_layers.iter().zip(&emb_layers) {
            let id = &p.id;
            let history = pg.history(id).await.unwrap();
            let h = history.last().unwrap();
            let table: String = sqlx::query_scalar("SELECT table_name FROM cuulong.layers WHERE id = $1")
                .bind(id.as_str())
                .fetch_one(&mut c)
                .await
                .unwrap();
            let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM cuulong_data.\"{table}\""))
                .fetch_one(&mut c)
                .await
                .unwrap();
            if h.file.ends_with(".csv") && h.src_crs == "EPSG:4326" && h.transformation.starts_with("none: boundaries dissolved") {
                // A lineage import: it read the table's rows and wrote the layer's units.
                assert_eq!(rows, h.imported, "{id}: rows = units written by the lineage");
            } else {
                assert_eq!(rows, h.read - h.rejected, "{id}: rows = read - rejected");
            }
            assert_eq!(rows, p.feature_count, "{id}");
            assert!(h.imported > 0 && h.sha256.len() == 64, "{id}: {h:?}");
            // Every geometry PostGIS holds is valid by its own rules, in EPSG:4326.
            let invalid: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM cuulong_data.\"{table}\" WHERE NOT ST_IsValid(geom) OR ST_SRID(geom) <> 4326"
            ))
            .fetch_one(&mut c)
            .await
            .unwrap();
            assert_eq!(invalid, 0, "{id}: invalid geometries stored");
            assert_eq!(p.schema, e.schema, "{id}: schema");
            assert_eq!((p.feature_count, p.bbox), (e.feature_count, e.bbox), "{id}");
            // `recorded_at` is when each store learned a unit: the two imports ran apart.
            let recorded = p.schema.index_of("recorded_at");
            let unrecorded = |mut fs: Vec<Feature>| {
                if let Some(i) = recorded {
                    fs.iter_mut().for_each(|f| f.values[i] = cuulong_core::Value::Null);
                }
                fs
            };
            let a = unrecorded(all_features(pg.as_ref(), id).await);
            let b = unrecorded(all_features(emb.as_ref(), id).await);
            assert_eq!(a.len() as i64, p.feature_count, "{id}");
            assert_eq!(a, b, "{id}: PostGIS and embedded features differ");
        }

        // TCVN3 text decodes to the same names as the UTF-8 original of the file.
        let districts = LayerId::parse("admin_districts").unwrap();
        let meta = pg.layer(&districts).await.unwrap().unwrap();
        let name = meta.schema.index_of("name").unwrap();
        let names: Vec<String> = all_features(pg.as_ref(), &districts)
            .await
            .into_iter()
            .map(|f| f.values[name].to_string())
            .collect();
        let original: serde_json::Value = serde_json::from_slice(
            &std::fs::read(samples().join("admin/bentre_districts_2009.geojson")).unwrap(),
        )
        .unwrap();
        let mut want: Vec<String> = original["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["properties"]["name_vi"].as_str().unwrap().to_owned())
            .collect();
        let mut got = names.clone();
        want.sort();
        got.sort();
        assert_eq!(got, want);

        // Land-use codes are all in the code list, crosswalked codes reported, the
        // unrepairable bow-tie rejected and the spike repaired.
        let lu = LayerId::parse("land_use").unwrap();
        let h = pg.history(&lu).await.unwrap().pop().unwrap();
        assert_eq!((h.rejected, h.repaired), (1, 1), "{h:?}");
        assert!(h.warnings.iter().any(|w| w.contains("mapped to CLN")), "{:?}", h.warnings);
        assert!(h.transformation.contains("EPSG:6960"));
        let meta = pg.layer(&lu).await.unwrap().unwrap();
        let code = meta.schema.index_of("lu_code").unwrap();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for f in all_features(pg.as_ref(), &lu).await {
            let Value::Text(c) = &f.values[code] else { panic!("lu_code not text") };
            assert!(cuulong_core::family::land_use_code(c).is_some(), "{c}");
            *counts.entry(c.clone()).or_default() += 1;
        }
        let total: usize = counts.values().sum();
        let cln = counts["CLN"] as f64 / total as f64;
        assert!((0.35..0.55).contains(&cln), "CLN share {cln}");
        // Source attributes outside the family schema are kept, typed.
        assert!(meta.schema.index_of("ten_loai").is_some());
        let communes = pg.layer(&LayerId::parse("admin_communes").unwrap()).await.unwrap().unwrap();
        assert!(communes.schema.index_of("name_2").is_some() || communes.schema.index_of("name_vi").is_some());
    });
}
