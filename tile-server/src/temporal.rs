//! Admin units in time. A layer of the admin family whose units carry `valid_from` /
//! `valid_to` (the 2009 communes and the units of the 2025 reorganisation, after a lineage
//! import) is served as one index per period in which the same units are valid. Every
//! endpoint serves the period of today by default, so maps and queries never show two
//! generations of units on top of each other; `datetime=` (WMS `TIME=`) picks another
//! period. The periods other than today's carry a version of their own (negative, derived from
//! the layer's), so caches and ETags keep them apart.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use cuulong_core::index::LayerIndex;
use cuulong_core::{Feature, LayerMeta};

use crate::state::Served;

/// The periods of one layer, the whole layer as cuulong knows it now (for intervals), and its
/// history — with the boundaries a later record replaced (`recorded_to` set), for the lineage.
pub struct Epochs {
    pub all: Served,
    pub history: Served,
    periods: Vec<Period>,
}

struct Period {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    source: Served,
}

impl Epochs {
    /// The units valid on `day`.
    pub fn at(&self, day: NaiveDate) -> Served {
        self.periods
            .iter()
            .find(|p| p.from.is_none_or(|f| f <= day) && p.to.is_none_or(|t| t >= day))
            .map_or_else(|| self.all.clone(), |p| p.source.clone())
    }

    /// Each period: its first and last day (`None`: open) and its units.
    pub fn periods(&self) -> impl Iterator<Item = (Option<NaiveDate>, Option<NaiveDate>, &Served)> {
        self.periods.iter().map(|p| (p.from, p.to, &p.source))
    }

    /// The first and last day with units (`None`: open), for a collection's temporal extent.
    pub fn interval(&self) -> (Option<NaiveDate>, Option<NaiveDate>) {
        let with_units: Vec<&Period> = self
            .periods
            .iter()
            .filter(|p| !p.source.is_empty())
            .collect();
        (
            with_units.first().and_then(|p| p.from),
            with_units.last().and_then(|p| p.to),
        )
    }

    /// The periods with units, as WMS 1.3.0 writes a time extent (`start/end/P1D`, the last
    /// one open: `start/current/P1D`).
    pub fn extent(&self) -> String {
        self.periods
            .iter()
            .filter(|p| !p.source.is_empty())
            .map(|p| {
                let from = p.from.map_or("1900-01-01".to_owned(), |d| d.to_string());
                let to = p.to.map_or("current".to_owned(), |d| d.to_string());
                format!("{from}/{to}/P1D")
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Today in Vietnam (UTC+7): the day legal validity is counted in.
pub fn today() -> NaiveDate {
    (Utc::now() + chrono::Duration::hours(7)).date_naive()
}

/// Whether `meta` is an admin layer in time (its periods are built from every feature).
pub fn is_temporal(meta: &LayerMeta) -> bool {
    meta.family.as_deref() == Some("admin")
        && meta.schema.index_of("valid_from").is_some()
        && meta.schema.index_of("valid_to").is_some()
}

/// Indexes a layer: a temporal admin layer as the index of `today`'s period (with its periods
/// beside it), any other layer whole.
pub fn index(
    meta: LayerMeta,
    features: Vec<Feature>,
    today: NaiveDate,
) -> (Served, Option<Arc<Epochs>>) {
    let fields = (
        meta.schema.index_of("valid_from"),
        meta.schema.index_of("valid_to"),
    );
    let (Some(from), Some(to)) = fields else {
        return (Arc::new(LayerIndex::build(meta, features)), None);
    };
    if meta.family.as_deref() != Some("admin") {
        return (Arc::new(LayerIndex::build(meta, features)), None);
    }
    // What a later record replaced (an official boundary over a derived one) is history only.
    let replaced = meta.schema.index_of("recorded_to");
    let history = features.clone();
    let features: Vec<Feature> = features
        .into_iter()
        .filter(|f| replaced.is_none_or(|i| f.values[i].is_null()))
        .collect();
    // The days on which the set of valid units changes.
    let mut cuts = BTreeSet::new();
    for f in &features {
        cuts.extend(f.values[from].as_date());
        cuts.extend(f.values[to].as_date().and_then(|d| d.succ_opt()));
    }
    if cuts.len() < 2 {
        return (Arc::new(LayerIndex::build(meta, features)), None);
    }
    let cuts: Vec<NaiveDate> = cuts.into_iter().collect();
    let mut bounds: Vec<(Option<NaiveDate>, Option<NaiveDate>)> = vec![(None, cuts[0].pred_opt())];
    for w in cuts.windows(2) {
        bounds.push((Some(w[0]), w[1].pred_opt()));
    }
    bounds.push((cuts.last().copied(), None));
    let mut periods = Vec::with_capacity(bounds.len());
    let mut current = None;
    for (i, (p_from, p_to)) in bounds.into_iter().enumerate() {
        // Each period lies between two cuts, so a unit is valid throughout it or not at all:
        // its first day (or, for the first period, its last) decides.
        let probe = p_from.or(p_to).unwrap_or(today);
        let kept: Vec<Feature> = features
            .iter()
            .filter(|f| {
                f.values[from].as_date().is_none_or(|d| d <= probe)
                    && f.values[to].as_date().is_none_or(|d| d >= probe)
            })
            .cloned()
            .collect();
        let is_today = p_from.is_none_or(|f| f <= today) && p_to.is_none_or(|t| t >= today);
        let mut m = meta.clone();
        if !is_today {
            m.version = -(meta.version.saturating_mul(1000) + i as i64 + 1);
        }
        let source: Served = Arc::new(LayerIndex::build(m, kept));
        if is_today {
            current = Some(source.clone());
        }
        periods.push(Period {
            from: p_from,
            to: p_to,
            source,
        });
    }
    let all: Served = Arc::new(LayerIndex::build(meta.clone(), features));
    let history: Served = if replaced.is_some() {
        Arc::new(LayerIndex::build(meta, history))
    } else {
        all.clone()
    };
    let current = current.unwrap_or_else(|| all.clone());
    (
        current,
        Some(Arc::new(Epochs {
            all,
            history,
            periods,
        })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cuulong_core::{Field, FieldType, LayerId, Schema, Value};

    fn unit(id: i64, x: f64, from: &str, to: Option<&str>) -> Feature {
        let d = |s: &str| Value::Date(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap());
        Feature {
            id,
            geometry: geo_types::Geometry::Point(geo_types::Point::new(x, 10.0)),
            values: vec![d(from), to.map_or(Value::Null, d)],
        }
    }

    #[test]
    fn periods_split_where_units_change_and_today_is_served() {
        let schema = Schema::new(vec![
            Field::new("valid_from", FieldType::Date),
            Field::new("valid_to", FieldType::Date),
        ]);
        let meta = LayerMeta {
            family: Some("admin".into()),
            version: 3,
            ..LayerMeta::new(LayerId::parse("admin_communes").unwrap(), "Point", schema)
        };
        let features = vec![
            unit(1, 106.0, "2009-04-01", Some("2025-06-30")),
            unit(2, 106.1, "2009-04-01", Some("2025-06-30")),
            unit(3, 106.2, "2025-07-01", None),
        ];
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let (now, epochs) = index(meta, features, d("2026-01-01"));
        let epochs = epochs.unwrap();
        assert_eq!(now.len(), 1);
        assert_eq!(now.meta().version, 3);
        assert_eq!(epochs.at(d("2025-06-30")).len(), 2);
        assert!(epochs.at(d("2025-06-30")).meta().version < 0);
        assert_eq!(epochs.at(d("2025-07-01")).len(), 1);
        assert_eq!(epochs.at(d("2000-01-01")).len(), 0);
        assert_eq!(epochs.all.len(), 3);
        assert_eq!(
            epochs.extent(),
            "2009-04-01/2025-06-30/P1D,2025-07-01/current/P1D"
        );
    }
}
