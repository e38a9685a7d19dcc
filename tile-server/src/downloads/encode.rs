//! The download formats written as they stream: GeoJSON and CSV (WKT geometry), one feature
//! at a time from the store, so memory stays flat whatever the layer's size.

use axum::body::{Body, Bytes};
use cuulong_core::{Schema, Value};
use futures::StreamExt;
use geozero::{ToJson, ToWkt};

fn csv_cell(v: &Value) -> String {
    let s = v.to_string();
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A GeoJSON FeatureCollection of `features`.
pub(super) fn geojson(schema: Schema, features: cuulong_store::FeatureStream) -> Body {
    let mut first = true;
    let head = futures::stream::once(async {
        Ok::<_, std::io::Error>(Bytes::from_static(
            b"{\"type\":\"FeatureCollection\",\"features\":[\n",
        ))
    });
    let feats = features.map(move |f| {
        let f = f.map_err(std::io::Error::other)?;
        let geometry = f.geometry.to_json().map_err(std::io::Error::other)?;
        let props = serde_json::Value::Object(schema.properties_json(&f.values));
        let sep = if std::mem::take(&mut first) { "" } else { ",\n" };
        Ok(Bytes::from(format!(
            "{sep}{{\"type\":\"Feature\",\"id\":{},\"geometry\":{geometry},\"properties\":{props}}}",
            f.id
        )))
    });
    let tail = futures::stream::once(async { Ok(Bytes::from_static(b"\n]}\n")) });
    Body::from_stream(head.chain(feats).chain(tail))
}

/// CSV: `fid`, the geometry as WKT, then the fields.
pub(super) fn csv(schema: Schema, features: cuulong_store::FeatureStream) -> Body {
    let mut header_line = String::from("fid,wkt");
    for f in &schema.fields {
        header_line.push(',');
        header_line.push_str(&csv_cell(&Value::Text(f.name.clone())));
    }
    header_line.push('\n');
    let head =
        futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(header_line)) });
    let rows = features.map(move |f| {
        let f = f.map_err(std::io::Error::other)?;
        let wkt = f.geometry.to_wkt().map_err(std::io::Error::other)?;
        let mut row = format!("{},\"{wkt}\"", f.id);
        for v in &f.values {
            row.push(',');
            row.push_str(&csv_cell(v));
        }
        row.push('\n');
        Ok(Bytes::from(row))
    });
    Body::from_stream(head.chain(rows))
}
