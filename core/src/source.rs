//! The read floor: what every endpoint asks of a served layer, whatever holds it. A
//! [`LayerSource`] gives a handful of primitives (its features by id, in an envelope, as
//! drawing candidates at a zoom); the operations the endpoints need — a tile, a page of
//! selected features, the features at a point, a summary inside an area — are built on them
//! here once, and a source overrides one only when it can do better (the in-memory index
//! answers point hits from its ring bands).

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use geo::{BooleanOps, Distance, Euclidean, GeodesicArea, Intersects};
use geo_types::{Coord, Geometry, MultiLineString, MultiPolygon};

use crate::containment::covers;
use crate::feature::Value;
use crate::interrupt::{Interrupt, Interrupted};
use crate::layer::LayerMeta;
use crate::mvt::{LayerBuilder, BUFFER, EXTENT};
use crate::tile::{geometry_to_lonlat, TileId};

/// One feature as a source gives it: its id, its values in schema order and its geometry in
/// EPSG:3857. Borrowed from a source that holds its features (the in-memory index), owned
/// when the source decoded them for this call (a mapped file, a database).
#[derive(Debug, Clone)]
pub struct FeatureRef<'a> {
    pub id: i64,
    pub values: Cow<'a, [Value]>,
    pub geometry: Cow<'a, Geometry<f64>>,
}

impl FeatureRef<'_> {
    /// The same feature owning its parts, independent of the source's borrow.
    pub fn into_owned(self) -> FeatureRef<'static> {
        FeatureRef {
            id: self.id,
            values: Cow::Owned(self.values.into_owned()),
            geometry: Cow::Owned(self.geometry.into_owned()),
        }
    }
}

/// Inclusive time bounds; `None` is open.
pub type Interval = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A further test on each feature (a CQL2 filter): `Err` is a message naming why the feature
/// could not be evaluated.
pub type Predicate<'a> = &'a dyn Fn(&FeatureRef<'_>) -> Result<bool, String>;

/// Which features a page is drawn from. Every part is optional; given parts must all hold.
#[derive(Default)]
pub struct Selection<'a> {
    /// An EPSG:3857 envelope the geometry must meet.
    pub envelope: Option<[f64; 4]>,
    /// Attribute equalities: (schema position, value in the field's type).
    pub equals: Vec<(usize, Value)>,
    /// A time interval the layer's time must meet (layers without time ignore it).
    pub during: Option<Interval>,
    /// Tested last, on what passed the cheap tests.
    pub predicate: Option<Predicate<'a>>,
}

impl Selection<'_> {
    /// Whether every feature is selected (nothing to test).
    pub fn is_everything(&self) -> bool {
        self.envelope.is_none()
            && self.equals.is_empty()
            && self.during.is_none()
            && self.predicate.is_none()
    }

    /// The cheap tests: attribute equalities and the time interval (`time`: the layer's
    /// [`time_fields`]).
    fn holds(&self, values: &[Value], time: Option<(usize, Option<usize>)>) -> bool {
        self.holds_by(
            |field, want| &values[field] == want,
            |field| Cow::Borrowed(&values[field]),
            time,
        )
    }

    /// [`Selection::holds`] for a source that keeps values other than as a slice: `equals`
    /// tests one field against a value, `value` reads one (only the time fields are read).
    pub fn holds_by<'v>(
        &self,
        equals: impl Fn(usize, &Value) -> bool,
        value: impl Fn(usize) -> Cow<'v, Value>,
        time: Option<(usize, Option<usize>)>,
    ) -> bool {
        self.equals.iter().all(|(field, want)| equals(*field, want))
            && match (self.during, time) {
                (Some(w), Some((start, end))) => {
                    meets_interval(&value(start), end.map(value).as_deref(), w)
                }
                _ => true,
            }
    }
}

/// One page of a selection, in id order, with how many features matched in all.
pub struct Page<'a> {
    pub matched: usize,
    pub features: Vec<FeatureRef<'a>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error("{0}")]
    Predicate(String),
}

/// A feature found at a point: distance in metres (0 when its geometry covers the point).
pub type Hit<'a> = (f64, FeatureRef<'a>);

/// Per class, the measure inside an area and the number of features that gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    /// Area in hectares (polygons) or length in kilometres (lines), geodesic on WGS 84.
    pub is_area: bool,
    pub classes: BTreeMap<String, (f64, usize)>,
}

/// A served layer version. Object safe: the server holds `Arc<dyn LayerSource>`.
pub trait LayerSource: Send + Sync {
    fn meta(&self) -> &LayerMeta;

    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rough heap size in bytes, for metrics.
    fn approx_bytes(&self) -> usize;

    /// Where the features live, for `/catalog` and `/metrics`: `memory` (held decoded) or
    /// the kind of storage read per request.
    fn served_from(&self) -> &'static str {
        "memory"
    }

    /// The feature with this id.
    fn feature(&self, id: i64) -> Option<FeatureRef<'_>>;

    /// Every feature, in the source's order.
    fn features(&self) -> Box<dyn Iterator<Item = FeatureRef<'_>> + Send + '_>;

    /// Features whose bounding box meets `bounds` (EPSG:3857), full resolution, any order.
    fn in_envelope(&self, bounds: [f64; 4]) -> Vec<FeatureRef<'_>>;

    /// What to draw at tile zoom `zoom` within `bounds`: generalised geometry where the
    /// source has it, sub-pixel features left out, in a stable order (same request, same
    /// bytes).
    fn candidates(&self, zoom: u8, bounds: [f64; 4]) -> Vec<FeatureRef<'_>>;

    /// [`LayerSource::candidates`] for drawing: values outside `fields` (schema positions)
    /// may be left `Null`, for a source that materialises values per feature (a map reads
    /// only what its style reads).
    fn candidates_reading(
        &self,
        zoom: u8,
        bounds: [f64; 4],
        fields: &[usize],
    ) -> Vec<FeatureRef<'_>> {
        let _ = fields;
        self.candidates(zoom, bounds)
    }

    /// This layer's part of a vector tile; `None` when no feature is in it.
    fn tile(&self, tile: TileId) -> Option<crate::mvt::EncodedLayer> {
        let meta = self.meta();
        // Before the builder: it borrows the candidates' values.
        let candidates = self.candidates(tile.z, tile_bounds(tile));
        let mut builder = LayerBuilder::new(meta.id.as_str(), &meta.schema, tile);
        for f in &candidates {
            builder.add(f.id, &f.values, &f.geometry);
        }
        (!builder.is_empty()).then(|| builder.finish())
    }

    /// This layer's part of a tile of another grid: `envelope` is the tile's EPSG:3857
    /// envelope (its buffer included), `zoom` the Web Mercator zoom whose generalisation
    /// suits the grid's resolution, `to_grid` carries a geometry into the grid's CRS and
    /// `transform` maps that CRS onto the tile.
    fn grid_tile(
        &self,
        envelope: [f64; 4],
        zoom: u8,
        to_grid: &dyn Fn(&Geometry<f64>) -> Option<Geometry<f64>>,
        transform: crate::mvt::TileTransform,
    ) -> Option<crate::mvt::EncodedLayer> {
        let meta = self.meta();
        let candidates = self.candidates(zoom, envelope);
        let mut builder = LayerBuilder::with_transform(meta.id.as_str(), &meta.schema, transform);
        for f in &candidates {
            if let Some(g) = to_grid(&f.geometry) {
                builder.add(f.id, &f.values, &g);
            }
        }
        (!builder.is_empty()).then(|| builder.finish())
    }

    /// Features at EPSG:3857 point (`x`, `y`), appended to `out`: those covering it and,
    /// with a radius (metres on the ground; `scale` is the Mercator scale factor cos(lat)),
    /// those within it.
    fn hits<'a>(&'a self, x: f64, y: f64, radius: f64, scale: f64, out: &mut Vec<Hit<'a>>) {
        let pad = (radius / scale).max(0.01);
        let c = Coord { x, y };
        let p = geo_types::Point(c);
        out.extend(
            self.in_envelope([x - pad, y - pad, x + pad, y + pad])
                .into_iter()
                .filter_map(|f| {
                    let d = if covers(&f.geometry, c) {
                        0.0
                    } else if radius > 0.0 {
                        Euclidean.distance(&p, &*f.geometry) * scale
                    } else {
                        return None;
                    };
                    (d <= radius).then_some((d, f))
                }),
        );
    }

    /// The features `selection` picks, in id order: `limit` of them from `offset`, and the
    /// number matched.
    fn select(
        &self,
        selection: &Selection<'_>,
        offset: usize,
        limit: usize,
        interrupt: &Interrupt,
    ) -> Result<Page<'_>, SelectError> {
        let mut candidates = match selection.envelope {
            Some(b) => {
                let rect = geo_types::Rect::new(
                    geo_types::coord! { x: b[0], y: b[1] },
                    geo_types::coord! { x: b[2], y: b[3] },
                );
                let mut found = self.in_envelope(b);
                found.retain(|f| f.geometry.intersects(&rect));
                found
            }
            None => self.features().collect(),
        };
        interrupt.check()?;
        candidates.sort_unstable_by_key(|f| f.id);
        let time = time_fields(self.meta());
        let mut seen = 0usize;
        let mut cancelled = false;
        candidates.retain(|f| {
            seen += 1;
            // A cancelled scan stops matching; the check below turns it into an error.
            if seen.is_multiple_of(1024) && interrupt.is_cancelled() {
                cancelled = true;
            }
            !cancelled && selection.holds(&f.values, time)
        });
        interrupt.check()?;
        if let Some(predicate) = selection.predicate {
            let mut kept = Vec::with_capacity(candidates.len());
            for (n, f) in candidates.into_iter().enumerate() {
                if n % 64 == 0 {
                    interrupt.check()?;
                }
                if predicate(&f).map_err(SelectError::Predicate)? {
                    kept.push(f);
                }
            }
            candidates = kept;
        }
        let matched = candidates.len();
        let features = candidates.into_iter().skip(offset).take(limit).collect();
        Ok(Page { matched, features })
    }

    /// Per class (the values of field `class`, or "all"), the geodesic area (ha) or length
    /// (km) of the features inside `area` (WGS 84 lon/lat), clipped exactly. `None` when
    /// nothing of this layer is measurable there (points, or no feature inside).
    fn measure(
        &self,
        area: &MultiPolygon<f64>,
        class: Option<usize>,
        interrupt: &Interrupt,
    ) -> Result<Option<Measure>, Interrupted> {
        use geo::BoundingRect;
        let Some(rect) = area.bounding_rect() else {
            return Ok(None);
        };
        let (x0, y0) = crate::tile::to_mercator(rect.min().x, rect.min().y);
        let (x1, y1) = crate::tile::to_mercator(rect.max().x, rect.max().y);
        let mut classes: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        let mut is_area = None;
        for (n, f) in self.in_envelope([x0, y0, x1, y1]).into_iter().enumerate() {
            if n % 32 == 0 {
                interrupt.check()?;
            }
            let value = match geometry_to_lonlat(&f.geometry) {
                Geometry::Polygon(p) => {
                    is_area = Some(true);
                    MultiPolygon(vec![p])
                        .intersection(area)
                        .geodesic_area_unsigned()
                        / 10_000.0
                }
                Geometry::MultiPolygon(mp) => {
                    is_area = Some(true);
                    mp.intersection(area).geodesic_area_unsigned() / 10_000.0
                }
                Geometry::LineString(ls) => {
                    is_area.get_or_insert(false);
                    length_inside(area, MultiLineString(vec![ls]))
                }
                Geometry::MultiLineString(mls) => {
                    is_area.get_or_insert(false);
                    length_inside(area, mls)
                }
                _ => continue,
            };
            if value <= 0.0 {
                continue;
            }
            let name = class.map_or_else(|| "all".to_owned(), |c| f.values[c].to_string());
            let e = classes.entry(name).or_default();
            e.0 += value;
            e.1 += 1;
        }
        Ok(is_area.map(|is_area| Measure { is_area, classes }))
    }
}

/// The page of `selection` from `candidates` given in id order — all features, or those whose
/// box meets the envelope — testing the exact envelope, equalities, time and predicate on each
/// as it comes: for sources that decode features per request (a mapped file, a database).
pub fn select_from<'a>(
    meta: &LayerMeta,
    candidates: impl Iterator<Item = FeatureRef<'a>>,
    selection: &Selection<'_>,
    offset: usize,
    limit: usize,
    interrupt: &Interrupt,
) -> Result<Page<'a>, SelectError> {
    let time = time_fields(meta);
    let rect = selection.envelope.map(|b| {
        geo_types::Rect::new(
            geo_types::coord! { x: b[0], y: b[1] },
            geo_types::coord! { x: b[2], y: b[3] },
        )
    });
    let mut matched = 0usize;
    let mut features = Vec::new();
    for (n, f) in candidates.enumerate() {
        if n % 256 == 0 {
            interrupt.check()?;
        }
        let keep = rect.is_none_or(|r| f.geometry.intersects(&r))
            && selection.holds(&f.values, time)
            && match selection.predicate {
                Some(predicate) => predicate(&f).map_err(SelectError::Predicate)?,
                None => true,
            };
        if keep {
            if matched >= offset && features.len() < limit {
                features.push(f);
            }
            matched += 1;
        }
    }
    Ok(Page { matched, features })
}

/// The EPSG:3857 box a vector tile draws from: the tile and its buffer.
pub fn tile_bounds(tile: TileId) -> [f64; 4] {
    let b = tile.bounds();
    let pad = (b[2] - b[0]) * f64::from(BUFFER) / f64::from(EXTENT);
    [b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad]
}

/// Kilometres of `lines` inside `area`, geodesic.
fn length_inside(area: &MultiPolygon<f64>, lines: MultiLineString<f64>) -> f64 {
    use geo::{Geodesic, Length};
    area.clip(&lines, false)
        .0
        .iter()
        .map(|ls| Geodesic.length(ls))
        .sum::<f64>()
        / 1000.0
}

/// The layer's time: its first date or date-time field, and a second one as the end of a
/// validity period (e.g. `valid_from`/`valid_to` of administrative units), if there is one.
pub fn time_fields(meta: &LayerMeta) -> Option<(usize, Option<usize>)> {
    use crate::feature::FieldType;
    let mut it = meta
        .schema
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| matches!(f.kind, FieldType::Date | FieldType::DateTime))
        .map(|(i, _)| i);
    let start = it.next()?;
    Some((start, it.next()))
}

/// A value's time span: a date covers its whole day.
fn span(v: &Value) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    match v {
        Value::Date(d) => Some((
            d.and_hms_opt(0, 0, 0)?.and_utc(),
            d.and_hms_opt(23, 59, 59)?.and_utc(),
        )),
        Value::DateTime(t) => Some((*t, *t)),
        _ => None,
    }
}

/// Whether a feature's time (an instant, or a period from `start` to `end`, open when null)
/// meets the requested interval.
pub fn in_interval(
    values: &[Value],
    (start, end): (usize, Option<usize>),
    during: Interval,
) -> bool {
    meets_interval(&values[start], end.map(|e| &values[e]), during)
}

/// Whether a time (`start`, or the period from `start` to `end`) meets the interval.
fn meets_interval(start: &Value, end: Option<&Value>, (from, to): Interval) -> bool {
    let Some((lo, first_hi)) = span(start) else {
        return false;
    };
    let hi = match end {
        None => Some(first_hi),
        // A period: a missing end means "still valid".
        Some(e) => span(e).map(|(_, h)| h),
    };
    from.is_none_or(|f| hi.is_none_or(|h| h >= f)) && to.is_none_or(|t| lo <= t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::LayerIndex;
    use crate::interrupt::Interrupt;
    use crate::{Feature, Field, FieldType, LayerId, Schema};
    use geo_types::polygon;

    fn layer() -> LayerIndex {
        let schema = Schema {
            fields: vec![
                Field::new("kind", FieldType::Text),
                Field::new("from", FieldType::Date),
            ],
        };
        let meta = LayerMeta::new(LayerId::parse("cells").unwrap(), "Polygon", schema);
        // Ten 0.01° squares along the equator, ids 10..=1 (reverse of their order).
        let features = (0..10)
            .map(|k| {
                let x = f64::from(k) * 0.01;
                Feature {
                    id: 10 - i64::from(k),
                    geometry: Geometry::Polygon(polygon![
                        (x: x, y: 0.0), (x: x + 0.01, y: 0.0), (x: x + 0.01, y: 0.01),
                        (x: x, y: 0.01), (x: x, y: 0.0)
                    ]),
                    values: vec![
                        Value::Text(if k % 2 == 0 { "even" } else { "odd" }.into()),
                        Value::Date(chrono::NaiveDate::from_ymd_opt(2020 + k, 1, 1).unwrap()),
                    ],
                }
            })
            .collect();
        LayerIndex::build(meta, features)
    }

    #[test]
    fn a_selection_pages_in_id_order_and_counts_every_match() {
        let l = layer();
        let sel = Selection {
            equals: vec![(0, Value::Text("odd".into()))],
            ..Default::default()
        };
        let page = l.select(&sel, 1, 2, &Interrupt::never()).unwrap();
        assert_eq!(page.matched, 5);
        let ids: Vec<i64> = page.features.iter().map(|f| f.id).collect();
        // Odd k are ids 9, 7, 5, 3, 1: in id order 1, 3, 5, 7, 9; the page from 1 is 3, 5.
        assert_eq!(ids, vec![3, 5]);
    }

    #[test]
    fn envelope_time_and_predicate_all_hold() {
        let l = layer();
        // The first four squares (k = 0..3, ids 10..7) by envelope.
        let (x1, y1) = crate::tile::to_mercator(0.035, 0.005);
        let after_2021 = (
            Some(
                chrono::NaiveDate::from_ymd_opt(2021, 6, 1)
                    .unwrap()
                    .and_hms_opt(0, 0, 0)
                    .unwrap()
                    .and_utc(),
            ),
            None,
        );
        let not_eight = |f: &FeatureRef<'_>| Ok(f.id != 8);
        let sel = Selection {
            envelope: Some([0.0, 0.0, x1, y1]),
            during: Some(after_2021),
            predicate: Some(&not_eight),
            ..Default::default()
        };
        let page = l.select(&sel, 0, 10, &Interrupt::never()).unwrap();
        // k = 2, 3 start after mid-2021 (ids 8, 7); the predicate removes 8.
        assert_eq!(
            page.features.iter().map(|f| f.id).collect::<Vec<_>>(),
            vec![7]
        );
        assert_eq!(page.matched, 1);
    }

    #[test]
    fn a_predicate_error_names_itself_and_an_interrupt_stops_the_scan() {
        let l = layer();
        let failing = |_: &FeatureRef<'_>| Err("no such function".to_string());
        let sel = Selection {
            predicate: Some(&failing),
            ..Default::default()
        };
        match l.select(&sel, 0, 10, &Interrupt::never()) {
            Err(SelectError::Predicate(m)) => assert_eq!(m, "no such function"),
            _ => panic!("the predicate's error must come back"),
        }
        let interrupt = Interrupt::never();
        interrupt.cancel();
        assert!(matches!(
            l.select(&Selection::default(), 0, 10, &interrupt),
            Err(SelectError::Interrupted(_))
        ));
    }

    #[test]
    fn a_summary_measures_what_lies_inside_by_class() {
        let l = layer();
        // The first two squares, exactly.
        let area = MultiPolygon(vec![polygon![
            (x: 0.0, y: 0.0), (x: 0.02, y: 0.0), (x: 0.02, y: 0.01), (x: 0.0, y: 0.01), (x: 0.0, y: 0.0)
        ]]);
        let m = l
            .measure(&area, Some(0), &Interrupt::never())
            .unwrap()
            .unwrap();
        assert!(m.is_area);
        let (even, n_even) = m.classes["even"];
        let (odd, n_odd) = m.classes["odd"];
        assert_eq!((n_even, n_odd), (1, 1));
        // A 0.01° square at the equator is about 1.1 km × 1.1 km = 123 ha.
        assert!((even - 123.1).abs() < 1.0, "{even}");
        assert!((odd - even).abs() < 0.01, "{odd} vs {even}");
    }
}
