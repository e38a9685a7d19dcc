//! Observations (OGC SensorThings API v1.1): the network of stations, observed properties and
//! datastreams, the limits that class a reading, the checks a reading passes before it is
//! stored, and the time series kept per datastream. The `$filter` language and the query
//! options are in [`filter`] and [`options`].

pub mod aggregate;
pub mod alert;
pub mod filter;
pub mod front;
pub mod options;
pub mod series;
pub mod simulate;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::layer::Access;

/// The unit of a datastream, as SensorThings writes it (`unitOfMeasurement`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub name: String,
    pub symbol: String,
    pub definition: String,
}

/// A class of the live layer: readings below `below` (and at or above the previous class).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueClass {
    pub below: f64,
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub colour: String,
}

/// An observed property with its unit, its plausible range and the classes of its live layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedProperty {
    #[serde(default)]
    pub id: u32,
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub definition: String,
    pub unit: Unit,
    /// Readings outside `[min, max]` are impossible for the sensor and rejected.
    pub range: [f64; 2],
    #[serde(default)]
    pub classes: Vec<ValueClass>,
}

impl ObservedProperty {
    /// The class of a reading, if the property has classes.
    pub fn class_of(&self, value: f64) -> Option<&ValueClass> {
        self.classes.iter().find(|c| value < c.below)
    }
}

/// A crop's or livestock's tolerance of a property (‰ for salinity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CropLimit {
    pub property: String,
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub limit: f64,
    #[serde(default)]
    pub limit_high: Option<f64>,
}

/// A station as the network file describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StationDef {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub river: Option<String>,
    pub lon: f64,
    pub lat: f64,
    pub properties: Vec<String>,
    #[serde(default)]
    pub access: Access,
    #[serde(default)]
    pub owner: Option<String>,
    /// Its readings are made up (simulator): said so wherever it is listed.
    #[serde(default)]
    pub synthetic: bool,
}

/// The network file (`data-samples/observations/network.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(rename = "property")]
    pub properties: Vec<ObservedProperty>,
    #[serde(rename = "limit", default)]
    pub limits: Vec<CropLimit>,
    #[serde(rename = "station")]
    pub stations: Vec<StationDef>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NetworkError {
    #[error("network file: {0}")]
    Parse(String),
    #[error("network file: station '{station}' lists unknown property '{property}'")]
    UnknownProperty { station: String, property: String },
    #[error("network file: {kind} '{code}' is listed twice")]
    Repeated { kind: &'static str, code: String },
    #[error("network file: station '{0}' has no position in WGS 84 (lon -180..180, lat -90..90)")]
    Position(String),
    #[error("network file: property '{0}': its range is empty or not finite")]
    Range(String),
    #[error("network file: limit '{code}' names unknown property '{property}'")]
    LimitProperty { code: String, property: String },
}

impl Network {
    pub fn parse(text: &str) -> Result<Network, NetworkError> {
        let n: Network = toml::from_str(text).map_err(|e| NetworkError::Parse(e.to_string()))?;
        let mut seen = std::collections::HashSet::new();
        for p in &n.properties {
            if !seen.insert(p.code.as_str()) {
                return Err(NetworkError::Repeated {
                    kind: "property",
                    code: p.code.clone(),
                });
            }
            let [lo, hi] = p.range;
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(NetworkError::Range(p.code.clone()));
            }
        }
        for l in &n.limits {
            if !seen.contains(l.property.as_str()) {
                return Err(NetworkError::LimitProperty {
                    code: l.code.clone(),
                    property: l.property.clone(),
                });
            }
        }
        let mut stations = std::collections::HashSet::new();
        for s in &n.stations {
            if !stations.insert(s.code.as_str()) {
                return Err(NetworkError::Repeated {
                    kind: "station",
                    code: s.code.clone(),
                });
            }
            if !((-180.0..=180.0).contains(&s.lon) && (-90.0..=90.0).contains(&s.lat)) {
                return Err(NetworkError::Position(s.code.clone()));
            }
            if let Some(p) = s.properties.iter().find(|p| !seen.contains(p.as_str())) {
                return Err(NetworkError::UnknownProperty {
                    station: s.code.clone(),
                    property: p.clone(),
                });
            }
        }
        Ok(n)
    }
}

/// A station (SensorThings Thing, with one Location and one FeatureOfInterest of the same id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thing {
    pub id: u32,
    #[serde(flatten)]
    pub station: StationDef,
}

/// A station × property series (SensorThings Datastream). Its Sensor is its property's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Datastream {
    pub id: u32,
    pub thing: u32,
    pub property: u32,
    pub access: Access,
    pub owner: Option<String>,
}

/// Everything the API serves about the network, with ids that never change once given: the
/// store keeps it, and a new network file is merged into it by station and property code.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Catalog {
    pub properties: Vec<ObservedProperty>,
    pub limits: Vec<CropLimit>,
    pub things: Vec<Thing>,
    pub datastreams: Vec<Datastream>,
    /// When the catalogue was last set up (the time of the Things' HistoricalLocation).
    pub updated_at: Option<DateTime<Utc>>,
}

impl Catalog {
    /// This catalogue with `network` merged in: known stations, properties and datastreams keep
    /// their ids (their observations are stored under them), new ones get the next free id.
    /// A station or property left out of the file stays (its history is kept).
    pub fn merge(&self, network: &Network, now: DateTime<Utc>) -> Catalog {
        let mut next = self.clone();
        for p in &network.properties {
            match next.properties.iter_mut().find(|q| q.code == p.code) {
                Some(q) => {
                    let id = q.id;
                    *q = ObservedProperty { id, ..p.clone() };
                }
                None => {
                    let id = next.properties.iter().map(|q| q.id).max().unwrap_or(0) + 1;
                    next.properties.push(ObservedProperty { id, ..p.clone() });
                }
            }
        }
        next.limits = network.limits.clone();
        for s in &network.stations {
            let thing = match next.things.iter_mut().find(|t| t.station.code == s.code) {
                Some(t) => {
                    t.station = s.clone();
                    t.id
                }
                None => {
                    let id = next.things.iter().map(|t| t.id).max().unwrap_or(0) + 1;
                    next.things.push(Thing {
                        id,
                        station: s.clone(),
                    });
                    id
                }
            };
            for code in &s.properties {
                let Some(property) = next.properties.iter().find(|p| &p.code == code) else {
                    continue;
                };
                let property = property.id;
                match next
                    .datastreams
                    .iter_mut()
                    .find(|d| d.thing == thing && d.property == property)
                {
                    Some(d) => {
                        d.access = s.access;
                        d.owner = s.owner.clone();
                    }
                    None => {
                        let id = next.datastreams.iter().map(|d| d.id).max().unwrap_or(0) + 1;
                        next.datastreams.push(Datastream {
                            id,
                            thing,
                            property,
                            access: s.access,
                            owner: s.owner.clone(),
                        });
                    }
                }
            }
        }
        next.updated_at = Some(now);
        next
    }

    pub fn thing(&self, id: u32) -> Option<&Thing> {
        self.things.iter().find(|t| t.id == id)
    }

    pub fn property(&self, id: u32) -> Option<&ObservedProperty> {
        self.properties.iter().find(|p| p.id == id)
    }

    pub fn datastream(&self, id: u32) -> Option<&Datastream> {
        self.datastreams.iter().find(|d| d.id == id)
    }

    /// The datastream of a station code and property code (`BT01`, `salinity`).
    pub fn datastream_of(&self, station: &str, property: &str) -> Option<&Datastream> {
        let thing = self.things.iter().find(|t| t.station.code == station)?;
        let property = self.properties.iter().find(|p| p.code == property)?;
        self.datastreams
            .iter()
            .find(|d| d.thing == thing.id && d.property == property.id)
    }

    /// Checks one reading and makes it an observation, or says why it is refused.
    pub fn check(
        &self,
        datastream: i64,
        time: DateTime<Utc>,
        result: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Observation, Rejection> {
        let ds = u32::try_from(datastream)
            .ok()
            .and_then(|id| self.datastream(id))
            .ok_or(Rejection::UnknownDatastream(datastream))?;
        let value = match result {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|v| v.is_finite())
        .ok_or_else(|| Rejection::NotANumber(short(&result.to_string())))?;
        let property = self
            .property(ds.property)
            .ok_or(Rejection::UnknownDatastream(datastream))?;
        let [min, max] = property.range;
        if !(min..=max).contains(&value) {
            return Err(Rejection::Impossible {
                value,
                property: property.code.clone(),
                min,
                max,
            });
        }
        if time > now + chrono::Duration::minutes(FUTURE_TOLERANCE_MINUTES) {
            return Err(Rejection::Future(time));
        }
        let time_ms = time.timestamp_millis();
        if !(0..MAX_TIME_MS).contains(&time_ms) {
            return Err(Rejection::OutOfEra(time));
        }
        Ok(Observation {
            datastream: ds.id,
            time_ms,
            result: value,
            quality: Quality::Good,
        })
    }
}

/// Clocks of loggers in the field drift: a reading up to this far ahead of ours is accepted.
pub const FUTURE_TOLERANCE_MINUTES: i64 = 5;

/// Observation ids hold the datastream in the high bits and the phenomenon time (ms since
/// 1970) in the low 42: ids are the same in every store and replica, and the idempotency key
/// (datastream, phenomenon time) is the id itself. 2^42 ms reach the year 2109.
pub const TIME_BITS: u32 = 42;
pub const MAX_TIME_MS: i64 = 1 << TIME_BITS;
/// Datastream ids stay below 2^21 so an observation id is a positive i64.
pub const MAX_DATASTREAM: u32 = (1 << (63 - TIME_BITS)) - 1;

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Why a reading was refused (counted and reported; the rest of its batch goes on).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("unknown datastream {0}")]
    UnknownDatastream(i64),
    #[error("result {0} is not a number")]
    NotANumber(String),
    #[error("{property} {value} is impossible (the sensor reads {min}..{max})")]
    Impossible {
        value: f64,
        property: String,
        min: f64,
        max: f64,
    },
    #[error("phenomenon time {0} is in the future")]
    Future(DateTime<Utc>),
    #[error("phenomenon time {0} is outside 1970..2109")]
    OutOfEra(DateTime<Utc>),
    #[error("unknown station '{station}' or property '{property}'")]
    UnknownStation { station: String, property: String },
    #[error("{0}")]
    Malformed(String),
}

impl Rejection {
    /// A short name for counting rejections by reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::UnknownDatastream(_) => "unknown_datastream",
            Rejection::NotANumber(_) => "not_a_number",
            Rejection::Impossible { .. } => "impossible_value",
            Rejection::Future(_) => "future_time",
            Rejection::OutOfEra(_) => "time_out_of_range",
            Rejection::UnknownStation { .. } => "unknown_station",
            Rejection::Malformed(_) => "malformed",
        }
    }
}

/// The quality flag of an observation (SensorThings `resultQuality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    #[default]
    Good,
    Suspect,
    Bad,
}

impl Quality {
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    pub fn from_u8(v: u8) -> Option<Quality> {
        match v {
            0 => Some(Quality::Good),
            1 => Some(Quality::Suspect),
            2 => Some(Quality::Bad),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Suspect => "suspect",
            Quality::Bad => "bad",
        }
    }
}

/// One stored observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    pub datastream: u32,
    /// Phenomenon time, ms since 1970 (UTC).
    pub time_ms: i64,
    pub result: f64,
    pub quality: Quality,
}

impl Observation {
    pub fn id(&self) -> i64 {
        observation_id(self.datastream, self.time_ms)
    }
}

pub fn observation_id(datastream: u32, time_ms: i64) -> i64 {
    (i64::from(datastream) << TIME_BITS) | time_ms
}

/// The (datastream, phenomenon time) of an observation id, if it can be one.
pub fn split_observation_id(id: i64) -> Option<(u32, i64)> {
    if id < 0 {
        return None;
    }
    let ds = u32::try_from(id >> TIME_BITS).ok()?;
    Some((ds, id & (MAX_TIME_MS - 1)))
}

/// A time in ms as SensorThings writes it (ISO 8601, UTC, ms only when there are some).
/// Written by hand (days to a civil date, H. Hinnant's algorithm): a year of readings is
/// 35 040 of them per response, and chrono's formatter cost more than the rest of a reading.
pub fn iso_time(ms: i64) -> String {
    let mut out = String::with_capacity(24);
    push_iso_time(&mut out, ms);
    out
}

/// [`iso_time`] appended to `out`.
pub fn push_iso_time(out: &mut String, ms: i64) {
    use std::fmt::Write;
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    if milli != 0 {
        let _ = write!(out, ".{milli:03}");
    }
    out.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network() -> Network {
        Network::parse(include_str!(
            "../../../data-samples/observations/network.toml"
        ))
        .unwrap()
    }

    #[test]
    fn the_sample_network_parses_with_every_limit_of_the_issue() {
        let n = network();
        assert!(n.stations.len() >= 9);
        let limit = |code: &str| n.limits.iter().find(|l| l.code == code).unwrap().limit;
        assert_eq!(limit("sau_rieng"), 1.0);
        assert_eq!(limit("buoi"), 1.55);
        assert_eq!(limit("lua"), 2.0);
        assert_eq!(limit("dua"), 10.0);
        assert_eq!(limit("heo"), 4.0);
    }

    #[test]
    fn merging_keeps_ids_and_adds_new_ones_after_them() {
        let n = network();
        let now = Utc::now();
        let first = Catalog::default().merge(&n, now);
        let salinity_bt03 = first.datastream_of("BT03", "salinity").unwrap().id;
        let mut changed = n.clone();
        changed.stations.reverse();
        let bt09 = changed
            .stations
            .iter_mut()
            .find(|s| s.code == "BT09")
            .unwrap();
        bt09.properties.push("ph".into());
        let second = first.merge(&changed, now);
        assert_eq!(
            second.datastream_of("BT03", "salinity").unwrap().id,
            salinity_bt03
        );
        assert_eq!(second.things.len(), first.things.len());
        assert_eq!(second.datastreams.len(), first.datastreams.len() + 1);
        let new = second.datastreams.last().unwrap();
        assert_eq!(
            new.id,
            first.datastreams.iter().map(|d| d.id).max().unwrap() + 1
        );
    }

    #[test]
    fn readings_are_checked_with_a_reason() {
        let c = Catalog::default().merge(&network(), Utc::now());
        let ds = i64::from(c.datastream_of("BT01", "salinity").unwrap().id);
        let now = Utc::now();
        let t = now - chrono::Duration::hours(1);
        let ok = c.check(ds, t, &serde_json::json!(4.2), now).unwrap();
        assert_eq!(ok.result, 4.2);
        assert_eq!(
            split_observation_id(ok.id()),
            Some((ok.datastream, ok.time_ms))
        );
        let reason = |r: Result<Observation, Rejection>| r.unwrap_err().reason();
        assert_eq!(
            reason(c.check(ds, t, &serde_json::json!("abc"), now)),
            "not_a_number"
        );
        assert_eq!(
            reason(c.check(ds, t, &serde_json::json!(-3.0), now)),
            "impossible_value"
        );
        assert_eq!(
            reason(c.check(ds, t, &serde_json::json!(300.0), now)),
            "impossible_value"
        );
        assert_eq!(
            reason(c.check(
                ds,
                now + chrono::Duration::hours(2),
                &serde_json::json!(1.0),
                now
            )),
            "future_time"
        );
        assert_eq!(
            reason(c.check(9999, t, &serde_json::json!(1.0), now)),
            "unknown_datastream"
        );
        assert_eq!(
            c.check(ds, t, &serde_json::json!("3.5"), now)
                .unwrap()
                .result,
            3.5
        );
    }

    #[test]
    fn a_bad_network_file_is_named() {
        let mut text = include_str!("../../../data-samples/observations/network.toml").to_owned();
        text = text.replacen(
            "properties = [\"salinity\", \"water_level\"]",
            "properties = [\"salt\"]",
            1,
        );
        assert!(matches!(
            Network::parse(&text),
            Err(NetworkError::UnknownProperty { .. })
        ));
    }

    #[test]
    fn times_are_written_as_chrono_would() {
        for ms in [
            0,
            1_764_460_800_000,
            1_764_460_800_123,
            951_782_400_000,
            4_102_444_799_999,
            1_709_164_800_000,
        ] {
            let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap();
            let want = if ms % 1000 == 0 {
                t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            } else {
                t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
            };
            assert_eq!(iso_time(ms), want);
        }
        // Every day across leap years and centuries.
        for d in (0..60_000i64).step_by(1) {
            let ms = d * 86_400_000 + 3_723_000;
            let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap();
            assert_eq!(iso_time(ms), t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
    }

    #[test]
    fn salinity_classes_follow_the_crop_limits() {
        let n = network();
        let p = n.properties.iter().find(|p| p.code == "salinity").unwrap();
        assert_eq!(p.class_of(0.5).unwrap().code, "ngot");
        assert_eq!(p.class_of(1.0).unwrap().code, "lo_1_2");
        assert_eq!(p.class_of(3.9).unwrap().code, "lo_2_4");
        assert_eq!(p.class_of(12.0).unwrap().code, "man_10");
    }
}
