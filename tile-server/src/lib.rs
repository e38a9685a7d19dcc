//! cuulong-tile-server: `cuulong serve`. Every layer lives in memory behind an R-tree
//! (`cuulong_core::index`); handlers stay thin and answer from a snapshot of the indexes.

mod admin;
pub mod auth;
mod catalog;
mod downloads;
mod error;
mod features;
mod filter;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod loader;
mod memory;
pub mod metrics;
pub mod observations;
mod ogc_tiles;
mod openapi;
mod query;
mod ratelimit;
mod reproject;
pub mod salinity;
pub mod snapshot;
pub mod sta;
pub mod state;
mod styles;
mod telemetry;
mod temporal;
pub mod tiles;
mod web;
mod wms;
mod wmts;
pub mod work;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::{header, Method};
use axum::routing::get;
use axum::Router;
use cuulong_store::Store;
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeDir;

pub use error::ApiError;
pub use memory::avoid_transparent_huge_pages;
pub use state::AppState;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    /// Tile cache size in MiB; 0 turns the cache off.
    pub tile_cache_mb: u64,
    pub styles_dir: PathBuf,
    pub web_dir: PathBuf,
    pub public_url: Option<String>,
    /// Requests a minute per API key (0 = unlimited).
    pub rate_limit_per_minute: u32,
    /// Requests a minute per address for callers without a valid key (0 = unlimited).
    pub anonymous_rate_limit_per_minute: u32,
    /// Load balancers and proxies in front of the server: a request from one of them is
    /// charged to the client its `X-Forwarded-For` names (else to the peer's address).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Bytes of map images being drawn at once, MiB; a GetMap that does not fit waits a moment
    /// or gets 503 + Retry-After.
    pub render_memory_mb: u32,
    /// MiB the in-memory indexes may take in all (estimated before each is built); a layer
    /// beyond it is served from its file. `None`: no limit.
    pub index_memory_mb: Option<u64>,
    /// A token that lets a `/metrics` scrape see every layer's series (else only those its
    /// caller may see).
    pub metrics_token: Option<String>,
    /// Event streams (`/events`) open at once; beyond it 503.
    pub max_event_streams: u32,
    /// Requests served at once; beyond it 503 + Retry-After (health, readiness, metrics and
    /// events are exempt).
    pub max_concurrency: u32,
    pub request_timeout: std::time::Duration,
    /// Largest WMS GetMap WIDTH/HEIGHT.
    pub wms_max_size: u32,
    /// Tile grids served beside the built-in ones (read from TMS 2.0 JSON files).
    pub tile_matrix_sets: Vec<cuulong_core::tms::TileMatrixSet>,
    /// Where a server on PostGIS keeps its copy of the served layers (to start and serve from
    /// while PostgreSQL is unreachable); `None` keeps none.
    pub snapshot_dir: Option<PathBuf>,
    /// Observations over MQTT: the broker, the key to write with, extra topic patterns.
    pub mqtt: Option<sta::mqtt::MqttConfig>,
    /// Salinity alerts, fronts and webhooks (`--salinity-rules`).
    pub salinity: Option<salinity::SalinitySetup>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tile_cache_mb: 256,
            styles_dir: here.join("../styles"),
            web_dir: here.join("web"),
            public_url: None,
            rate_limit_per_minute: 6000,
            anonymous_rate_limit_per_minute: 6000,
            trusted_proxies: Vec::new(),
            render_memory_mb: work::default_render_memory_mb(),
            index_memory_mb: None,
            metrics_token: None,
            max_event_streams: 256,
            max_concurrency: 1024,
            request_timeout: std::time::Duration::from_secs(60),
            wms_max_size: wms::DEFAULT_MAX_SIZE,
            tile_matrix_sets: Vec::new(),
            snapshot_dir: None,
            mqtt: None,
            salinity: None,
        }
    }
}

/// The router, apart from `serve`, so tests can drive it in-process.
pub fn app(state: Arc<AppState>) -> Router {
    let web = state.web_dir.clone();
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS, Method::POST])
        .allow_headers([
            header::IF_NONE_MATCH,
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
        ])
        .expose_headers([header::ETAG, header::CONTENT_ENCODING]);
    Router::new()
        .route("/", get(features::landing))
        .route("/conformance", get(features::conformance))
        .route("/collections", get(features::collections))
        .route("/collections/{id}", get(features::collection))
        .route("/collections/{id}/items", get(features::items))
        .route("/collections/{id}/queryables", get(features::queryables))
        .route("/api", get(openapi::api))
        .route("/collections/{id}/items/{fid}", get(features::item))
        .route("/tileMatrixSets", get(ogc_tiles::tile_matrix_sets))
        .route("/tileMatrixSets/{id}", get(ogc_tiles::tile_matrix_set))
        .route("/collections/{id}/tiles", get(ogc_tiles::tilesets))
        .route("/collections/{id}/tiles/{tms}", get(ogc_tiles::tileset))
        .route(
            "/collections/{id}/tiles/{tms}/{level}/{row}/{col}",
            get(ogc_tiles::vector_tile),
        )
        .route("/collections/{id}/map/tiles", get(ogc_tiles::tilesets))
        .route("/collections/{id}/map/tiles/{tms}", get(ogc_tiles::tileset))
        .route(
            "/collections/{id}/map/tiles/{tms}/{level}/{row}/{col}",
            get(ogc_tiles::map_tile),
        )
        .route("/query/point", get(query::point))
        .route("/admin/lineage/{code}", get(admin::lineage))
        .route("/admin/resolve", get(admin::resolve))
        .route("/admin/reexpress", get(admin::reexpress))
        .route(
            "/query/summary",
            axum::routing::post(query::summary).get(query::summary),
        )
        // XYZ tiles and TileJSON, or the dataset's OGC API tiles (told apart by `.mvt`/`.json`
        // and the grid id). The patterns keep the XYZ names: they are the routes' metric labels.
        .route(
            "/tiles/{layers}/{z}/{x}/{y}",
            get(ogc_tiles::dataset_vector_tile),
        )
        .route("/tiles/{layers}", get(ogc_tiles::dataset_tileset))
        .route("/tiles", get(ogc_tiles::dataset_tilesets))
        .route("/map/tiles", get(ogc_tiles::dataset_tilesets))
        .route("/map/tiles/{segment}", get(ogc_tiles::dataset_tileset))
        .route(
            "/map/tiles/{tms}/{level}/{row}/{col}",
            get(ogc_tiles::dataset_map_tile),
        )
        .route("/styles/{name}", get(web::style))
        .route("/map", get(web::map_page))
        .route("/wms", get(wms::wms))
        .route("/wmts", get(wmts::kvp))
        .route(
            "/wmts/1.0.0/WMTSCapabilities.xml",
            get(wmts::rest_capabilities),
        )
        .route(
            "/wmts/1.0.0/{layer}/{style}/{tms}/{level}/{row}/{file}",
            get(wmts::rest_tile),
        )
        .route("/layers.json", get(web::layers))
        .route("/catalog", get(catalog::catalog))
        .route("/downloads/{file}", get(downloads::download))
        .route("/events", get(web::events))
        .route("/sta/v1.1", get(sta::root))
        .route("/sta/v1.1/", get(sta::root))
        .route(
            "/sta/v1.1/{*path}",
            get(sta::get)
                .post(sta::post)
                .layer(axum::extract::DefaultBodyLimit::max(sta::MAX_BODY)),
        )
        .route(
            "/api/observations/{datastream}/aggregates",
            get(salinity::api::aggregates),
        )
        .route("/api/alerts", get(salinity::api::alerts))
        .route("/api/salinity/fronts", get(salinity::api::fronts))
        .route("/api/salinity/zones", get(salinity::api::zones))
        .route("/health", get(web::health))
        .route("/ready", get(web::ready))
        .route("/metrics", get(metrics::metrics))
        .nest_service("/vendor", ServeDir::new(web.join("vendor")))
        .route("/fonts/{stack}/{range}", get(web::glyphs))
        .fallback(web::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::middleware,
        ))
        .layer(cors)
        .with_state(state)
}

/// Runs the server until the process is stopped: binds, loads every layer in the
/// background (`/ready` turns 200 when done), keeps layers current.
pub async fn serve(store: Arc<dyn Store>, config: ServerConfig) -> std::io::Result<()> {
    let (audit_tx, audit_rx) = tokio::sync::mpsc::channel(10_000);
    tokio::spawn(auth::audit_writer(store.clone(), audit_rx));
    let state = Arc::new(AppState::new(store, &config, audit_tx));
    tokio::spawn(loader::run(state.clone()));
    tokio::spawn(sta::live::run(state.clone()));
    if let Some(w) = &state.salinity.webhooks {
        w.start();
    }
    if let Some(mqtt) = config.mqtt.clone() {
        tokio::spawn(sta::mqtt::run(state.clone(), mqtt));
    }
    tokio::spawn(loader::watch_styles(state.clone()));
    // Responses go out whole in one write; Nagle would only hold back the last segment of
    // a pipelined or large response for a delayed ACK.
    let listener = axum::serve::ListenerExt::tap_io(
        tokio::net::TcpListener::bind(config.bind).await?,
        |tcp| {
            let _ = tcp.set_nodelay(true);
        },
    );
    tracing::info!(addr = %config.bind, "cuulong serving; map at http://{}/map", config.bind);
    eprintln!(
        "cuulong: serving on http://{}/ (map: http://{}/map)",
        config.bind, config.bind
    );
    let stopping = state.clone();
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown().await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stopping.shutdown.send(true);
    })
    .await
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
