//! Entry points for the cargo-fuzz targets (`fuzz/`): the parsers that face the network, driven
//! the way a request drives them — through the router, the middleware and the handlers — on a
//! small in-memory dataset. Not part of the server's API.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request};
use axum::Router;
use chrono::NaiveDate;
use cuulong_core::access::Caller;
use cuulong_core::{Feature, Field, FieldType, LayerId, LayerMeta, Schema, Value};
use geo_types::{line_string, polygon, Geometry};
use tower::ServiceExt;

use crate::state::{AppState, Layers};

/// A server in-process with three small layers (land-use polygons with text, number and date
/// fields; roads; communes with codes), ready to take requests.
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    app: Router,
    state: Arc<AppState>,
    _dir: tempfile::TempDir,
}

fn meta(id: &str, family: &str, geometry_type: &str, fields: Vec<Field>, n: usize) -> LayerMeta {
    let layer = LayerId::parse(id).expect("a valid id");
    LayerMeta {
        title_vi: format!("{id} (thử)"),
        family: Some(family.to_owned()),
        feature_count: n as i64,
        ..LayerMeta::new(layer, geometry_type, Schema::new(fields))
    }
}

fn square(lon: f64, lat: f64, d: f64) -> Geometry<f64> {
    Geometry::Polygon(polygon![
        (x: lon, y: lat), (x: lon + d, y: lat), (x: lon + d, y: lat + d), (x: lon, y: lat + d), (x: lon, y: lat)
    ])
}

fn layers() -> Layers {
    let codes = ["LUC", "ONT", "CLN", "NTS", "SON"];
    let land_use: Vec<Feature> = (0..25)
        .map(|i| Feature {
            id: i + 1,
            geometry: square(
                106.2 + 0.02 * (i % 5) as f64,
                10.1 + 0.02 * (i / 5) as f64,
                0.02,
            ),
            values: vec![
                Value::Text(codes[i as usize % 5].into()),
                Value::Float(40_000.0 * (i + 1) as f64),
                NaiveDate::from_ymd_opt(2020, 1 + (i % 12) as u32, 1)
                    .map_or(Value::Null, Value::Date),
            ],
        })
        .collect();
    let roads: Vec<Feature> = (0..5)
        .map(|i| Feature {
            id: i + 1,
            geometry: Geometry::LineString(line_string![
                (x: 106.2, y: 10.1 + 0.02 * i as f64), (x: 106.3, y: 10.12 + 0.02 * i as f64)
            ]),
            values: vec![Value::Text(["QL", "DT", "DH"][i as usize % 3].into())],
        })
        .collect();
    let communes = vec![Feature {
        id: 1,
        geometry: square(106.2, 10.1, 0.1),
        values: vec![Value::Text("29011".into()), Value::Text("Xã Thử".into())],
    }];
    let mut out = Layers::new();
    for (m, f) in [
        (
            meta(
                "land_use",
                "land_use",
                "Polygon",
                vec![
                    Field::new("lu_code", FieldType::Text),
                    Field::new("area_m2", FieldType::Float),
                    Field::new("surveyed", FieldType::Date),
                ],
                land_use.len(),
            ),
            land_use,
        ),
        (
            meta(
                "roads",
                "transport",
                "LineString",
                vec![Field::new("road_class", FieldType::Text)],
                roads.len(),
            ),
            roads,
        ),
        (
            meta(
                "admin_communes",
                "admin",
                "Polygon",
                vec![
                    Field::new("code", FieldType::Text),
                    Field::new("name", FieldType::Text),
                ],
                communes.len(),
            ),
            communes,
        ),
    ] {
        out.insert(
            m.id.to_string(),
            Arc::new(cuulong_core::index::LayerIndex::build(m, f)),
        );
    }
    out
}

/// The sample observation network with two days of simulated readings, in memory.
fn observations(state: &AppState) {
    use cuulong_core::sta::{simulate::Simulation, Catalog, Network};
    let network = Network::parse(include_str!("../../data-samples/observations/network.toml"))
        .expect("the sample network parses");
    let catalog = Catalog::default().merge(&network, chrono::Utc::now());
    let day = 86_400_000;
    let readings = Simulation {
        seed: 1,
        from_ms: 1_770_000_000_000,
        to_ms: 1_770_000_000_000 + 2 * day,
        step_ms: 3_600_000,
        clean: false,
    }
    .run(&catalog);
    state.observations.catalog.store(Arc::new(catalog));
    state.observations.insert(&readings);
    state
        .observations
        .loaded
        .store(true, std::sync::atomic::Ordering::Release);
}

impl Harness {
    /// Small limits (maps up to 64 pixels, no rate limits) so each input runs quickly.
    pub fn new() -> Harness {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = cuulong_store::embedded::EmbeddedStore::open(dir.path())
            .expect("an embedded store in a temporary folder");
        let config = crate::ServerConfig {
            wms_max_size: 64,
            rate_limit_per_minute: 0,
            anonymous_rate_limit_per_minute: 0,
            trusted_proxies: Vec::new(),
            render_memory_mb: 64,
            tile_cache_mb: 0,
            ..crate::ServerConfig::default()
        };
        let (audit, mut audit_rx) = tokio::sync::mpsc::channel(16);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.spawn(async move { while audit_rx.recv().await.is_some() {} });
        let state = Arc::new(AppState::new(Arc::new(store), &config, audit));
        state.layers.store(Arc::new(layers()));
        observations(&state);
        state.set_ready();
        Harness {
            runtime,
            app: crate::app(state.clone()),
            state,
            _dir: dir,
        }
    }

    /// Sends `method path_and_query` (with `body`) through the router; `None` when the text is
    /// no request target at all (the HTTP layer refuses it before cuulong sees it).
    pub fn request(&self, method: Method, path_and_query: &str, body: Vec<u8>) -> Option<u16> {
        let req = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .ok()?;
        let resp = self
            .runtime
            .block_on(self.app.clone().oneshot(req))
            .expect("the router is infallible");
        Some(resp.status().as_u16())
    }

    /// [`Harness::request`] with GET and no body.
    pub fn get(&self, path_and_query: &str) -> Option<u16> {
        self.request(Method::GET, path_and_query, Vec::new())
    }

    /// A CQL2 text filter through cuulong's own entry point (shape check, parse, property
    /// check) and evaluated on every land-use feature: the number that match.
    pub fn cql2(&self, text: &str) -> Result<usize, crate::ApiError> {
        let layers = self.state.snapshot();
        let l = &layers["land_use"];
        let filter = crate::filter::Filter::parse(text, l.meta())?;
        let mut n = 0;
        for f in l.features() {
            if filter
                .matches(l.meta(), &f)
                .map_err(crate::ApiError::BadRequest)?
            {
                n += 1;
            }
        }
        Ok(n)
    }

    /// A layer list through the one resolver: how many layers it names.
    pub fn layer_list(&self, list: &str) -> Result<usize, crate::state::ResolveError> {
        self.state
            .resolve(&Caller::Anonymous, "layers", list, "fuzz")
            .map(|l| l.len())
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

/// Percent-encodes what a URI may not hold as it is, keeping the characters that give a query
/// its structure (`&`, `=`, `,`, `/`, `:`), so the fuzzer varies structure and content alike.
pub fn to_query(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'&'
            | b'='
            | b','
            | b'/'
            | b':'
            | b'%'
            | b'('
            | b')'
            | b'\'' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The router in-process: routing, the middleware and the one error mapping.
    #[test]
    fn requests_route_and_errors_map_in_process() {
        let h = Harness::new();
        for (path, status) in [
            ("/health", 200),
            ("/collections/land_use/items?limit=2", 200),
            ("/collections/land_use/items?lu_code=LUC&bbox=106.2,10.1,106.3,10.2", 200),
            ("/collections/nowhere/items", 404),
            ("/collections/land_use/items?limit=0", 400),
            ("/collections/land_use/items?bbox=1,2,3", 400),
            ("/collections/land_use/items?datetime=yesterday", 400),
            ("/collections/land_use/items?colour=red", 400),
            ("/tiles/land_use,roads,land_use/12/3256/1931.mvt", 200),
            ("/tiles/land_use/40/0/0.mvt", 400),
            ("/query/summary?admin=29011", 200),
            ("/query/summary?admin=99999", 404),
            ("/query/point?lon=106.25&lat=10.15&layers=land_use", 200),
            ("/wms?SERVICE=WMS&REQUEST=GetCapabilities", 200),
            ("/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=land_use&STYLES=&CRS=CRS:84&BBOX=106.2,10.1,106.3,10.2&WIDTH=64&HEIGHT=64&FORMAT=image/png", 200),
            ("/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=land_use&STYLES=&CRS=CRS:84&BBOX=106.2,10.1,106.3,10.2&WIDTH=65&HEIGHT=64&FORMAT=image/png", 400),
            ("/no/such/route", 404),
            ("/sta/v1.1", 200),
            ("/sta/v1.1/Things?$expand=Datastreams($expand=Observations($top=2))", 200),
            ("/sta/v1.1/Observations?$filter=result%20gt%201&$orderby=result%20desc&$top=5", 200),
            ("/sta/v1.1/Things(11)", 404),
            ("/sta/v1.1/Observations?$top=999999999", 400),
        ] {
            assert_eq!(h.get(path), Some(status), "{path}");
        }
        let deep = format!("filter={}lu_code='LUC'{}", "(".repeat(100), ")".repeat(100));
        let path = format!("/collections/land_use/items?{}", to_query(deep.as_bytes()));
        assert_eq!(h.get(&path), Some(400), "{path}");
        assert_eq!(h.cql2("lu_code = 'LUC'").unwrap(), 5);
        assert_eq!(
            h.cql2("area_m2 > 500000 AND surveyed >= DATE('2020-06-01')")
                .unwrap(),
            7
        );
        assert_eq!(h.cql2("nothing = 1").unwrap_err().status().as_u16(), 400);
        assert_eq!(h.layer_list("roads, roads,land_use").unwrap(), 2);
        assert!(h.layer_list("roads,secret").is_err());
    }

    #[test]
    fn to_query_keeps_structure_and_encodes_the_rest() {
        assert_eq!(to_query(b"a=1&b=x y,\xff"), "a=1&b=x%20y,%FF");
    }
}
