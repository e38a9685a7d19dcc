//! WMTS 1.0.0 over real HTTP from a running `cuulong serve`, read by the clients agency
//! systems use: owslib's `WebMapTileService`, GDAL's WMTS driver and QGIS (headless) at a
//! VN-2000 and a Web Mercator extent, pixel for pixel against the OGC API map tile, and the
//! exception reports of bad requests.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::*;
use cuulong_core::tms;

#[test]
fn owslib_and_gdal_read_wmts_in_vn2000_and_web_mercator() {
    if !test_tools() {
        return;
    }
    let (tmp, _store, server) = serve_samples(&[]);
    let caps = server.url("/wmts/1.0.0/WMTSCapabilities.xml");
    // owslib: the layers, the grids with their CRS, a tile through its GetTile.
    let r = python_json(
        "owslib WebMapTileService",
        [
            "-c",
            r#"
import json, sys
from owslib.wmts import WebMapTileService
w = WebMapTileService(sys.argv[1])
lu = w.contents["land_use"]
links = {k: v for k, v in lu.tilematrixsetlinks.items()}
vn = w.tilematrixsets["VN2000TM3BenTreQuad"]
limits = links["VN2000TM3BenTreQuad"].tilematrixlimits["7"]
row = (limits.mintilerow + limits.maxtilerow) // 2
col = (limits.mintilecol + limits.maxtilecol) // 2
tile = w.gettile(layer="land_use", tilematrixset="VN2000TM3BenTreQuad", tilematrix="7", row=row, column=col, format="image/png")
print(json.dumps({
    "layers": sorted(w.contents), "grids": sorted(w.tilematrixsets),
    "crs": vn.crs, "levels": len(vn.tilematrix), "topleft": list(vn.tilematrix["0"].topleftcorner),
    "styles": sorted(lu.styles), "formats": lu.formats, "row": row, "col": col,
    "tile_bytes": len(tile.read()), "title": w.identification.title,
}))
"#,
            &caps,
        ],
    );
    assert!(r["layers"].as_array().unwrap().len() >= 8, "{r}");
    assert_eq!(
        r["grids"],
        serde_json::json!(["VN2000TM3BenTreQuad", "WebMercatorQuad", "WorldCRS84Quad"])
    );
    assert_eq!(r["crs"], "urn:ogc:def:crs:EPSG::9210");
    assert_eq!(r["levels"], 13);
    assert_eq!(r["topleft"], serde_json::json!([465000.0, 1180000.0]));
    assert!(r["tile_bytes"].as_u64().unwrap() > 1000, "{r}");
    assert!(r["formats"]
        .as_array()
        .unwrap()
        .contains(&"image/png".into()));

    // GDAL's WMTS driver at the extent of that VN-2000 tile, at the tile's resolution: the
    // very pixels of the OGC API map tile.
    let grid = tms::vn2000_quad();
    let (row, col) = (r["row"].as_u64().unwrap(), r["col"].as_u64().unwrap());
    let b = grid.bounds(grid.tile("7", row, col).unwrap());
    let out = tmp.path().join("gdal_wmts.png");
    let o = gdal_tool("gdal_translate")
        .args(["-q", "-of", "PNG", "-projwin"])
        .args([b[0], b[3], b[2], b[1]].map(|v| v.to_string()))
        .args(["-outsize", "256", "256"])
        .arg(format!(
            "WMTS:{caps},layer=land_use,tilematrixset=VN2000TM3BenTreQuad,tilematrix=7"
        ))
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "gdal_translate: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (_, _, tile) = server
        .get(
            &format!("/collections/land_use/map/tiles/VN2000TM3BenTreQuad/7/{row}/{col}"),
            &[],
        )
        .unwrap();
    let (w, h, ours) = png_rgba(&tile);
    let (gw, gh, gdal) = png_rgba(&std::fs::read(&out).unwrap());
    assert_eq!((w, h), (gw, gh));
    let differing = ours
        .chunks(4)
        .zip(gdal.chunks(4))
        .filter(|(a, b)| a[3] > 0 && b[3] > 0 && a[..3] != b[..3])
        .count();
    let drawn = ours.chunks(4).filter(|p| p[3] > 0).count();
    assert!(drawn > 1000, "the tile draws too little ({drawn} pixels)");
    assert_eq!(
        differing, 0,
        "GDAL's WMTS read differs from the tile in {differing} pixels"
    );

    // gdalinfo sees the grids' CRS for Web Mercator too.
    let o = gdal_tool("gdalinfo")
        .arg(format!(
            "WMTS:{caps},layer=land_use,tilematrixset=WebMercatorQuad"
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && text.contains("Pseudo-Mercator"),
        "{text}"
    );
}

/// `rgba` composited over white, as a desktop GIS draws a tile on its white map background.
fn over_white(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks(4)
        .flat_map(|p| {
            let a = u32::from(p[3]);
            let c = |v: u8| ((u32::from(v) * a + 255 * (255 - a) + 127) / 255) as u8;
            [c(p[0]), c(p[1]), c(p[2]), 255]
        })
        .collect()
}

#[test]
fn qgis_draws_wmts_in_vn2000_and_web_mercator_as_served() {
    if !require_qgis() {
        return;
    }
    let (tmp, _store, server) = serve_samples(&[]);
    let caps = server.url("/wmts/1.0.0/WMTSCapabilities.xml");
    // A place in Mỏ Cày with many land-use parcels: VN-2000 / TM-3 105°45' E 565 480,
    // N 1 108 960, which is Web Mercator x 11 838 730.18, y 1 122 001.14 (gdaltransform).
    for (grid, crs, level, point) in [
        (
            tms::vn2000_quad(),
            "EPSG:9210",
            "7",
            [565_480.0, 1_108_960.0],
        ),
        (
            tms::web_mercator_quad(),
            "EPSG:3857",
            "16",
            [11_838_730.18, 1_122_001.14],
        ),
    ] {
        let id = grid.id.clone();
        let (row, _, col, _) = grid
            .limits(
                grid.level(level).unwrap(),
                [point[0], point[1], point[0], point[1]],
            )
            .unwrap();
        let b = grid.bounds(grid.tile(level, row, col).unwrap());
        let out = tmp.path().join(format!("qgis_{id}.png"));
        // QGIS's WMTS client, as its "Add WMS/WMTS layer" dialog configures it, renders the
        // tile's frame in the grid's CRS at the matrix's resolution.
        let o = Command::new("/usr/bin/python3")
            .arg(root().join("tests/web/qgis_wmts.py"))
            .args([&caps, "land_use", "land_use", &id, crs])
            .args(b.map(|v| v.to_string()))
            .arg("256")
            .arg(&out)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "QGIS {id}: {text}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let r: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(r["valid"], true, "QGIS found the layer invalid: {r}");
        assert_eq!(r["crs"], crs, "{r}");
        assert_eq!(r["errors"], serde_json::json!([]), "{r}");
        let (_, _, tile) = server
            .get(
                &format!("/collections/land_use/map/tiles/{id}/{level}/{row}/{col}"),
                &[],
            )
            .unwrap();
        let (w, h, ours) = png_rgba(&tile);
        let (qw, qh, qgis) = png_rgba(&std::fs::read(&out).unwrap());
        assert_eq!((w, h), (qw, qh));
        let drawn = ours.chunks(4).filter(|p| p[3] > 0).count();
        assert!(
            drawn > 30_000,
            "{id}: the tile draws too little ({drawn} pixels)"
        );
        // Equal up to the rounding of QGIS's own blend (±1 a channel).
        let differing = over_white(&ours)
            .chunks(4)
            .zip(qgis.chunks(4))
            .filter(|(a, b)| a.iter().zip(b.iter()).any(|(x, y)| x.abs_diff(*y) > 1))
            .count();
        assert_eq!(
            differing, 0,
            "{id}: QGIS's WMTS drawing differs from the tile in {differing} pixels"
        );
    }
}

#[test]
fn wmts_kvp_tiles_feature_info_and_exceptions() {
    let (_tmp, _store, server) = serve_samples(&[]);
    let (status, h, body) = server
        .get("/wmts?SERVICE=WMTS&REQUEST=GetCapabilities", &[])
        .unwrap();
    assert_eq!(status, 200);
    assert!(header(&h, "content-type").unwrap().contains("xml"));
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("<ows:Identifier>VN2000TM3BenTreQuad</ows:Identifier>"));
    assert!(
        text.contains("<TopLeftCorner>-180 90</TopLeftCorner>"),
        "CRS84 is lon, lat"
    );

    let grid = tms::vn2000_quad();
    // Bến Tre town, at level 9 (1.25 m a pixel).
    let at = |e: f64, n: f64, level: usize| {
        let m = &grid.tile_matrices[level];
        let size = m.cell_size * 256.0;
        let col = ((e - 465_000.0) / size).floor() as u64;
        let row = ((1_180_000.0 - n) / size).floor() as u64;
        (row, col)
    };
    let (row, col) = at(590_400.0, 1_132_300.0, 9);
    let kvp = format!(
        "/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=land_use&STYLE=default&TILEMATRIXSET=VN2000TM3BenTreQuad&TILEMATRIX=9&TILEROW={row}&TILECOL={col}&FORMAT=image/png"
    );
    let (status, h, a) = server.get(&kvp, &[]).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&a));
    assert_eq!(header(&h, "content-type"), Some("image/png"));
    let rest = format!("/wmts/1.0.0/land_use/default/VN2000TM3BenTreQuad/9/{row}/{col}.png");
    let (_, _, b) = server.get(&rest, &[]).unwrap();
    assert_eq!(a, b, "KVP and RESTful GetTile differ");

    // GetFeatureInfo in the middle of that tile: the land-use parcel there, as GeoJSON.
    let info = format!(
        "/wmts?SERVICE=WMTS&REQUEST=GetFeatureInfo&VERSION=1.0.0&LAYER=land_use&STYLE=&TILEMATRIXSET=VN2000TM3BenTreQuad&TILEMATRIX=9&TILEROW={row}&TILECOL={col}&FORMAT=image/png&I=128&J=128&INFOFORMAT=application/json"
    );
    let (status, _, body) = server.get(&info, &[]).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let fc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let features = fc["features"].as_array().unwrap();
    assert_eq!(features.len(), 1, "{fc}");
    assert!(features[0]["properties"]["lu_code"].is_string(), "{fc}");

    // Exceptions: OWS reports with the standard codes and locators.
    let base =
        "/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=land_use&STYLE=&FORMAT=image/png";
    let cases = [
        (
            format!("{base}&TILEMATRIXSET=VN2000TM3BenTreQuad&TILEMATRIX=3&TILEROW=8&TILECOL=0"),
            400,
            "TileOutOfRange",
            "TILEROW",
        ),
        (
            format!("{base}&TILEMATRIXSET=VN2000TM3BenTreQuad&TILEMATRIX=3&TILEROW=0&TILECOL=9"),
            400,
            "TileOutOfRange",
            "TILECOL",
        ),
        (
            format!("{base}&TILEMATRIXSET=Nowhere&TILEMATRIX=3&TILEROW=0&TILECOL=0"),
            400,
            "InvalidParameterValue",
            "TILEMATRIXSET",
        ),
        (
            format!("{base}&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=99&TILEROW=0&TILECOL=0"),
            400,
            "InvalidParameterValue",
            "TILEMATRIX",
        ),
        (
            format!("{base}&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=3&TILEROW=0"),
            400,
            "MissingParameterValue",
            "TILECOL",
        ),
        (
            base.replace("LAYER=land_use", "LAYER=nowhere")
                + "&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=3&TILEROW=0&TILECOL=0",
            400,
            "InvalidParameterValue",
            "LAYER",
        ),
        (
            base.replace("STYLE=", "STYLE=neon")
                + "&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=3&TILEROW=3&TILECOL=6",
            400,
            "InvalidParameterValue",
            "STYLE",
        ),
        (
            base.replace("image/png", "image/gif")
                + "&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=3&TILEROW=0&TILECOL=0",
            400,
            "InvalidParameterValue",
            "FORMAT",
        ),
        (
            "/wmts?SERVICE=WMTS&REQUEST=GetLegend".to_string(),
            400,
            "InvalidParameterValue",
            "REQUEST",
        ),
        (
            "/wmts?REQUEST=GetCapabilities".to_string(),
            400,
            "MissingParameterValue",
            "SERVICE",
        ),
    ];
    for (path, status, code, locator) in cases {
        let (s, h, body) = server.get(&path, &[]).unwrap();
        let text = String::from_utf8_lossy(&body);
        assert_eq!(s, status, "{path}: {text}");
        assert!(
            header(&h, "content-type").unwrap().contains("xml"),
            "{path}"
        );
        assert!(
            text.contains(&format!("exceptionCode=\"{code}\""))
                && text.contains(&format!("locator=\"{locator}\"")),
            "{path}: {text}"
        );
    }
    let (s, _, _) = server.get("/health", &[]).unwrap();
    assert_eq!(s, 200);
}

/// Pixels of `rgba` (w × h) where the colour changes: a 4-neighbour differs by more than 24 in
/// some channel.
fn colour_edges(w: usize, h: usize, rgba: &[u8]) -> Vec<bool> {
    let px = |x: usize, y: usize| &rgba[(y * w + x) * 4..(y * w + x) * 4 + 3];
    let differ = |a: &[u8], b: &[u8]| a.iter().zip(b).any(|(x, y)| x.abs_diff(*y) > 24);
    let mut edge = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            if x + 1 < w && differ(px(x, y), px(x + 1, y)) {
                edge[y * w + x] = true;
                edge[y * w + x + 1] = true;
            }
            if y + 1 < h && differ(px(x, y), px(x, y + 1)) {
                edge[y * w + x] = true;
                edge[(y + 1) * w + x] = true;
            }
        }
    }
    edge
}

/// Of the overlay's stroke pixels, the share with a colour edge of the tiles within one pixel
/// (8-neighbourhood), and the offset (dx, dy) in −3..=3 at which most stroke pixels land exactly
/// on an edge: where the tiles' parcel edges lie relative to the overlay's. Pixels within 4 px
/// of the border are left out.
fn registration(w: usize, h: usize, edges: &[bool], strokes: &[bool]) -> (f64, (i64, i64)) {
    let inner = || (4..h - 4).flat_map(move |y| (4..w - 4).map(move |x| (x, y)));
    let on_stroke: Vec<(usize, usize)> = inner().filter(|&(x, y)| strokes[y * w + x]).collect();
    assert!(
        on_stroke.len() > 2000,
        "too few overlay pixels to judge ({})",
        on_stroke.len()
    );
    let edge_at = |x: usize, y: usize, dx: i64, dy: i64| {
        edges[(y as i64 + dy) as usize * w + (x as i64 + dx) as usize]
    };
    let near = on_stroke
        .iter()
        .filter(|&&(x, y)| (-1..=1).any(|dy| (-1..=1).any(|dx| edge_at(x, y, dx, dy))))
        .count();
    let offsets = (-3i64..=3).flat_map(|dy| (-3i64..=3).map(move |dx| (dx, dy)));
    let best = offsets
        .max_by_key(|&(dx, dy)| {
            on_stroke
                .iter()
                .filter(|&&(x, y)| edge_at(x, y, dx, dy))
                .count()
        })
        .unwrap();
    (near as f64 / on_stroke.len() as f64, best)
}

#[test]
fn openlayers_shows_vn2000_tiles_under_a_cadastral_overlay_within_a_pixel() {
    if !test_tools() || !require_tool("chromium") {
        return;
    }
    let (tmp, _store, server) = serve_samples(&[]);
    // OpenLayers in EPSG:9210: the land-use WMTS layer at level 7 (5 m a pixel) over Mỏ Cày and
    // the parcels of the view from OGC API – Features in EPSG:9210 as red outlines.
    let o = Command::new("node")
        .arg(root().join("tests/web/ol_wmts_overlay.mjs"))
        .arg(server.url("").trim_end_matches('/'))
        .args(["7", "565480", "1108960"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "OpenLayers: {text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert!(r["features"].as_u64().unwrap() >= 20, "{r}");
    assert!(r["tiles_loaded"].as_u64().unwrap() >= 6, "{r}");
    assert_eq!(r["extent"], r["view_extent"], "the view is not on the grid");

    let (w, h, tiles) = png_rgba(&std::fs::read(tmp.path().join("tiles.png")).unwrap());
    let (ow, oh, overlay) = png_rgba(&std::fs::read(tmp.path().join("overlay.png")).unwrap());
    assert_eq!((w, h), (ow, oh));
    let (w, h) = (w as usize, h as usize);
    let edges = colour_edges(w, h, &tiles);
    let strokes: Vec<bool> = overlay
        .chunks(4)
        .map(|p| p[0] >= 200 && p[1] <= 160 && p[2] <= 160)
        .collect();
    // Every outline of the overlay runs on a parcel edge of the tiles, and the two line up best
    // with no offset at all (a 1-px offset would still pass; 2 px would not).
    let (near, best) = registration(w, h, &edges, &strokes);
    assert!(
        near >= 0.99,
        "{near:.4} of the overlay lies within 1 px of a tile edge"
    );
    assert!(
        best.0.abs() <= 1 && best.1.abs() <= 1,
        "the tiles' parcel edges lie {best:?} px from the overlay's"
    );
    // The check sees a 2-px error: the overlay moved by (2, 2) is found there.
    let mut moved = vec![false; w * h];
    for y in 0..h - 2 {
        for x in 0..w - 2 {
            moved[(y + 2) * w + x + 2] = strokes[y * w + x];
        }
    }
    assert_eq!(registration(w, h, &edges, &moved).1, (-2, -2));
}

/// Status, exception code and locator of an OWS exception report (empty strings if none).
fn ows_exception(server: &Server, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let (s, _, body) = server.get(path, headers).unwrap();
    let text = String::from_utf8_lossy(&body);
    let attr = |name: &str| {
        text.split(&format!("{name}=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("")
            .to_owned()
    };
    if s != 200 {
        assert!(text.contains("ExceptionReport"), "{path}: {s} {text}");
    }
    (s, attr("exceptionCode"), attr("locator"))
}

/// The checks of OGC's executable test suite for WMTS 1.0.0 (ets-wmts10, its CTL scripts; the
/// suite itself needs a Java runtime that is not available here), by ATS test id.
#[test]
fn answers_what_the_ogc_wmts_test_suite_checks() {
    if !test_tools() {
        return;
    }
    let (_tmp, _store, server) = serve_samples(&[]);
    let kvp = "/wmts?";
    let e = |path: &str| ows_exception(&server, path, &[]);
    let expect = |path: &str, status: u16, code: &str, locator: &str| {
        let (s, c, l) = e(path);
        assert_eq!(
            (s, c.as_str(), l.to_ascii_lowercase()),
            (status, code, locator.to_ascii_lowercase()),
            "{path}"
        );
    };
    // Server.KVP.GET.InvalidQueryString / InvalidService / InvalidRequest.
    expect(
        &format!("{kvp}service=WMTS&request~GetCapabilities!version~1.0.0"),
        400,
        "MissingParameterValue",
        "request",
    );
    expect(
        &format!("{kvp}service=BOGUS&request=GetCapabilities&AcceptVersions=1.0.0"),
        400,
        "InvalidParameterValue",
        "service",
    );
    expect(
        &format!("{kvp}service=WMTS&request=GetBOGUS&version=1.0.0"),
        400,
        "InvalidParameterValue",
        "request",
    );
    // Server.RESTful.HTTP.Mandatory (406 for an Accept it cannot meet), RESTful.InvalidQueryString.
    let caps = "/wmts/1.0.0/WMTSCapabilities.xml";
    let (s, _, _) = server.get(caps, &[("Accept", "example/unknown")]).unwrap();
    assert_eq!(s, 406);
    let (s, _, _) = server
        .get(
            caps,
            &[("Accept", "text/html,application/xml;q=0.9,*/*;q=0.8")],
        )
        .unwrap();
    assert_eq!(s, 200, "a browser's Accept");
    assert_eq!(
        server
            .get("/wmts/1.0.0/WMTSCapabilitiesBogus.xml", &[])
            .unwrap()
            .0,
        404
    );

    // GetCapabilities: Request.NoService, InvalidService, AcceptVersions.Invalid, Sections.
    let gc = format!("{kvp}service=WMTS&request=GetCapabilities");
    expect(
        &format!("{kvp}request=GetCapabilities&AcceptVersions=1.0.0"),
        400,
        "MissingParameterValue",
        "service",
    );
    expect(
        &format!("{gc}&AcceptVersions=9.9.9"),
        400,
        "VersionNegotiationFailed",
        "",
    );
    expect(
        &format!("{gc}&Sections=Bogus"),
        400,
        "InvalidParameterValue",
        "sections",
    );
    expect(
        &format!("{gc}&Sections="),
        400,
        "MissingParameterValue",
        "sections",
    );
    for (sections, present, absent) in [
        (
            "Contents",
            vec!["<Contents>"],
            vec!["<ows:ServiceIdentification>", "<ows:OperationsMetadata>"],
        ),
        (
            "ServiceIdentification",
            vec!["<ows:ServiceIdentification>"],
            vec!["<Contents>", "<ows:OperationsMetadata>"],
        ),
        (
            "OperationsMetadata",
            vec!["<ows:OperationsMetadata>"],
            vec!["<Contents>", "<ows:ServiceIdentification>"],
        ),
        (
            "Contents,Themes",
            vec!["<Contents>"],
            vec!["<ows:OperationsMetadata>"],
        ),
        (
            "All",
            vec![
                "<Contents>",
                "<ows:OperationsMetadata>",
                "<ows:ServiceIdentification>",
            ],
            vec![],
        ),
    ] {
        let (s, _, body) = server
            .get(&format!("{gc}&Sections={sections}"), &[])
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert_eq!(s, 200, "Sections={sections}");
        assert!(
            present.iter().all(|p| text.contains(p)) && absent.iter().all(|a| !text.contains(a)),
            "Sections={sections}: {text:.400}"
        );
    }
    // Request.CaseInsensitive.KVP.Names: the same document whatever the case of the names.
    let (_, _, a) = server
        .get(&format!("{gc}&AcceptVersions=1.0.0"), &[])
        .unwrap();
    let (_, _, b) = server
        .get(
            &format!("{kvp}SeRvIcE=WMTS&rEqUeSt=GetCapabilities&ACCEPTVERSIONS=1.0.0"),
            &[],
        )
        .unwrap();
    assert_eq!(a, b);
    // The document: schema reference, AcceptFormats, KVP hrefs ending in ? or &, the KVP
    // encoding constraint, unique layer / set / matrix ids and scale denominators, every
    // TileMatrixSetLink naming a set of the document.
    let r = python_json(
        "WMTS capabilities checks",
        [
            "-c",
            r#"
import json, sys, urllib.request
import xml.etree.ElementTree as ET
doc = urllib.request.urlopen(sys.argv[1]).read()
ns = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1", "xlink": "http://www.w3.org/1999/xlink"}
root = ET.fromstring(doc)
xsi = root.get("{http://www.w3.org/2001/XMLSchema-instance}schemaLocation", "")
gc = root.find("ows:OperationsMetadata/ows:Operation[@name='GetCapabilities']", ns)
accept_formats = [v.text for v in gc.findall("ows:Parameter[@name='AcceptFormats']/ows:AllowedValues/ows:Value", ns)]
kvp_hrefs, kvp_constraint = [], True
for op in root.findall("ows:OperationsMetadata/ows:Operation", ns):
    gets = op.findall(".//ows:Get", ns)
    kinds = [[v.text for v in g.findall("ows:Constraint[@name='GetEncoding']/ows:AllowedValues/ows:Value", ns)] for g in gets]
    kvp_constraint &= any(k == ["KVP"] for k in kinds)
    kvp_hrefs += [g.get("{http://www.w3.org/1999/xlink}href") for g, k in zip(gets, kinds) if k != ["RESTful"]]
layers = [l.findtext("ows:Identifier", namespaces=ns) for l in root.findall("w:Contents/w:Layer", ns)]
sets = {}
for t in root.findall("w:Contents/w:TileMatrixSet", ns):
    ms = t.findall("w:TileMatrix", ns)
    sets[t.findtext("ows:Identifier", namespaces=ns)] = {
        "matrices": [m.findtext("ows:Identifier", namespaces=ns) for m in ms],
        "scales": [float(m.findtext("w:ScaleDenominator", namespaces=ns)) for m in ms],
    }
links = [t.text for t in root.findall("w:Contents/w:Layer/w:TileMatrixSetLink/w:TileMatrixSet", ns)]
tile_templates = [l.find("w:ResourceURL[@resourceType='tile']", ns) is not None for l in root.findall("w:Contents/w:Layer", ns)]
print(json.dumps({
    "schema_referenced": "wmtsGetCapabilities_response.xsd" in xsi,
    "accept_formats": accept_formats,
    "kvp_hrefs_ok": all(h.startswith("http") and h[-1] in "?&" for h in kvp_hrefs) and len(kvp_hrefs) == 3,
    "kvp_constraint": kvp_constraint,
    "layers_unique": len(layers) == len(set(layers)) and all(layers) and len(layers) >= 8,
    "sets_unique": len(sets) == len(root.findall("w:Contents/w:TileMatrixSet", ns)),
    "matrices_unique": all(len(s["matrices"]) == len(set(s["matrices"])) for s in sets.values()),
    "scales_unique": all(len(s["scales"]) == len(set(s["scales"])) for s in sets.values()),
    "links_valid": all(l in sets for l in links) and len(links) == 3 * len(layers),
    "every_layer_has_a_tile_template": all(tile_templates),
    "service_metadata_url": root.find("w:ServiceMetadataURL", ns).get("{http://www.w3.org/1999/xlink}href"),
}))
"#,
            &server.url(caps),
        ],
    );
    for check in [
        "schema_referenced",
        "kvp_hrefs_ok",
        "kvp_constraint",
        "layers_unique",
        "sets_unique",
        "matrices_unique",
        "scales_unique",
        "links_valid",
        "every_layer_has_a_tile_template",
    ] {
        assert_eq!(r[check], true, "{check}: {r}");
    }
    assert_eq!(r["accept_formats"], serde_json::json!(["application/xml"]));
    assert_eq!(
        r["service_metadata_url"],
        server.url(caps),
        "RESTful GetCapabilities.Request.Mandatory"
    );

    // GetTile (KVP): Mandatory, Missing (each mandatory parameter in turn), Invalid.*,
    // Invalid.Tile.Row/Col.TileMatrixSetLimits (TileOutOfRange at MaxTileRow + 1).
    let level = 7;
    let limits = server
        .get("/collections/land_use/map/tiles/VN2000TM3BenTreQuad", &[])
        .unwrap()
        .2;
    let limits: serde_json::Value = serde_json::from_slice(&limits).unwrap();
    let l = limits["tileMatrixSetLimits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["tileMatrix"].as_str() == Some(level.to_string().as_str()))
        .unwrap()
        .clone();
    let (row, col) = (
        (l["minTileRow"].as_u64().unwrap() + l["maxTileRow"].as_u64().unwrap()) / 2,
        (l["minTileCol"].as_u64().unwrap() + l["maxTileCol"].as_u64().unwrap()) / 2,
    );
    let params = [
        ("service", "WMTS".to_string()),
        ("request", "GetTile".into()),
        ("version", "1.0.0".into()),
        ("layer", "land_use".into()),
        ("style", "land_use".into()),
        ("format", "image/png".into()),
        ("TileMatrixSet", "VN2000TM3BenTreQuad".into()),
        ("TileMatrix", level.to_string()),
        ("TileRow", row.to_string()),
        ("TileCol", col.to_string()),
    ];
    let url = |ps: &[(&str, String)]| {
        format!(
            "{kvp}{}",
            ps.iter()
                .map(|(k, v)| format!("{k}={}", v.replace('/', "%2F")))
                .collect::<Vec<_>>()
                .join("&")
        )
    };
    let with = |name: &str, value: &str| {
        let ps: Vec<(&str, String)> = params
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    if *k == name {
                        value.to_string()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect();
        url(&ps)
    };
    let (s, h, body) = server.get(&url(&params), &[]).unwrap();
    assert_eq!((s, header(&h, "content-type")), (200, Some("image/png")));
    let (w, hgt, _) = png_rgba(&body);
    assert_eq!((w, hgt), (256, 256), "Valid.Tile.Size");
    let (s, h, body) = server.get(&with("format", "image/jpeg"), &[]).unwrap();
    assert_eq!(
        (s, header(&h, "content-type")),
        (200, Some("image/jpeg")),
        "Valid.Tile.Format"
    );
    assert_eq!(&body[..2], &[0xFF, 0xD8]);
    for (i, (name, _)) in params.iter().enumerate() {
        if matches!(*name, "service" | "request") {
            continue; // checked above
        }
        let ps: Vec<(&str, String)> = params
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, p)| p.clone())
            .collect();
        expect(&url(&ps), 400, "MissingParameterValue", name);
    }
    expect(
        &with("layer", "bogus"),
        400,
        "InvalidParameterValue",
        "layer",
    );
    expect(
        &with("TileMatrixSet", "bogus"),
        400,
        "InvalidParameterValue",
        "TileMatrixSet",
    );
    expect(
        &with("TileMatrix", "bogus"),
        400,
        "InvalidParameterValue",
        "TileMatrix",
    );
    expect(
        &with("style", "bogus"),
        400,
        "InvalidParameterValue",
        "style",
    );
    expect(
        &with("format", "image/bogus"),
        400,
        "InvalidParameterValue",
        "format",
    );
    let max_row = l["maxTileRow"].as_u64().unwrap();
    let max_col = l["maxTileCol"].as_u64().unwrap();
    let m = tms::vn2000_quad().tile_matrices[level].clone();
    // Past the layer's TileMatrixSetLimits (Invalid.Tile.Row/Col.TileMatrixSetLimits) and
    // past the matrix: TileOutOfRange.
    expect(
        &with("TileRow", &(max_row + 1).to_string()),
        400,
        "TileOutOfRange",
        "TileRow",
    );
    expect(
        &with("TileCol", &(max_col + 1).to_string()),
        400,
        "TileOutOfRange",
        "TileCol",
    );
    expect(
        &with("TileRow", &m.matrix_height.to_string()),
        400,
        "TileOutOfRange",
        "TileRow",
    );
    expect(
        &with("TileCol", &m.matrix_width.to_string()),
        400,
        "TileOutOfRange",
        "TileCol",
    );

    // GetTile (RESTful): errors are 404 with the exception report (the suite's best practice).
    let rest = format!("/wmts/1.0.0/land_use/land_use/VN2000TM3BenTreQuad/{level}/{row}/{col}.png");
    assert_eq!(server.get(&rest, &[]).unwrap().0, 200);
    for (path, code) in [
        (
            rest.replace("/land_use/land_use/", "/bogus/land_use/"),
            "InvalidParameterValue",
        ),
        (
            rest.replace("/land_use/VN2000", "/bogus/VN2000"),
            "InvalidParameterValue",
        ),
        (
            rest.replace("VN2000TM3BenTreQuad", "bogus"),
            "InvalidParameterValue",
        ),
        (
            rest.replace(&format!("/{level}/"), "/bogus/"),
            "InvalidParameterValue",
        ),
        (
            rest.replace(&format!("/{row}/"), &format!("/{}/", m.matrix_height)),
            "TileOutOfRange",
        ),
    ] {
        let (s, c, _) = e(&path);
        assert_eq!((s, c.as_str()), (404, code), "{path}");
    }

    // GetFeatureInfo (KVP): Missing INFOFORMAT, Invalid.InfoFormat, and I/J outside the tile,
    // which WMTS 1.0.0 (table 26) calls PointIJOutOfRange (the suite's script expects
    // TileOutOfRange there; the standard wins).
    let gfi = with("request", "GetFeatureInfo") + "&I=128&J=128";
    let (s, _, _) = server
        .get(&format!("{gfi}&infoFormat=application/json"), &[])
        .unwrap();
    assert_eq!(s, 200);
    expect(&gfi, 400, "MissingParameterValue", "INFOFORMAT");
    expect(
        &format!("{gfi}&infoFormat=bogus/bogus"),
        400,
        "InvalidParameterValue",
        "INFOFORMAT",
    );
    expect(
        &(with("request", "GetFeatureInfo") + "&I=256&J=0&infoFormat=application/json"),
        400,
        "PointIJOutOfRange",
        "I",
    );
    expect(
        &(with("request", "GetFeatureInfo") + "&I=0&J=256&infoFormat=application/json"),
        400,
        "PointIJOutOfRange",
        "J",
    );
}
