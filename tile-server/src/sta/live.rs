//! Live layers: per observed property, `{code}_latest` (e.g. `salinity_latest`) holds each
//! station's latest reading, its time, its class (by the property's classes, from the crop
//! limits) and its change over 24 h. They are ordinary served layers — tiles, WMS, OGC API –
//! Features, `/query/point`, `/events` — rebuilt a moment (at most [`COALESCE`]) after
//! readings arrive, with a new version each time, so caches keyed by version stay right.
//!
//! Access: a property's live layer shows its open datastreams and is open; a property with
//! none open (the discharge monitoring) gets a restricted layer of its owner.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cuulong_core::index::LayerIndex;
use cuulong_core::sta::Catalog;
use cuulong_core::{Access, Bbox, Feature, Field, FieldType, LayerId, LayerMeta, Schema, Value};

use crate::state::{AppState, LayerEvent};

/// Readings arriving within this long after another make one rebuild.
pub const COALESCE: Duration = Duration::from_millis(100);

pub fn layer_id(property: &str) -> String {
    format!("{property}_latest")
}

fn schema() -> Schema {
    Schema::new(vec![
        Field::new("station_code", FieldType::Text),
        Field::new("station_name", FieldType::Text),
        Field::new("river", FieldType::Text),
        Field::new("datastream", FieldType::Int),
        Field::new("value", FieldType::Float),
        Field::new("unit", FieldType::Text),
        Field::new("observed_at", FieldType::DateTime),
        Field::new("class_code", FieldType::Text),
        Field::new("class_vi", FieldType::Text),
        Field::new("class_en", FieldType::Text),
        Field::new("colour", FieldType::Text),
        Field::new("trend_24h", FieldType::Float),
        Field::new("synthetic", FieldType::Bool),
        Field::new("label", FieldType::Text),
    ])
}

/// The live layers of the network now: (metadata without version, features).
pub fn build(
    catalog: &Catalog,
    observations: &super::Observations,
) -> Vec<(LayerMeta, Vec<Feature>)> {
    let mut out = Vec::new();
    for p in &catalog.properties {
        let streams: Vec<_> = catalog
            .datastreams
            .iter()
            .filter(|d| d.property == p.id)
            .collect();
        if streams.is_empty() {
            continue;
        }
        let open: Vec<_> = streams
            .iter()
            .copied()
            .filter(|d| d.access == Access::Open)
            .collect();
        let (members, access, owner) = if open.is_empty() {
            (streams.clone(), streams[0].access, streams[0].owner.clone())
        } else {
            (open, Access::Open, None)
        };
        let Ok(id) = LayerId::parse(&layer_id(&p.code)) else {
            continue;
        };
        let mut features = Vec::new();
        let mut bbox = Bbox::EMPTY;
        let mut synthetic = false;
        for d in members {
            let Some(t) = catalog.thing(d.thing) else {
                continue;
            };
            let s = &t.station;
            synthetic |= s.synthetic;
            let series = observations.series(d.id);
            let (latest, trend) = match series.read() {
                Ok(s) => (s.latest(), s.trend_24h()),
                Err(_) => (None, None),
            };
            let class = latest.and_then(|(_, v)| p.class_of(v));
            let text = |v: Option<&String>| v.map_or(Value::Null, |s| Value::Text(s.clone()));
            let geometry = geo_types::Geometry::Point(geo_types::Point::new(s.lon, s.lat));
            bbox.extend(&Bbox::of_geometry(&geometry));
            features.push(Feature {
                id: i64::from(d.id),
                geometry,
                values: vec![
                    Value::Text(s.code.clone()),
                    Value::Text(s.name.clone()),
                    text(s.river.as_ref()),
                    Value::Int(i64::from(d.id)),
                    latest.map_or(Value::Null, |(_, v)| Value::Float(v)),
                    Value::Text(p.unit.symbol.clone()),
                    latest
                        .and_then(|(t, _)| chrono::DateTime::from_timestamp_millis(t))
                        .map_or(Value::Null, Value::DateTime),
                    text(class.map(|c| &c.code)),
                    text(class.map(|c| &c.name_vi)),
                    text(class.map(|c| &c.name_en)),
                    text(class.map(|c| &c.colour)),
                    trend.map_or(Value::Null, Value::Float),
                    Value::Bool(s.synthetic),
                    Value::Text(match latest {
                        Some((_, v)) => format!("{} {v:.1} {}", s.name, p.unit.symbol),
                        None => s.name.clone(),
                    }),
                ],
            });
        }
        let meta = LayerMeta {
            id,
            title_vi: format!("{} mới nhất (trực tiếp)", p.name_vi),
            title_en: format!("Latest {} (live)", p.name_en.to_lowercase()),
            family: Some("hydrology".into()),
            geometry_type: "Point".into(),
            access,
            owner,
            licence: Some(if synthetic {
                "CC0-1.0; readings of stations marked synthetic are simulated".into()
            } else {
                "CC0-1.0".into()
            }),
            lineage: Some(format!(
                "live: latest observation of each {} datastream (SensorThings {}/Datastreams)",
                p.code,
                super::PREFIX
            )),
            version: 0,
            updated_at: Utc::now(),
            bbox: (!bbox.is_empty()).then_some(bbox),
            feature_count: features.len() as i64,
            schema: schema(),
        };
        out.push((meta, features));
    }
    out
}

/// Swaps in fresh live layers and announces each.
pub fn refresh(state: &AppState) {
    let catalog = state.observations.catalog.load_full();
    let built = build(&catalog, &state.observations);
    let current = state.snapshot();
    let mut ids = HashSet::new();
    for (mut meta, features) in built {
        let id = meta.id.to_string();
        meta.version = current.get(&id).map_or(1, |l| l.meta().version + 1);
        let version = meta.version;
        let index: crate::state::Served = Arc::new(LayerIndex::build(meta, features));
        state.layers.rcu(|layers| {
            let mut next = (**layers).clone();
            next.insert(id.clone(), index.clone());
            next
        });
        let _ = state.events.send(LayerEvent {
            layer: id.clone(),
            version,
        });
        ids.insert(id);
    }
    if let Ok(mut live) = state.live_layers.0.lock() {
        *live = ids;
    }
}

/// Rebuilds the live layers whenever readings arrive (coalescing bursts).
pub async fn run(state: Arc<AppState>) {
    loop {
        state.observations.live_dirty.notified().await;
        tokio::time::sleep(COALESCE).await;
        let s = state.clone();
        // Building is quick (one feature per station) but stays off the async threads; the
        // alerts and fronts follow the readings that made the layers.
        let work = move || {
            refresh(&s);
            crate::salinity::evaluate(&s);
        };
        if let Err(e) = tokio::task::spawn_blocking(work).await {
            tracing::warn!(error = %e, "could not rebuild the live layers");
        }
    }
}
