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
    let (tmp, _store, server) = serve_samples(&[]);
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
