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
        // OGC API – Tiles: traversal, huge and non-numeric levels, rows and columns, formats.
        "/collections/land_use/tiles/..%2F..%2Fetc/0/0/0",
        "/collections/land_use/tiles/VN2000TM3BenTreQuad/99999999999999999999/0/0",
        "/collections/land_use/tiles/VN2000TM3BenTreQuad/7/99999999999999999999/0",
        "/collections/land_use/tiles/VN2000TM3BenTreQuad/7/-1/0",
        "/collections/land_use/tiles/WebMercatorQuad/NaN/0/0",
        "/collections/land_use/map/tiles/VN2000TM3BenTreQuad/12/1e308/0",
        "/collections/land_use/map/tiles/WebMercatorQuad/0/0/0?f=exe",
        "/collections/land_use/tiles/WebMercatorQuad/24/2147483647/2147483647",
        "/map/tiles/VN2000TM3BenTreQuad/0/0/0?collections=..%2F..%2F",
        "/map/tiles/WorldCRS84Quad/23/99999999/99999999",
        "/tileMatrixSets/..%2F..%2Fetc%2Fpasswd",
        "/collections/..%2F..%2F/tiles",
        // Admin units in time: days, codes, names and layers as a hostile caller sends them.
        "/admin/lineage/..%2F..%2Fetc",
        "/admin/lineage/99999999999999999999",
        "/admin/lineage/28810?date=9999-99-99",
        "/admin/resolve?name=",
        "/admin/resolve?name=%27%3B%20DROP%20TABLE%20x%3B--&date=2020-13-45",
        "/admin/resolve?name=Tan%20Thach&sql=1",
        "/admin/reexpress?field=population_2009&to=NaN",
        "/admin/reexpress?field=..%2F..%2F&to=2025-07-01",
        "/admin/reexpress?field=population_2009&to=2025-07-01&layer=..%2F..%2F",
        "/admin/reexpress?field=population_2009&to=2025-07-01&weight_layer=..%2F",
        "/admin/reexpress?field=population_2009&to=2025-07-01&weight_class=LUC",
        "/tiles/admin_communes/9/406/241.mvt?datetime=-infinity",
        "/query/point?lon=106.4&lat=10.1&datetime=1e308",
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
    // A name over 128 characters is refused before any unit is compared.
    let (s, _, _) = server
        .get(&format!("/admin/resolve?name={}", "a".repeat(1_000)), &[])
        .unwrap();
    assert_eq!(s, 400, "a 1 000-character name");
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
        map.replace("LAYERS=land_use", &format!("LAYERS={}", (0..100).map(|i| format!("l{i}")).collect::<Vec<_>>().join(","))),
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
    // WMTS answers hostile input with OWS exception reports, never a 5xx.
    let tile = "/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=land_use&STYLE=land_use&TILEMATRIXSET=VN2000TM3BenTreQuad&TILEMATRIX=7&TILEROW=55&TILECOL=78&FORMAT=image/png";
    let wmts_4xx = [
        tile.replace("TILEMATRIX=7", "TILEMATRIX=99999999999999999999"),
        tile.replace("TILEROW=55", "TILEROW=-1"),
        tile.replace("TILECOL=78", "TILECOL=1e308"),
        tile.replace("LAYER=land_use", "LAYER=..%2F..%2F"),
        tile.replace("STYLE=land_use", "STYLE=%FF%FE"),
        tile.replace("FORMAT=image/png", "FORMAT=image/exe"),
        tile.replace("TILEMATRIXSET=VN2000TM3BenTreQuad", "TILEMATRIXSET=..%2F"),
        tile.replace("REQUEST=GetTile", "REQUEST=%27%3BDROP"),
        tile.replace("REQUEST=GetTile", "REQUEST=GetFeatureInfo")
            + "&INFOFORMAT=application/json&I=1e308&J=-1",
        "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities&Sections=%FF%FE".into(),
        format!(
            "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities&AcceptVersions={}",
            "9,".repeat(5000)
        ),
        "/wmts/1.0.0/land_use/land_use/VN2000TM3BenTreQuad/7/99999999999999999999/0.png".into(),
        "/wmts/1.0.0/..%2F..%2F/land_use/VN2000TM3BenTreQuad/7/55/78.png".into(),
    ];
    for path in &wmts_4xx {
        let (s, h, body) = server.get(path, &[]).unwrap();
        assert!((400..500).contains(&s), "{path}: {s}");
        assert!(
            header(&h, "content-type").unwrap().contains("xml"),
            "{path}"
        );
        assert!(
            String::from_utf8_lossy(&body).contains("ExceptionReport"),
            "{path}"
        );
    }
    // A layer named a hundred times is one layer, drawn once.
    let (s, _, _) = server
        .get(
            &map.replace(
                "LAYERS=land_use",
                &format!("LAYERS={}", vec!["land_use"; 100].join(",")),
            ),
            &[],
        )
        .unwrap();
    assert_eq!(s, 200, "a repeated layer list");
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

    // Layer lists are read by one resolver everywhere: 65 distinct names are too many (before
    // any is looked up), a repeated name counts once.
    let many: Vec<String> = (0..65).map(|i| format!("l{i}")).collect();
    for path in [
        format!("/tiles/{}/1/0/0.mvt", many.join(",")),
        format!("/query/point?lon=106.4&lat=10.2&layers={}", many.join(",")),
        format!("/query/summary?admin=86&layers={}", many.join(",")),
        format!(
            "/tiles/WebMercatorQuad/1/0/0?collections={}",
            many.join(",")
        ),
        format!(
            "/map/tiles/VN2000TM3BenTreQuad/3/2/5?collections={}",
            many.join(",")
        ),
    ] {
        let (s, _, body) = server.get(&path, &[]).unwrap();
        assert_eq!(s, 400, "{path}");
        assert!(String::from_utf8_lossy(&body).contains("at most 64 layers"));
    }
    let repeated = vec!["land_use"; 300].join(",");
    let (s, _, body) = server
        .get(&format!("/query/summary?admin=86&layers={repeated}"), &[])
        .unwrap();
    assert_eq!(s, 200);
    let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(j["layers"].as_array().unwrap().len(), 1, "measured once");

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

/// The server process's resident and peak resident memory, KiB (/proc/PID/status).
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU seconds the process has used (user + system), from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn metrics_text(server: &Server) -> String {
    let (s, _, body) = server.get("/metrics", &[]).unwrap();
    assert_eq!(s, 200);
    String::from_utf8(body).unwrap()
}

/// Waits until the in-flight gauge is back at 0; returns how long that took.
fn in_flight_drains(server: &Server) -> Duration {
    let t0 = Instant::now();
    loop {
        let m = metrics_text(server);
        if metric(&m, "cuulong_in_flight_requests") == Some(0.0)
            && metric(&m, "cuulong_render_memory_bytes") == Some(0.0)
        {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "requests still in flight 30 s after their clients left:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `request` on a fresh connection and hangs up at once, as a panning WMS client does.
fn send_and_hang_up(port: u16, request: &str) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _ = s.write_all(request.as_bytes());
}

use std::time::{Duration, Instant};

/// The tests that load both cores run one at a time (the test harness runs a file's tests on
/// parallel threads): each measures its own server, not its neighbours'.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}

fn get_request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// CQL2 text nested or chained past what a thread's stack survives gets a 400 naming the limit
/// (it used to overflow the stack and abort the whole process); filters within the limits work.
#[test]
fn nested_and_huge_cql2_filters_are_refused_and_the_server_lives() {
    let (_tmp, _store, server) = serve_samples(&[]);
    let items = |filter: &str| {
        let q: String = filter
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        server
            .get(
                &format!("/collections/land_use/items?limit=1&filter={q}"),
                &[],
            )
            .unwrap()
    };
    // Within the limits: answered.
    for depth in [1, 5, 19] {
        let f = format!("{}lu_code='LUC'{}", "(".repeat(depth), ")".repeat(depth));
        let (s, _, body) = items(&f);
        assert_eq!(s, 200, "depth {depth}: {}", String::from_utf8_lossy(&body));
    }
    let many = vec!["lu_code='LUC'"; 40].join(" OR ");
    assert_eq!(items(&many).0, 200);
    // Past them: 400 with the limit named; the process lives on.
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{}lu_code='LUC'{}", "(".repeat(21), ")".repeat(21)),
            "nested deeper than 20",
        ),
        (
            format!("{}lu_code='LUC'{}", "(".repeat(1000), ")".repeat(1000)),
            "nested deeper than 20",
        ),
        (
            format!("{}lu_code='LUC'{}", "(".repeat(10_000), ")".repeat(10_000)),
            "nested deeper than 20",
        ),
        (
            format!("{}lu_code='LUC'", "NOT ".repeat(1000)),
            "more than 128 operators",
        ),
        (
            format!("area_m2 = {}1", "-".repeat(3000)),
            "more than 128 operators",
        ),
        (
            format!("area_m2 = 1{}", "^1".repeat(1000)),
            "more than 128 operators",
        ),
        (
            vec!["lu_code='LUC'"; 200].join(" AND "),
            "more than 128 operators",
        ),
        (
            format!("{}1{}=1", "abs(".repeat(500), ")".repeat(500)),
            "nested deeper than 20",
        ),
    ];
    for (filter, why) in &cases {
        let (s, h, body) = items(filter);
        let text = String::from_utf8_lossy(&body);
        assert_eq!(s, 400, "{why}: {text}");
        assert_eq!(header(&h, "content-type"), Some("application/json"));
        assert!(text.contains(why), "{why}: {text}");
        assert_eq!(server.get("/health", &[]).unwrap().0, 200, "after {why}");
    }
    // Huge text: refused by size (413 here, or 414 by the HTTP layer for a longer URI).
    let huge = format!("lu_code IN ({})", vec!["'LUC'"; 7000].join(","));
    let (s, _, body) = items(&huge);
    assert!(
        s == 413 || s == 414,
        "{s}: {}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(server.get("/health", &[]).unwrap().0, 200);
}

/// 1 000 GetMaps of 4096 × 4096 whose clients hang up at once: none stays counted in flight,
/// none keeps rendering, and memory stays within the render budget over the idle size.
#[test]
fn abandoned_maps_leave_nothing_running_and_memory_bounded() {
    let _one_at_a_time = heavy();
    let budget_mb = 400;
    let (_tmp, _store, server) = serve_samples(&["--render-memory-mb", &budget_mb.to_string()]);
    // Warm: one small map, so the idle size includes what any map needs (fonts, styles).
    let small = "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=land_use,admin_communes&STYLES=&CRS=CRS:84&BBOX=105.9,9.6,106.9,10.4&WIDTH=256&HEIGHT=256&FORMAT=image/png";
    assert_eq!(server.get(small, &[]).unwrap().0, 200);
    let (idle, _) = rss_kib(server.pid());
    let big = get_request(&small.replace("WIDTH=256&HEIGHT=256", "WIDTH=4096&HEIGHT=4096"));
    let cpu_before = cpu_seconds(server.pid());
    for _ in 0..1000 {
        send_and_hang_up(server.port, &big);
    }
    let drained = in_flight_drains(&server);
    let (_, peak) = rss_kib(server.pid());
    // Renders stop at their next check: the CPU is idle again.
    std::thread::sleep(Duration::from_millis(500));
    let cpu_mid = cpu_seconds(server.pid());
    std::thread::sleep(Duration::from_secs(2));
    let cpu_idle = cpu_seconds(server.pid()) - cpu_mid;
    eprintln!(
        "1000 abandoned 4096² GetMaps: in flight back to 0 {} ms after the last hang-up; RSS idle {} MiB, peak {} MiB (budget {budget_mb} MiB); CPU {:.2} s while they came, {:.2} s in the 2 s after",
        drained.as_millis(),
        idle / 1024,
        peak / 1024,
        cpu_mid - cpu_before,
        cpu_idle
    );
    assert!(
        peak <= idle + budget_mb * 1024,
        "peak RSS {peak} KiB over idle {idle} KiB + the {budget_mb} MiB budget"
    );
    assert!(
        cpu_idle < 0.5,
        "{cpu_idle:.2} CPU seconds in 2 s after every client left: abandoned work still runs"
    );
    // And it serves: a whole map, drawn to the end.
    let (s, h, body) = server.get(small, &[]).unwrap();
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-type"), Some("image/png"));
    assert!(body.starts_with(b"\x89PNG"));
}

/// Other abandoned requests (summaries, filtered items, feature info) leave the in-flight count
/// at once too.
#[test]
fn abandoned_requests_of_every_kind_are_subtracted_at_once() {
    let _one_at_a_time = heavy();
    let (_tmp, _store, server) = serve_samples(&[]);
    let paths = [
        "/query/summary?admin=86".to_owned(),
        "/collections/land_use/items?limit=10000&filter=S_DWITHIN(geometry,POINT(106.4%2010.2),20000)".to_owned(),
        "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=land_use&QUERY_LAYERS=land_use,provincial_roads,national_roads,rivers_canals&STYLES=&CRS=CRS:84&BBOX=-180,-85,180,85&WIDTH=8&HEIGHT=8&I=6&J=4&FEATURE_COUNT=1000&INFO_FORMAT=text/html".to_owned(),
        "/tiles/land_use,admin_communes,provincial_roads,rivers_canals,water_areas/9/408/242.mvt".to_owned(),
    ];
    for _ in 0..50 {
        for p in &paths {
            send_and_hang_up(server.port, &get_request(p));
        }
    }
    let drained = in_flight_drains(&server);
    eprintln!(
        "200 abandoned requests: in flight back to 0 {} ms after",
        drained.as_millis()
    );
    assert_eq!(server.get("/health", &[]).unwrap().0, 200);
}

/// With both cores busy on the most expensive requests an anonymous caller can make,
/// `/health` still answers within a second.
#[test]
fn health_answers_while_every_core_is_busy() {
    let _one_at_a_time = heavy();
    let (_tmp, _store, server) = serve_samples(&["--anonymous-rate-limit-per-minute", "0"]);
    let heavy = [
        "/query/summary?admin=86&layers=land_use,land_use,land_use,soil,soil,water_areas",
        "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=land_use,soil,admin_communes,provincial_roads,rivers_canals&STYLES=&CRS=EPSG:9210&BBOX=1090000,560000,1150000,620000&WIDTH=4096&HEIGHT=4096&FORMAT=image/png",
        "/collections/land_use/items?limit=10000&filter=S_DWITHIN(geometry,POINT(106.4%2010.2),50000)%20AND%20area_m2%20%3E%200",
        "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=land_use&QUERY_LAYERS=land_use,provincial_roads,national_roads,rivers_canals,salinity_stations&STYLES=&CRS=CRS:84&BBOX=-180,-85,180,85&WIDTH=8&HEIGHT=8&I=6&J=4&FEATURE_COUNT=1000&INFO_FORMAT=application/vnd.ogc.gml",
    ];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let port = server.port;
    // Three clients a request kind: the job queue never runs dry, so both cores stay busy
    // even on a noisy machine (with eight, one CI run measured 0.99 cores).
    let clients: Vec<_> = (0..12)
        .map(|i| {
            let stop = stop.clone();
            let path = heavy[i % heavy.len()];
            std::thread::spawn(move || {
                let mut done = 0;
                while !stop.load(std::sync::atomic::Ordering::Acquire) {
                    let (s, _, _) = http_get(port, path, &[]).unwrap();
                    assert!(s == 200 || s == 503, "{path}: {s}");
                    done += 1;
                }
                done
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let cpu0 = cpu_seconds(server.pid());
    let t0 = Instant::now();
    let mut worst = Duration::ZERO;
    for _ in 0..40 {
        let t = Instant::now();
        let (s, _, _) = server.get("/health", &[]).unwrap();
        assert_eq!(s, 200);
        worst = worst.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    let cores_busy = (cpu_seconds(server.pid()) - cpu0) / t0.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Release);
    let done: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    eprintln!(
        "/health under load: worst {} ms over 40 probes; server busy {cores_busy:.2} cores; {done} heavy requests answered",
        worst.as_millis()
    );
    assert!(
        cores_busy > 1.0,
        "the load did not keep the cores busy ({cores_busy:.2})"
    );
    assert!(
        worst < Duration::from_secs(1),
        "/health took {} ms",
        worst.as_millis()
    );
}

/// Callers without a key (and with a wrong one) have a budget per address; probes do not.
#[test]
fn anonymous_callers_are_rate_limited_per_address() {
    let (_tmp, _store, server) = serve_samples(&["--anonymous-rate-limit-per-minute", "20"]);
    // serve_samples' readiness polls do not count: /ready is a probe.
    let statuses: Vec<u16> = (0..25)
        .map(|_| server.get("/collections", &[]).unwrap().0)
        .collect();
    assert!(statuses[..20].iter().all(|s| *s == 200), "{statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    let (s, h, body) = server.get("/tiles/land_use.json", &[]).unwrap();
    assert_eq!(s, 429);
    assert!(header(&h, "retry-after").is_some());
    assert!(String::from_utf8_lossy(&body).contains("TooManyRequests"));
    // A wrong key draws on the same budget (key guessing is not free).
    let wrong = format!("Bearer cl_abcdefgh_{}", "0".repeat(40));
    assert_eq!(
        server
            .get("/collections", &[("Authorization", &wrong)])
            .unwrap()
            .0,
        429
    );
    // WMS clients get it as a service exception.
    let (s, h, body) = server
        .get(
            "/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0",
            &[],
        )
        .unwrap();
    assert_eq!(s, 429);
    assert!(header(&h, "content-type").unwrap().starts_with("text/xml"));
    assert!(header(&h, "retry-after").is_some());
    assert!(String::from_utf8_lossy(&body).contains("ServiceExceptionReport"));
    // Operators' probes answer regardless.
    for p in ["/health", "/ready", "/metrics"] {
        assert_eq!(server.get(p, &[]).unwrap().0, 200, "{p}");
    }
}

/// Behind a trusted proxy each client named by `X-Forwarded-For` has its own budget; a client
/// writing the header itself, to a server that trusts no proxy, changes nothing.
#[test]
fn budgets_follow_the_forwarded_client_only_behind_a_trusted_proxy() {
    let anonymous = ["--anonymous-rate-limit-per-minute", "5"];
    let behind = [&anonymous[..], &["--trusted-proxy", "127.0.0.1/32,::1"]].concat();
    let (_tmp, store, proxied) = serve_samples(&behind);
    let get = |server: &Server, forwarded: &str| {
        server
            .get("/collections", &[("X-Forwarded-For", forwarded)])
            .unwrap()
            .0
    };
    let first: Vec<u16> = (0..6).map(|_| get(&proxied, "203.0.113.7")).collect();
    assert_eq!(first, [200, 200, 200, 200, 200, 429], "one client's budget");
    assert_eq!(
        get(&proxied, "203.0.113.8"),
        200,
        "another client has its own"
    );
    // What the client itself put left of the proxy's entry is not believed.
    assert_eq!(get(&proxied, "198.51.100.1, 203.0.113.7"), 429);
    // A request with no header is charged to the proxy's own address.
    assert_eq!(proxied.get("/collections", &[]).unwrap().0, 200);

    let direct = Server::start(&store, &anonymous);
    let spoofed: Vec<u16> = (0..6)
        .map(|i| get(&direct, &format!("203.0.113.{i}")))
        .collect();
    assert_eq!(
        spoofed,
        [200, 200, 200, 200, 200, 429],
        "a forged X-Forwarded-For bought a new budget"
    );
}

/// EXCEPTIONS=INIMAGE images are no larger than --wms-max-size; event streams have a cap.
#[test]
fn error_images_and_event_streams_are_bounded() {
    let (_tmp, _store, server) =
        serve_samples(&["--wms-max-size", "300", "--max-event-streams", "2"]);
    let (s, h, body) = server
        .get("/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=nowhere&STYLES=&CRS=CRS:84&BBOX=105.9,9.6,106.9,10.4&WIDTH=100000&HEIGHT=4000&FORMAT=image/png&EXCEPTIONS=INIMAGE", &[])
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-type"), Some("image/png"));
    // PNG IHDR: width and height at bytes 16..24.
    let w = u32::from_be_bytes(body[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(body[20..24].try_into().unwrap());
    assert!(w <= 300 && h <= 300, "{w}×{h} error image");
    let (s, _, body) = server
        .get("/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=nowhere&STYLES=&CRS=CRS:84&BBOX=105.9,9.6,106.9,10.4&WIDTH=280&HEIGHT=200&FORMAT=image/png&EXCEPTIONS=INIMAGE", &[])
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(
        u32::from_be_bytes(body[16..20].try_into().unwrap()),
        280,
        "an allowed size is kept"
    );

    let a = EventStream::open(server.port, "/events", &[]);
    let b = EventStream::open(server.port, "/events", &[]);
    let (s, h, body) = server.get("/events", &[]).unwrap();
    assert_eq!(s, 503, "{}", String::from_utf8_lossy(&body));
    assert!(header(&h, "retry-after").is_some());
    drop(a);
    // A closed stream frees its slot.
    let t0 = Instant::now();
    loop {
        let m = metrics_text(&server);
        if metric(&m, "cuulong_event_streams") == Some(1.0) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{m}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let c = EventStream::open(server.port, "/events", &[]);
    assert!(!c.ended());
    let (status, _, _) = c.finish();
    assert_eq!(status, 200);
    drop(b);
}

/// The salinity endpoints: every bound named in a 400 (range of three years, 32 limits, 10 000
/// alerts, unknown parameters and values), a restricted datastream 404 for anonymous callers,
/// and the server still answering after a year of aggregates per request in a loop.
#[test]
fn salinity_endpoints_refuse_what_is_beyond_their_bounds() {
    let rules = root().join("data-samples/observations/salinity.toml");
    let (_tmp, store, server) = serve_samples(&["--salinity-rules", rules.to_str().unwrap()]);
    ok(run(cuulong().args(&store).args(["observations", "setup"])));
    ok(run(cuulong().args(&store).args([
        "observations",
        "simulate",
        "--days",
        "2",
    ])));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while server.get("/api/observations/1/aggregates", &[]).unwrap().0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "observations not loaded"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let limits = (0..33)
        .map(|i| format!("{i}.5"))
        .collect::<Vec<_>>()
        .join(",");
    for (path, says) in [
        (
            "/api/observations/1/aggregates?from=2020-01-01&to=2024-01-01",
            "at most 1098 days",
        ),
        (
            "/api/observations/1/aggregates?from=2025-01-02&to=2025-01-01",
            "before to",
        ),
        (
            &format!("/api/observations/1/aggregates?limits={limits}") as &str,
            "at most 32",
        ),
        ("/api/observations/1/aggregates?limits=NaN", "nor a number"),
        ("/api/observations/1/aggregates?limits=inf", "nor a number"),
        (
            "/api/observations/1/aggregates?period=week",
            "not day or tide",
        ),
        (
            "/api/observations/1/aggregates?from=yesterday",
            "not an RFC 3339",
        ),
        ("/api/observations/1/aggregates?f=xlsx", "not json or csv"),
        (
            "/api/observations/1/aggregates?bbox=1,2,3,4",
            "unknown parameter",
        ),
        ("/api/alerts?limit=100000", "an integer from 1 to 10000"),
        ("/api/alerts?limit=0", "an integer from 1 to 10000"),
        ("/api/alerts?state=maybe", "not open, closed or all"),
        (
            &format!("/api/alerts?station={}", "B".repeat(65)) as &str,
            "at most 64",
        ),
        ("/api/alerts?to=31/12/2025", "not an RFC 3339"),
        ("/api/salinity/fronts?x=1", "unknown parameter"),
        ("/api/salinity/zones?datetime=someday", "datetime"),
    ] {
        let (status, _, body) = server.get(path, &[]).unwrap();
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, 400, "{path}: {text}");
        assert!(text.contains(says), "{path}: {text}");
        assert!(text.starts_with('{'), "{path}: not JSON: {text}");
    }
    // Not a datastream id, an unknown one, a restricted one (the discharge station's): 404.
    // The sample network has 21 datastreams; those an anonymous caller does not see are the
    // discharge station's.
    let restricted = {
        let (_, _, b) = server
            .get("/sta/v1.1/Datastreams?$select=id&$top=100", &[])
            .unwrap();
        let open: Vec<u64> = serde_json::from_slice::<serde_json::Value>(&b).unwrap()["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["@iot.id"].as_u64().unwrap())
            .collect();
        (1..=21u64).find(|id| !open.contains(id)).unwrap()
    };
    for path in [
        "/api/observations/x/aggregates".to_owned(),
        "/api/observations/99999999999/aggregates".to_owned(),
        format!("/api/observations/{restricted}/aggregates"),
    ] {
        let (status, _, body) = server.get(&path, &[]).unwrap();
        assert_eq!(status, 404, "{path}: {}", String::from_utf8_lossy(&body));
    }
    // The largest allowed work, again and again: answered, and /health with it.
    for _ in 0..20 {
        let (s, _, _) = server
            .get(
                "/api/observations/1/aggregates?period=tide&from=2024-01-01&to=2026-12-31",
                &[],
            )
            .unwrap();
        assert_eq!(s, 200);
        assert_eq!(server.get("/health", &[]).unwrap().0, 200);
    }
}
