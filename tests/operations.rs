//! Operations over real HTTP: Prometheus metrics, request ids, load shedding with 503 +
//! Retry-After while health and metrics keep answering, and graceful shutdown on SIGTERM.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::*;

fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric line starting with {line_start}"))
}

#[test]
fn metrics_request_ids_and_cache_counters() {
    let (_tmp, _store, server) = serve_samples(&[]);
    let (z, x, y) = tile_at(106.375, 10.235, 12);
    let path = format!("/tiles/land_use/{z}/{x}/{y}.mvt");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (s, h, _) = server.get(&path, &[]).unwrap();
        assert_eq!(s, 200);
        ids.push(header(&h, "x-request-id").unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 3, "request ids are unique");
    let (s, h, body) = server.get("/metrics", &[]).unwrap();
    assert_eq!(s, 200);
    assert!(header(&h, "content-type")
        .unwrap()
        .starts_with("text/plain"));
    let text = String::from_utf8(body).unwrap();
    assert_eq!(
        metric(
            &text,
            "cuulong_requests_total{route=\"/tiles/{layers}/{z}/{x}/{y}\",status=\"200\"}"
        ),
        3.0
    );
    assert_eq!(
        metric(
            &text,
            "cuulong_request_duration_seconds_count{route=\"/tiles/{layers}/{z}/{x}/{y}\"}"
        ),
        3.0
    );
    assert_eq!(metric(&text, "cuulong_tile_cache_misses_total"), 1.0);
    assert_eq!(metric(&text, "cuulong_tile_cache_hits_total"), 2.0);
    assert!(metric(&text, "cuulong_tile_cache_bytes") > 0.0);
    assert_eq!(metric(&text, "cuulong_layers_loaded"), 10.0);
    assert_eq!(
        metric(&text, "cuulong_layer_version{layer=\"land_use\"}"),
        1.0
    );
    assert_eq!(
        metric(&text, "cuulong_layer_features{layer=\"land_use\"}"),
        8708.0
    );
    assert!(metric(&text, "cuulong_index_bytes{layer=\"land_use\"}") > 1e6);
    assert_eq!(metric(&text, "cuulong_store_up"), 1.0);
}

#[test]
fn saturated_server_sheds_load_but_answers_health_and_metrics() {
    // A limit of zero requests at once: everything limited is shed, deterministically.
    let (_tmp, _store, server) = serve_samples(&["--max-concurrency", "0"]);
    let (s, h, body) = server.get("/tiles/land_use/10/814/482.mvt", &[]).unwrap();
    assert_eq!(s, 503);
    assert_eq!(header(&h, "retry-after"), Some("1"));
    assert!(String::from_utf8_lossy(&body).contains("ServerBusy"));
    assert_eq!(server.get("/health", &[]).unwrap().0, 200);
    assert_eq!(server.get("/ready", &[]).unwrap().0, 200);
    let (s, _, body) = server.get("/metrics", &[]).unwrap();
    assert_eq!(s, 200);
    assert!(
        metric(
            &String::from_utf8(body).unwrap(),
            "cuulong_shed_requests_total"
        ) >= 1.0
    );
}

#[test]
fn sigterm_finishes_requests_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let store = vec![
        "--data-dir".to_string(),
        tmp.path().join("s").display().to_string(),
    ];
    import_samples(&store);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = cuulong()
        .args(&store)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while http_get(port, "/ready", &[]).map(|r| r.0).unwrap_or(0) != 200 {
        assert!(t0.elapsed().as_secs() < 60);
        std::thread::sleep(Duration::from_millis(100));
    }
    // An open SSE client must not keep the server from stopping.
    let mut sse = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    sse.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    let _ = sse.read(&mut buf).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let t0 = Instant::now();
    loop {
        if let Some(code) = child.try_wait().unwrap() {
            assert!(code.success(), "exit status {code}");
            break;
        }
        assert!(
            t0.elapsed().as_secs() < 20,
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
