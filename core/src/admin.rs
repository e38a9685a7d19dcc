//! Administrative units in time. A lineage table (one row per old unit → new unit pair, with
//! the legal act, its article and the effective date) is read and checked against the units
//! cuulong already knows, then grouped into events — merge, split, rename, boundary
//! adjustment, upgrade (xã → phường / thị trấn) — each citing its act. New units made of whole
//! old ones get a boundary dissolved from theirs, marked as derived; the rest are gaps.
//!
//! Validity is by day and inclusive at both ends, as the admin family's `valid_from` /
//! `valid_to` are: an old unit ends on the eve of the event, the new one begins on its day.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use geo::MultiPolygon;
use serde::Serialize;
use thiserror::Error;

/// The kind of a commune-level unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    Xa,
    Phuong,
    ThiTran,
}

impl UnitKind {
    /// `xa`, `phuong`, `thi_tran` (or their Vietnamese words).
    pub fn parse(s: &str) -> Option<UnitKind> {
        match fold(s).replace([' ', '-'], "_").as_str() {
            "xa" => Some(UnitKind::Xa),
            "phuong" => Some(UnitKind::Phuong),
            "thi_tran" | "thitran" | "tt" => Some(UnitKind::ThiTran),
            _ => None,
        }
    }

    /// The kind a name's prefix says ("Xã …", "Phường …", "Thị trấn …").
    pub fn of_name(name: &str) -> Option<UnitKind> {
        let f = fold(name);
        [
            ("xa ", UnitKind::Xa),
            ("phuong ", UnitKind::Phuong),
            ("thi tran ", UnitKind::ThiTran),
        ]
        .into_iter()
        .find_map(|(p, k)| f.starts_with(p).then_some(k))
    }

    pub fn label_vi(self) -> &'static str {
        match self {
            UnitKind::Xa => "xã",
            UnitKind::Phuong => "phường",
            UnitKind::ThiTran => "thị trấn",
        }
    }

    /// Urban units rank above a xã: a xã becoming one is an upgrade.
    fn is_urban(self) -> bool {
        !matches!(self, UnitKind::Xa)
    }
}

/// Lower case, without diacritics (đ → d), spaces collapsed: how names are compared.
pub fn fold(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let bare: String = s
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            c => c,
        })
        .collect::<String>()
        .to_lowercase();
    bare.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A unit as a lineage row names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitRef {
    pub code: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<UnitKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
}

/// The legal act behind an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Citation {
    pub act: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article: Option<String>,
    pub effective: NaiveDate,
}

/// One row of a lineage table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageRow {
    /// Line in the file (the header is line 1).
    pub line: usize,
    pub new: UnitRef,
    pub old: UnitRef,
    pub citation: Citation,
}

/// A unit cuulong already knows (from the admin layer), with its validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownUnit {
    pub code: String,
    pub name: String,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Several whole units become one.
    Merge,
    /// One unit is divided among several.
    Split,
    /// One whole unit continues under another name or code.
    Rename,
    /// Parts of units move: a new unit takes part of at least one old one.
    Adjust,
    /// A xã becomes a phường or thị trấn (whole, alone).
    Upgrade,
}

/// How much of an old unit goes into the new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Part {
    pub old: UnitRef,
    /// The whole old unit (it goes to no other new unit that day).
    pub whole: bool,
}

/// The making of one new unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub kind: EventKind,
    pub new: UnitRef,
    pub parts: Vec<Part>,
    pub citation: Citation,
    #[serde(skip)]
    pub lines: Vec<usize>,
}

impl Event {
    /// The eve of the event: the last day of the old units.
    pub fn eve(&self) -> NaiveDate {
        self.citation.effective.pred_opt().unwrap_or(NaiveDate::MIN)
    }
}

/// A checked lineage: its events in date order and what it could not tie to known units.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lineage {
    pub events: Vec<Event>,
    pub gaps: Vec<String>,
}

/// What is wrong with a lineage table; each names the line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LineageError {
    #[error("line {line}: {message}")]
    Row { line: usize, message: String },
    #[error("line {line}: old {old} → new {new} on {date} repeats line {first}")]
    Duplicate {
        line: usize,
        first: usize,
        old: String,
        new: String,
        date: NaiveDate,
    },
    #[error("line {line}: new unit {code} on {date} is '{name}' here but '{other}' on line {first}: a code names one unit at an instant")]
    NewUnitConflict {
        line: usize,
        first: usize,
        code: String,
        name: String,
        other: String,
        date: NaiveDate,
    },
    #[error("line {line}: old unit {code} is '{name}' here but '{other}' on line {first}")]
    OldUnitConflict {
        line: usize,
        first: usize,
        code: String,
        name: String,
        other: String,
    },
    #[error("line {line}: old unit {code} '{name}' is not valid on {eve}, the eve of the event ({known})")]
    NotValidOnEve {
        line: usize,
        code: String,
        name: String,
        eve: NaiveDate,
        known: String,
    },
    #[error("line {line}: new unit {code} '{name}' cannot begin on {date}: code {code} is still '{holder}' then, and no event of that day ends it")]
    CodeInUse {
        line: usize,
        code: String,
        name: String,
        holder: String,
        date: NaiveDate,
    },
    #[error("line {line}: unit {code} '{name}' would begin and end on {date} (made on line {made}): the lineage runs in a cycle")]
    Cycle {
        line: usize,
        made: usize,
        code: String,
        name: String,
        date: NaiveDate,
    },
}

/// Reads a lineage table (CSV, UTF-8, header row). Columns, by name: `new_code`, `new_name`,
/// `old_code`, `old_name`, `act` (or `resolution`), `article`, `effective` (YYYY-MM-DD);
/// optional `new_kind`, `old_kind`, `old_district`. Other columns are ignored. Every bad row is
/// reported, not only the first.
pub fn read_lineage(text: &str) -> Result<Vec<LineageRow>, Vec<LineageError>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header_error = |message: String| vec![LineageError::Row { line: 1, message }];
    let headers = reader
        .headers()
        .map_err(|e| header_error(format!("cannot read the header: {e}")))?
        .clone();
    let column = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    };
    let required = |names: &[&str]| {
        column(names).ok_or_else(|| header_error(format!("no column '{}'", names[0])))
    };
    let new_code = required(&["new_code"])?;
    let new_name = required(&["new_name"])?;
    let old_code = required(&["old_code"])?;
    let old_name = required(&["old_name"])?;
    let act = required(&["act", "resolution"])?;
    let article = required(&["article"])?;
    let effective = required(&["effective", "effective_date"])?;
    let new_kind = column(&["new_kind"]);
    let old_kind = column(&["old_kind"]);
    let old_district = column(&["old_district"]);

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let line = n + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(LineageError::Row {
                    line,
                    message: format!("not a CSV row: {e}"),
                });
                continue;
            }
        };
        let field = |i: usize| record.get(i).unwrap_or("").to_owned();
        let mut problems = Vec::new();
        let mut code = |i: usize, what: &str| {
            let c = field(i);
            if c.is_empty() || !c.bytes().all(|b| b.is_ascii_digit()) {
                problems.push(format!("{what} '{c}' is not a GSO code (digits)"));
            }
            c
        };
        let (nc, oc) = (code(new_code, "new_code"), code(old_code, "old_code"));
        let mut kind = |col: Option<usize>, name: &str, what: &str| match col.map(field) {
            Some(k) if !k.is_empty() => {
                let parsed = UnitKind::parse(&k);
                if parsed.is_none() {
                    problems.push(format!("{what} '{k}' is not xa, phuong or thi_tran"));
                }
                parsed
            }
            _ => UnitKind::of_name(name),
        };
        let (nn, on) = (field(new_name), field(old_name));
        let nk = kind(new_kind, &nn, "new_kind");
        let ok = kind(old_kind, &on, "old_kind");
        for (name, what) in [(&nn, "new_name"), (&on, "old_name"), (&field(act), "act")] {
            if name.is_empty() {
                problems.push(format!("{what} is empty"));
            }
        }
        let date = NaiveDate::parse_from_str(&field(effective), "%Y-%m-%d");
        if date.is_err() {
            problems.push(format!(
                "effective '{}' is not a date (YYYY-MM-DD)",
                field(effective)
            ));
        }
        match (problems.is_empty(), date) {
            (true, Ok(date)) => rows.push(LineageRow {
                line,
                new: UnitRef {
                    code: nc,
                    name: nn,
                    kind: nk,
                    district: None,
                },
                old: UnitRef {
                    code: oc,
                    name: on,
                    kind: ok,
                    district: old_district.map(field).filter(|d| !d.is_empty()),
                },
                citation: Citation {
                    act: field(act),
                    article: Some(field(article)).filter(|a| !a.is_empty()),
                    effective: date,
                },
            }),
            _ => errors.push(LineageError::Row {
                line,
                message: problems.join("; "),
            }),
        }
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(LineageError::Row {
            line: 2,
            message: "the table has no rows".into(),
        });
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// One version of a unit while checking: what the registry holds.
struct Version {
    code: String,
    name: String,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

impl Version {
    fn valid_on(&self, day: NaiveDate) -> bool {
        self.from.is_none_or(|f| f <= day) && self.to.is_none_or(|t| t >= day)
    }

    fn span(&self) -> String {
        let d = |x: Option<NaiveDate>| x.map_or("…".to_owned(), |d| d.to_string());
        format!("'{}' valid {} to {}", self.name, d(self.from), d(self.to))
    }
}

/// Checks `rows` against the units cuulong knows and against each other: every old unit is
/// valid on the eve of its event (and ends there), every new unit begins on its day with a
/// code no other unit holds then, no unit is made and ended on one day, one code names one
/// unit per instant. Old units cuulong does not know at all are gaps (they have no
/// geometry), not errors.
pub fn check(rows: &[LineageRow], known: &[KnownUnit]) -> Result<Lineage, Vec<LineageError>> {
    let mut registry: Vec<Version> = known
        .iter()
        .filter(|k| !k.code.is_empty())
        .map(|k| Version {
            code: k.code.clone(),
            name: k.name.clone(),
            from: k.valid_from,
            to: k.valid_to,
        })
        .collect();
    let mut by_date: BTreeMap<NaiveDate, Vec<&LineageRow>> = BTreeMap::new();
    for r in rows {
        by_date.entry(r.citation.effective).or_default().push(r);
    }
    let mut errors = Vec::new();
    let mut gaps = Vec::new();
    let mut events = Vec::new();
    for (date, day) in by_date {
        let eve = date.pred_opt().unwrap_or(NaiveDate::MIN);
        // One code, one unit: per day, the first row naming a code is the reference.
        let mut pairs: HashMap<(&str, &str), usize> = HashMap::new();
        let mut news: BTreeMap<&str, &LineageRow> = BTreeMap::new();
        let mut olds: BTreeMap<&str, &LineageRow> = BTreeMap::new();
        for r in &day {
            if let Some(&first) = pairs.get(&(r.old.code.as_str(), r.new.code.as_str())) {
                errors.push(LineageError::Duplicate {
                    line: r.line,
                    first,
                    old: r.old.code.clone(),
                    new: r.new.code.clone(),
                    date,
                });
                continue;
            }
            pairs.insert((&r.old.code, &r.new.code), r.line);
            match news.get(r.new.code.as_str()) {
                Some(first) if fold(&first.new.name) != fold(&r.new.name) => {
                    errors.push(LineageError::NewUnitConflict {
                        line: r.line,
                        first: first.line,
                        code: r.new.code.clone(),
                        name: r.new.name.clone(),
                        other: first.new.name.clone(),
                        date,
                    })
                }
                Some(_) => {}
                None => {
                    news.insert(&r.new.code, r);
                }
            }
            match olds.get(r.old.code.as_str()) {
                Some(first) if fold(&first.old.name) != fold(&r.old.name) => {
                    errors.push(LineageError::OldUnitConflict {
                        line: r.line,
                        first: first.line,
                        code: r.old.code.clone(),
                        name: r.old.name.clone(),
                        other: first.old.name.clone(),
                    })
                }
                Some(_) => {}
                None => {
                    olds.insert(&r.old.code, r);
                }
            }
        }
        // The old units end on the eve.
        for (code, r) in &olds {
            let valid_on_eve = registry.iter().any(|v| v.code == *code && v.valid_on(eve));
            // Ended the day it is made: a new unit of this very day named as an old one of
            // another. (A new unit taking its own code from a predecessor — old An Hội into
            // new An Hội, old Bình Khánh's code for Đồng Khởi — continues it, no cycle.)
            let continues = day
                .iter()
                .any(|d| d.new.code == *code && d.old.code == *code);
            if let (false, false, Some(made)) = (valid_on_eve, continues, news.get(code)) {
                errors.push(LineageError::Cycle {
                    line: r.line,
                    made: made.line,
                    code: code.to_string(),
                    name: r.old.name.clone(),
                    date,
                });
                continue;
            }
            let mut versions = registry.iter_mut().filter(|v| v.code == *code).peekable();
            if versions.peek().is_none() {
                gaps.push(format!(
                    "old unit {code} '{}'{} (line {}) is not among the units cuulong knows: it has no boundary here, so the units made from it on {date} cannot be drawn whole",
                    r.old.name,
                    r.old.district.as_ref().map(|d| format!(", {d}")).unwrap_or_default(),
                    r.line
                ));
                continue;
            }
            let versions: Vec<&mut Version> = versions.collect();
            let spans: Vec<String> = versions.iter().map(|v| v.span()).collect();
            match versions.into_iter().find(|v| v.valid_on(eve)) {
                Some(v) => {
                    v.to = Some(eve);
                }
                None => errors.push(LineageError::NotValidOnEve {
                    line: r.line,
                    code: code.to_string(),
                    name: r.old.name.clone(),
                    eve,
                    known: format!("cuulong has {}", spans.join("; ")),
                }),
            }
        }
        // The new units begin on the day, with codes nobody else holds then.
        for (code, r) in &news {
            if let Some(holder) = registry
                .iter()
                .find(|v| v.code == *code && v.valid_on(date))
            {
                errors.push(LineageError::CodeInUse {
                    line: r.line,
                    code: code.to_string(),
                    name: r.new.name.clone(),
                    holder: holder.name.clone(),
                    date,
                });
                continue;
            }
            registry.push(Version {
                code: code.to_string(),
                name: r.new.name.clone(),
                from: Some(date),
                to: None,
            });
        }
        // Events: one per new unit; an old unit in several rows of the day is split.
        let mut shares: HashMap<&str, usize> = HashMap::new();
        for r in &day {
            *shares.entry(&r.old.code).or_default() += 1;
        }
        for (code, first) in &news {
            let rows_of: Vec<&&LineageRow> = day.iter().filter(|r| r.new.code == *code).collect();
            let mut seen = HashSet::new();
            let parts: Vec<Part> = rows_of
                .iter()
                .filter(|r| seen.insert(r.old.code.clone()))
                .map(|r| Part {
                    old: r.old.clone(),
                    whole: shares.get(r.old.code.as_str()) == Some(&1),
                })
                .collect();
            let kind = event_kind(&first.new, &parts);
            events.push(Event {
                kind,
                new: first.new.clone(),
                parts,
                citation: first.citation.clone(),
                lines: rows_of.iter().map(|r| r.line).collect(),
            });
        }
    }
    if errors.is_empty() {
        Ok(Lineage { events, gaps })
    } else {
        errors.sort_by_key(|e| match e {
            LineageError::Row { line, .. }
            | LineageError::Duplicate { line, .. }
            | LineageError::NewUnitConflict { line, .. }
            | LineageError::OldUnitConflict { line, .. }
            | LineageError::NotValidOnEve { line, .. }
            | LineageError::CodeInUse { line, .. }
            | LineageError::Cycle { line, .. } => *line,
        });
        Err(errors)
    }
}

fn event_kind(new: &UnitRef, parts: &[Part]) -> EventKind {
    match parts {
        [only] if !only.whole => EventKind::Split,
        _ if parts.iter().any(|p| !p.whole) => EventKind::Adjust,
        [only] => {
            let upgraded = matches!((only.old.kind, new.kind), (Some(a), Some(b)) if !a.is_urban() && b.is_urban());
            if upgraded {
                EventKind::Upgrade
            } else {
                EventKind::Rename
            }
        }
        _ => EventKind::Merge,
    }
}

/// The boundary of a new unit made of whole old units: the exact union of theirs (i_overlay
/// through `geo`), shared edges dissolved.
pub fn dissolve(parts: &[&MultiPolygon<f64>]) -> MultiPolygon<f64> {
    geo::unary_union(parts.iter().flat_map(|m| m.0.iter()))
}

/// A unit version as re-expression sees it: validity, boundary (lon/lat), and the successors
/// its lineage names.
#[derive(Debug, Clone)]
pub struct TimedUnit {
    pub code: Option<String>,
    pub name: String,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    pub geometry: MultiPolygon<f64>,
    pub successors: Vec<Successor>,
}

/// A successor as the lineage records it on the old unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Successor {
    pub code: String,
    pub effective: NaiveDate,
    pub whole: bool,
}

impl TimedUnit {
    pub fn valid_on(&self, day: NaiveDate) -> bool {
        self.valid_from.is_none_or(|f| f <= day) && self.valid_to.is_none_or(|t| t >= day)
    }
}

impl TimedUnit {
    /// A unit of an admin layer: its `code`, `name`, `valid_from`, `valid_to` and the
    /// `successors` a lineage import wrote (JSON), with its boundary in lon/lat.
    pub fn from_feature(
        schema: &crate::Schema,
        values: &[crate::Value],
        lonlat: &geo::Geometry<f64>,
    ) -> TimedUnit {
        let get = |name: &str| schema.index_of(name).map(|i| &values[i]);
        let text = |name: &str| get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let day = |name: &str| get(name).and_then(crate::Value::as_date);
        let successors = text("successors")
            .and_then(|t| serde_json::from_str::<Vec<serde_json::Value>>(&t).ok())
            .unwrap_or_default()
            .iter()
            .filter_map(|s| {
                Some(Successor {
                    code: s["code"].as_str()?.to_owned(),
                    effective: NaiveDate::parse_from_str(
                        s["citation"]["effective"].as_str()?,
                        "%Y-%m-%d",
                    )
                    .ok()?,
                    whole: s["whole"].as_bool().unwrap_or(true),
                })
            })
            .collect();
        let geometry = match lonlat {
            geo::Geometry::Polygon(p) => MultiPolygon(vec![p.clone()]),
            geo::Geometry::MultiPolygon(m) => m.clone(),
            _ => MultiPolygon(vec![]),
        };
        TimedUnit {
            code: text("code").filter(|c| !c.is_empty()),
            name: text("name").unwrap_or_default(),
            valid_from: day("valid_from"),
            valid_to: day("valid_to"),
            geometry,
            successors,
        }
    }
}

/// How a unit's value was carried: by its lineage, or by overlaying boundaries (for units that
/// ended without a recorded event, and for splits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Carried {
    pub by_lineage: usize,
    pub by_overlay: usize,
    pub unplaced: usize,
}

/// A table re-expressed in the units of another day: per unit valid then, the sum of what came
/// to it; what could be placed nowhere (an old unit outside every new one) apart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reexpressed {
    /// (index into the units, one value per column), in unit order.
    pub rows: Vec<(usize, Vec<f64>)>,
    pub unplaced: Vec<f64>,
    pub carried: Carried,
}

fn geodesic_area(m: &MultiPolygon<f64>) -> f64 {
    use geo::orient::{Direction, Orient};
    use geo::GeodesicArea;
    // Oriented first: a clockwise ring would measure the rest of the globe.
    m.orient(Direction::Default).geodesic_area_unsigned()
}

/// How much of a region counts when a value is shared by overlap: its geodesic area by
/// default, or the area of a weight layer's land inside it (say, rice land for a harvest).
pub type Measure<'a> = &'a dyn Fn(&MultiPolygon<f64>) -> f64;

/// The geodesic area (m²) of a region: the default [`Measure`].
pub fn area_measure(m: &MultiPolygon<f64>) -> f64 {
    geodesic_area(m)
}

/// A [`Measure`] by the land of `weights` (lon/lat) inside a region: the geodesic area of its
/// intersection with each.
pub fn land_measure(weights: &[MultiPolygon<f64>]) -> impl Fn(&MultiPolygon<f64>) -> f64 + '_ {
    move |region| {
        weights
            .iter()
            .map(|w| overlap(region, w, &area_measure))
            .sum()
    }
}

fn overlap(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>, measure: Measure<'_>) -> f64 {
    use geo::{BooleanOps, BoundingRect, Intersects};
    match (a.bounding_rect(), b.bounding_rect()) {
        (Some(x), Some(y)) if x.intersects(&y) => measure(&a.intersection(b)),
        _ => 0.0,
    }
}

/// The shares of unit `u` among the units valid on `to`: whole successors take all of it,
/// several successors (a split) or no recorded successor share it by overlapping area
/// (normalised, so nothing is lost); `None` when it overlaps no unit of that day.
fn shares(
    units: &[TimedUnit],
    u: usize,
    to: NaiveDate,
    depth: usize,
    by_lineage: &mut bool,
    measure: Measure<'_>,
) -> Option<Vec<(usize, f64)>> {
    let unit = &units[u];
    if unit.valid_on(to) {
        return Some(vec![(u, 1.0)]);
    }
    let next: Vec<usize> = unit
        .successors
        .iter()
        .filter(|s| s.effective <= to)
        .filter_map(|s| {
            units.iter().position(|n| {
                n.code.as_deref() == Some(s.code.as_str()) && n.valid_from == Some(s.effective)
            })
        })
        .collect();
    let weighted: Vec<(usize, f64)> = if next.is_empty() || depth > 16 {
        // No lineage: each unit of that day takes the share of the area it covers; what no
        // unit covers stays unplaced (not spread over slivers of neighbours).
        // A unit with none of the weight land in it is shared by plain area.
        let weighted_own = measure(&unit.geometry);
        let measure: Measure<'_> = if weighted_own > 0.0 {
            measure
        } else {
            &area_measure
        };
        let own = measure(&unit.geometry);
        if own <= 0.0 {
            return None;
        }
        let overlaps: Vec<(usize, f64)> = units
            .iter()
            .enumerate()
            .filter(|(_, n)| n.valid_on(to))
            .map(|(i, n)| {
                (
                    i,
                    (overlap(&unit.geometry, &n.geometry, measure) / own).min(1.0),
                )
            })
            .filter(|(_, w)| *w > 0.0)
            .collect();
        return (!overlaps.is_empty()).then_some(overlaps);
    } else if let [only] = next[..] {
        *by_lineage = true;
        vec![(only, 1.0)]
    } else {
        *by_lineage = true;
        let areas: Vec<f64> = next
            .iter()
            .map(|&n| overlap(&unit.geometry, &units[n].geometry, measure))
            .collect();
        let total: f64 = areas.iter().sum();
        if total <= 0.0 {
            // A split without boundaries: equal shares would be a guess.
            return None;
        }
        next.iter()
            .zip(areas)
            .map(|(&n, a)| (n, a / total))
            .collect()
    };
    let mut out: Vec<(usize, f64)> = Vec::new();
    for (n, w) in weighted {
        for (m, w2) in shares(units, n, to, depth + 1, by_lineage, measure)? {
            match out.iter_mut().find(|(k, _)| *k == m) {
                Some(e) => e.1 += w * w2,
                None => out.push((m, w * w2)),
            }
        }
    }
    Some(out)
}

/// Re-expresses `values` (per unit index, one number per column) in the units valid on `to`.
/// Forward in time: each value follows its unit's lineage (a merge carries it whole; a split,
/// by the area of each part) or, for a unit that ended without a recorded event, the share of
/// its area each unit of that day covers — the part no unit covers is `unplaced`. Totals are
/// kept: every value ends in some unit or in `unplaced`.
pub fn reexpress(
    units: &[TimedUnit],
    columns: usize,
    values: &[(usize, Vec<f64>)],
    to: NaiveDate,
) -> Reexpressed {
    reexpress_by(units, columns, values, to, &area_measure)
}

/// [`reexpress`], sharing by `measure` (a weight layer's land) instead of plain area.
pub fn reexpress_by(
    units: &[TimedUnit],
    columns: usize,
    values: &[(usize, Vec<f64>)],
    to: NaiveDate,
    measure: Measure<'_>,
) -> Reexpressed {
    let mut sums: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    let mut unplaced = vec![0.0; columns];
    let mut carried = Carried::default();
    for (u, v) in values {
        let mut by_lineage = false;
        match shares(units, *u, to, 0, &mut by_lineage, measure) {
            Some(parts) => {
                if by_lineage {
                    carried.by_lineage += 1;
                } else if !units[*u].valid_on(to) {
                    carried.by_overlay += 1;
                }
                let placed: f64 = parts.iter().map(|(_, w)| w).sum();
                for (n, w) in parts {
                    let row = sums.entry(n).or_insert_with(|| vec![0.0; columns]);
                    for (acc, x) in row.iter_mut().zip(v) {
                        *acc += w * x;
                    }
                }
                // Land of an old unit that no new unit covers.
                if placed < 1.0 - 1e-9 {
                    for (acc, x) in unplaced.iter_mut().zip(v) {
                        *acc += (1.0 - placed) * x;
                    }
                }
            }
            None => {
                carried.unplaced += 1;
                for (acc, x) in unplaced.iter_mut().zip(v) {
                    *acc += x;
                }
            }
        }
    }
    Reexpressed {
        rows: sums.into_iter().collect(),
        unplaced,
        carried,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "new_code,new_name,new_kind,old_code,old_name,old_district,resolution,article,effective\n";

    fn known(code: &str, name: &str) -> KnownUnit {
        KnownUnit {
            code: code.into(),
            name: name.into(),
            valid_from: NaiveDate::from_ymd_opt(2009, 4, 1),
            valid_to: None,
        }
    }

    fn run(body: &str, units: &[KnownUnit]) -> Result<Lineage, Vec<LineageError>> {
        let rows = read_lineage(&format!("{HEADER}{body}"))?;
        check(&rows, units)
    }

    fn units() -> Vec<KnownUnit> {
        vec![
            known("100", "Xã A"),
            known("101", "Xã B"),
            known("102", "Xã C"),
            known("103", "Thị trấn D"),
        ]
    }

    #[test]
    fn merges_splits_renames_and_upgrades_are_told_apart() {
        let l = run(
            "100,Xã AB,xa,100,Xã A,,R1,k1,2025-07-01\n\
             100,Xã AB,xa,101,Xã B,,R1,k1,2025-07-01\n\
             200,Phường C,phuong,102,Xã C,,R1,k2,2025-07-01\n\
             300,Xã D1,xa,103,Thị trấn D,,R1,k3,2025-07-01\n\
             301,Xã D2,xa,103,Thị trấn D,,R1,k4,2025-07-01\n",
            &units(),
        )
        .unwrap();
        let kinds: Vec<(String, EventKind)> = l
            .events
            .iter()
            .map(|e| (e.new.code.clone(), e.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("100".into(), EventKind::Merge),
                ("200".into(), EventKind::Upgrade),
                ("300".into(), EventKind::Split),
                ("301".into(), EventKind::Split),
            ]
        );
        assert!(l.gaps.is_empty());
        assert_eq!(l.events[0].citation.article.as_deref(), Some("k1"));
        assert_eq!(
            l.events[0].eve(),
            NaiveDate::from_ymd_opt(2025, 6, 30).unwrap()
        );
    }

    #[test]
    fn a_new_unit_with_part_of_an_old_one_is_an_adjustment() {
        let l = run(
            "300,Xã X,xa,100,Xã A,,R,k,2025-07-01\n\
             300,Xã X,xa,101,Xã B,,R,k,2025-07-01\n\
             301,Xã Y,xa,101,Xã B,,R,k,2025-07-01\n",
            &units(),
        )
        .unwrap();
        assert_eq!(l.events[0].kind, EventKind::Adjust);
        assert_eq!(l.events[1].kind, EventKind::Split);
    }

    #[test]
    fn unknown_old_units_are_gaps_not_errors() {
        let l = run(
            "100,Xã AZ,xa,100,Xã A,,R,k,2025-07-01\n100,Xã AZ,xa,999,Xã Z,Huyện Q,R,k,2025-07-01\n",
            &units(),
        )
        .unwrap();
        assert_eq!(l.gaps.len(), 1);
        assert!(
            l.gaps[0].contains("999 'Xã Z', Huyện Q (line 3)"),
            "{:?}",
            l.gaps
        );
    }

    fn errors(body: &str, units: &[KnownUnit]) -> Vec<String> {
        run(body, units)
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn malformed_rows_are_each_named() {
        let e = errors(
            "100,Xã AB,xa,10x,Xã A,,R,k,2025-07-01\n\
             100,Xã AB,xa,101,Xã B,,R,k,1/7/2025\n\
             100,Xã AB,hamlet,102,Xã C,,R,k,2025-07-01\n\
             100,,xa,103,Thị trấn D,,,k,2025-07-01\n",
            &units(),
        );
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(
            e[0].starts_with("line 2: old_code '10x' is not a GSO code"),
            "{e:?}"
        );
        assert!(
            e[1].starts_with("line 3: effective '1/7/2025' is not a date"),
            "{e:?}"
        );
        assert!(e[2].contains("line 4: new_kind 'hamlet'"), "{e:?}");
        assert!(e[3].contains("new_name is empty; act is empty"), "{e:?}");
        let missing =
            read_lineage("new_code,new_name,old_code,old_name,act,article\n1,a,2,b,c,d\n")
                .unwrap_err();
        assert_eq!(missing[0].to_string(), "line 1: no column 'effective'");
    }

    #[test]
    fn duplicates_and_conflicting_names_are_refused() {
        let e = errors(
            "100,Xã AB,xa,100,Xã A,,R,k,2025-07-01\n\
             100,Xã AB,xa,100,Xã A,,R,k,2025-07-01\n\
             100,Xã Khác,xa,101,Xã B,,R,k,2025-07-01\n\
             200,Xã E,xa,101,Xã Bê,,R,k,2025-07-01\n",
            &units(),
        );
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].contains("line 3: old 100 → new 100 on 2025-07-01 repeats line 2"));
        assert!(e[1].contains(
            "line 4: new unit 100 on 2025-07-01 is 'Xã Khác' here but 'Xã AB' on line 2"
        ));
        assert!(e[2].contains("line 5: old unit 101 is 'Xã Bê' here but 'Xã B' on line 4"));
    }

    #[test]
    fn old_units_must_be_valid_on_the_eve_and_end_once() {
        let mut ended = units();
        ended[0].valid_to = NaiveDate::from_ymd_opt(2020, 1, 31);
        let e = errors("300,Xã X,xa,100,Xã A,,R,k,2025-07-01\n", &ended);
        assert_eq!(
            e,
            vec!["line 2: old unit 100 'Xã A' is not valid on 2025-06-30, the eve of the event (cuulong has 'Xã A' valid 2009-04-01 to 2020-01-31)"]
        );
        // Ending twice: merged in 2025, merged again in 2026.
        let e = errors(
            "300,Xã X,xa,100,Xã A,,R,k,2025-07-01\n400,Xã Y,xa,100,Xã A,,R,k,2026-01-01\n",
            &units(),
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("line 3: old unit 100 'Xã A' is not valid on 2025-12-31"),
            "{e:?}"
        );
    }

    #[test]
    fn a_code_still_held_cannot_begin_again() {
        let e = errors("101,Xã A mới,xa,100,Xã A,,R,k,2025-07-01\n", &units());
        assert_eq!(
            e,
            vec!["line 2: new unit 101 'Xã A mới' cannot begin on 2025-07-01: code 101 is still 'Xã B' then, and no event of that day ends it"]
        );
        // Reusing the code of a unit that ends that day is how the GSO codes the 2025 units.
        assert!(run(
            "101,Xã AB,xa,100,Xã A,,R,k,2025-07-01\n101,Xã AB,xa,101,Xã B,,R,k,2025-07-01\n",
            &units()
        )
        .is_ok());
    }

    #[test]
    fn a_unit_made_and_ended_the_same_day_is_a_cycle() {
        let e = errors(
            "300,Xã X,xa,100,Xã A,,R,k,2025-07-01\n301,Xã Y,xa,300,Xã X,,R,k,2025-07-01\n",
            &units(),
        );
        assert_eq!(
            e,
            vec!["line 3: unit 300 'Xã X' would begin and end on 2025-07-01 (made on line 2): the lineage runs in a cycle"]
        );
        // A later event may take it on: that is a chain, not a cycle.
        assert!(run(
            "300,Xã X,xa,100,Xã A,,R,k,2025-07-01\n301,Xã Y,xa,300,Xã X,,R,k,2026-01-01\n",
            &units()
        )
        .is_ok());
    }

    #[test]
    fn names_fold_without_diacritics_or_case() {
        assert_eq!(fold("  Thị trấn   Châu Thành "), "thi tran chau thanh");
        assert_eq!(fold("Đồng Khởi"), "dong khoi");
        assert_eq!(UnitKind::of_name("Phường An Hội"), Some(UnitKind::Phuong));
        assert_eq!(
            UnitKind::of_name("Thi tran Tiem Tom"),
            Some(UnitKind::ThiTran)
        );
    }

    #[test]
    fn reexpression_follows_lineage_then_overlap_and_keeps_totals() {
        use geo::Polygon;
        let square = |x: f64, w: f64| {
            MultiPolygon(vec![Polygon::new(
                vec![(x, 0.0), (x + w, 0.0), (x + w, 0.1), (x, 0.1), (x, 0.0)].into(),
                vec![],
            )])
        };
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let eff = d("2025-07-01").unwrap();
        let old = |code: &str, x: f64, successor: Option<&str>| TimedUnit {
            code: Some(code.into()),
            name: code.into(),
            valid_from: d("2009-04-01"),
            valid_to: d("2025-06-30"),
            geometry: square(x, 0.1),
            successors: successor
                .map(|s| {
                    vec![Successor {
                        code: s.into(),
                        effective: eff,
                        whole: true,
                    }]
                })
                .unwrap_or_default(),
        };
        let new = |code: &str, x: f64, w: f64| TimedUnit {
            code: Some(code.into()),
            name: code.into(),
            valid_from: Some(eff),
            valid_to: None,
            geometry: square(x, w),
            successors: vec![],
        };
        let units = vec![
            old("A", 0.0, Some("AB")),
            old("B", 0.1, Some("AB")),
            // No recorded successor: half in AB, half in C, by area.
            old("X", 0.15, None),
            // Outside every new unit.
            old("Z", 5.0, None),
            new("AB", 0.0, 0.2),
            new("C", 0.2, 0.1),
        ];
        let r = reexpress(
            &units,
            1,
            &[
                (0, vec![10.0]),
                (1, vec![20.0]),
                (2, vec![4.0]),
                (3, vec![1.0]),
            ],
            eff,
        );
        // Weighted by a land layer lying only in C's half of X: all of X's value goes to C.
        let rice = vec![square(0.2, 0.05)];
        let by_rice = land_measure(&rice);
        let w = reexpress_by(&units, 1, &[(2, vec![4.0])], eff, &by_rice);
        assert_eq!(w.rows.len(), 1, "{w:?}");
        assert_eq!(w.rows[0].0, 5);
        assert!((w.rows[0].1[0] - 4.0).abs() < 1e-9, "{w:?}");
        // Nothing to carry: an empty table, its columns kept.
        assert_eq!(reexpress(&units, 1, &[], eff).unplaced, vec![0.0]);
        let by: std::collections::HashMap<usize, f64> =
            r.rows.iter().map(|(i, v)| (*i, v[0])).collect();
        assert!((by[&4] - 32.0).abs() < 1e-5, "{r:?}");
        assert!((by[&5] - 2.0).abs() < 1e-5, "{r:?}");
        // Z, and the rounding of X's two geodesic halves against its whole.
        assert!((r.unplaced[0] - 1.0).abs() < 1e-5, "{r:?}");
        assert_eq!(
            r.carried,
            Carried {
                by_lineage: 2,
                by_overlay: 1,
                unplaced: 1
            }
        );
        let total: f64 = r.rows.iter().map(|(_, v)| v[0]).sum::<f64>() + r.unplaced[0];
        assert!((total - 35.0).abs() < 1e-9);
    }

    #[test]
    fn dissolving_neighbours_leaves_one_ring() {
        use geo::{Area, Polygon};
        let square = |x: f64| {
            MultiPolygon(vec![Polygon::new(
                vec![(x, 0.0), (x + 1.0, 0.0), (x + 1.0, 1.0), (x, 1.0), (x, 0.0)].into(),
                vec![],
            )])
        };
        let (a, b) = (square(0.0), square(1.0));
        let u = dissolve(&[&a, &b]);
        assert_eq!(u.0.len(), 1);
        assert!((u.unsigned_area() - 2.0).abs() < 1e-12);
        assert_eq!(
            u.0[0].exterior().0.len(),
            5,
            "the shared edge is gone: {u:?}"
        );
    }
}
