//! The `--report` file: a GeoJSON FeatureCollection of rejected features with the reason.

use std::io::Write;
use std::path::Path;

use geozero::ToJson;

#[derive(Debug, Clone)]
pub struct Rejected {
    /// 1-based position of the feature in the source layer.
    pub feature: i64,
    pub reason: String,
    /// In EPSG:4326 when it got that far, else none.
    pub geometry: Option<geo_types::Geometry<f64>>,
    pub properties: Vec<(String, serde_json::Value)>,
}

pub fn write(path: &Path, rejected: &[Rejected]) -> Result<(), String> {
    let mut features = Vec::with_capacity(rejected.len());
    for r in rejected {
        let geometry = match &r.geometry {
            Some(g) => serde_json::from_str(&g.to_json().map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?,
            None => serde_json::Value::Null,
        };
        let mut props = serde_json::Map::new();
        props.insert("_feature".into(), r.feature.into());
        props.insert("_reason".into(), r.reason.clone().into());
        for (k, v) in &r.properties {
            props.insert(k.clone(), v.clone());
        }
        features.push(serde_json::json!({
            "type": "Feature",
            "properties": props,
            "geometry": geometry,
        }));
    }
    let doc = serde_json::json!({"type": "FeatureCollection", "features": features});
    let mut f = std::fs::File::create(path).map_err(|e| e.to_string())?;
    serde_json::to_writer_pretty(&mut f, &doc).map_err(|e| e.to_string())?;
    f.write_all(b"\n").map_err(|e| e.to_string())
}
