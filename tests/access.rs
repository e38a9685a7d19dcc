//! Who sees what, through the one enforcement point: no key / shared key / granted key /
//! revoked / expired / wrong key × open / shared / restricted layer, over every endpoint that
//! exists so far (layer list, catalogue, downloads, TileJSON, tiles incl. composites, styles,
//! readiness).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

fn create_key(store: &[String], args: &[&str]) -> String {
    let o = ok(run(cuulong()
        .args(store)
        .args(["keys", "create"])
        .args(args)));
    let key = stdout(&o).trim().to_owned();
    assert!(key.starts_with("cl_"), "{key}");
    key
}

/// (caller, key presented, sees open/shared/restricted — or None when the key is refused).
type Case<'a> = (&'a str, Option<&'a str>, Option<[bool; 3]>);

#[test]
fn access_matrix_over_every_endpoint_embedded() {
    let tmp = tempfile::tempdir().unwrap();
    let store = vec![
        "--data-dir".to_string(),
        tmp.path().join("s").display().to_string(),
    ];
    access_matrix(&store, Some(&tmp.path().join("s/catalog.json")));
}

#[test]
fn access_matrix_over_every_endpoint_postgis() {
    let Some(db) = TestDb::create("access") else {
        return;
    };
    let store = vec!["--database-url".to_string(), db.url.clone()];
    access_matrix(&store, None);
}

/// Imports the station sample as a new layer `id` with `access` (and its owner agency).
fn import_points(store: &[String], id: &str, access: &str, owner: &str) {
    ok(import_stations(
        store,
        id,
        &["--access", access, "--owner", owner],
    ));
}

/// The matrix on one store; `catalog` is the embedded store's catalogue file (to check that
/// keys are stored hashed there).
fn access_matrix(store: &[String], catalog: Option<&std::path::Path>) {
    let store = store.to_vec();
    import_samples(&store);
    ok(run(cuulong().args(&store).args([
        "layers",
        "set-access",
        "water_areas",
        "shared",
    ])));
    ok(run(cuulong().args(&store).args([
        "layers",
        "set-access",
        "salinity_stations",
        "restricted",
    ])));
    let shared = create_key(
        &store,
        &["--name", "gtvt", "--agency", "Sở Giao thông vận tải"],
    );
    let granted = create_key(
        &store,
        &[
            "--name",
            "yte",
            "--agency",
            "Sở Y tế",
            "--grant",
            "salinity_stations",
        ],
    );
    let revoked = create_key(&store, &["--name", "old", "--agency", "Sở Y tế"]);
    ok(run(cuulong().args(&store).args(["keys", "revoke", "old"])));
    let expired = create_key(
        &store,
        &[
            "--name",
            "exp",
            "--agency",
            "Sở Y tế",
            "--expires",
            "2020-01-01",
        ],
    );
    let wrong = format!("cl_{}_{}", &granted[3..11], "0".repeat(40));

    // Keys are stored hashed only.
    if let Some(catalog) = catalog {
        let catalog = std::fs::read_to_string(catalog).unwrap();
        for k in [&shared, &granted, &revoked, &expired] {
            assert!(
                !catalog.contains(k.as_str()) && !catalog.contains(&k[12..]),
                "a key is stored in clear"
            );
        }
    }
    let listed = stdout(&ok(run(cuulong().args(&store).args(["keys", "list"]))));
    assert!(listed.contains("revoked") && listed.contains("expired") && !listed.contains(&shared));

    let server = Server::start(&store, &["--metrics-token", OPERATOR_TOKEN]);
    let (z, x, y) = tile_at(106.4, 10.1, 8);
    let layers = [
        ("admin_province", "open"),
        ("water_areas", "shared"),
        ("salinity_stations", "restricted"),
    ];
    // (caller, key, sees open/shared/restricted, or None for 401)
    let callers: Vec<Case> = vec![
        ("anonymous", None, Some([true, false, false])),
        ("shared key", Some(&shared), Some([true, true, false])),
        ("granted key", Some(&granted), Some([true, true, true])),
        ("revoked key", Some(&revoked), None),
        ("expired key", Some(&expired), None),
        ("wrong key", Some(&wrong), None),
    ];
    for (who, key, sees) in &callers {
        // Both ways of presenting a key.
        for via_query in [false, true] {
            let auth = key.map(|k| format!("Bearer {k}"));
            let headers: Vec<(&str, &str)> = match (&auth, via_query) {
                (Some(a), false) => vec![("Authorization", a.as_str())],
                _ => vec![],
            };
            let q = match (key, via_query) {
                (Some(k), true) => format!("key={k}"),
                _ => String::new(),
            };
            let get = |path: &str| {
                let sep = if path.contains('?') { '&' } else { '?' };
                let p = if q.is_empty() {
                    path.to_owned()
                } else {
                    format!("{path}{sep}{q}")
                };
                server.get(&p, &headers).unwrap()
            };
            let (s, _, body) = get("/layers.json");
            let Some(sees) = sees else {
                assert_eq!(s, 401, "{who}: /layers.json");
                let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(j["code"], "InvalidApiKey");
                let (s, _, _) = get(&format!("/tiles/admin_province/{z}/{x}/{y}.mvt"));
                assert_eq!(s, 401, "{who}: even open tiles refuse a bad key");
                assert_eq!(get("/metrics").0, 401, "{who}: /metrics");
                assert_eq!(get("/events").0, 401, "{who}: /events");
                // WMS clients get the refusal as a service exception.
                let (s, h, body) = get("/wms?SERVICE=WMS&REQUEST=GetCapabilities");
                assert_eq!(s, 401, "{who}: WMS");
                assert!(header(&h, "content-type").unwrap().starts_with("text/xml"));
                assert!(String::from_utf8_lossy(&body).contains("ServiceExceptionReport"));
                continue;
            };
            assert_eq!(s, 200);
            let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let ids: Vec<&str> = list
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["id"].as_str().unwrap())
                .collect();
            let (_, _, ready) = get("/ready");
            let ready: serde_json::Value = serde_json::from_slice(&ready).unwrap();
            let (_, _, cols) = get("/collections");
            let cols: serde_json::Value = serde_json::from_slice(&cols).unwrap();
            let col_ids: Vec<&str> = cols["collections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap())
                .collect();
            let (_, _, cat) = get("/catalog");
            let cat: serde_json::Value = serde_json::from_slice(&cat).unwrap();
            let cat_ids: Vec<&str> = cat["dataset"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["identifier"].as_str().unwrap())
                .collect();
            let (_, _, caps) = get("/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0");
            let caps = String::from_utf8_lossy(&caps).into_owned();
            let (_, _, caps111) = get("/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1");
            let caps111 = String::from_utf8_lossy(&caps111).into_owned();
            let (_, _, wmts) = get("/wmts?SERVICE=WMTS&REQUEST=GetCapabilities");
            let wmts = String::from_utf8_lossy(&wmts).into_owned();
            let (s, _, metrics) = get("/metrics");
            assert_eq!(s, 200, "{who}: /metrics");
            let metrics = String::from_utf8_lossy(&metrics).into_owned();
            for ((id, class), visible) in layers.iter().zip(sees) {
                let ctx = format!("{who} (query={via_query}) × {class} layer {id}");
                assert_eq!(ids.contains(id), *visible, "{ctx}: /layers.json");
                assert_eq!(
                    ready["layers"].get(*id).is_some(),
                    *visible,
                    "{ctx}: /ready"
                );
                assert_eq!(cat_ids.contains(id), *visible, "{ctx}: /catalog");
                for series in [
                    "cuulong_layer_version",
                    "cuulong_layer_features",
                    "cuulong_index_bytes",
                ] {
                    assert_eq!(
                        metric(&metrics, &format!("{series}{{layer=\"{id}\"}}")).is_some(),
                        *visible,
                        "{ctx}: /metrics {series}"
                    );
                }
                assert_eq!(col_ids.contains(id), *visible, "{ctx}: /collections");
                let (s, _, _) = get(&format!("/collections/{id}/items?limit=1"));
                assert_eq!(s == 200, *visible, "{ctx}: items {s}");
                assert!(s == 200 || s == 404, "{ctx}: items {s}");
                let (s, _, _) = get(&format!("/collections/{id}/items/1"));
                assert_eq!(s == 200, *visible, "{ctx}: item {s}");
                let (s, _, body) = get("/query/point?lon=106.706&lat=10.204&radius_m=10000");
                assert_eq!(s, 200);
                let found = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["features"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["layer"] == *id);
                assert_eq!(found, *visible, "{ctx}: /query/point");
                let (s, _, body) = get(&format!(
                    "/query/summary?admin=29011&datetime=2025-06-30&layers={id}"
                ));
                assert_eq!(s == 200, *visible, "{ctx}: /query/summary {s}");
                assert!(s == 200 || s == 404, "{ctx}: /query/summary {s}");
                let (_, _, all) = get("/query/summary?admin=29011&datetime=2025-06-30");
                let listed = serde_json::from_slice::<serde_json::Value>(&all).unwrap()["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|l| l["layer"] == *id);
                if !visible {
                    assert!(!listed, "{ctx}: /query/summary lists a hidden layer");
                } else {
                    serde_json::from_slice::<serde_json::Value>(&body).unwrap();
                }
                let (s, _, _) = get(&format!("/downloads/{id}.geojson"));
                assert_eq!(s == 200, *visible, "{ctx}: download {s}");
                assert!(s == 200 || s == 404, "{ctx}: download {s}");
                let (s, _, _) = get(&format!("/tiles/{id}.json"));
                assert_eq!(s == 200, *visible, "{ctx}: TileJSON {s}");
                assert!(s == 200 || s == 404, "{ctx}: TileJSON {s}");
                let (s, h, _) = get(&format!("/tiles/{id}/{z}/{x}/{y}.mvt"));
                assert_eq!(s == 200, *visible, "{ctx}: tile {s}");
                if s == 200 {
                    // Only open layers may sit in shared caches.
                    let cache = header(&h, "cache-control").unwrap();
                    assert_eq!(
                        cache.starts_with("public"),
                        *class == "open",
                        "{ctx}: {cache}"
                    );
                }
                assert!(s == 200 || s == 404, "{ctx}: tile {s}");
                // WMS: capabilities (both versions), GetMap, GetFeatureInfo, legend.
                let named = format!("<Name>{id}</Name>");
                assert_eq!(
                    caps.contains(&named),
                    *visible,
                    "{ctx}: WMS 1.3.0 capabilities"
                );
                assert_eq!(
                    caps111.contains(&named),
                    *visible,
                    "{ctx}: WMS 1.1.1 capabilities"
                );
                let frame = "CRS=CRS:84&BBOX=105.9,9.6,106.9,10.4&WIDTH=64&HEIGHT=64";
                let (s, h, body) = get(&format!(
                    "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=admin_province,{id}&STYLES=&{frame}&FORMAT=image/png"
                ));
                assert_eq!(s == 200, *visible, "{ctx}: WMS GetMap {s}");
                if s == 200 {
                    let cache = header(&h, "cache-control").unwrap();
                    assert_eq!(
                        cache.starts_with("public"),
                        *class == "open",
                        "{ctx}: WMS {cache}"
                    );
                }
                if !visible {
                    assert_eq!(s, 404, "{ctx}: WMS GetMap");
                    assert!(header(&h, "content-type").unwrap().starts_with("text/xml"));
                    assert!(String::from_utf8_lossy(&body).contains("code=\"LayerNotDefined\""));
                }
                let (s, _, body) = get(&format!(
                    "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=admin_province&QUERY_LAYERS={id}&STYLES=&{frame}&I=32&J=32&INFO_FORMAT=application/json"
                ));
                assert_eq!(s == 200, *visible, "{ctx}: WMS GetFeatureInfo {s}");
                if *visible {
                    serde_json::from_slice::<serde_json::Value>(&body).unwrap();
                }
                let (s, _, _) = get(&format!(
                    "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER={id}&FORMAT=image/png"
                ));
                assert_eq!(s == 200, *visible, "{ctx}: WMS GetLegendGraphic {s}");
                // OGC API – Tiles and WMTS: the same rule in every grid.
                let (s, _, _) = get(&format!("/collections/{id}/tiles/WorldCRS84Quad"));
                assert_eq!(s == 200, *visible, "{ctx}: tileset {s}");
                let (s, _, _) = get(&format!(
                    "/collections/{id}/tiles/VN2000TM3BenTreQuad/0/0/0"
                ));
                assert_eq!(
                    s == 200 || s == 204,
                    *visible,
                    "{ctx}: VN-2000 vector tile {s}"
                );
                let (s, h, _) = get(&format!("/collections/{id}/map/tiles/WorldCRS84Quad/0/0/1"));
                assert_eq!(s == 200, *visible, "{ctx}: map tile {s}");
                if s == 200 {
                    let cache = header(&h, "cache-control").unwrap();
                    assert_eq!(
                        cache.starts_with("public"),
                        *class == "open",
                        "{ctx}: map tile {cache}"
                    );
                }
                assert_eq!(
                    wmts.contains(&format!("<ows:Identifier>{id}</ows:Identifier>")),
                    *visible,
                    "{ctx}: WMTS capabilities"
                );
                let (s, _, _) = get(&format!(
                    "/wmts/1.0.0/{id}/default/WebMercatorQuad/0/0/0.png"
                ));
                assert_eq!(s == 200, *visible, "{ctx}: WMTS GetTile {s}");
                let (s, _, _) = get(&format!("/styles/generic.json?layer={id}"));
                assert_eq!(s == 200, *visible, "{ctx}: style {s}");
                // A composite mixing this layer with an open one is all or nothing.
                let (s, _, body) = get(&format!("/tiles/admin_province,{id}/{z}/{x}/{y}.mvt"));
                if *id != "admin_province" {
                    assert_eq!(s == 200, *visible, "{ctx}: composite {s}");
                    if !visible {
                        let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        assert!(j["description"]
                            .as_str()
                            .unwrap()
                            .contains("does not exist"));
                    }
                }
            }
        }
    }

    // The combined style adapts: an anonymous caller gets a style without the hidden layers,
    // whose tile source still works for it.
    let (s, _, body) = server.get("/styles/bentre.json", &[]).unwrap();
    assert_eq!(s, 200);
    let style: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let text = body.iter().map(|b| *b as char).collect::<String>();
    assert!(
        !text.contains("salinity_stations") && !text.contains("water_areas"),
        "hidden layers in the style"
    );
    let url = style["sources"]["cuulong"]["url"].as_str().unwrap();
    let path = url.strip_prefix(&server.url("")).unwrap();
    assert_eq!(server.get(path, &[]).unwrap().0, 200, "{url}");
    let bearer = format!("Bearer {granted}");
    let (_, _, body) = server
        .get("/styles/bentre.json", &[("Authorization", &bearer)])
        .unwrap();
    assert!(String::from_utf8_lossy(&body).contains("salinity_stations"));

    // The operator's scrape token sees every layer's series.
    let operator = format!("Bearer {OPERATOR_TOKEN}");
    let (s, _, m) = server
        .get("/metrics", &[("Authorization", &operator)])
        .unwrap();
    assert_eq!(s, 200);
    let m = String::from_utf8_lossy(&m);
    for (id, _) in &layers {
        assert!(
            metric(&m, &format!("cuulong_layer_version{{layer=\"{id}\"}}")).is_some(),
            "operator scrape lacks {id}"
        );
    }

    // Event streams carry only the layers their caller may see, at each event.
    let shared_bearer = format!("Bearer {shared}");
    let streams = [
        (
            "anonymous",
            EventStream::open(server.port, "/events", &[]),
            vec!["ev_open"],
        ),
        (
            "shared key",
            EventStream::open(server.port, "/events", &[("Authorization", &shared_bearer)]),
            vec!["ev_open", "ev_shared"],
        ),
        (
            "granted key",
            EventStream::open(server.port, &format!("/events?key={granted}"), &[]),
            vec!["ev_open", "ev_owned", "ev_shared"],
        ),
    ];
    import_points(&store, "ev_owned", "restricted", "Sở Y tế");
    import_points(&store, "ev_shared", "shared", "Sở Y tế");
    import_points(&store, "ev_open", "open", "Sở Y tế");
    let t0 = std::time::Instant::now();
    while !String::from_utf8_lossy(
        &server
            .get(
                "/layers.json",
                &[("Authorization", &format!("Bearer {granted}"))],
            )
            .unwrap()
            .2,
    )
    .contains("ev_open")
    {
        assert!(
            t0.elapsed().as_secs() < 30,
            "the new layers were not served in 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The events went out when the layers were loaded; give the streams a moment to read.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut granted_stream = None;
    for (who, stream, want) in streams {
        if who == "granted key" {
            granted_stream = Some((stream, want));
            continue;
        }
        let (status, text, ended) = stream.finish();
        assert_eq!(status, 200, "{who}: /events");
        assert!(!ended, "{who}: the stream ended early:\n{text}");
        let mut got = EventStream::layers(&text);
        got.sort();
        assert_eq!(got, want, "{who}: events\n{text}");
    }

    // Revoking a key takes effect without a restart — on an open event stream too.
    let (s, _, _) = server
        .get(
            "/tiles/salinity_stations.json",
            &[("Authorization", &bearer)],
        )
        .unwrap();
    assert_eq!(s, 200);
    ok(run(cuulong().args(&store).args(["keys", "revoke", "yte"])));
    let t0 = std::time::Instant::now();
    loop {
        let (s, _, _) = server
            .get(
                "/tiles/salinity_stations.json",
                &[("Authorization", &bearer)],
            )
            .unwrap();
        if s == 401 {
            break;
        }
        assert!(
            t0.elapsed().as_secs() < 10,
            "revoked key still accepted after 10 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let refused_after = t0.elapsed();
    let (stream, want) = granted_stream.unwrap();
    while !stream.ended() {
        assert!(
            t0.elapsed().as_secs() < 10,
            "the revoked key's event stream still open after 10 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    eprintln!(
        "revoked key refused after {} ms, its event stream ended after {} ms",
        refused_after.as_millis(),
        t0.elapsed().as_millis()
    );
    let (status, text, ended) = stream.finish();
    assert_eq!(status, 200);
    assert!(ended);
    let mut got = EventStream::layers(&text);
    got.sort();
    assert_eq!(got, want, "granted key: events\n{text}");
    assert!(
        text.contains("event: error") && text.contains("revoked or has expired"),
        "{text}"
    );
}

/// The operator's `--metrics-token` in the matrix.
const OPERATOR_TOKEN: &str = "operator-scrape-token-0123456789";

#[test]
fn api_keys_are_rate_limited() {
    let tmp = tempfile::tempdir().unwrap();
    let store = vec![
        "--data-dir".to_string(),
        tmp.path().join("s").display().to_string(),
    ];
    let file = samples().join("admin/bentre_province_2009.geojson");
    ok(run(cuulong().args(&store).args([
        "import",
        file.to_str().unwrap(),
        "--layer",
        "province",
        "--quiet",
    ])));
    let key = create_key(&store, &["--name", "busy", "--agency", "x"]);
    let server = Server::start(&store, &["--rate-limit-per-minute", "30"]);
    let bearer = format!("Bearer {key}");
    let statuses: Vec<u16> = (0..40)
        .map(|_| {
            server
                .get("/tiles/province.json", &[("Authorization", &bearer)])
                .unwrap()
                .0
        })
        .collect();
    assert!(statuses[..30].iter().all(|s| *s == 200), "{statuses:?}");
    assert!(statuses[30..].contains(&429), "{statuses:?}");
    let (s, h, body) = server
        .get("/tiles/province.json", &[("Authorization", &bearer)])
        .unwrap();
    assert_eq!(s, 429);
    assert!(header(&h, "retry-after").is_some());
    assert!(String::from_utf8_lossy(&body).contains("TooManyRequests"));
    // Anonymous callers of open layers are not held back by someone else's key.
    assert_eq!(server.get("/tiles/province.json", &[]).unwrap().0, 200);
}

#[test]
fn postgis_stores_keys_hashed_and_audits_reads() {
    let Some(db) = TestDb::create("keys") else {
        return;
    };
    let store = vec!["--database-url".to_string(), db.url.clone()];
    let key = create_key(
        &store,
        &[
            "--name",
            "gis",
            "--agency",
            "Sở TNMT",
            "--expires",
            "2099-12-31",
        ],
    );
    let rows =
        db.strings("SELECT concat_ws('|', name, agency, prefix, salt, hash) FROM cuulong.api_keys");
    assert_eq!(rows.len(), 1);
    assert!(
        !rows[0].contains(&key) && !rows[0].contains(&key[12..]),
        "key stored in clear: {}",
        rows[0]
    );
    let o = run(cuulong()
        .args(&store)
        .args(["keys", "create", "--name", "gis", "--agency", "x"]));
    assert!(!o.status.success() && stderr(&o).contains("already exists"));
    let o = run(cuulong().args(&store).args(["keys", "revoke", "nobody"]));
    assert!(!o.status.success() && stderr(&o).contains("no API key named 'nobody'"));

    // Reads of non-open layers land in the audit table: who, which layer, which endpoint.
    let file = samples().join("admin/bentre_province_2009.geojson");
    ok(run(cuulong().args(&store).args([
        "import",
        file.to_str().unwrap(),
        "--layer",
        "province",
        "--access",
        "shared",
        "--quiet",
    ])));
    let server = Server::start(&store, &[]);
    let bearer = format!("Bearer {key}");
    assert_eq!(
        server
            .get("/tiles/province.json", &[("Authorization", &bearer)])
            .unwrap()
            .0,
        200
    );
    assert_eq!(
        server
            .get("/downloads/province.csv", &[("Authorization", &bearer)])
            .unwrap()
            .0,
        200
    );
    let t0 = std::time::Instant::now();
    loop {
        let rows = db.strings("SELECT concat_ws('|', key_name, agency, layer_id, access, endpoint) FROM cuulong.audit_log ORDER BY id");
        if rows.len() >= 2 {
            assert_eq!(
                rows,
                vec![
                    "gis|Sở TNMT|province|shared|tilejson",
                    "gis|Sở TNMT|province|shared|downloads"
                ]
            );
            break;
        }
        assert!(t0.elapsed().as_secs() < 10, "audit rows missing: {rows:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
