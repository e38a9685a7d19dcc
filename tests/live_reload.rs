//! Re-importing a layer while a load generator requests its tiles: no request fails, the
//! server announces the new version on /events, and afterwards every tile shows it.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use geozero::mvt::{Message, Tile};

fn year_values(body: &[u8]) -> Vec<i64> {
    let t = Tile::decode(body).unwrap();
    let l = t.layers.iter().find(|l| l.name == "land_use").unwrap();
    let k = l.keys.iter().position(|k| k == "year").unwrap() as u32;
    l.features
        .iter()
        .map(|f| {
            let vi = f.tags.chunks(2).find(|kv| kv[0] == k).unwrap()[1];
            l.values[vi as usize].sint_value.unwrap()
        })
        .collect()
}

#[test]
fn reimport_under_load_swaps_without_failures() {
    let (tmp, store, server) = serve_samples(&[
        "--tile-cache-mb",
        "64",
        "--anonymous-rate-limit-per-minute",
        "0",
    ]);
    let port = server.port;
    let mut tiles = Vec::new();
    for z in [10, 11, 12, 13, 14] {
        for (lon, lat) in [(106.375, 10.235), (106.45, 10.05), (106.60, 9.98)] {
            let (z, x, y) = tile_at(lon, lat, z);
            tiles.push(format!("/tiles/land_use/{z}/{x}/{y}.mvt"));
        }
    }
    let mut with_features = 0;
    for t in &tiles {
        let (s, _, body) = server.get(t, &[]).unwrap();
        if s == 200 {
            assert!(year_values(&body).iter().all(|y| *y == 2020), "{t}");
            with_features += 1;
        }
    }
    assert!(
        with_features >= 10,
        "only {with_features} tiles hold land use"
    );

    // Listen for the change event.
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let ev = events.clone();
    let mut sse = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    sse.write_all(
        format!(
            "GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(sse).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("data:") {
                ev.lock().unwrap().push(line);
            }
        }
    });

    // Load: 4 clients cycling over the tiles until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let results = Arc::new(Mutex::new(Vec::<u16>::new()));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (stop, results, tiles) = (stop.clone(), results.clone(), tiles.clone());
            std::thread::spawn(move || {
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let status = match http_get(
                        port,
                        &tiles[i % tiles.len()],
                        &[("Accept-Encoding", "gzip")],
                    ) {
                        Ok((s, _, _)) => s,
                        Err(_) => 0,
                    };
                    results.lock().unwrap().push(status);
                    i += 1;
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(500));
    let mapping = tmp.path().join("year.toml");
    std::fs::write(
        &mapping,
        "[fields]\ncode_system = \"code_sys\"\n[constants]\nyear = 2031\n",
    )
    .unwrap();
    // The server picks the new version up within seconds.
    reimport_land_use(&server, &store, &mapping, 2);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let results = results.lock().unwrap();
    let failed = results.iter().filter(|s| **s != 200 && **s != 204).count();
    assert!(
        results.len() > 20,
        "load generator made only {} requests",
        results.len()
    );
    assert_eq!(failed, 0, "{failed} of {} requests failed", results.len());

    // After the swap every tile shows the new version (the cache is keyed by version).
    let mut after = 0;
    for t in &tiles {
        let (s, _, body) = server.get(t, &[]).unwrap();
        if s == 200 {
            assert!(
                year_values(&body).iter().all(|y| *y == 2031),
                "{t} still shows the old version"
            );
            after += 1;
        }
    }
    assert_eq!(
        after, with_features,
        "the same tiles hold land use after the swap"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !events
        .lock()
        .unwrap()
        .iter()
        .any(|e| e.contains("\"land_use\"") && e.contains("\"version\":2"))
    {
        assert!(
            Instant::now() < deadline,
            "no /events message for the new version: {:?}",
            events.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The pixels of a PNG as RGB triples.
fn rgb_pixels(png_bytes: &[u8]) -> Vec<[u8; 3]> {
    let (_, _, rgba) = png_rgba(png_bytes);
    rgba.chunks(4).map(|p| [p[0], p[1], p[2]]).collect()
}

/// Imports the sample land use again (with `mapping`) into `store` and waits until `server`
/// serves it as `version` (30 s at most).
fn reimport_land_use(server: &Server, store: &[String], mapping: &std::path::Path, version: u64) {
    let src = samples().join("land-use/land_use_synthetic_tm3.shp");
    ok(run(cuulong().args(store).args([
        "import",
        src.to_str().unwrap(),
        "--layer",
        "land_use",
        "--family",
        "land_use",
        "--mapping",
        mapping.to_str().unwrap(),
        "--quiet",
    ])));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, _, body) = server.get("/ready", &[]).unwrap();
        let r: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if r["layers"]["land_use"] == version {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "version {version} not loaded in 30 s: {r}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A copy of the repository's styles in `dir`/styles, for a server to read and a test to edit.
fn copy_of_the_styles(dir: &std::path::Path) -> std::path::PathBuf {
    let styles = dir.join("styles");
    std::fs::create_dir(&styles).unwrap();
    for entry in std::fs::read_dir(root().join("styles")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("json") {
            std::fs::copy(&path, styles.join(path.file_name().unwrap())).unwrap();
        }
    }
    styles
}

/// Replaces colour `from` by `to` in `styles`/land_use.json and waits until the server
/// serves the edited style (30 s at most).
fn recolour_land_use(server: &Server, styles: &std::path::Path, from: &str, to: &str) {
    let file = styles.join("land_use.json");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(from), "land_use.json has no {from}");
    std::fs::write(&file, text.replace(from, to)).unwrap();
    let t0 = Instant::now();
    loop {
        let (_, _, style) = server.get("/styles/land_use.json", &[]).unwrap();
        if String::from_utf8_lossy(&style).contains(to) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the edited style was not served in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("edited style served after {} ms", t0.elapsed().as_millis());
}

/// An edited style reaches the web map's style and the WMS images together, without a
/// restart: both come from one set, reloaded when the styles folder changes.
#[test]
fn an_edited_style_reaches_the_web_map_and_wms_together() {
    let tmp = tempfile::tempdir().unwrap();
    let styles = copy_of_the_styles(tmp.path());
    let styles_arg = styles.display().to_string();
    let (_data, _store, server) = serve_samples(&["--styles-dir", &styles_arg]);
    let legend = "/wms?SERVICE=WMS&REQUEST=GetLegendGraphic&LAYER=land_use&FORMAT=image/png";
    let new_colour: [u8; 3] = [0x12, 0x34, 0x56];
    let has_new_colour = |png_bytes: &[u8]| {
        rgb_pixels(png_bytes).iter().any(|p| {
            p.iter()
                .zip(new_colour)
                .all(|(a, b)| (i32::from(*a) - i32::from(b)).abs() <= 2)
        })
    };
    let (s, _, before) = server.get(legend, &[]).unwrap();
    assert_eq!(s, 200);
    assert!(
        !has_new_colour(&before),
        "the colour is there before the edit"
    );
    let (_, _, style) = server.get("/styles/land_use.json", &[]).unwrap();
    assert!(String::from_utf8_lossy(&style).contains("#FFFC8C"));

    // Rice land (LUC) turns dark blue in the file.
    recolour_land_use(&server, &styles, "#FFFC8C", "#123456");
    // Whoever sees the new style sees the new legend too: the same set draws it.
    let (s, _, after) = server.get(legend, &[]).unwrap();
    assert_eq!(s, 200);
    assert!(has_new_colour(&after), "WMS still draws the old style");
}

/// Tiled WMS: a 256 × 256 GetMap asked again is answered from the cache with the same bytes;
/// another day, an edited style or a new version of a layer draws it anew; maps of other
/// sizes (one-off views) are not kept.
#[test]
fn tiled_getmaps_come_from_the_cache_until_a_style_or_layer_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let styles = copy_of_the_styles(tmp.path());
    let styles_arg = styles.display().to_string();
    let (_data, store, server) = serve_samples(&["--styles-dir", &styles_arg]);
    let tile = "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&FORMAT=image/png&LAYERS=land_use&STYLES=&CRS=EPSG:3857&BBOX=11836000,1141000,11843500,1148500&WIDTH=256&HEIGHT=256";
    let counts = || {
        let (_, _, body) = server.get("/metrics", &[]).unwrap();
        let text = String::from_utf8(body).unwrap();
        (
            metric(&text, "cuulong_wms_cache_hits_total").unwrap(),
            metric(&text, "cuulong_wms_cache_misses_total").unwrap(),
        )
    };
    let get = |path: &str| {
        let (s, h, body) = server.get(path, &[]).unwrap();
        assert_eq!(s, 200, "{path}: {}", String::from_utf8_lossy(&body));
        assert_eq!(header(&h, "content-type"), Some("image/png"));
        body
    };
    let first = get(tile);
    assert_eq!(counts(), (0.0, 1.0));
    assert_eq!(get(tile), first, "the cached bytes are the drawn ones");
    assert_eq!(counts(), (1.0, 1.0));
    // Another day draws anew (its admin units may differ), and is kept too.
    get(&format!("{tile}&TIME=2020-01-01"));
    get(&format!("{tile}&TIME=2020-01-01"));
    assert_eq!(counts(), (2.0, 2.0));
    // A one-off view: neither looked up nor kept.
    let view = tile.replace("WIDTH=256&HEIGHT=256", "WIDTH=300&HEIGHT=200");
    get(&view);
    get(&view);
    assert_eq!(counts(), (2.0, 2.0));

    // An edited style: the tile (mostly urban land, ODT) is drawn again with it.
    recolour_land_use(&server, &styles, "#FFA0FF", "#123456");
    let restyled = get(tile);
    assert_eq!(counts(), (2.0, 3.0), "an edited style misses the cache");
    assert_ne!(restyled, first, "urban land is drawn in the new colour");

    // A new version of the layer: drawn anew.
    let mapping = samples().join("land-use/land_use_synthetic_tm3.mapping.toml");
    reimport_land_use(&server, &store, &mapping, 2);
    get(tile);
    assert_eq!(counts(), (2.0, 4.0), "a new layer version misses the cache");
    get(tile);
    assert_eq!(counts(), (3.0, 4.0));
}
