//! A PostGIS import announces itself on `NOTIFY cuulong_layers` with the layer id, after commit.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use sqlx::postgres::PgListener;

#[test]
fn postgis_import_sends_notify_with_layer_id() {
    let Some(db) = TestDb::create("notify") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut listener = rt.block_on(async {
        let mut l = PgListener::connect(&db.url).await.unwrap();
        l.listen("cuulong_layers").await.unwrap();
        l
    });
    let file = samples().join("admin/bentre_province_2009.geojson");
    ok(run(cuulong().args([
        "--database-url",
        &db.url,
        "import",
        file.to_str().unwrap(),
        "--layer",
        "province",
        "--quiet",
    ])));
    let note = rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
            .await
            .expect("a notification within 10 s")
            .unwrap()
    });
    assert_eq!(note.channel(), "cuulong_layers");
    assert_eq!(note.payload(), "province");
    // A failed import sends nothing.
    let o = run(cuulong().args([
        "--database-url",
        &db.url,
        "import",
        "/nonexistent.shp",
        "--layer",
        "province",
        "--quiet",
    ]));
    assert!(!o.status.success());
    let none = rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_millis(500), listener.recv()).await
    });
    assert!(
        none.is_err(),
        "unexpected notification after a failed import"
    );
}
