//! Hostile input over real HTTP: traversal, huge and non-finite numbers, SQL fragments, huge
//! and deeply nested bodies, invalid UTF-8. Each gets a 4xx (a JSON body wherever the request
//! reaches cuulong's handlers), never a 5xx or a hang, and the server keeps serving.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};

use common::*;

/// Sends raw bytes, returns (status, body).
fn raw(port: u16, request: &[u8]) -> (u16, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let _ = s.write_all(request); // the server may close early on an oversized request
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| buf[i + 4..].to_vec())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn hostile_requests_get_4xx_and_the_server_keeps_serving() {
    let (_tmp, _store, server) = serve_samples(&[]);
    let port = server.port;
    let json_4xx = [
        "/tiles/..%2F..%2F..%2Fetc%2Fpasswd/1/0/0.mvt",
        "/tiles/land_use/99999999999/0/0.mvt",
        "/tiles/land_use/22/99999999999999/0.mvt",
        "/tiles/land_use,../secret/1/0/0.mvt",
        "/tiles/%27%3B%20DROP%20TABLE%20cuulong.layers%3B--.json",
        "/styles/..%2F..%2F..%2Fetc%2Fpasswd.json",
        "/collections/..%2Fcuulong_data/items",
        "/collections/land_use/items/..%2F..%2Fcatalog.json",
        "/collections/land_use/items?bbox=NaN,NaN,NaN,NaN",
        "/collections/land_use/items?bbox=-inf,0,inf,1",
        "/collections/land_use/items?bbox=1e308,1e308,1e308,1e308",
        "/collections/land_use/items?limit=99999999999999999999999",
        "/collections/land_use/items?offset=1e400",
        "/collections/land_use/items?bbox=%FF%FE,1,2,3",
        "/collections/land_use/items?1%27%20OR%20%271%27=%271=x",
        "/query/point?lon=NaN&lat=10",
        "/query/point?lon=106&lat=Infinity",
        "/query/point?lon=1e308&lat=1e308",
        "/query/point?lon=106&lat=10&radius_m=NaN",
        "/query/point?lon=106&lat=10&layers=..%2F..%2F",
        "/downloads/..%2F..%2Fcatalog.json.geojson",
        "/downloads/land_use.exe",
        "/fonts/..%2F..%2F/0-255",
    ];
    for path in json_4xx {
        let (s, h, body) = server.get(path, &[]).unwrap();
        assert!((400..500).contains(&s), "{path}: {s}");
        assert_eq!(
            header(&h, "content-type"),
            Some("application/json"),
            "{path}"
        );
        let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(j["description"].is_string(), "{path}: {j}");
    }
    // WMS answers hostile input with XML service exceptions, never a 5xx.
    let map = "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=land_use&STYLES=&CRS=EPSG:3857&BBOX=11800000,1100000,11850000,1150000&WIDTH=64&HEIGHT=64&FORMAT=image/png";
    let wms_4xx = [
        map.replace("LAYERS=land_use", "LAYERS=..%2F..%2Fetc%2Fpasswd"),
        map.replace("LAYERS=land_use", "LAYERS=%27%3B%20DROP%20TABLE%20cuulong.layers%3B--"),
        map.replace("STYLES=", "STYLES=..%2F..%2Fetc%2Fpasswd"),
        map.replace("BBOX=11800000,1100000,11850000,1150000", "BBOX=NaN,NaN,NaN,NaN"),
        map.replace("BBOX=11800000,1100000,11850000,1150000", "BBOX=-inf,0,inf,1"),
        map.replace("BBOX=11800000,1100000,11850000,1150000", "BBOX=1e308,1e308,1e308,1e308"),
        map.replace("BBOX=11800000,1100000,11850000,1150000", "BBOX=-1e308,-1e308,1e308,1e308").replace("EPSG:3857", "EPSG:9210"),
        map.replace("BBOX=11800000,1100000,11850000,1150000", "BBOX=-90,-180,90,180").replace("EPSG:3857", "EPSG:4326").replace("WIDTH=64", "WIDTH=99999999999999999999"),
        map.replace("WIDTH=64", "WIDTH=%FF%FE"),
        format!("{map}&BGCOLOR=0xZZZZZZ"),
        map.replace("LAYERS=land_use", &format!("LAYERS={}", vec!["land_use"; 100].join(","))),
        "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=land_use&QUERY_LAYERS=land_use&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=10&HEIGHT=10&I=1e308&J=-1".into(),
        "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=land_use&QUERY_LAYERS=land_use&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=10&HEIGHT=10&I=1&J=1&FEATURE_COUNT=999999999999".into(),
        "/wms?SERVICE=WMS&REQUEST=GetLegendGraphic&LAYER=..%2F..%2F&FORMAT=image/png".into(),
    ];
    for path in &wms_4xx {
        let (s, h, body) = server.get(path, &[]).unwrap();
        assert!((400..500).contains(&s), "{path}: {s}");
        assert!(
            header(&h, "content-type").unwrap().starts_with("text/xml"),
            "{path}"
        );
        assert!(
            String::from_utf8_lossy(&body).contains("<ServiceException"),
            "{path}"
        );
    }
    // A whole-world map in VN-2000 (far outside its zone) is drawn or refused, never a 5xx.
    let (s, _, _) = server
        .get(
            &map.replace(
                "BBOX=11800000,1100000,11850000,1150000",
                "BBOX=-20000000,-20000000,20000000,20000000",
            )
            .replace("EPSG:3857", "EPSG:9210"),
            &[],
        )
        .unwrap();
    assert!(
        s == 200 || (400..500).contains(&s),
        "world in EPSG:9210: {s}"
    );

    // SQL in a property value is just a value that matches nothing.
    let (s, _, body) = server
        .get(
            "/collections/land_use/items?lu_code=%27%20OR%201%3D1--",
            &[],
        )
        .unwrap();
    assert_eq!(s, 200);
    let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(j["numberMatched"], 0);

    // Bodies: deeply nested JSON, 10 MB, not JSON at all.
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (s, b) = raw(port, &[format!("POST /query/summary HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", nested.len()).as_bytes(), nested.as_bytes()].concat());
    assert_eq!(s, 400, "{}", String::from_utf8_lossy(&b));
    let big = vec![b'x'; 10 * 1024 * 1024];
    let (s, b) = raw(port, &[format!("POST /query/summary HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", big.len()).as_bytes(), &big[..]].concat());
    assert_eq!(s, 413);
    assert!(String::from_utf8_lossy(&b).contains("PayloadTooLarge"));
    // A 10 MB query string and invalid UTF-8 in the path are refused by the HTTP layer itself
    // (414 / 400, no body) before any handler runs.
    let long = format!(
        "GET /tiles/land_use/1/0/0.mvt?{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(10 * 1024 * 1024)
    );
    let (s, _) = raw(port, long.as_bytes());
    assert!(s == 414 || s == 431 || s == 400, "10 MB query string: {s}");
    let (s, _) = raw(
        port,
        b"GET /tiles/\xff\xfe/1/0/0.mvt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(s, 400);

    // Still serving, no 5xx recorded (but /ready's 503s while loading at start).
    assert_eq!(server.get("/health", &[]).unwrap().0, 200);
    let (_, _, m) = server.get("/metrics", &[]).unwrap();
    let m = String::from_utf8(m).unwrap();
    assert!(
        !m.lines().any(|l| l.starts_with("cuulong_requests_total")
            && l.contains("status=\"5")
            && !l.contains("/ready")),
        "5xx recorded:\n{m}"
    );
}
