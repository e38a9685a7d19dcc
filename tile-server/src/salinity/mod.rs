//! Salinity intelligence on top of the observations: alerts with hysteresis against crop and
//! livestock limits (history, `/events` `alert` events, signed webhooks), each naming the land
//! at risk in its station's zone, and the salinity fronts on each estuary as a live layer.
//! The rules come from the rules file (`--salinity-rules`); without one none of this runs.
//!
//! Alerts are the series replayed through [`Evaluator`]: at start the whole history is
//! evaluated (giving the alert history, and the same alert ids on every replica and after
//! every restart); afterwards each batch of new readings is evaluated as it arrives, right
//! after the live layers are rebuilt, and its changes go out as events and webhooks.

pub mod api;
pub mod webhook;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use chrono::{NaiveDate, Utc};
use cuulong_core::index::LayerIndex;
use cuulong_core::interrupt::Interrupt;
use cuulong_core::sta::alert::{AlertChange, Evaluator, Rules, Transition, Watched};
use cuulong_core::sta::front::{self, Front, Placed, Reach};
use cuulong_core::sta::{iso_time, Catalog, Quality, Thing};
use cuulong_core::tile::geometry_to_lonlat;
use cuulong_core::{Access, Bbox, Feature, Field, FieldType, LayerId, LayerMeta, Schema, Value};
use geo::{BooleanOps, BoundingRect};
use geo_types::{Geometry, MultiPolygon};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::state::{AppState, LayerEvent, Served};

/// The id of the fronts' live layer.
pub const FRONT_LAYER: &str = "salinity_front";

/// The rules file and what follows from it alone.
pub struct Loaded {
    pub rules: Rules,
    pub reaches: Vec<Reach>,
}

/// A station's zone and the land in it, by commune and land-use class (ha).
#[derive(Debug, Clone, Serialize)]
pub struct Exposure {
    pub station: String,
    /// `reach`: the land within `distance_km` of the station's reach of `estuary`
    /// (`from_km`..`to_km` from the mouth); `communes`: the communes the rules file lists.
    pub zone_kind: &'static str,
    pub estuary: Option<String>,
    pub from_km: Option<f64>,
    pub to_km: Option<f64>,
    pub distance_km: Option<f64>,
    pub communes: Vec<CommuneExposure>,
    /// Totals per land-use class.
    pub classes: BTreeMap<String, f64>,
    #[serde(skip)]
    pub zone: MultiPolygon<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommuneExposure {
    pub code: String,
    pub name: String,
    pub classes: BTreeMap<String, f64>,
    pub total_ha: f64,
}

/// One alert of the history: opened by a reading above a limit, closed (or not yet) by one
/// below the limit minus the margin.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub id: String,
    pub state: &'static str,
    pub datastream: u32,
    pub station: String,
    pub station_name: String,
    pub river: Option<String>,
    pub property: String,
    pub unit: String,
    pub limit_code: String,
    pub limit_vi: String,
    pub limit_en: String,
    pub limit: f64,
    pub close_below: f64,
    pub opened_at: String,
    pub opened_value: f64,
    pub closed_at: Option<String>,
    pub closed_value: Option<f64>,
    pub peak: f64,
    /// The land-use classes this crop grows on, and their hectares in the zone.
    pub land_use_at_risk: Vec<String>,
    pub land_at_risk_ha: Option<f64>,
    pub exposure: Option<Arc<Exposure>>,
    pub synthetic: bool,
    #[serde(skip)]
    pub opened_ms: i64,
    #[serde(skip)]
    pub closed_ms: Option<i64>,
}

/// What `/events` and the webhooks carry: an alert opening or closing.
#[derive(Debug, Clone, Serialize)]
pub struct AlertEvent {
    /// Unique per alert and transition; the webhooks' idempotency key.
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub time: String,
    pub value: f64,
    pub alert: Alert,
}

/// The fronts of one estuary now.
#[derive(Debug, Clone, Serialize)]
pub struct EstuaryFronts {
    pub estuary: String,
    pub estuary_en: String,
    pub length_km: f64,
    pub source: Option<String>,
    pub stations: Vec<PlacedStation>,
    pub fronts: Vec<Front>,
    /// The front rice land is counted up to.
    pub rice_front: Option<Front>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlacedStation {
    pub code: String,
    pub name: String,
    pub km: f64,
    pub off_line_km: f64,
    pub value: Option<f64>,
    pub observed_at: Option<String>,
}

#[derive(Default)]
struct Inner {
    catalog: Option<Arc<Catalog>>,
    watched: Arc<Vec<Watched>>,
    evaluator: Evaluator,
    alerts: Vec<Arc<Alert>>,
    by_id: HashMap<String, usize>,
    replayed: bool,
}

/// What `cuulong serve --salinity-rules` gives the server: the rules and the webhook
/// deliveries (secrets read, outbox opened) made from them.
#[derive(Clone)]
pub struct SalinitySetup {
    pub rules: Rules,
    pub deliveries: Option<Arc<webhook::Deliveries>>,
}

impl std::fmt::Debug for SalinitySetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalinitySetup")
            .field("rules", &self.rules.rules.len())
            .field("estuaries", &self.rules.estuaries.len())
            .field("webhooks", &self.rules.webhooks.len())
            .finish()
    }
}

/// Station code, the commune features its zone covers, the land-use and commune versions.
type ExposureKey = (String, Vec<i64>, i64, i64);

/// A station on its estuary: chainage and distance from the line, km.
type OnEstuary<'a> = (&'a Thing, f64, f64);

pub struct Salinity {
    pub loaded: Option<Arc<Loaded>>,
    /// The evaluator's state: taken only by `evaluate` (one pass at a time, off the async
    /// threads); readers use what it publishes below.
    inner: Mutex<Inner>,
    /// The alert history as of the last evaluation (oldest first), for readers.
    published: ArcSwap<Vec<Arc<Alert>>>,
    open_now: std::sync::atomic::AtomicUsize,
    pub events: broadcast::Sender<AlertEvent>,
    pub webhooks: Option<Arc<webhook::Deliveries>>,
    /// Zones and their land, by station and the commune features they cover.
    exposures: Mutex<HashMap<ExposureKey, Arc<Exposure>>>,
    pub fronts: ArcSwap<Vec<EstuaryFronts>>,
    /// The last `/api/salinity/fronts` answer, for the fronts and layer versions it was
    /// computed from (holding the fronts keeps the pointer comparison sound).
    pub fronts_answer: Mutex<Option<FrontsAnswer>>,
}

pub struct FrontsAnswer {
    pub fronts: Arc<Vec<EstuaryFronts>>,
    pub versions: (i64, i64),
    pub body: Arc<serde_json::Value>,
}

impl Default for Salinity {
    fn default() -> Self {
        Self::new(None, None)
    }
}

impl Salinity {
    pub fn new(rules: Option<Rules>, webhooks: Option<Arc<webhook::Deliveries>>) -> Self {
        let loaded = rules.map(|rules| {
            let reaches = rules.estuaries.iter().map(Reach::new).collect();
            Arc::new(Loaded { rules, reaches })
        });
        Self {
            loaded,
            inner: Mutex::new(Inner::default()),
            published: ArcSwap::from_pointee(Vec::new()),
            open_now: std::sync::atomic::AtomicUsize::new(0),
            events: broadcast::channel(1024).0,
            webhooks,
            exposures: Mutex::new(HashMap::new()),
            fronts: ArcSwap::from_pointee(Vec::new()),
            fronts_answer: Mutex::new(None),
        }
    }

    /// Alerts open now, every datastream (for `/metrics`).
    pub fn open_count(&self) -> usize {
        self.open_now.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The alert history (oldest first) as of the last evaluation, every datastream: filter
    /// by [`crate::observations::Observations::may_see`] before showing it.
    pub fn history(&self) -> Arc<Vec<Arc<Alert>>> {
        self.published.load_full()
    }
}

/// Evaluates the readings that arrived since the last call (all of them the first time),
/// records and announces the alert changes, and rebuilds the fronts. Blocking: called off the
/// async threads, after the live layers.
pub fn evaluate(state: &AppState) {
    let sal = &state.salinity;
    let Some(loaded) = sal.loaded.clone() else {
        return;
    };
    // Exposures need the land-use and commune layers: wait until every layer is in.
    if !state.observations.is_loaded() || !state.is_ready() {
        return;
    }
    let catalog = state.observations.catalog.load_full();
    let mut inner = sal.inner.lock().unwrap_or_else(|e| e.into_inner());
    if inner.catalog.as_deref() != Some(&*catalog) {
        match loaded.rules.watched(&catalog) {
            Ok(w) => {
                // A new network: replay everything against it.
                *inner = Inner {
                    catalog: Some(catalog.clone()),
                    watched: Arc::new(w),
                    ..Inner::default()
                };
            }
            Err(e) => {
                tracing::warn!(error = %e, "salinity rules do not fit the network; no alerts");
                inner.catalog = Some(catalog.clone());
                inner.watched = Arc::new(Vec::new());
            }
        }
    }
    let watched = inner.watched.clone();
    let mut changes = Vec::new();
    // Changes of a datastream replayed because late readings arrived: recorded, and announced
    // only past where it had been evaluated to (the rest was history already).
    let mut quiet = Vec::new();
    for d in &catalog.datastreams {
        if !watched.iter().any(|w| w.property == d.property) {
            continue;
        }
        let series = state.observations.series(d.id);
        let s = series.read().unwrap_or_else(|e| e.into_inner());
        if inner.evaluator.has_late(d.id, &s) {
            let before = inner.evaluator.forget(d.id).unwrap_or(i64::MIN);
            inner.alerts.retain(|a| a.datastream != d.id);
            inner.by_id = inner
                .alerts
                .iter()
                .enumerate()
                .map(|(i, a)| (a.id.clone(), i))
                .collect();
            let mut replayed = Vec::new();
            inner
                .evaluator
                .advance(d.id, d.property, &s, &watched, &mut replayed);
            for c in replayed {
                if c.time_ms > before {
                    changes.push(c);
                } else {
                    quiet.push(c);
                }
            }
            continue;
        }
        inner
            .evaluator
            .advance(d.id, d.property, &s, &watched, &mut changes);
    }
    for change in &quiet {
        record(state, &loaded, &catalog, &watched, &mut inner, change);
    }
    let live = inner.replayed;
    let now = Utc::now().timestamp_millis();
    // At start, changes since the outbox began and within the redelivery window that it has
    // no record of were lost between storing a reading and queueing its webhook: send them.
    let redeliver_from = (now - i64::from(loaded.rules.settings.redeliver_hours) * 3_600_000)
        .max(sal.webhooks.as_ref().map_or(i64::MAX, |w| w.since_ms));
    let mut out = Vec::new();
    for change in &changes {
        let Some(alert) = record(state, &loaded, &catalog, &watched, &mut inner, change) else {
            continue;
        };
        if live || change.time_ms >= redeliver_from {
            out.push(AlertEvent {
                event_id: change.event_id(&watched),
                kind: match change.transition {
                    Transition::Open => "alert.open",
                    Transition::Close => "alert.close",
                },
                time: iso_time(change.time_ms),
                value: change.value,
                alert,
            });
        }
    }
    inner.replayed = true;
    if !changes.is_empty() || !quiet.is_empty() || !live {
        sal.published.store(Arc::new(inner.alerts.clone()));
    }
    sal.open_now.store(
        inner.evaluator.open().count(),
        std::sync::atomic::Ordering::Relaxed,
    );
    drop(inner);
    for ev in out {
        if live {
            let _ = sal.events.send(ev.clone());
        }
        if let Some(w) = &sal.webhooks {
            // At start only what the outbox has no record of (see `redeliver_hours`).
            w.enqueue(&ev, &catalog, !live);
        }
    }
    refresh_fronts(state, &loaded, &catalog);
}

/// Adds a change to the history; the alert as it now stands.
fn record(
    state: &AppState,
    loaded: &Loaded,
    catalog: &Catalog,
    watched: &[Watched],
    inner: &mut Inner,
    change: &AlertChange,
) -> Option<Alert> {
    let id = change.alert_id(watched);
    match change.transition {
        Transition::Open => {
            let w = watched.get(change.watched)?;
            let d = catalog.datastream(change.datastream)?;
            let thing = catalog.thing(d.thing)?;
            let p = catalog.property(d.property)?;
            let day = chrono::DateTime::from_timestamp_millis(change.time_ms + 7 * 3_600_000)
                .map(|t| t.date_naive());
            let exposure = day.and_then(|day| {
                exposure(state, loaded, catalog, thing, day, &Interrupt::never())
                    .ok()
                    .flatten()
            });
            let at_risk = exposure.as_ref().map(|e| {
                w.land_use
                    .iter()
                    .filter_map(|c| e.classes.get(c))
                    .sum::<f64>()
            });
            let alert = Alert {
                id: id.clone(),
                state: "open",
                datastream: d.id,
                station: thing.station.code.clone(),
                station_name: thing.station.name.clone(),
                river: thing.station.river.clone(),
                property: p.code.clone(),
                unit: p.unit.symbol.clone(),
                limit_code: w.limit_code.clone(),
                limit_vi: w.name_vi.clone(),
                limit_en: w.name_en.clone(),
                limit: w.limit,
                close_below: w.close_below,
                opened_at: iso_time(change.time_ms),
                opened_value: change.value,
                closed_at: None,
                closed_value: None,
                peak: change.peak,
                land_use_at_risk: w.land_use.clone(),
                land_at_risk_ha: at_risk,
                exposure,
                synthetic: thing.station.synthetic,
                opened_ms: change.time_ms,
                closed_ms: None,
            };
            inner.by_id.insert(id, inner.alerts.len());
            inner.alerts.push(Arc::new(alert.clone()));
            Some(alert)
        }
        Transition::Close => {
            let &i = inner.by_id.get(&id)?;
            let mut a = (*inner.alerts[i]).clone();
            a.state = "closed";
            a.closed_at = Some(iso_time(change.time_ms));
            a.closed_value = Some(change.value);
            a.closed_ms = Some(change.time_ms);
            a.peak = change.peak;
            inner.alerts[i] = Arc::new(a.clone());
            Some(a)
        }
    }
}

/// The estuary a station's river is, and the stations of it in chainage order.
fn placed_on<'a>(
    loaded: &'a Loaded,
    catalog: &'a Catalog,
    river: &str,
) -> Option<(usize, Vec<OnEstuary<'a>>)> {
    let e = loaded
        .rules
        .estuaries
        .iter()
        .position(|e| e.name == river)?;
    let reach = &loaded.reaches[e];
    let mut stations: Vec<_> = catalog
        .things
        .iter()
        .filter(|t| t.station.river.as_deref() == Some(river))
        .map(|t| {
            let (km, off) = reach.locate(t.station.lon, t.station.lat);
            (t, km, off)
        })
        .collect();
    stations.sort_by(|a, b| a.1.total_cmp(&b.1));
    Some((e, stations))
}

/// A station's zone and the land in it on `day` (cached: the zone depends on the commune units
/// of the day and the layers' versions only). `Ok(None)` when the station has no zone (or the
/// layers are not loaded).
pub fn exposure(
    state: &AppState,
    loaded: &Loaded,
    catalog: &Catalog,
    thing: &Thing,
    day: NaiveDate,
    interrupt: &Interrupt,
) -> Result<Option<Arc<Exposure>>, cuulong_core::interrupt::Interrupted> {
    zone_exposure(state, loaded, catalog, thing, day, interrupt).transpose()
}

/// [`exposure`] as `None` when there is no zone (so `?` reads the lookups).
fn zone_exposure(
    state: &AppState,
    loaded: &Loaded,
    catalog: &Catalog,
    thing: &Thing,
    day: NaiveDate,
    interrupt: &Interrupt,
) -> Option<Result<Arc<Exposure>, cuulong_core::interrupt::Interrupted>> {
    let settings = &loaded.rules.settings;
    let layers = state.snapshot();
    let land_use = layers.get(&settings.land_use_layer)?.clone();
    let communes = state
        .on_day(
            vec![layers.get(&settings.communes_layer)?.clone()],
            Some(day),
        )
        .remove(0);
    let code_field = communes.meta().schema.index_of("code")?;
    let name_field = communes.meta().schema.index_of("name");
    let listed = loaded
        .rules
        .zones
        .iter()
        .find(|z| z.station == thing.station.code);
    let (zone, kind, estuary, span) = match listed {
        Some(z) => {
            let mut zone = MultiPolygon::<f64>(Vec::new());
            for f in communes.features() {
                if f.values[code_field]
                    .as_str()
                    .is_some_and(|c| z.communes.iter().any(|x| x == c))
                {
                    zone = zone.union(&as_multipolygon(&geometry_to_lonlat(&f.geometry)));
                }
            }
            (zone, "communes", None, None)
        }
        None => {
            let river = thing.station.river.as_deref()?;
            let (e, stations) = placed_on(loaded, catalog, river)?;
            let kms: Vec<f64> = stations.iter().map(|s| s.1).collect();
            let i = stations.iter().position(|s| s.0.id == thing.id)?;
            let (from, to) = front::station_reaches(&kms)[i];
            let zone = loaded.reaches[e].zone(from, to, settings.zone_km);
            (zone, "reach", Some(river.to_owned()), Some((from, to)))
        }
    };
    let rect = zone.bounding_rect()?;
    let (x0, y0) = cuulong_core::tile::to_mercator(rect.min().x, rect.min().y);
    let (x1, y1) = cuulong_core::tile::to_mercator(rect.max().x, rect.max().y);
    let mut candidates: Vec<_> = communes.in_envelope([x0, y0, x1, y1]);
    if let Some(z) = listed {
        // A zone of listed communes is those communes (not their neighbours' slivers).
        candidates.retain(|f| {
            f.values[code_field]
                .as_str()
                .is_some_and(|c| z.communes.iter().any(|x| x == c))
        });
    }
    candidates.sort_by_key(|f| f.id);
    let key = (
        thing.station.code.clone(),
        candidates.iter().map(|f| f.id).collect::<Vec<_>>(),
        land_use.meta().version,
        communes.meta().version,
    );
    if let Some(e) = state
        .salinity
        .exposures
        .lock()
        .ok()
        .and_then(|m| m.get(&key).cloned())
    {
        return Some(Ok(e));
    }
    let class = land_use.meta().schema.index_of("lu_code");
    let mut out = Exposure {
        station: thing.station.code.clone(),
        zone_kind: kind,
        estuary,
        from_km: span.map(|s| s.0),
        to_km: span.map(|s| s.1),
        distance_km: (kind == "reach").then_some(settings.zone_km),
        communes: Vec::new(),
        classes: BTreeMap::new(),
        zone: zone.clone(),
    };
    for c in candidates {
        let part = as_multipolygon(&geometry_to_lonlat(&c.geometry)).intersection(&zone);
        if part.0.is_empty() {
            continue;
        }
        let m = match land_use.measure(&part, class, interrupt) {
            Ok(Some(m)) => m,
            Ok(None) => continue,
            Err(e) => return Some(Err(e)),
        };
        let classes: BTreeMap<String, f64> =
            m.classes.into_iter().map(|(k, (ha, _))| (k, ha)).collect();
        if classes.is_empty() {
            continue;
        }
        for (k, v) in &classes {
            *out.classes.entry(k.clone()).or_default() += v;
        }
        out.communes.push(CommuneExposure {
            code: c.values[code_field].to_string(),
            name: name_field.map_or_else(String::new, |n| c.values[n].to_string()),
            total_ha: classes.values().sum(),
            classes,
        });
    }
    let out = Arc::new(out);
    if let Ok(mut m) = state.salinity.exposures.lock() {
        if m.len() > 4096 {
            m.clear();
        }
        m.insert(key, out.clone());
    }
    Some(Ok(out))
}

fn as_multipolygon(g: &Geometry<f64>) -> MultiPolygon<f64> {
    match g {
        Geometry::Polygon(p) => MultiPolygon(vec![p.clone()]),
        Geometry::MultiPolygon(m) => m.clone(),
        _ => MultiPolygon(Vec::new()),
    }
}

/// The fronts of every estuary from the latest good reading of each open datastream of the
/// property the rules watch (salinity), and the live layer that shows them.
fn refresh_fronts(state: &AppState, loaded: &Loaded, catalog: &Catalog) {
    let Some(property) = catalog
        .properties
        .iter()
        .find(|p| loaded.rules.rules.iter().any(|r| r.property == p.code))
    else {
        return;
    };
    let settings = &loaded.rules.settings;
    let fresh_after =
        Utc::now().timestamp_millis() - i64::from(settings.front_max_age_hours) * 3_600_000;
    let mut all = Vec::new();
    for (e, estuary) in loaded.rules.estuaries.iter().enumerate() {
        let reach = &loaded.reaches[e];
        let mut stations = Vec::new();
        let mut placed = Vec::new();
        if let Some((_, on)) = placed_on(loaded, catalog, &estuary.name) {
            for (thing, km, off) in on {
                // Open datastreams only: the fronts are public.
                let Some(d) = catalog.datastreams.iter().find(|d| {
                    d.thing == thing.id && d.property == property.id && d.access == Access::Open
                }) else {
                    continue;
                };
                let series = state.observations.series(d.id);
                let s = series.read().unwrap_or_else(|e| e.into_inner());
                // The latest good reading, if recent enough to say where the front is now.
                let latest = (0..s.len())
                    .rev()
                    .take(64)
                    .map(|i| s.at(i))
                    .find(|r| r.2 == Quality::Good)
                    .filter(|r| r.0 >= fresh_after);
                if let Some((_, v, _)) = latest {
                    placed.push(Placed {
                        code: thing.station.code.clone(),
                        km,
                        value: v,
                    });
                }
                stations.push(PlacedStation {
                    code: thing.station.code.clone(),
                    name: thing.station.name.clone(),
                    km,
                    off_line_km: off,
                    value: latest.map(|r| r.1),
                    observed_at: latest.map(|r| iso_time(r.0)),
                });
            }
        }
        all.push(EstuaryFronts {
            estuary: estuary.name.clone(),
            estuary_en: estuary.name_en.clone(),
            length_km: reach.length_km(),
            source: estuary.source.clone(),
            stations,
            fronts: settings
                .fronts
                .iter()
                .filter_map(|&t| front::front(reach, &placed, t))
                .collect(),
            rice_front: front::front(reach, &placed, settings.rice_threshold),
        });
    }
    let layer = front_layer(&all);
    state.salinity.fronts.store(Arc::new(all));
    let Some((mut meta, features)) = layer else {
        return;
    };
    let current = state.snapshot();
    meta.version = current.get(FRONT_LAYER).map_or(1, |l| l.meta().version + 1);
    let version = meta.version;
    let index: Served = Arc::new(LayerIndex::build(meta, features));
    state.layers.rcu(|layers| {
        let mut next = (**layers).clone();
        next.insert(FRONT_LAYER.to_owned(), index.clone());
        next
    });
    if let Ok(mut live) = state.live_layers.0.lock() {
        live.insert(FRONT_LAYER.to_owned());
    }
    let _ = state.events.send(LayerEvent {
        layer: FRONT_LAYER.to_owned(),
        version,
    });
}

fn front_layer(all: &[EstuaryFronts]) -> Option<(LayerMeta, Vec<Feature>)> {
    let id = LayerId::parse(FRONT_LAYER).ok()?;
    let mut features = Vec::new();
    let mut bbox = Bbox::EMPTY;
    for e in all {
        for f in &e.fronts {
            let geometry = Geometry::Point(geo_types::Point::new(f.lon, f.lat));
            bbox.extend(&Bbox::of_geometry(&geometry));
            let at_least = match f.status {
                front::FrontStatus::Interpolated => "",
                front::FrontStatus::BeyondUpstreamStation => "≥ ",
                front::FrontStatus::BelowSeawardStation => "≤ ",
            };
            features.push(Feature {
                id: features.len() as i64 + 1,
                geometry,
                values: vec![
                    Value::Text(e.estuary.clone()),
                    Value::Float(f.threshold),
                    Value::Text(format!("{}‰", f.threshold)),
                    Value::Float((f.km * 10.0).round() / 10.0),
                    Value::Text(
                        serde_json::to_value(f.status)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                    ),
                    f.downstream.clone().map_or(Value::Null, Value::Text),
                    f.upstream.clone().map_or(Value::Null, Value::Text),
                    Value::Text(format!(
                        "Ranh mặn {}‰ · {at_least}{:.1} km từ cửa / {}‰ front",
                        f.threshold, f.km, f.threshold
                    )),
                ],
            });
        }
    }
    let meta = LayerMeta {
        id,
        title_vi: "Ranh mặn 1‰ và 4‰ trên các cửa sông (trực tiếp, nội suy)".into(),
        title_en: "Salinity fronts 1‰ and 4‰ on the estuaries (live, interpolated)".into(),
        family: Some("hydrology".into()),
        geometry_type: "Point".into(),
        access: Access::Open,
        owner: None,
        licence: Some(
            "CC0-1.0; linear interpolation between stations along hand-digitised centrelines: an approximation".into(),
        ),
        lineage: Some(
            "live: interpolated from the latest salinity readings of the open stations of each estuary (see /api/salinity/fronts)".into(),
        ),
        version: 0,
        updated_at: Utc::now(),
        bbox: (!bbox.is_empty()).then_some(bbox),
        feature_count: features.len() as i64,
        schema: Schema::new(vec![
            Field::new("estuary", FieldType::Text),
            Field::new("threshold", FieldType::Float),
            Field::new("front", FieldType::Text),
            Field::new("km_from_mouth", FieldType::Float),
            Field::new("status", FieldType::Text),
            Field::new("downstream_station", FieldType::Text),
            Field::new("upstream_station", FieldType::Text),
            Field::new("label", FieldType::Text),
        ]),
    };
    Some((meta, features))
}
