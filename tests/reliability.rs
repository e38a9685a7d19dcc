//! Holds load: 256 connections for 60 s over a tile mix (wrk on loopback) with zero failed
//! requests and bounded memory, while /health and /metrics keep answering within a second.
//! Prints its figures as a table.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn holds_256_connections_for_60_seconds() {
    if !require_tool("wrk") {
        return;
    }
    let (tmp, _store, server) = serve_samples(&["--anonymous-rate-limit-per-minute", "0"]);
    let mut paths = Vec::new();
    for z in [8u32, 10, 12, 13, 14, 15, 16] {
        for (lon, lat) in [
            (106.375, 10.235),
            (106.45, 10.05),
            (106.60, 9.98),
            (106.15, 10.25),
            (106.70, 10.20),
        ] {
            let (z, x, y) = tile_at(lon, lat, z);
            paths.push(format!(
                "/tiles/land_use,admin_communes,provincial_roads,water_areas/{z}/{x}/{y}.mvt"
            ));
        }
    }
    let lua = tmp.path().join("mix.lua");
    std::fs::write(
        &lua,
        format!(
            "local paths = {{{}}}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i], {{[\"Accept-Encoding\"] = \"gzip\"}})\nend\n",
            paths.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(",")
        ),
    )
    .unwrap();
    let pid = server.pid();
    let rss_before = rss_kb(pid);
    let wrk = Command::new("wrk")
        .args(["-t2", "-c256", "-d60s", "--latency", "-s"])
        .arg(&lua)
        .arg(server.url(""))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Probe health and metrics during the load.
    let mut worst_probe = Duration::ZERO;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(55) {
        std::thread::sleep(Duration::from_secs(2));
        for path in ["/health", "/metrics"] {
            let t = Instant::now();
            let (s, _, _) = server.get(path, &[]).unwrap();
            assert_eq!(s, 200, "{path} under load");
            worst_probe = worst_probe.max(t.elapsed());
        }
    }
    let out = wrk.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rss_after = rss_kb(pid);
    let field = |prefix: &str| -> String {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .map(|l| l.trim().to_owned())
            .unwrap_or_default()
    };
    let requests: u64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let last = |prefix: &str| {
        field(prefix)
            .split_whitespace()
            .last()
            .unwrap_or("?")
            .to_owned()
    };
    let failed = if field("Socket errors").is_empty() && field("Non-2xx").is_empty() {
        "0".to_owned()
    } else {
        format!("{} / {}", field("Socket errors"), field("Non-2xx"))
    };
    eprintln!("\n| figure | value |\n|---|---|");
    eprintln!("| requests (256 connections, 60 s, tile mix) | {requests} |");
    eprintln!("| requests/s | {} |", last("Requests/sec"));
    eprintln!("| failed requests | {failed} |");
    eprintln!("| p50 / p99 latency | {} / {} |", last("50%"), last("99%"));
    eprintln!(
        "| RSS before / after | {} MB / {} MB |",
        rss_before / 1024,
        rss_after / 1024
    );
    eprintln!(
        "| slowest /health or /metrics under load | {} ms |",
        worst_probe.as_millis()
    );
    assert!(requests > 10_000, "only {requests} requests:\n{text}");
    assert!(field("Socket errors").is_empty(), "socket errors:\n{text}");
    assert!(field("Non-2xx").is_empty(), "failed requests:\n{text}");
    assert!(
        worst_probe < Duration::from_secs(1),
        "health/metrics took {worst_probe:?} under load"
    );
    assert!(
        rss_after < rss_before + 300 * 1024,
        "RSS grew from {rss_before} kB to {rss_after} kB"
    );
}

/// PostgreSQL restarts under load: no tile request fails (the index serves from memory),
/// `/ready` reports the store away and back, and the server is current again soon after.
#[test]
fn survives_a_postgis_restart_under_load() {
    let Some(db) = TestDb::create("pg_restart") else {
        return;
    };
    if !require_tool("wrk") || !require_tool("pg_ctlcluster") {
        return;
    }
    let store = vec!["--database-url".to_string(), db.url.clone()];
    import_samples(&store);
    let server = Server::start(
        &store,
        &[
            "--tile-cache-mb",
            "0",
            "--anonymous-rate-limit-per-minute",
            "0",
        ],
    );
    let (z, x, y) = tile_at(106.375, 10.235, 13);
    let tmp = tempfile::tempdir().unwrap();
    let lua = tmp.path().join("one.lua");
    std::fs::write(&lua, format!("request = function() return wrk.format(\"GET\", \"/tiles/land_use,admin_communes/{z}/{x}/{y}.mvt\") end\n")).unwrap();
    let wrk = Command::new("wrk")
        .args(["-t2", "-c32", "-d20s", "-s"])
        .arg(&lua)
        .arg(server.url(""))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    restart_postgres();
    let back = Instant::now();
    // A re-import after the restart must reach the server (listener reconnected or resync).
    let t0 = Instant::now();
    loop {
        let o = reimport_stations(&store);
        if o.status.success() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "PostGIS did not come back: {}",
            stderr(&o)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    loop {
        let (_, _, body) = server.get("/ready", &[]).unwrap();
        let r: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if r["status"] == "ready" && r["layers"]["salinity_stations"] == 2 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(40),
            "server not current after the restart: {r}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let recovery = back.elapsed();
    let out = wrk.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "PostGIS restart under load: {} ; server current again {} ms after the restart",
        text.lines()
            .find(|l| l.contains("requests in"))
            .unwrap_or("?")
            .trim(),
        recovery.as_millis()
    );
    assert!(
        !text.contains("Socket errors") && !text.contains("Non-2xx"),
        "requests failed during the restart:\n{text}"
    );
}

/// SIGKILL the server under load and start it again: it comes back serving the same layer
/// versions (the store is the truth; the index is rebuilt from it).
#[test]
fn comes_back_with_the_same_versions_after_sigkill() {
    if !require_tool("wrk") {
        return;
    }
    let (tmp, store, server) = serve_samples(&[]);
    // A second version of one layer, so "the same versions" is not just all 1s.
    ok(reimport_stations(&store));
    let versions = |s: &Server| -> serde_json::Value {
        let (_, _, body) = s.get("/ready", &[]).unwrap();
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["layers"].clone()
    };
    let t0 = Instant::now();
    while versions(&server)["salinity_stations"] != 2 {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = versions(&server);
    let (z, x, y) = tile_at(106.375, 10.235, 12);
    let lua = tmp.path().join("k.lua");
    std::fs::write(&lua, format!("request = function() return wrk.format(\"GET\", \"/tiles/land_use/{z}/{x}/{y}.mvt\") end\n")).unwrap();
    let mut wrk = Command::new("wrk")
        .args(["-t1", "-c16", "-d5s", "-s"])
        .arg(&lua)
        .arg(server.url(""))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    drop(server); // SIGKILL (Child::kill) while wrk hammers it
    let _ = wrk.wait();
    let again = Server::start(&store, &[]);
    assert_eq!(
        versions(&again),
        before,
        "versions after a SIGKILL and restart"
    );
    let (s, _, _) = again
        .get(&format!("/tiles/land_use/{z}/{x}/{y}.mvt"), &[])
        .unwrap();
    assert_eq!(s, 200);
}

/// Every folder under `dir` is 0700 and every file 0600.
fn assert_owner_only(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut folders = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(folder) = folders.pop() {
        let mode = std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}: {mode:o}", folder.display());
        for entry in std::fs::read_dir(&folder).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                folders.push(entry.path());
            } else {
                let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}: {mode:o}", entry.path().display());
                files += 1;
            }
        }
    }
    assert!(
        files > 2,
        "the snapshot holds its layers and sidecar ({files} files)"
    );
}

/// A server on PostGIS keeps a snapshot of what it serves. Started while its database is
/// unreachable, it serves the snapshot (same versions, same tiles, degraded readiness), and
/// when the database appears it reconnects and follows changes again.
#[test]
fn starts_from_its_snapshot_while_postgis_is_unreachable() {
    let Some(db) = TestDb::create("snapshot") else {
        return;
    };
    let store = vec!["--database-url".to_string(), db.url.clone()];
    import_samples(&store);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("snap");
    let dir_arg = dir.display().to_string();
    let (z, x, y) = tile_at(106.375, 10.235, 12);
    let tile = format!("/tiles/land_use,admin_communes/{z}/{x}/{y}.mvt");
    let wms = "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=land_use,national_roads&STYLES=&CRS=CRS:84&BBOX=106.3,10.15,106.45,10.3&WIDTH=128&HEIGHT=128&FORMAT=image/png";
    let (versions, tile_bytes, map_bytes) = {
        let server = Server::start(&store, &["--snapshot-dir", &dir_arg]);
        let t0 = Instant::now();
        while !dir.join("snapshot.json").exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "no snapshot written"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Restricted layers and key hashes: readable by the server's user only.
        assert_owner_only(&dir);
        let (_, _, ready) = server.get("/ready", &[]).unwrap();
        let ready: serde_json::Value = serde_json::from_slice(&ready).unwrap();
        assert_eq!(ready["layers_from"], "store");
        let tile = server.get(&tile, &[]).unwrap();
        let map = server.get(wms, &[]).unwrap();
        assert_eq!((tile.0, map.0), (200, 200));
        (ready["layers"].clone(), tile.2, map.2)
    };

    // The database the next server is pointed at does not exist yet.
    let later = format!("{}_later", db.name());
    let later_url = db.sibling_url(&later);
    let later_store = vec!["--database-url".to_string(), later_url.clone()];
    let started = Instant::now();
    let server = Server::start(&later_store, &["--snapshot-dir", &dir_arg]);
    eprintln!(
        "started from the snapshot while PostGIS was unreachable: ready in {} ms",
        started.elapsed().as_millis()
    );
    let (_, _, ready) = server.get("/ready", &[]).unwrap();
    let ready: serde_json::Value = serde_json::from_slice(&ready).unwrap();
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["store"], "unreachable");
    assert_eq!(ready["layers_from"], "snapshot");
    assert_eq!(
        ready["layers"], versions,
        "the snapshot's versions are PostGIS's"
    );
    let (s, _, body) = server.get(&tile, &[]).unwrap();
    assert_eq!(s, 200);
    assert!(body == tile_bytes, "not the same tile from the snapshot");
    let (s, _, body) = server.get(wms, &[]).unwrap();
    assert_eq!(s, 200);
    assert!(
        body == map_bytes,
        "not the same map image from the snapshot"
    );
    let (_, _, metrics) = server.get("/metrics", &[]).unwrap();
    assert!(String::from_utf8_lossy(&metrics).contains("cuulong_store_up 0"));

    // Started from the snapshot under an index budget the land-use layer does not fit, it
    // serves that layer from its snapshot file, mapped, with the same bytes.
    {
        let budget = Server::start(
            &later_store,
            &["--snapshot-dir", &dir_arg, "--index-memory-mb", "1"],
        );
        let (_, _, metrics) = budget.get("/metrics", &[]).unwrap();
        let metrics = String::from_utf8_lossy(&metrics);
        assert!(
            metrics.contains("cuulong_layer_source{layer=\"land_use\",source=\"flatgeobuf\"} 1"),
            "land use not mapped under a 1 MiB budget: {metrics}"
        );
        let (_, _, ready) = budget.get("/ready", &[]).unwrap();
        let ready: serde_json::Value = serde_json::from_slice(&ready).unwrap();
        assert_eq!(ready["layers_from"], "snapshot");
        assert_eq!(ready["layers"], versions);
        let (s, _, body) = budget.get(&tile, &[]).unwrap();
        assert_eq!(s, 200);
        assert!(
            body == tile_bytes,
            "not the same tile from the mapped snapshot"
        );
        let (s, _, body) = budget.get(wms, &[]).unwrap();
        assert_eq!(s, 200);
        assert!(
            body == map_bytes,
            "not the same map from the mapped snapshot"
        );
    }

    // The database appears (a copy of the first, so the same versions); the server reconnects,
    // is ready again and follows a re-import.
    let t0 = Instant::now();
    loop {
        match db.admin_exec(&format!(
            "CREATE DATABASE \"{later}\" TEMPLATE \"{}\"",
            db.name()
        )) {
            Ok(()) => break,
            Err(e) => {
                assert!(
                    t0.elapsed() < Duration::from_secs(60),
                    "CREATE DATABASE: {e}"
                );
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    let back = Instant::now();
    loop {
        let (_, _, body) = server.get("/ready", &[]).unwrap();
        let r: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if r["status"] == "ready" && r["layers_from"] == "store" {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(30),
            "not back on the store: {r}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let reconnected = back.elapsed();
    ok(reimport_stations(&later_store));
    let want = versions["salinity_stations"].as_i64().unwrap() + 1;
    loop {
        let (_, _, body) = server.get("/ready", &[]).unwrap();
        let r: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if r["layers"]["salinity_stations"] == want {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(60),
            "re-import not followed: {r}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "database appeared: server back on the store {} ms later",
        reconnected.as_millis()
    );
    drop(server);
    let _ = db.admin_exec(&format!("DROP DATABASE IF EXISTS \"{later}\" WITH (FORCE)"));
}
