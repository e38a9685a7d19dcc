//! WMS 1.3.0 / 1.1.1 over real HTTP: real clients (owslib, GDAL's WMS driver,
//! gdallocationinfo), capabilities and exception reports validated against the OGC XSDs with
//! xmllint, rendered colours checked at points PostGIS picks, GetFeatureInfo against
//! `/query/point` and PostGIS, golden images, VN-2000 frames against cs2cs.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// An XML catalog mapping the schema URLs to the copies in tests/schemas.
fn xml_catalog(dir: &Path) -> PathBuf {
    let schemas = root().join("tests/schemas/wms-1.3.0");
    let s = schemas.display();
    let text = format!(
        r#"<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
  <rewriteURI uriStartString="http://schemas.opengis.net/wms/1.3.0/" rewritePrefix="file://{s}/ogc/wms/1.3.0/"/>
  <rewriteURI uriStartString="http://www.w3.org/1999/" rewritePrefix="file://{s}/w3c/1999/"/>
  <rewriteURI uriStartString="http://www.w3.org/2001/" rewritePrefix="file://{s}/w3c/2001/"/>
</catalog>"#
    );
    let path = dir.join("catalog.xml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Validates an XML document against an XSD of tests/schemas/wms-1.3.0 with xmllint.
fn validate(catalog: &Path, xsd: &str, doc: &[u8], what: &str) {
    let dir = catalog.parent().unwrap();
    let file = dir.join("doc.xml");
    std::fs::write(&file, doc).unwrap();
    let schema = root()
        .join("tests/schemas/wms-1.3.0/ogc/wms/1.3.0")
        .join(xsd);
    let o = Command::new("xmllint")
        .env("XML_CATALOG_FILES", catalog)
        .args(["--nonet", "--noout", "--schema"])
        .arg(&schema)
        .arg(&file)
        .output()
        .expect("run xmllint");
    assert!(
        o.status.success(),
        "{what}: not valid against {xsd}:\n{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(doc)
    );
}

struct Image {
    width: u32,
    height: u32,
    rgba: Vec<u8>,
}

impl Image {
    fn decode(bytes: &[u8]) -> Image {
        let (width, height, rgba) = png_rgba(bytes);
        Image {
            width,
            height,
            rgba,
        }
    }
    fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * self.width + x) * 4) as usize;
        [
            self.rgba[i],
            self.rgba[i + 1],
            self.rgba[i + 2],
            self.rgba[i + 3],
        ]
    }
}

fn hex(c: &str) -> [u8; 3] {
    let c = c.trim_start_matches('#');
    let p = |i: usize| u8::from_str_radix(&c[i..i + 2], 16).unwrap();
    [p(0), p(2), p(4)]
}

fn close(a: [u8; 4], b: [u8; 3], tol: i32) -> bool {
    (0..3).all(|i| (i32::from(a[i]) - i32::from(b[i])).abs() <= tol)
}

/// The colour a MapLibre `["match", ["get", FIELD], labels, colour, ..., default]` gives a
/// value — read from the style JSON here, independently of the server's evaluator.
fn match_colour(style_file: &str, style_layer: &str, prop: &str, value: &str) -> [u8; 3] {
    let style: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("styles").join(style_file)).unwrap(),
    )
    .unwrap();
    let layer = style["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == style_layer)
        .unwrap();
    let expr = layer["paint"][prop].as_array().unwrap();
    assert_eq!(expr[0], "match");
    let arms = &expr[2..expr.len() - 1];
    for pair in arms.chunks(2) {
        let hit = match &pair[0] {
            serde_json::Value::Array(list) => list.iter().any(|v| v == value),
            v => v == value,
        };
        if hit {
            return hex(pair[1].as_str().unwrap());
        }
    }
    hex(expr[expr.len() - 1].as_str().unwrap())
}

fn wms(server: &Server, query: &str) -> Response {
    server
        .get(&format!("/wms?SERVICE=WMS&{query}"), &[])
        .unwrap()
}

fn get_map(server: &Server, query: &str) -> Image {
    let (s, h, body) = wms(
        server,
        &format!("VERSION=1.3.0&REQUEST=GetMap&FORMAT=image/png&{query}"),
    );
    assert_eq!(s, 200, "{query}: {}", String::from_utf8_lossy(&body));
    assert_eq!(header(&h, "content-type"), Some("image/png"));
    Image::decode(&body)
}

#[test]
fn clients_read_capabilities_maps_and_feature_info() {
    if !test_tools() || !require_tool("xmllint") || !require_tool("gdal_translate") {
        return;
    }
    let (tmp, _store, server) = serve_samples(&[]);
    let catalog = xml_catalog(tmp.path());

    // Capabilities: valid against the OGC schema, every layer with vi/en title, styles with a
    // legend, the VN-2000 CRSs.
    let (s, h, caps) = wms(&server, "REQUEST=GetCapabilities");
    assert_eq!(s, 200);
    assert!(header(&h, "content-type").unwrap().starts_with("text/xml"));
    validate(
        &catalog,
        "capabilities_1_3_0.xsd",
        &caps,
        "GetCapabilities 1.3.0",
    );
    let text = String::from_utf8_lossy(&caps);
    for crs in [
        "CRS:84",
        "EPSG:4326",
        "EPSG:3857",
        "EPSG:4756",
        "EPSG:3405",
        "EPSG:9210",
    ] {
        assert!(text.contains(&format!("<CRS>{crs}</CRS>")), "{crs} missing");
    }
    assert!(text.contains("<Title>Hiện trạng sử dụng đất"));
    assert!(text.contains("REQUEST=GetLegendGraphic&amp;LAYER=land_use"));
    assert_eq!(text.matches("<Layer queryable=\"1\"").count(), 10);

    // owslib parses both versions, fetches a map and feature info.
    let script = r#"
import json, sys
from owslib.wms import WebMapService
url = sys.argv[1]
out = {}
for version in ("1.3.0", "1.1.1"):
    wms = WebMapService(url, version=version)
    lu = wms["land_use"]
    crs = lu.crsOptions
    srs = "EPSG:4326"
    img = wms.getmap(layers=["land_use", "national_roads"], styles=["", ""], srs=srs,
                     bbox=(106.30, 10.15, 106.45, 10.30), size=(256, 256), format="image/png")
    data = img.read()
    info = wms.getfeatureinfo(layers=["land_use"], srs=srs, bbox=(106.30, 10.15, 106.45, 10.30),
                              size=(256, 256), format="image/png", query_layers=["land_use"],
                              info_format="application/json", xy=(128, 128))
    out[version] = {"title": lu.title, "crs": sorted(crs), "png": data[:8].hex(),
                    "bytes": len(data), "styles": sorted(lu.styles),
                    "info": json.loads(info.read())}
print(json.dumps(out))
"#;
    let out = python_json("owslib", ["-c", script, &server.url("/wms")]);
    // The feature at the centre pixel, from /query/point (axis order handled by owslib).
    let (lon, lat): (f64, f64) = (106.375, 10.225);
    let (_, _, body) = server
        .get(
            &format!("/query/point?lon={lon}&lat={lat}&layers=land_use"),
            &[],
        )
        .unwrap();
    let point: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let expected_id = point["features"][0]["id"].as_i64().unwrap();
    for version in ["1.3.0", "1.1.1"] {
        let v = &out[version];
        assert!(
            v["title"]
                .as_str()
                .unwrap()
                .contains("Hiện trạng sử dụng đất"),
            "{v}"
        );
        assert_eq!(v["png"], "89504e470d0a1a0a", "{version}: a PNG");
        assert!(v["bytes"].as_u64().unwrap() > 1000);
        assert!(
            v["styles"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "land_use"),
            "{v}"
        );
        assert!(
            v["crs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "EPSG:9210"),
            "{v}"
        );
        let f = &v["info"]["features"][0];
        assert_eq!(f["id"], format!("land_use.{expected_id}"), "{version}: {v}");
    }

    // GDAL's WMS driver fetches a map (lat/lon axis order of EPSG:4326 in 1.3.0) ...
    let url = server.url(
        "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=land_use&CRS=EPSG:4326&BBOX=10.15,106.3,10.3,106.45&FORMAT=image/png",
    );
    let png = tmp.path().join("gdal.png");
    let o = gdal_tool("gdal_translate")
        .args(["-q", "-of", "PNG", "-outsize", "256", "256"])
        .arg(format!("WMS:{url}"))
        .arg(&png)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = Image::decode(&std::fs::read(&png).unwrap());
    let palette: Vec<[u8; 3]> = ["LUC", "CLN", "ONT", "NTS", "BHK", "ODT", "HNK"]
        .iter()
        .map(|c| match_colour("land_use.json", "land_use-fill", "fill-color", c))
        .collect();
    let in_palette = (0..256)
        .flat_map(|x| (0..256).map(move |y| (x, y)))
        .filter(|&(x, y)| palette.iter().any(|c| close(img.pixel(x, y), *c, 2)))
        .count();
    assert!(
        in_palette > 256 * 256 / 2,
        "GDAL's image: {in_palette} land-use pixels"
    );

    // ... and gdallocationinfo sends a GetFeatureInfo that finds the same feature.
    let o = gdal_tool("gdallocationinfo")
        .args(["-b", "1", "-wgs84"])
        .arg(format!("WMS:{url}"))
        .args([lon.to_string(), lat.to_string()])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        report.contains(&format!("fid=\"land_use.{expected_id}\"")),
        "gdallocationinfo: {report}"
    );

    // GetLegendGraphic: a PNG with one row per land-use class.
    let (s, h, body) = wms(
        &server,
        "VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER=land_use&FORMAT=image/png",
    );
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-type"), Some("image/png"));
    let legend = Image::decode(&body);
    assert!(legend.height > 20 * 40, "legend height {}", legend.height);
    let luc = match_colour("land_use.json", "land_use-fill", "fill-color", "LUC");
    assert!(
        close(legend.pixel(12, 16), luc, 2),
        "first swatch is LUC: {:?}",
        legend.pixel(12, 16)
    );
}

#[test]
fn errors_are_service_exceptions_valid_against_the_schema() {
    if !require_tool("xmllint") {
        return;
    }
    let (tmp, _store, server) = serve_samples(&[]);
    let catalog = xml_catalog(tmp.path());
    let map = "VERSION=1.3.0&REQUEST=GetMap&LAYERS=land_use&STYLES=&CRS=EPSG:3857&BBOX=11800000,1100000,11850000,1150000&WIDTH=256&HEIGHT=256&FORMAT=image/png";
    let gfi = "VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=land_use&QUERY_LAYERS=land_use&STYLES=&CRS=EPSG:3857&BBOX=11800000,1100000,11850000,1150000&WIDTH=256&HEIGHT=256&I=10&J=10";
    let cases: Vec<(String, Option<&str>)> = vec![
        (
            map.replace("&CRS=EPSG:3857", ""),
            Some("MissingParameterValue"),
        ),
        (map.replace("EPSG:3857", "EPSG:2154"), Some("InvalidCRS")),
        (
            map.replace("LAYERS=land_use", "LAYERS=land_use,nope"),
            Some("LayerNotDefined"),
        ),
        (
            map.replace("STYLES=", "STYLES=nostyle"),
            Some("StyleNotDefined"),
        ),
        (map.replace("image/png", "image/gif"), Some("InvalidFormat")),
        (
            map.replace("BBOX=11800000,1100000,11850000,1150000", "BBOX=1,2,3"),
            Some("InvalidParameterValue"),
        ),
        (
            map.replace(
                "BBOX=11800000,1100000,11850000,1150000",
                "BBOX=11850000,1100000,11800000,1150000",
            ),
            Some("InvalidParameterValue"),
        ),
        (
            map.replace("WIDTH=256", "WIDTH=100000"),
            Some("InvalidParameterValue"),
        ),
        (
            map.replace("WIDTH=256", "WIDTH=-3"),
            Some("InvalidParameterValue"),
        ),
        (
            map.replace("STYLES=", "STYLES=a,b"),
            Some("InvalidParameterValue"),
        ),
        (
            map.replace("LAYERS=land_use", "LAYERS=%3Cscript%3E%26%22"),
            Some("LayerNotDefined"),
        ),
        (gfi.replace("I=10", "I=9999"), Some("InvalidPoint")),
        (gfi.replace("J=10", "J=abc"), Some("InvalidPoint")),
        (
            format!("{gfi}&INFO_FORMAT=image/tiff"),
            Some("InvalidFormat"),
        ),
        (
            gfi.replace("QUERY_LAYERS=land_use", "QUERY_LAYERS=nope"),
            Some("LayerNotDefined"),
        ),
        (
            "VERSION=1.3.0&REQUEST=DescribeLayer".into(),
            Some("OperationNotSupported"),
        ),
        ("VERSION=1.3.0".into(), Some("MissingParameterValue")),
        (
            "VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER=nope".into(),
            Some("LayerNotDefined"),
        ),
    ];
    for (query, code) in &cases {
        let (s, h, body) = wms(&server, query);
        assert!((400..500).contains(&s), "{query}: status {s}");
        assert!(
            header(&h, "content-type").unwrap().starts_with("text/xml"),
            "{query}"
        );
        let text = String::from_utf8_lossy(&body);
        if let Some(code) = code {
            assert!(
                text.contains(&format!("code=\"{code}\"")),
                "{query}: {text}"
            );
        }
        assert!(!text.contains("<script>"), "{query}: input not escaped");
        validate(&catalog, "exceptions_1_3_0.xsd", &body, query);
    }
    // A wrong SERVICE is refused too.
    let (s, _, body) = server
        .get("/wms?SERVICE=WFS&REQUEST=GetCapabilities", &[])
        .unwrap();
    assert_eq!(s, 400);
    validate(&catalog, "exceptions_1_3_0.xsd", &body, "SERVICE=WFS");
    // 1.1.1 speaks its own dialect: SRS and InvalidSRS.
    let (s, h, body) = wms(
        &server,
        "VERSION=1.1.1&REQUEST=GetMap&LAYERS=land_use&STYLES=&SRS=EPSG:2154&BBOX=0,0,1,1&WIDTH=10&HEIGHT=10&FORMAT=image/png",
    );
    assert_eq!(s, 400);
    assert!(header(&h, "content-type")
        .unwrap()
        .starts_with("application/vnd.ogc.se_xml"));
    assert!(String::from_utf8_lossy(&body).contains("code=\"InvalidSRS\""));
    // EXCEPTIONS=INIMAGE / BLANK: an image of the requested size instead.
    for mode in ["INIMAGE", "BLANK"] {
        let q = format!(
            "{}&EXCEPTIONS={mode}",
            map.replace("EPSG:3857", "EPSG:2154")
        );
        let (s, h, body) = wms(&server, &q);
        assert_eq!(s, 200, "{mode}");
        assert_eq!(header(&h, "content-type"), Some("image/png"));
        let img = Image::decode(&body);
        assert_eq!((img.width, img.height), (256, 256));
        let dark = img.rgba.chunks(4).filter(|p| p[0] < 100).count();
        assert_eq!(dark > 0, mode == "INIMAGE", "{mode}: {dark} dark pixels");
    }
    // The server is still serving.
    let (s, h, _) = wms(&server, map);
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-type"), Some("image/png"));
}

/// A point deep inside a polygon, from PostGIS.
struct Sample {
    class: String,
    lon: f64,
    lat: f64,
    /// EPSG:3857.
    x: f64,
    y: f64,
    /// Radius of the largest inscribed circle, EPSG:3857 metres.
    r: f64,
    fid: i64,
}

/// A point deep inside a polygon of each of several classes (the largest inscribed circles).
fn interior_points(db: &TestDb, table: &str, field: &str, n: usize) -> Vec<Sample> {
    let sql = format!(
        "SELECT concat_ws('|', cls, ST_X(ll), ST_Y(ll), ST_X(c), ST_Y(c), r, fid) FROM (
           SELECT DISTINCT ON (cls) cls, c, r, fid, ST_Transform(c, 4326) AS ll FROM (
             SELECT {field}::text AS cls, fid, (mic).center AS c, (mic).radius AS r FROM (
               SELECT {field}, fid, ST_MaximumInscribedCircle(ST_Transform(geom, 3857)) AS mic
               FROM cuulong_data.{table} WHERE ST_Area(geom) > 2e-5) m) q
           ORDER BY cls, r DESC) d ORDER BY r DESC LIMIT {n}"
    );
    db.strings(&sql)
        .iter()
        .map(|row| {
            let p: Vec<&str> = row.split('|').collect();
            let f = |i: usize| p[i].parse::<f64>().unwrap();
            Sample {
                class: p[0].to_owned(),
                lon: f(1),
                lat: f(2),
                x: f(3),
                y: f(4),
                r: f(5),
                fid: p[6].parse().unwrap(),
            }
        })
        .collect()
}

fn table_of(db: &TestDb, id: &str) -> String {
    db.strings(&format!(
        "SELECT table_name FROM cuulong.layers WHERE id = '{id}'"
    ))[0]
        .clone()
}

#[test]
fn rendered_colours_and_feature_info_match_the_data() {
    let Some(db) = TestDb::create("wms") else {
        return;
    };
    let store = vec!["--database-url".to_string(), db.url.clone()];
    import_samples(&store);
    let server = Server::start(&store, &[]);

    let land_use = table_of(&db, "land_use");
    let water = table_of(&db, "water_areas");
    let mut checks: Vec<(&str, Sample, [u8; 3])> = Vec::new();
    for s in interior_points(&db, &land_use, "lu_code", 6) {
        let colour = match_colour("land_use.json", "land_use-fill", "fill-color", &s.class);
        checks.push(("land_use", s, colour));
    }
    for s in interior_points(&db, &water, "kind", 2) {
        let colour = match_colour("hydrology.json", "water_areas-fill", "fill-color", &s.class);
        checks.push(("water_areas", s, colour));
    }
    assert!(checks.len() >= 6, "{} sample points", checks.len());
    let size = 256u32;
    for (layer, sample, colour) in &checks {
        let Sample {
            class,
            lon,
            lat,
            x,
            y,
            r,
            fid,
        } = sample;
        // Scale: the inscribed circle spans at least 8 pixels, at most 30 m per pixel (below
        // zoom 12, so no outlines or labels cover the fill).
        let res = (r / 8.0).max(30.0);
        let half = res * f64::from(size) / 2.0;
        let img =
            get_map(
                &server,
                &format!(
                "LAYERS={layer}&STYLES=&CRS=EPSG:3857&BBOX={},{},{},{}&WIDTH={size}&HEIGHT={size}",
                x - half, y - half, x + half, y + half
            ),
            );
        let px = img.pixel(size / 2, size / 2);
        assert!(
            close(px, *colour, 2),
            "{layer} {class} at {lon},{lat} (3857): {px:?} vs {colour:?}"
        );
        // EPSG:4326 in 1.3.0: BBOX is lat,lon.
        let res_deg = res / 111_319.49 * lat.to_radians().cos();
        let h = res_deg * f64::from(size) / 2.0;
        let img =
            get_map(
                &server,
                &format!(
                "LAYERS={layer}&STYLES=&CRS=EPSG:4326&BBOX={},{},{},{}&WIDTH={size}&HEIGHT={size}",
                lat - h, lon - h, lat + h, lon + h
            ),
            );
        let px = img.pixel(size / 2, size / 2);
        assert!(
            close(px, *colour, 2),
            "{layer} {class} at {lon},{lat} (4326): {px:?} vs {colour:?}"
        );
        // 1.1.1 with SRS=EPSG:4326 is lon,lat.
        let (s, _, body) = wms(
            &server,
            &format!(
                "VERSION=1.1.1&REQUEST=GetMap&FORMAT=image/png&LAYERS={layer}&STYLES=&SRS=EPSG:4326&BBOX={},{},{},{}&WIDTH={size}&HEIGHT={size}",
                lon - h, lat - h, lon + h, lat + h
            ),
        );
        assert_eq!(s, 200);
        let px = Image::decode(&body).pixel(size / 2, size / 2);
        assert!(
            close(px, *colour, 2),
            "{layer} {class} (1.1.1): {px:?} vs {colour:?}"
        );

        // GetFeatureInfo at that pixel = /query/point at the pixel's centre = PostGIS.
        let (s, _, body) = wms(
            &server,
            &format!(
                "VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS={layer}&QUERY_LAYERS={layer}&STYLES=&CRS=EPSG:4326&BBOX={},{},{},{}&WIDTH={size}&HEIGHT={size}&I={}&J={}&INFO_FORMAT=application/json&FEATURE_COUNT=5",
                lat - h, lon - h, lat + h, lon + h, size / 2, size / 2
            ),
        );
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
        let info: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let (plon, plat) = (info["lon"].as_f64().unwrap(), info["lat"].as_f64().unwrap());
        let (_, _, body) = server
            .get(
                &format!("/query/point?lon={plon}&lat={plat}&layers={layer}"),
                &[],
            )
            .unwrap();
        let point: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let gfi_ids: Vec<String> = info["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect();
        let point_ids: Vec<String> = point["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| format!("{layer}.{}", f["id"]))
            .collect();
        assert_eq!(gfi_ids, point_ids, "{layer} at {plon},{plat}");
        assert!(
            gfi_ids.contains(&format!("{layer}.{fid}")),
            "{layer}: {gfi_ids:?} lacks {fid}"
        );
        let table = table_of(&db, layer);
        let pg = db.strings(&format!(
            "SELECT '{layer}.' || fid FROM cuulong_data.{table} WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint({plon}, {plat}), 4326)) ORDER BY fid"
        ));
        let mut sorted = gfi_ids.clone();
        sorted.sort_by_key(|s| s.rsplit('.').next().unwrap().parse::<i64>().unwrap());
        assert_eq!(sorted, pg, "PostGIS at {plon},{plat}");
    }

    // A national road (QL) drawn in its class colour on its centre line.
    let roads = table_of(&db, "national_roads");
    let row = db.strings(&format!(
        "SELECT concat_ws('|', ST_X(p), ST_Y(p)) FROM (SELECT ST_LineInterpolatePoint(ST_GeometryN(ST_Transform(geom, 3857), 1), 0.5) p
         FROM cuulong_data.{roads} WHERE road_class = 'QL' ORDER BY ST_Length(geom) DESC LIMIT 1) q"
    ));
    let p: Vec<f64> = row[0].split('|').map(|v| v.parse().unwrap()).collect();
    let colour = match_colour("transport.json", "national_roads-line", "line-color", "QL");
    let half = 40.0 * 128.0;
    let img = get_map(
        &server,
        &format!(
            "LAYERS=national_roads&STYLES=&CRS=EPSG:3857&BBOX={},{},{},{}&WIDTH=256&HEIGHT=256",
            p[0] - half,
            p[1] - half,
            p[0] + half,
            p[1] + half
        ),
    );
    let px = img.pixel(128, 128);
    assert!(
        close(px, colour, 24),
        "QL road centre: {px:?} vs {colour:?}"
    );
    // Transparent background elsewhere (TRANSPARENT defaults to FALSE: white).
    assert_eq!(img.pixel(0, 0), [255, 255, 255, 255]);
}

/// Compares with a golden PNG in tests/golden (rewritten when UPDATE_GOLDEN=1): at least
/// 99 % of pixels within 16 per channel.
fn golden(name: &str, bytes: &[u8]) {
    let path = root().join("tests/golden").join(name);
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        return;
    }
    let want = Image::decode(
        &std::fs::read(&path)
            .unwrap_or_else(|_| panic!("{} missing (UPDATE_GOLDEN=1)", path.display())),
    );
    let got = Image::decode(bytes);
    assert_eq!((got.width, got.height), (want.width, want.height), "{name}");
    let differing = got
        .rgba
        .chunks(4)
        .zip(want.rgba.chunks(4))
        .filter(|(a, b)| (0..4).any(|i| (i32::from(a[i]) - i32::from(b[i])).abs() > 16))
        .count();
    let total = (got.width * got.height) as usize;
    if differing * 100 > total {
        let out = root().join("target").join(format!("golden-actual-{name}"));
        std::fs::write(&out, bytes).unwrap();
        panic!(
            "{name}: {differing} of {total} pixels differ; actual image at {}",
            out.display()
        );
    }
}

#[test]
fn golden_images_in_three_crs() {
    let (_tmp, _store, server) = serve_samples(&[]);
    let layers = "water_areas,land_use,admin_districts,rivers_canals,provincial_roads,national_roads,salinity_stations";
    for (name, crs, bbox) in [
        (
            "bentre_3857.png",
            "EPSG:3857",
            "11810000,1095000,11880000,1150000",
        ),
        ("bentre_4326.png", "EPSG:4326", "9.85,106.1,10.35,106.75"),
        (
            "bentre_9210.png",
            "EPSG:9210",
            "535000,1090000,610000,1145000",
        ),
        (
            "ben_tre_city_3857.png",
            "EPSG:3857",
            "11836000,1141000,11846000,1148500",
        ),
    ] {
        let (s, _, body) = wms(
            &server,
            // The districts as they were (abolished on 1 July 2025: today they draw nothing).
            &format!("VERSION=1.3.0&REQUEST=GetMap&FORMAT=image/png&LAYERS={layers}&STYLES=&CRS={crs}&BBOX={bbox}&WIDTH=512&HEIGHT=400&TIME=2020-01-01"),
        );
        assert_eq!(s, 200, "{name}");
        golden(name, &body);
    }
}

#[test]
fn vn2000_frames_match_cs2cs() {
    if !require_tool("cs2cs") {
        return;
    }
    let (_tmp, _store, server) = serve_samples(&[]);
    // The capabilities' EPSG:9210 box of land_use = its CRS:84 box through cs2cs with the
    // official EPSG:6960 parameters (corners; the box is densified, so it may only be larger).
    let (_, _, caps) = wms(&server, "VERSION=1.3.0&REQUEST=GetCapabilities");
    let caps = String::from_utf8_lossy(&caps).into_owned();
    let start = caps.find("<Name>land_use</Name>").unwrap();
    let layer = &caps[start..];
    let attr = |crs: &str, name: &str| -> f64 {
        let b = &layer[layer.find(&format!("CRS=\"{crs}\"")).unwrap()..];
        let v = &b[b.find(&format!("{name}=\"")).unwrap() + name.len() + 2..];
        v[..v.find('"').unwrap()].parse().unwrap()
    };
    let ll = [
        attr("CRS:84", "minx"),
        attr("CRS:84", "miny"),
        attr("CRS:84", "maxx"),
        attr("CRS:84", "maxy"),
    ];
    let tm3 = format!("{TM3_10545} +towgs84={TOWGS84}");
    let pts = cs2cs(
        WGS84_LONLAT,
        &tm3,
        &[
            (ll[0], ll[1]),
            (ll[2], ll[3]),
            (ll[0], ll[3]),
            (ll[2], ll[1]),
        ],
    );
    let min_e = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let min_n = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let max_e = pts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let max_n = pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    // Corners agree to centimetres (the capabilities carry 2 decimals); edges may bulge out.
    assert!(
        (attr("EPSG:9210", "miny") - min_n).abs() < 0.02 || attr("EPSG:9210", "miny") < min_n,
        "miny"
    );
    assert!(
        attr("EPSG:9210", "minx") <= min_e + 0.02,
        "minx {} vs {min_e}",
        attr("EPSG:9210", "minx")
    );
    assert!(attr("EPSG:9210", "maxx") >= max_e - 0.02, "maxx");
    assert!(attr("EPSG:9210", "maxy") >= max_n - 0.02, "maxy");
    assert!(attr("EPSG:9210", "maxy") - max_n < 50.0 && min_n - attr("EPSG:9210", "miny") < 50.0);

    // GetFeatureInfo in EPSG:9210 at the pixel holding a cs2cs-projected point answers for
    // (almost) that lon/lat: the round trip through PROJ and back is under a centimetre.
    let (lon, lat): (f64, f64) = (106.375, 10.225);
    let (e, n) = cs2cs(WGS84_LONLAT, &tm3, &[(lon, lat)])[0];
    // A 100 × 100 m frame, 1 m pixels, the point at the centre of pixel (50, 50).
    let bbox = format!("{},{},{},{}", e - 50.5, n - 49.5, e + 49.5, n + 50.5);
    let (s, _, body) = wms(
        &server,
        &format!("VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=land_use&QUERY_LAYERS=land_use&STYLES=&CRS=EPSG:9210&BBOX={bbox}&WIDTH=100&HEIGHT=100&I=50&J=50&INFO_FORMAT=application/json"),
    );
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    let info: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let (glon, glat) = (info["lon"].as_f64().unwrap(), info["lat"].as_f64().unwrap());
    let metres = ((glon - lon).to_radians() * lat.to_radians().cos())
        .hypot((glat - lat).to_radians())
        * 6_371_008.8;
    assert!(
        metres < 0.01,
        "EPSG:9210 pixel centre is {metres} m from the cs2cs point"
    );
    assert_eq!(info["features"].as_array().unwrap().len(), 1);
}

#[test]
fn formats_transparency_background_and_info_formats() {
    let (_tmp, _store, server) = serve_samples(&[]);
    // A frame over the sea off Bình Đại: water_areas fills part of it, land nothing.
    let frame =
        "LAYERS=water_areas&STYLES=&CRS=CRS:84&BBOX=106.0,9.9,106.9,10.4&WIDTH=300&HEIGHT=200";
    let empty =
        "LAYERS=salinity_stations&STYLES=&CRS=EPSG:3857&BBOX=0,0,1000,1000&WIDTH=32&HEIGHT=32";
    // JPEG.
    let (s, h, body) = wms(
        &server,
        &format!("VERSION=1.3.0&REQUEST=GetMap&{frame}&FORMAT=image/jpeg"),
    );
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-type"), Some("image/jpeg"));
    assert_eq!(&body[..3], &[0xFF, 0xD8, 0xFF], "JPEG magic");
    // TRANSPARENT=TRUE: nothing drawn → alpha 0; BGCOLOR fills an opaque map.
    let img = get_map(&server, &format!("{empty}&TRANSPARENT=TRUE"));
    assert!(img.rgba.chunks(4).all(|p| p[3] == 0), "transparent");
    let img = get_map(&server, &format!("{empty}&BGCOLOR=0x3366CC"));
    assert!(
        img.rgba.chunks(4).all(|p| p == [0x33, 0x66, 0xCC, 255]),
        "BGCOLOR"
    );
    let img = get_map(&server, empty);
    assert!(
        img.rgba.chunks(4).all(|p| p == [255, 255, 255, 255]),
        "default white"
    );
    // Several layers are drawn in the order given: water over land use, or land use over water.
    let both = |order: &str| {
        get_map(
            &server,
            &format!(
                "LAYERS={order}&STYLES=&CRS=CRS:84&BBOX=106.0,9.9,106.9,10.4&WIDTH=300&HEIGHT=200"
            ),
        )
    };
    let a = both("land_use,water_areas");
    let b = both("water_areas,land_use");
    assert_ne!(a.rgba, b.rgba, "layer order matters");
    // GetFeatureInfo in every offered format names the same feature.
    let (_, _, body) = server
        .get("/query/point?lon=106.375&lat=10.225&layers=land_use", &[])
        .unwrap();
    let id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["features"][0]["id"]
        .as_i64()
        .unwrap();
    let gfi = "VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=land_use&QUERY_LAYERS=land_use&STYLES=&CRS=CRS:84&BBOX=106.37,10.22,106.38,10.23&WIDTH=100&HEIGHT=100&I=50&J=50";
    for (format, mime, needle) in [
        ("text/plain", "text/plain", format!("Feature {id}:")),
        ("text/html", "text/html", format!("land_use {id}</caption>")),
        (
            "application/json",
            "application/geo+json",
            format!("\"land_use.{id}\""),
        ),
        (
            "application/vnd.ogc.gml",
            "application/vnd.ogc.gml",
            format!("fid=\"land_use.{id}\""),
        ),
    ] {
        let (s, h, body) = wms(&server, &format!("{gfi}&INFO_FORMAT={format}"));
        assert_eq!(s, 200, "{format}");
        assert!(
            header(&h, "content-type").unwrap().starts_with(mime),
            "{format}"
        );
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(&needle), "{format}: {text}");
        assert!(
            text.contains("Đất") || format == "application/json",
            "{format}: Vietnamese names"
        );
    }
    // WIDTH above the configured maximum is refused; the maximum is configurable.
    let (s, _, _) = wms(
        &server,
        &format!(
            "VERSION=1.3.0&REQUEST=GetMap&FORMAT=image/png&{}",
            frame.replace("WIDTH=300", "WIDTH=4097")
        ),
    );
    assert_eq!(s, 400);
}
