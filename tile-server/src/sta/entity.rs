//! The eight SensorThings entity types over the network catalogue and the series: how each is
//! written as JSON, how `$filter` paths read it, where its navigation properties lead, and
//! who may see it. A station is a Thing with one Location, one HistoricalLocation and one
//! FeatureOfInterest of the same id; each observed property has one Sensor of its id.

use cuulong_core::access::Caller;
use cuulong_core::sta::filter::Val;
use cuulong_core::sta::{iso_time, observation_id, split_observation_id, Catalog, Observation};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Thing,
    Location,
    HistoricalLocation,
    Datastream,
    Sensor,
    ObservedProperty,
    Observation,
    FeatureOfInterest,
}

pub const KINDS: [Kind; 8] = [
    Kind::Thing,
    Kind::Location,
    Kind::HistoricalLocation,
    Kind::Datastream,
    Kind::Sensor,
    Kind::ObservedProperty,
    Kind::Observation,
    Kind::FeatureOfInterest,
];

impl Kind {
    pub fn set(self) -> &'static str {
        match self {
            Kind::Thing => "Things",
            Kind::Location => "Locations",
            Kind::HistoricalLocation => "HistoricalLocations",
            Kind::Datastream => "Datastreams",
            Kind::Sensor => "Sensors",
            Kind::ObservedProperty => "ObservedProperties",
            Kind::Observation => "Observations",
            Kind::FeatureOfInterest => "FeaturesOfInterest",
        }
    }

    pub fn from_set(name: &str) -> Option<Kind> {
        KINDS.into_iter().find(|k| k.set() == name)
    }

    /// Navigation properties: name, target kind, whether it leads to many.
    pub fn navigation(self) -> &'static [(&'static str, Kind, bool)] {
        match self {
            Kind::Thing => &[
                ("Locations", Kind::Location, true),
                ("HistoricalLocations", Kind::HistoricalLocation, true),
                ("Datastreams", Kind::Datastream, true),
            ],
            Kind::Location => &[
                ("Things", Kind::Thing, true),
                ("HistoricalLocations", Kind::HistoricalLocation, true),
            ],
            Kind::HistoricalLocation => &[
                ("Thing", Kind::Thing, false),
                ("Locations", Kind::Location, true),
            ],
            Kind::Datastream => &[
                ("Thing", Kind::Thing, false),
                ("Sensor", Kind::Sensor, false),
                ("ObservedProperty", Kind::ObservedProperty, false),
                ("Observations", Kind::Observation, true),
            ],
            Kind::Sensor | Kind::ObservedProperty => &[("Datastreams", Kind::Datastream, true)],
            Kind::Observation => &[
                ("Datastream", Kind::Datastream, false),
                ("FeatureOfInterest", Kind::FeatureOfInterest, false),
            ],
            Kind::FeatureOfInterest => &[("Observations", Kind::Observation, true)],
        }
    }

    /// The properties an entity of this kind has (for `$select` and `$filter` checks).
    pub fn properties(self) -> &'static [&'static str] {
        match self {
            Kind::Thing => &["id", "name", "description", "properties"],
            Kind::Location => &[
                "id",
                "name",
                "description",
                "encodingType",
                "location",
                "properties",
            ],
            Kind::HistoricalLocation => &["id", "time"],
            Kind::Datastream => &[
                "id",
                "name",
                "description",
                "observationType",
                "unitOfMeasurement",
                "observedArea",
                "phenomenonTime",
                "resultTime",
                "properties",
            ],
            Kind::Sensor => &[
                "id",
                "name",
                "description",
                "encodingType",
                "metadata",
                "properties",
            ],
            Kind::ObservedProperty => &["id", "name", "definition", "description", "properties"],
            Kind::Observation => &[
                "id",
                "phenomenonTime",
                "resultTime",
                "result",
                "resultQuality",
                "validTime",
                "parameters",
            ],
            Kind::FeatureOfInterest => &[
                "id",
                "name",
                "description",
                "encodingType",
                "feature",
                "properties",
            ],
        }
    }
}

/// One entity: its kind and id (an observation by its datastream and time).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ent {
    Meta(Kind, u32),
    Observation(Observation),
}

impl Ent {
    pub fn kind(&self) -> Kind {
        match self {
            Ent::Meta(k, _) => *k,
            Ent::Observation(_) => Kind::Observation,
        }
    }

    pub fn id(&self) -> i64 {
        match self {
            Ent::Meta(_, id) => i64::from(*id),
            Ent::Observation(o) => o.id(),
        }
    }
}

/// What a read works with: the catalogue, the caller, the base URL of links.
pub struct Ctx<'a> {
    pub catalog: &'a Catalog,
    pub caller: &'a Caller,
    pub base: &'a str,
    pub observations: &'a super::Observations,
}

impl Ctx<'_> {
    fn datastream_visible(&self, id: u32) -> bool {
        self.observations.may_see(self.caller, self.catalog, id)
    }

    /// A station is visible when one of its datastreams is (or it has none yet).
    fn thing_visible(&self, id: u32) -> bool {
        let mut streams = self
            .catalog
            .datastreams
            .iter()
            .filter(|d| d.thing == id)
            .peekable();
        if streams.peek().is_none() {
            return self.catalog.thing(id).is_some();
        }
        streams.any(|d| self.datastream_visible(d.id))
    }

    pub fn visible(&self, e: &Ent) -> bool {
        match e {
            Ent::Meta(Kind::Datastream, id) => self.datastream_visible(*id),
            Ent::Meta(Kind::Sensor | Kind::ObservedProperty, id) => {
                self.catalog.property(*id).is_some()
            }
            Ent::Meta(_, id) => self.thing_visible(*id),
            Ent::Observation(o) => self.datastream_visible(o.datastream),
        }
    }

    /// An entity by kind and id, if it exists and the caller may see it.
    pub fn find(&self, kind: Kind, id: i64) -> Option<Ent> {
        let e = if kind == Kind::Observation {
            let (ds, t) = split_observation_id(id)?;
            let series = self.observations.series(ds);
            let s = series.read().ok()?;
            let (result, quality) = s.get(t)?;
            Ent::Observation(Observation {
                datastream: ds,
                time_ms: t,
                result,
                quality,
            })
        } else {
            Ent::Meta(kind, u32::try_from(id).ok()?)
        };
        let exists = match e {
            Ent::Meta(Kind::Datastream, id) => self.catalog.datastream(id).is_some(),
            Ent::Meta(Kind::Sensor | Kind::ObservedProperty, id) => {
                self.catalog.property(id).is_some()
            }
            Ent::Meta(_, id) => self.catalog.thing(id).is_some(),
            Ent::Observation(_) => true,
        };
        (exists && self.visible(&e)).then_some(e)
    }

    /// Every visible entity of a kind (observations: of every visible datastream).
    pub fn all(&self, kind: Kind) -> Vec<Ent> {
        let ids: Vec<u32> = match kind {
            Kind::Datastream => self.catalog.datastreams.iter().map(|d| d.id).collect(),
            Kind::Sensor | Kind::ObservedProperty => {
                self.catalog.properties.iter().map(|p| p.id).collect()
            }
            Kind::Observation => {
                return self
                    .catalog
                    .datastreams
                    .iter()
                    .filter(|d| self.datastream_visible(d.id))
                    .flat_map(|d| self.observations.copy(d.id, i64::MIN, i64::MAX))
                    .map(Ent::Observation)
                    .collect()
            }
            _ => self.catalog.things.iter().map(|t| t.id).collect(),
        };
        ids.into_iter()
            .map(|id| Ent::Meta(kind, id))
            .filter(|e| self.visible(e))
            .collect()
    }

    /// Where a navigation property of an entity leads: the related entities the caller may
    /// see (one at most for a to-one property).
    pub fn navigate(&self, e: &Ent, nav: &str) -> Vec<Ent> {
        let c = self.catalog;
        let out: Vec<Ent> = match (e, nav) {
            (Ent::Meta(Kind::Thing, id), "Locations" | "HistoricalLocations") => {
                let k = if nav == "Locations" {
                    Kind::Location
                } else {
                    Kind::HistoricalLocation
                };
                vec![Ent::Meta(k, *id)]
            }
            (Ent::Meta(Kind::Thing, id), "Datastreams") => c
                .datastreams
                .iter()
                .filter(|d| d.thing == *id)
                .map(|d| Ent::Meta(Kind::Datastream, d.id))
                .collect(),
            (Ent::Meta(Kind::Location, id), "Things")
            | (Ent::Meta(Kind::HistoricalLocation, id), "Thing") => {
                vec![Ent::Meta(Kind::Thing, *id)]
            }
            (Ent::Meta(Kind::Location, id), "HistoricalLocations") => {
                vec![Ent::Meta(Kind::HistoricalLocation, *id)]
            }
            (Ent::Meta(Kind::HistoricalLocation, id), "Locations") => {
                vec![Ent::Meta(Kind::Location, *id)]
            }
            (Ent::Meta(Kind::Datastream, id), "Thing" | "Sensor" | "ObservedProperty") => {
                let Some(d) = c.datastream(*id) else {
                    return Vec::new();
                };
                vec![match nav {
                    "Thing" => Ent::Meta(Kind::Thing, d.thing),
                    "Sensor" => Ent::Meta(Kind::Sensor, d.property),
                    _ => Ent::Meta(Kind::ObservedProperty, d.property),
                }]
            }
            (Ent::Meta(Kind::Datastream, id), "Observations") => self
                .observations
                .copy(*id, i64::MIN, i64::MAX)
                .into_iter()
                .map(Ent::Observation)
                .collect(),
            (Ent::Meta(Kind::Sensor | Kind::ObservedProperty, id), "Datastreams") => c
                .datastreams
                .iter()
                .filter(|d| d.property == *id)
                .map(|d| Ent::Meta(Kind::Datastream, d.id))
                .collect(),
            (Ent::Observation(o), "Datastream") => vec![Ent::Meta(Kind::Datastream, o.datastream)],
            (Ent::Observation(o), "FeatureOfInterest") => match c.datastream(o.datastream) {
                Some(d) => vec![Ent::Meta(Kind::FeatureOfInterest, d.thing)],
                None => Vec::new(),
            },
            (Ent::Meta(Kind::FeatureOfInterest, id), "Observations") => c
                .datastreams
                .iter()
                .filter(|d| d.thing == *id)
                .flat_map(|d| self.observations.copy(d.id, i64::MIN, i64::MAX))
                .map(Ent::Observation)
                .collect(),
            _ => Vec::new(),
        };
        out.into_iter().filter(|e| self.visible(e)).collect()
    }

    pub fn self_link(&self, e: &Ent) -> String {
        format!(
            "{}{}/{}({})",
            self.base,
            super::PREFIX,
            e.kind().set(),
            e.id()
        )
    }

    /// The entity as SensorThings JSON: its properties (only `select` ones when given) and,
    /// without a `$select`, its navigation links.
    pub fn json(&self, e: &Ent, select: Option<&[String]>) -> Map<String, Value> {
        let mut all = self.properties(e);
        let link = self.self_link(e);
        let mut out = Map::new();
        let wanted = |name: &str| select.is_none_or(|s| s.iter().any(|n| n == name));
        if wanted("id") {
            out.insert("@iot.id".into(), json!(e.id()));
        }
        if select.is_none() {
            out.insert("@iot.selfLink".into(), json!(link));
        }
        for name in e.kind().properties() {
            if *name != "id" && wanted(name) {
                if let Some(v) = all.remove(*name) {
                    out.insert((*name).to_owned(), v);
                }
            }
        }
        if select.is_none() {
            for (nav, _, _) in e.kind().navigation() {
                out.insert(
                    format!("{nav}@iot.navigationLink"),
                    json!(format!("{link}/{nav}")),
                );
            }
        }
        out
    }

    /// An observation as JSON text, written straight into `out` (what `json` makes, without a
    /// tree of values: a year of readings is one response).
    pub fn write_observation(&self, out: &mut String, o: &Observation, select: Option<&[String]>) {
        use std::fmt::Write;
        let wanted = |name: &str| select.is_none_or(|s| s.iter().any(|n| n == name));
        let id = o.id();
        out.push('{');
        let mut first = true;
        let mut key = |out: &mut String, k: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            out.push('"');
            out.push_str(k);
            out.push_str("\":");
        };
        if wanted("id") {
            key(out, "@iot.id");
            let _ = write!(out, "{id}");
        }
        let link = select
            .is_none()
            .then(|| format!("{}{}/Observations({id})", self.base, super::PREFIX));
        if let Some(l) = &link {
            key(out, "@iot.selfLink");
            out.push_str(&serde_json::to_string(l).unwrap_or_default());
        }
        for name in ["phenomenonTime", "resultTime"] {
            if wanted(name) {
                key(out, name);
                out.push('"');
                cuulong_core::sta::push_iso_time(out, o.time_ms);
                out.push('"');
            }
        }
        if wanted("result") {
            key(out, "result");
            let _ = write!(out, "{}", o.result);
        }
        if wanted("resultQuality") {
            key(out, "resultQuality");
            let _ = write!(out, "\"{}\"", o.quality.as_str());
        }
        for name in ["validTime", "parameters"] {
            if wanted(name) {
                key(out, name);
                out.push_str("null");
            }
        }
        if let Some(l) = &link {
            for nav in ["Datastream", "FeatureOfInterest"] {
                key(out, &format!("{nav}@iot.navigationLink"));
                out.push_str(&serde_json::to_string(&format!("{l}/{nav}")).unwrap_or_default());
            }
        }
        out.push('}');
    }

    /// The entity's properties as JSON values (navigation aside).
    pub fn properties(&self, e: &Ent) -> Map<String, Value> {
        let c = self.catalog;
        let mut m = Map::new();
        match e {
            Ent::Observation(o) => {
                let t = iso_time(o.time_ms);
                m.insert("phenomenonTime".into(), json!(t));
                m.insert("resultTime".into(), json!(t));
                m.insert("result".into(), json!(o.result));
                m.insert("resultQuality".into(), json!(o.quality.as_str()));
                m.insert("validTime".into(), Value::Null);
                m.insert("parameters".into(), Value::Null);
            }
            Ent::Meta(
                kind @ (Kind::Thing
                | Kind::Location
                | Kind::HistoricalLocation
                | Kind::FeatureOfInterest),
                id,
            ) => {
                let Some(t) = c.thing(*id) else { return m };
                let s = &t.station;
                let point = json!({"type": "Point", "coordinates": [s.lon, s.lat]});
                let description = s.description.clone().unwrap_or_else(|| match &s.river {
                    Some(r) => {
                        format!("Trạm quan trắc trên sông {r} / monitoring station on the {r}")
                    }
                    None => "Trạm quan trắc / monitoring station".to_owned(),
                });
                let props = json!({
                    "code": s.code,
                    "river": s.river,
                    "synthetic": s.synthetic,
                    "access": s.access.as_str(),
                    "owner": s.owner,
                });
                match kind {
                    Kind::HistoricalLocation => {
                        m.insert(
                            "time".into(),
                            json!(c.updated_at.map(|t| iso_time(t.timestamp_millis()))),
                        );
                    }
                    _ => {
                        m.insert("name".into(), json!(s.name));
                        m.insert("description".into(), json!(description));
                        m.insert("properties".into(), props);
                        if *kind != Kind::Thing {
                            m.insert("encodingType".into(), json!("application/geo+json"));
                            let key = if *kind == Kind::Location {
                                "location"
                            } else {
                                "feature"
                            };
                            m.insert(key.into(), point);
                        }
                    }
                }
            }
            Ent::Meta(Kind::Datastream, id) => {
                let Some(d) = c.datastream(*id) else { return m };
                let (Some(t), Some(p)) = (c.thing(d.thing), c.property(d.property)) else {
                    return m;
                };
                let s = &t.station;
                let series = self.observations.series(d.id);
                let span = series.read().ok().and_then(|s| {
                    let first = *s.times().first()?;
                    let last = *s.times().last()?;
                    Some(if first == last {
                        iso_time(first)
                    } else {
                        format!("{}/{}", iso_time(first), iso_time(last))
                    })
                });
                m.insert(
                    "name".into(),
                    json!(format!("{} — {} / {}", s.name, p.name_vi, p.name_en)),
                );
                m.insert(
                    "description".into(),
                    json!(format!(
                        "{} ({}) tại trạm {} / at station {}",
                        p.name_vi, p.unit.symbol, s.code, s.code
                    )),
                );
                m.insert(
                    "observationType".into(),
                    json!("http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"),
                );
                m.insert("unitOfMeasurement".into(), json!(p.unit));
                m.insert(
                    "observedArea".into(),
                    json!({"type": "Point", "coordinates": [s.lon, s.lat]}),
                );
                m.insert("phenomenonTime".into(), json!(span));
                m.insert("resultTime".into(), json!(span));
                m.insert(
                    "properties".into(),
                    json!({
                        "station": s.code,
                        "observedProperty": p.code,
                        "access": d.access.as_str(),
                        "owner": d.owner,
                        "synthetic": s.synthetic,
                    }),
                );
            }
            Ent::Meta(Kind::Sensor, id) => {
                let Some(p) = c.property(*id) else { return m };
                m.insert(
                    "name".into(),
                    json!(format!(
                        "Cảm biến {} / {} sensor",
                        p.name_vi.to_lowercase(),
                        p.name_en.to_lowercase()
                    )),
                );
                m.insert(
                    "description".into(),
                    json!(format!(
                        "Đầu đo {} tự động / automatic {} probe",
                        p.name_vi.to_lowercase(),
                        p.name_en.to_lowercase()
                    )),
                );
                m.insert("encodingType".into(), json!("text/html"));
                m.insert("metadata".into(), json!(p.definition));
                m.insert("properties".into(), json!({"observedProperty": p.code}));
            }
            Ent::Meta(Kind::ObservedProperty, id) => {
                let Some(p) = c.property(*id) else { return m };
                m.insert(
                    "name".into(),
                    json!(format!("{} / {}", p.name_vi, p.name_en)),
                );
                m.insert("definition".into(), json!(p.definition));
                m.insert(
                    "description".into(),
                    json!(format!("{} ({})", p.name_en, p.unit.symbol)),
                );
                let limits: Vec<_> = c.limits.iter().filter(|l| l.property == p.code).collect();
                m.insert(
                    "properties".into(),
                    json!({"code": p.code, "unit": p.unit.symbol, "range": p.range, "classes": p.classes, "limits": limits}),
                );
            }
            Ent::Meta(Kind::Observation, _) => {}
        }
        m
    }

    /// The value of a `$filter`/`$orderby` path on an entity, following navigation.
    pub fn resolve(&self, e: &Ent, path: &[String]) -> Val {
        let Some(first) = path.first() else {
            return Val::Null;
        };
        if let Ent::Observation(o) = e {
            // The hot path: a year of readings is filtered per request.
            match (first.as_str(), path.len()) {
                ("result", 1) => return Val::Num(o.result),
                ("phenomenonTime" | "resultTime", 1) => return Val::Time(o.time_ms),
                ("id", 1) => return Val::Num(observation_id(o.datastream, o.time_ms) as f64),
                ("resultQuality", 1) => return Val::Str(o.quality.as_str().to_owned()),
                _ => {}
            }
        }
        if first == "id" && path.len() == 1 {
            return Val::Num(e.id() as f64);
        }
        if let Some((nav, _, many)) = e.kind().navigation().iter().find(|(n, _, _)| n == first) {
            if *many {
                return Val::Null;
            }
            let _ = nav;
            return match self.navigate(e, first).first() {
                Some(next) => self.resolve(next, &path[1..]),
                None => Val::Null,
            };
        }
        let props = self.properties(e);
        let mut v = match props.get(first.as_str()) {
            Some(v) => v,
            None => return Val::Null,
        };
        for seg in &path[1..] {
            v = match v.get(seg.as_str()) {
                Some(next) => next,
                None => return Val::Null,
            };
        }
        to_val(first, v)
    }
}

fn to_val(name: &str, v: &Value) -> Val {
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => n.as_f64().map_or(Val::Null, Val::Num),
        Value::String(s) if matches!(name, "phenomenonTime" | "resultTime" | "time") => {
            let start = s.split('/').next().unwrap_or(s);
            chrono::DateTime::parse_from_rfc3339(start)
                .map(|t| Val::Time(t.timestamp_millis()))
                .unwrap_or_else(|_| Val::Str(s.clone()))
        }
        Value::String(s) => Val::Str(s.clone()),
        Value::Object(_) if matches!(name, "location" | "feature" | "observedArea") => {
            geojson_geometry(v).map_or(Val::Null, |g| Val::Geom(Box::new(g)))
        }
        _ => Val::Null,
    }
}

fn geojson_geometry(v: &Value) -> Option<geo_types::Geometry<f64>> {
    let c = v.get("coordinates")?.as_array()?;
    match v.get("type")?.as_str()? {
        "Point" => Some(geo_types::Geometry::Point(geo_types::Point::new(
            c.first()?.as_f64()?,
            c.get(1)?.as_f64()?,
        ))),
        _ => None,
    }
}
