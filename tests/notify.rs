//! A PostGIS import announces itself on `NOTIFY cuulong_layers` with the layer id, after commit.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use sqlx::postgres::PgListener;

#[test]
fn postgis_import_sends_notify_with_layer_id() {
    let Some(db) = TestDb::create("notify") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut listener = PgListener::connect(&db.url).await.unwrap();
        listener.listen("cuulong_layers").await.unwrap();
        let file = samples().join("admin/bentre_province_2009.geojson");
        let url = db.url.clone();
        let o = tokio::task::spawn_blocking(move || {
            run(cuulong().args([
                "--database-url",
                &url,
                "import",
                file.to_str().unwrap(),
                "--layer",
                "province",
                "--quiet",
            ]))
        })
        .await
        .unwrap();
        ok(o);
        let note = tokio::time::timeout(Duration::from_secs(10), listener.recv())
            .await
            .expect("a notification within 10 s")
            .unwrap();
        assert_eq!(note.channel(), "cuulong_layers");
        assert_eq!(note.payload(), "province");
        // A failed import sends nothing.
        let url = db.url.clone();
        let o = tokio::task::spawn_blocking(move || {
            run(cuulong().args([
                "--database-url",
                &url,
                "import",
                "/nonexistent.shp",
                "--layer",
                "province",
                "--quiet",
            ]))
        })
        .await
        .unwrap();
        assert!(!o.status.success());
        let mut stream = listener.into_stream();
        let none = tokio::time::timeout(
            Duration::from_millis(500),
            futures::StreamExt::next(&mut stream),
        )
        .await;
        assert!(
            none.is_err(),
            "unexpected notification after a failed import"
        );
    });
}
