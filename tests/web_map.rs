//! The web map in a real browser: headless Debian chromium (WebGL on SwiftShader) loads /map
//! from a running server; the page reports the map loaded with every layer and no console
//! errors. Styles validate with MapLibre's own style-spec validator.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::*;

#[test]
fn map_page_loads_all_layers_without_errors() {
    if !test_tools() || !require_tool("chromium") {
        return;
    }
    let (tmp, store, server) = serve_samples(&[]);
    let shot = tmp.path().join("map.png");
    let o = Command::new("node")
        .arg(root().join("tests/web/map_check.mjs"))
        .arg(server.url("/map"))
        .arg(&shot)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "map check failed: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let j: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(j["loaded"], true, "{j}");
    assert_eq!(j["layers"], 10, "{j}");
    assert_eq!(j["console_errors"].as_array().unwrap().len(), 0, "{j}");
    // A real picture, not a blank page.
    assert!(std::fs::metadata(&shot).unwrap().len() > 50_000);

    // With a restricted layer the anonymous map still loads (without it), and a granted key
    // given as ?key= brings it back.
    ok(run(cuulong().args(&store).args([
        "layers",
        "set-access",
        "salinity_stations",
        "restricted",
    ])));
    let key = stdout(&ok(run(cuulong().args(&store).args([
        "keys",
        "create",
        "--name",
        "kttv",
        "--agency",
        "x",
        "--grant",
        "salinity_stations",
    ]))))
    .trim()
    .to_owned();
    let t0 = std::time::Instant::now();
    while server.get("/tiles/salinity_stations.json", &[]).unwrap().0 != 404 {
        assert!(t0.elapsed().as_secs() < 10, "access change not picked up");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for (url, layers) in [
        (server.url("/map"), 9),
        (server.url(&format!("/map?key={key}")), 10),
    ] {
        let o = Command::new("node")
            .arg(root().join("tests/web/map_check.mjs"))
            .arg(&url)
            .arg(&shot)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{url}: {out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let j: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        assert_eq!(j["layers"], layers, "{url}: {j}");
    }
}

#[test]
fn styles_validate_with_the_maplibre_style_spec() {
    if !test_tools() {
        return;
    }
    let o = Command::new("bash")
        .arg(root().join("scripts/validate-styles.sh"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "gl-style-validate: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_date_control_shows_the_admin_units_of_its_day() {
    if !test_tools() || !require_tool("chromium") {
        return;
    }
    let (tmp, _store, server) = serve_samples(&[]);
    let j = map_check(
        &server.url("/map"),
        &tmp.path().join("map.png"),
        &[("MAP_CHECK_DATES", "2025-06-30")],
    );
    let names = |day: &str| -> Vec<String> {
        j["admin_names"][day]
            .as_array()
            .unwrap_or_else(|| panic!("{j}"))
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect()
    };
    let (today, before) = (names(""), names("2025-06-30"));
    // Today: the communes of 1 July 2025 (Phường Bến Tre is new); none of the 2009 ones that
    // were merged (Xã Tân Thạch went into Xã Phú Túc).
    assert!(today.contains(&"Phường Bến Tre".to_string()), "{today:?}");
    assert!(!today.contains(&"Xã Tân Thạch".to_string()), "{today:?}");
    assert!(before.contains(&"Xã Tân Thạch".to_string()), "{before:?}");
    assert!(
        !before.contains(&"Phường Bến Tre".to_string()),
        "{before:?}"
    );
    assert!(
        before.len() > today.len() * 2,
        "{} units before vs {} today",
        before.len(),
        today.len()
    );
    assert_eq!(j["console_errors"].as_array().unwrap().len(), 0, "{j}");
}

/// The live stations on the web map, coloured by class, and a station's 7-day chart (readings,
/// tidal maxima, crop limits) drawn by the vendored uPlot when it is clicked — in chromium.
#[test]
fn live_stations_and_their_chart_in_a_browser() {
    if !test_tools() || !require_tool("chromium") {
        return;
    }
    let (tmp, store, server) = serve_samples(&[]);
    simulate_until_served(&store, &server, "salinity_latest");
    let shot = tmp.path().join("live.png");
    let j = map_check(&server.url("/map"), &shot, &[("MAP_CHECK_LIVE", "BT03")]);
    assert!(j["live"]["stations"].as_u64().unwrap() >= 9, "{j}");
    assert_eq!(j["live"]["charts"], 1, "{j}");
    assert!(
        j["live"]["chart_svg_or_canvas"].as_u64().unwrap() >= 1,
        "{j}"
    );
    if let Ok(dir) = std::env::var("CUULONG_SCREENSHOT_DIR") {
        std::fs::copy(
            &shot,
            std::path::Path::new(&dir).join("observations-map.png"),
        )
        .unwrap();
    }
}

/// The salinity fronts on the estuaries and the open alerts by station, in chromium, on a server
/// given the sample rules (screenshot: docs/salinity-map.png).
#[test]
fn salinity_fronts_and_alerts_in_a_browser() {
    if !test_tools() || !require_tool("chromium") {
        return;
    }
    let rules = root().join("data-samples/observations/salinity.toml");
    let (tmp, store, server) = serve_samples(&["--salinity-rules", rules.to_str().unwrap()]);
    simulate_until_served(&store, &server, "salinity_front");
    let shot = tmp.path().join("salinity.png");
    let j = map_check(&server.url("/map"), &shot, &[("MAP_CHECK_SALINITY", "1")]);
    // Three estuaries with stations, two fronts each (some may sit on one point).
    assert!(j["salinity"]["fronts"].as_u64().unwrap() >= 3, "{j}");
    assert!(j["salinity"]["alerts"].as_u64().unwrap() >= 1, "{j}");
    assert_eq!(j["salinity"]["alerts"], j["salinity"]["listed"], "{j}");
    if let Ok(dir) = std::env::var("CUULONG_SCREENSHOT_DIR") {
        std::fs::copy(&shot, std::path::Path::new(&dir).join("salinity-map.png")).unwrap();
    }
}

/// The sample network and 7 days of simulated readings (seed 3), then waits until the server
/// serves `layer` (a live layer).
fn simulate_until_served(store: &[String], server: &Server, layer: &str) {
    ok(run(cuulong().args(store).args(["observations", "setup"])));
    ok(run(cuulong().args(store).args([
        "observations",
        "simulate",
        "--days",
        "7",
        "--seed",
        "3",
    ])));
    let t0 = std::time::Instant::now();
    while server.get(&format!("/tiles/{layer}.json"), &[]).unwrap().0 != 200 {
        assert!(t0.elapsed().as_secs() < 60, "{layer} did not appear");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
