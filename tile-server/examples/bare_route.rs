//! The ceiling for cached tiles: a bare axum route returning pre-fetched bytes, with the same
//! headers cuulong sends. Used by benches/tiles_vs_martin.sh.
//!
//!   cargo run --release --example bare_route -- 127.0.0.1:8099 DIR
//!
//! DIR holds files named `<z>_<x>_<y>.mvt.gz` (gzip MVT); requests to
//! `/tiles/{layers}/{z}/{x}/{y}.mvt` get them. A `point.json` in DIR is the answer to every
//! `/query/point` request (the ceiling for benches/query_point_vs_postgis.sh).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

type Tiles = Arc<HashMap<String, Arc<Vec<u8>>>>;

async fn tile(
    State(tiles): State<Tiles>,
    Path((_l, z, x, y)): Path<(String, String, String, String)>,
) -> Response {
    let key = format!("{z}_{x}_{}", y.trim_end_matches(".mvt"));
    match tiles.get(&key) {
        Some(b) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/vnd.mapbox-vector-tile"),
                ),
                (header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=60"),
                ),
            ],
            b.as_ref().clone(),
        )
            .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:8099".into());
    let dir = args.next().unwrap_or_else(|| ".".into());
    let mut tiles = HashMap::new();
    for e in std::fs::read_dir(&dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(key) = name.strip_suffix(".mvt.gz") {
            tiles.insert(key.to_owned(), Arc::new(std::fs::read(e.path())?));
        }
    }
    eprintln!("bare_route: {} tiles on {bind}", tiles.len());
    let point: Arc<Vec<u8>> =
        Arc::new(std::fs::read(format!("{dir}/point.json")).unwrap_or_default());
    let app = Router::new()
        .route("/tiles/{layers}/{z}/{x}/{y}", get(tile))
        .with_state(Arc::new(tiles))
        .route(
            "/query/point",
            get(move || {
                let point = point.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        )],
                        point.as_ref().clone(),
                    )
                }
            }),
        );
    // The same socket option as cuulong serve.
    let listener =
        axum::serve::ListenerExt::tap_io(tokio::net::TcpListener::bind(&bind).await?, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
    axum::serve(listener, app).await
}
