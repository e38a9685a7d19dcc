//! Alert rules and their evaluation with hysteresis.
//!
//! A rule watches one observed property against a set of crop and livestock limits of the
//! network file. For each datastream of that property and each limit: a good reading above
//! the limit (`>`) opens an alert; the alert stays open until a good reading falls below the
//! limit minus the rule's margin (`<`), which closes it. Readings are taken in time order; a
//! reading older than the last one evaluated for its datastream (a late re-send or backfill)
//! does not change what is open. Evaluating a whole series gives the same alerts as
//! evaluating it reading by reading: the alert history is the series replayed.
//!
//! The rules file (`data-samples/observations/salinity.toml`) also holds the estuaries (for
//! the salinity front, [`super::front`]), the station zones and the webhooks.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::front::Estuary;
use super::series::Series;
use super::{Catalog, Quality};

/// The rules file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    #[serde(default)]
    pub settings: Settings,
    #[serde(rename = "rule", default)]
    pub rules: Vec<Rule>,
    #[serde(rename = "estuary", default)]
    pub estuaries: Vec<Estuary>,
    #[serde(rename = "zone", default)]
    pub zones: Vec<ZoneDef>,
    #[serde(rename = "webhook", default)]
    pub webhooks: Vec<WebhookDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The land-use layer an alert's exposure is measured on.
    pub land_use_layer: String,
    /// The commune layer (with `valid_from`/`valid_to`: the units of the alert's day).
    pub communes_layer: String,
    /// A station's zone by default: the land within this of its reach of the river.
    pub zone_km: f64,
    /// Transitions of the last this many hours that no outbox records are sent at start
    /// (a server killed between storing a reading and queueing its webhook). At most 48: the
    /// outbox remembers what it delivered for 48 h.
    pub redeliver_hours: u32,
    /// A station's latest reading older than this does not place a front (a logger offline).
    pub front_max_age_hours: u32,
    /// Land-use codes counted as rice land for the front's summary.
    pub rice_land_use: Vec<String>,
    /// The front whose seaward land the summary counts as rice land at risk (‰, rice's limit).
    pub rice_threshold: f64,
    /// The front thresholds (‰).
    pub fronts: Vec<f64>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            land_use_layer: "land_use".into(),
            communes_layer: "admin_communes".into(),
            zone_km: 2.0,
            redeliver_hours: 24,
            front_max_age_hours: 24,
            rice_land_use: vec!["LUA".into(), "LUC".into(), "LUK".into(), "LUC+NTS".into()],
            fronts: vec![1.0, 4.0],
            rice_threshold: 2.0,
        }
    }
}

/// Alerts of one property against some of the network's limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub property: String,
    /// Codes of the network file's limits; all of the property's when left out.
    #[serde(default)]
    pub limits: Option<Vec<String>>,
    /// An open alert closes below `limit - margin`.
    pub margin: f64,
    /// Per limit code: the land-use classes that crop grows on (its land at risk).
    #[serde(default)]
    pub land_use: HashMap<String, Vec<String>>,
}

/// A station's zone given as communes (by code) instead of the land along its reach.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneDef {
    pub station: String,
    pub communes: Vec<String>,
}

/// An agency URL that receives alerts, signed with a secret read from the environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookDef {
    pub name: String,
    pub url: String,
    /// The environment variable holding the HMAC secret (secrets stay out of files).
    pub secret_env: String,
    /// The receiving agency and its grants (`datastream:<id>`), as an API key would have
    /// them: alerts of datastreams that are not open reach only receivers who may see them.
    #[serde(default)]
    pub agency: Option<String>,
    #[serde(default)]
    pub grants: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RulesError {
    #[error("rules file: {0}")]
    Parse(String),
    #[error("rules file: rule for unknown property '{0}'")]
    UnknownProperty(String),
    #[error("rules file: rule for '{property}' names unknown limit '{limit}'")]
    UnknownLimit { property: String, limit: String },
    #[error("rules file: margin {0} must be zero or more and finite")]
    Margin(f64),
    #[error("rules file: estuary '{0}' needs a centreline of two points or more, mouth first, in WGS 84")]
    Centreline(String),
    #[error("rules file: zone of unknown station '{0}'")]
    UnknownStation(String),
    #[error("rules file: webhook '{name}': {reason}")]
    Webhook { name: String, reason: String },
    #[error("rules file: zone_km {0} must be above 0 and at most 50")]
    ZoneKm(f64),
    #[error("rules file: redeliver_hours {0} must be at most 48 (the outbox remembers 48 h)")]
    RedeliverHours(u32),
}

impl Rules {
    pub fn parse(text: &str) -> Result<Rules, RulesError> {
        let rules: Rules = toml::from_str(text).map_err(|e| RulesError::Parse(e.to_string()))?;
        let z = rules.settings.zone_km;
        if !(z > 0.0 && z <= 50.0) {
            return Err(RulesError::ZoneKm(z));
        }
        if rules.settings.redeliver_hours > 48 {
            return Err(RulesError::RedeliverHours(rules.settings.redeliver_hours));
        }
        for r in &rules.rules {
            if !(r.margin >= 0.0 && r.margin.is_finite()) {
                return Err(RulesError::Margin(r.margin));
            }
        }
        for e in &rules.estuaries {
            let ok = e.centreline.len() >= 2
                && e.centreline.iter().all(|&[lon, lat]| {
                    (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
                });
            if !ok {
                return Err(RulesError::Centreline(e.name.clone()));
            }
        }
        for w in &rules.webhooks {
            let bad = |reason: &str| RulesError::Webhook {
                name: w.name.clone(),
                reason: reason.into(),
            };
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                return Err(bad("url must be http:// or https://"));
            }
            if w.secret_env.is_empty() {
                return Err(bad("secret_env names the variable holding the secret"));
            }
        }
        Ok(rules)
    }

    /// Checks the rules against a network catalogue: the limits each rule watches.
    pub fn watched(&self, catalog: &Catalog) -> Result<Vec<Watched>, RulesError> {
        let mut out = Vec::new();
        for r in &self.rules {
            let Some(p) = catalog.properties.iter().find(|p| p.code == r.property) else {
                return Err(RulesError::UnknownProperty(r.property.clone()));
            };
            let of_property: Vec<_> = catalog
                .limits
                .iter()
                .filter(|l| l.property == r.property)
                .collect();
            let chosen: Vec<_> = match &r.limits {
                None => of_property,
                Some(codes) => codes
                    .iter()
                    .map(|c| {
                        of_property
                            .iter()
                            .find(|l| &l.code == c)
                            .copied()
                            .ok_or_else(|| RulesError::UnknownLimit {
                                property: r.property.clone(),
                                limit: c.clone(),
                            })
                    })
                    .collect::<Result<_, _>>()?,
            };
            for l in chosen {
                out.push(Watched {
                    property: p.id,
                    limit_code: l.code.clone(),
                    name_vi: l.name_vi.clone(),
                    name_en: l.name_en.clone(),
                    limit: l.limit,
                    close_below: l.limit - r.margin,
                    land_use: r.land_use.get(&l.code).cloned().unwrap_or_default(),
                });
            }
        }
        for z in &self.zones {
            if !catalog.things.iter().any(|t| t.station.code == z.station) {
                return Err(RulesError::UnknownStation(z.station.clone()));
            }
        }
        Ok(out)
    }
}

/// One limit watched on every datastream of a property.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Watched {
    pub property: u32,
    pub limit_code: String,
    pub name_vi: String,
    pub name_en: String,
    pub limit: f64,
    pub close_below: f64,
    pub land_use: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    Open,
    Close,
}

/// An alert opening or closing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertChange {
    pub datastream: u32,
    /// Index into the watched limits.
    pub watched: usize,
    pub transition: Transition,
    pub time_ms: i64,
    pub value: f64,
    /// When the alert opened (its identity with the datastream and limit).
    pub opened_ms: i64,
    /// The highest reading while it was open (at a close).
    pub peak: f64,
}

impl AlertChange {
    /// Stable across restarts and replicas: the same readings give the same ids, which makes
    /// them webhook idempotency keys.
    pub fn alert_id(&self, watched: &[Watched]) -> String {
        let code = watched.get(self.watched).map_or("?", |w| &w.limit_code);
        format!("{}-{}-{}", self.datastream, code, self.opened_ms)
    }

    pub fn event_id(&self, watched: &[Watched]) -> String {
        let t = match self.transition {
            Transition::Open => "open",
            Transition::Close => "close",
        };
        format!("{}-{t}", self.alert_id(watched))
    }
}

#[derive(Debug, Clone, Copy)]
struct Open {
    since_ms: i64,
    peak: f64,
}

/// The open alerts and where each datastream was evaluated up to.
#[derive(Debug, Clone, Default)]
pub struct Evaluator {
    open: HashMap<(u32, usize), Open>,
    evaluated_to: HashMap<u32, i64>,
    /// The series' length when it was last evaluated: more readings at or before
    /// `evaluated_to` now means late ones arrived.
    seen: HashMap<u32, usize>,
}

impl Evaluator {
    /// Evaluates the readings of `series` newer than those already seen (for `datastream`,
    /// against the watched limits of its property), appending the changes.
    pub fn advance(
        &mut self,
        datastream: u32,
        property: u32,
        series: &Series,
        watched: &[Watched],
        out: &mut Vec<AlertChange>,
    ) {
        let after = self.evaluated_to.get(&datastream).copied();
        let start = match after {
            Some(t) => series.times().partition_point(|&x| x <= t),
            None => 0,
        };
        self.seen.insert(datastream, series.len());
        let limits: Vec<usize> = (0..watched.len())
            .filter(|&k| watched[k].property == property)
            .collect();
        if limits.is_empty() || start >= series.len() {
            if let Some(&(t, _)) = series.latest().as_ref() {
                self.evaluated_to.insert(datastream, t);
            }
            return;
        }
        for i in start..series.len() {
            let (t, v, q) = series.at(i);
            if q != Quality::Good {
                continue;
            }
            for &k in &limits {
                let w = &watched[k];
                match self.open.get_mut(&(datastream, k)) {
                    None if v > w.limit => {
                        self.open.insert(
                            (datastream, k),
                            Open {
                                since_ms: t,
                                peak: v,
                            },
                        );
                        out.push(AlertChange {
                            datastream,
                            watched: k,
                            transition: Transition::Open,
                            time_ms: t,
                            value: v,
                            opened_ms: t,
                            peak: v,
                        });
                    }
                    Some(open) if v < w.close_below => {
                        let open = *open;
                        self.open.remove(&(datastream, k));
                        out.push(AlertChange {
                            datastream,
                            watched: k,
                            transition: Transition::Close,
                            time_ms: t,
                            value: v,
                            opened_ms: open.since_ms,
                            peak: open.peak,
                        });
                    }
                    Some(open) => open.peak = open.peak.max(v),
                    None => {}
                }
            }
        }
        if let Some((t, _)) = series.latest() {
            self.evaluated_to.insert(datastream, t);
        }
    }

    /// Whether readings arrived for `datastream` at or before the time it was evaluated to
    /// (a backfill, a logger catching up): its alerts must then be replayed from the start to
    /// stay what the series says.
    pub fn has_late(&self, datastream: u32, series: &Series) -> bool {
        let Some(&t) = self.evaluated_to.get(&datastream) else {
            return false;
        };
        let now_at_or_before = series.times().partition_point(|&x| x <= t);
        now_at_or_before > self.seen.get(&datastream).copied().unwrap_or(0)
    }

    /// Forgets a datastream (its open alerts and how far it was evaluated); returns the time
    /// it had been evaluated to.
    pub fn forget(&mut self, datastream: u32) -> Option<i64> {
        self.open.retain(|&(d, _), _| d != datastream);
        self.seen.remove(&datastream);
        self.evaluated_to.remove(&datastream)
    }

    /// The open alerts: (datastream, watched index, opened at, peak so far).
    pub fn open(&self) -> impl Iterator<Item = (u32, usize, i64, f64)> + '_ {
        self.open
            .iter()
            .map(|(&(d, k), o)| (d, k, o.since_ms, o.peak))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched() -> Vec<Watched> {
        vec![Watched {
            property: 1,
            limit_code: "lua".into(),
            name_vi: "Lúa".into(),
            name_en: "Rice".into(),
            limit: 2.0,
            close_below: 1.8,
            land_use: vec!["LUC".into()],
        }]
    }

    fn run(values: &[f64]) -> Vec<(Transition, i64, f64)> {
        let mut s = Series::default();
        for (i, v) in values.iter().enumerate() {
            s.insert(i as i64, *v, Quality::Good);
        }
        let mut ev = Evaluator::default();
        let mut out = Vec::new();
        ev.advance(7, 1, &s, &watched(), &mut out);
        out.iter()
            .map(|c| (c.transition, c.time_ms, c.value))
            .collect()
    }

    #[test]
    fn hysteresis_opens_above_the_limit_and_closes_below_the_margin() {
        let changes = run(&[1.0, 2.0, 2.1, 1.9, 2.3, 1.85, 1.79, 1.9, 2.0, 2.01]);
        assert_eq!(
            changes,
            vec![
                (Transition::Open, 2, 2.1),   // 2.0 is at the limit, not above
                (Transition::Close, 6, 1.79), // 1.9 and 1.85 are within the margin
                (Transition::Open, 9, 2.01),
            ]
        );
    }

    #[test]
    fn reading_by_reading_equals_the_whole_series_and_peaks_are_kept() {
        let values = [1.0, 2.5, 3.5, 2.9, 1.7, 2.2, 1.9];
        let w = watched();
        let mut whole = Vec::new();
        let mut s = Series::default();
        for (i, v) in values.iter().enumerate() {
            s.insert(i as i64, *v, Quality::Good);
        }
        Evaluator::default().advance(7, 1, &s, &w, &mut whole);
        let mut stepwise = Vec::new();
        let mut ev = Evaluator::default();
        let mut grown = Series::default();
        for (i, v) in values.iter().enumerate() {
            grown.insert(i as i64, *v, Quality::Good);
            ev.advance(7, 1, &grown, &w, &mut stepwise);
        }
        assert_eq!(whole, stepwise);
        assert_eq!(whole[1].peak, 3.5);
        assert_eq!(whole[1].alert_id(&w), "7-lua-1");
        assert_eq!(whole[1].event_id(&w), "7-lua-1-close");
        // A late reading (older than the latest evaluated) is not evaluated on its own; the
        // evaluator says so, and a replay from the start takes it in.
        let mut late = Vec::new();
        assert!(!ev.has_late(7, &grown));
        grown.insert(-5, 9.0, Quality::Good);
        assert!(ev.has_late(7, &grown));
        ev.advance(7, 1, &grown, &w, &mut late);
        assert!(late.is_empty());
        assert_eq!(ev.open().count(), 1);
        assert_eq!(ev.forget(7), Some(6));
        assert_eq!(ev.open().count(), 0);
        ev.advance(7, 1, &grown, &w, &mut late);
        assert_eq!(
            late[0].opened_ms, -5,
            "the replay opens at the late reading"
        );
    }

    #[test]
    fn suspect_readings_and_other_properties_raise_nothing() {
        let mut s = Series::default();
        s.insert(0, 30.0, Quality::Suspect);
        let mut out = Vec::new();
        Evaluator::default().advance(7, 1, &s, &watched(), &mut out);
        s.insert(1, 30.0, Quality::Good);
        Evaluator::default().advance(8, 2, &s, &watched(), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn the_sample_rules_file_checks_against_the_sample_network() {
        let rules = Rules::parse(include_str!(
            "../../../data-samples/observations/salinity.toml"
        ))
        .unwrap();
        let n = super::super::Network::parse(include_str!(
            "../../../data-samples/observations/network.toml"
        ))
        .unwrap();
        let c = Catalog::default().merge(&n, chrono::Utc::now());
        let w = rules.watched(&c).unwrap();
        assert!(w.iter().any(|w| w.limit_code == "lua" && w.limit == 2.0));
        assert!(rules.estuaries.len() >= 3);
        let bad = "[[rule]]\nproperty = \"salinity\"\nlimits = [\"nope\"]\nmargin = 0.1\n";
        assert!(matches!(
            Rules::parse(bad).unwrap().watched(&c),
            Err(RulesError::UnknownLimit { .. })
        ));
        assert!(Rules::parse("[[rule]]\nproperty = \"x\"\nmargin = -1\n").is_err());
        assert_eq!(
            Rules::parse("[settings]\nredeliver_hours = 72\n").unwrap_err(),
            RulesError::RedeliverHours(72)
        );
    }
}
