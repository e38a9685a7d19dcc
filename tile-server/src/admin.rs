//! Administrative units in time, read from the visible admin-family layers (as a lineage
//! import wrote them: every unit version with `valid_from`/`valid_to`, its predecessors or
//! successors and the legal citation):
//! - `GET /admin/lineage/{code}[?date=]`: every version of the unit with that code (codes are
//!   re-used across 1 July 2025), what it came from and what it became;
//! - `GET /admin/resolve?name=…[&district=…][&date=…][&at=…]`: an old address (with or without
//!   diacritics, in Unicode or as TCVN3 text read as Latin-1, with or without "Xã"/"X."
//!   prefixes) to the unit(s) valid at `at` (default today) it became.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::NaiveDate;
use cuulong_core::admin::fold;
use cuulong_core::feature::Value;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;

/// One unit version as the admin layers hold it.
#[derive(Debug, Clone)]
struct Unit {
    layer: String,
    code: Option<String>,
    name: String,
    level: String,
    parent_code: Option<String>,
    valid_from: Option<NaiveDate>,
    valid_to: Option<NaiveDate>,
    extra: serde_json::Map<String, serde_json::Value>,
    predecessors: Vec<serde_json::Value>,
    successors: Vec<serde_json::Value>,
}

impl Unit {
    /// Not replaced by a later record (an official boundary over a derived one).
    fn current(&self) -> bool {
        !self.extra.contains_key("recorded_to")
    }

    fn valid_on(&self, day: NaiveDate) -> bool {
        self.valid_from.is_none_or(|f| f <= day) && self.valid_to.is_none_or(|t| t >= day)
    }

    fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "layer": self.layer, "code": self.code, "name": self.name, "level": self.level,
            "parent_code": self.parent_code, "valid_from": self.valid_from, "valid_to": self.valid_to,
            "predecessors": self.predecessors, "successors": self.successors,
        });
        for (k, x) in &self.extra {
            v[k] = x.clone();
        }
        v
    }
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned).filter(|s| !s.is_empty())
}

/// Every unit of the admin layers the caller may see.
fn units(state: &AppState, caller: &cuulong_core::access::Caller) -> Vec<Unit> {
    let mut out = Vec::new();
    for served in state.visible(caller).values() {
        // Every period of the layer, and what later records replaced.
        let layer = state.history(served);
        let meta = layer.meta();
        if meta.family.as_deref() != Some("admin") {
            continue;
        }
        let s = &meta.schema;
        let (Some(code), Some(name), Some(level)) =
            (s.index_of("code"), s.index_of("name"), s.index_of("level"))
        else {
            continue;
        };
        let at = |n: &str| s.index_of(n);
        let (parent, from, to) = (at("parent_code"), at("valid_from"), at("valid_to"));
        let (pre, suc) = (at("predecessors"), at("successors"));
        let extras: Vec<(usize, &str)> = [
            "kind",
            "label",
            "status",
            "event",
            "citation",
            "recorded_at",
            "recorded_to",
        ]
        .into_iter()
        .filter_map(|n| at(n).map(|i| (i, n)))
        .collect();
        let list = |i: Option<usize>, values: &[Value]| -> Vec<serde_json::Value> {
            i.and_then(|i| text(&values[i]))
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default()
        };
        for f in layer.features() {
            let v = &f.values;
            let mut extra = serde_json::Map::new();
            for (i, n) in &extras {
                let x = match &v[*i] {
                    Value::DateTime(t) => serde_json::Value::String(t.to_rfc3339()),
                    other => match text(other) {
                        // The lineage's JSON columns (citation) stay JSON.
                        Some(t) => serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t)),
                        None => continue,
                    },
                };
                extra.insert((*n).to_owned(), x);
            }
            out.push(Unit {
                layer: meta.id.to_string(),
                code: text(&v[code]),
                name: text(&v[name]).unwrap_or_default(),
                level: text(&v[level]).unwrap_or_default(),
                parent_code: parent.and_then(|i| text(&v[i])),
                valid_from: from.and_then(|i| v[i].as_date()),
                valid_to: to.and_then(|i| v[i].as_date()),
                extra,
                predecessors: list(pre, v),
                successors: list(suc, v),
            });
        }
    }
    out
}

fn date_param(q: &HashMap<String, String>, name: &str) -> Result<Option<NaiveDate>, ApiError> {
    // Given empty (`?date=`, as forms send it) is not given.
    q.get(name)
        .filter(|s| !crate::http::is_blank(s))
        .map(|s| {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
                ApiError::BadRequest(format!(
                    "{name}: '{}' is not a date (YYYY-MM-DD)",
                    s.chars().take(32).collect::<String>()
                ))
            })
        })
        .transpose()
}

fn only_params(q: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    match q
        .keys()
        .find(|k| !allowed.contains(&k.as_str()) && *k != "key")
    {
        Some(k) => Err(ApiError::BadRequest(format!(
            "'{}': unknown parameter ({})",
            k.chars().take(32).collect::<String>(),
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

/// `GET /admin/lineage/{code}`.
pub async fn lineage(
    State(state): State<Arc<AppState>>,
    Path(code): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    Auth(caller): Auth,
) -> Result<Json<serde_json::Value>, ApiError> {
    only_params(&q, &["date"])?;
    if code.is_empty() || code.len() > 8 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::BadRequest(format!(
            "'{}' is not a GSO unit code (digits)",
            code.chars().take(16).collect::<String>()
        )));
    }
    let date = date_param(&q, "date")?;
    let all = units(&state, &caller);
    let mut versions: Vec<serde_json::Value> = all
        .iter()
        .filter(|u| u.code.as_deref() == Some(code.as_str()))
        .filter(|u| date.is_none_or(|d| u.valid_on(d)))
        .map(Unit::json)
        .collect();
    // Units a lineage names that have no boundary here: known only as predecessors.
    if versions.is_empty() || date.is_none() {
        for u in &all {
            for p in u.predecessors.iter().filter(|p| p["code"] == code.as_str()) {
                let already = versions.iter().any(|v| {
                    v["name"] == p["name"]
                        && v["code"] == code.as_str()
                        && v["valid_to"].is_string()
                });
                if already {
                    continue;
                }
                let effective = u.valid_from;
                if date.is_some_and(|d| effective.is_none_or(|e| d >= e)) {
                    continue;
                }
                versions.push(serde_json::json!({
                    "code": code, "name": p["name"], "district": p["district"],
                    "valid_to": effective.and_then(|e| e.pred_opt()),
                    "boundary": false,
                    "successors": [{
                        "code": u.code, "name": u.name, "event": u.extra.get("event"),
                        "whole": p["whole"], "citation": u.extra.get("citation"),
                    }],
                }));
            }
        }
    }
    if versions.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no administrative unit with code {code}{}",
            date.map(|d| format!(" on {d}")).unwrap_or_default()
        )));
    }
    versions.sort_by(|a, b| {
        a["valid_from"]
            .to_string()
            .cmp(&b["valid_from"].to_string())
    });
    Ok(Json(
        serde_json::json!({"code": code, "versions": versions}),
    ))
}

/// A name as typed, to compare: TCVN3 text read as Latin-1 decoded, the kind prefix dropped,
/// folded.
fn name_key(raw: &str) -> Vec<String> {
    let mut forms = vec![raw.to_owned()];
    let latin1 = raw.chars().all(|c| (c as u32) < 0x100);
    if latin1 && raw.chars().any(|c| (c as u32) >= 0x80) {
        let bytes: Vec<u8> = raw.chars().map(|c| c as u32 as u8).collect();
        forms.push(cuulong_core::tcvn3::decode(&bytes));
    }
    forms.iter().map(|f| strip_kind(&fold(f))).collect()
}

fn strip_kind(folded: &str) -> String {
    const PREFIXES: [&str; 12] = [
        "thi tran ",
        "tt. ",
        "tt.",
        "tt ",
        "phuong ",
        "p. ",
        "p.",
        "xa ",
        "x. ",
        "x.",
        "huyen ",
        "h. ",
    ];
    let mut s = folded.trim();
    for p in PREFIXES {
        if let Some(rest) = s.strip_prefix(p) {
            s = rest.trim();
            break;
        }
    }
    for p in ["thanh pho ", "tp. ", "tp.", "tp ", "thi xa "] {
        if let Some(rest) = s.strip_prefix(p) {
            s = rest.trim();
        }
    }
    s.to_owned()
}

/// `GET /admin/resolve`.
pub async fn resolve(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    Auth(caller): Auth,
) -> Result<Json<serde_json::Value>, ApiError> {
    only_params(&q, &["name", "district", "date", "at"])?;
    let raw = q
        .get("name")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest("name: required (an old commune name)".into()))?;
    if raw.chars().count() > 128 {
        return Err(ApiError::BadRequest("name: at most 128 characters".into()));
    }
    let district = q.get("district").map(|d| name_key(d));
    let date = date_param(&q, "date")?;
    let at = date_param(&q, "at")?.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let keys = name_key(raw);
    let all = units(&state, &caller);
    let districts: HashMap<&str, &str> = all
        .iter()
        .filter(|u| u.level == "district")
        .filter_map(|u| Some((u.code.as_deref()?, u.name.as_str())))
        .collect();
    let in_district = |u: &Unit| {
        let Some(wanted) = &district else {
            return true;
        };
        let named = u
            .parent_code
            .as_deref()
            .and_then(|c| districts.get(c))
            .map(|n| name_key(n))
            .unwrap_or_default();
        wanted.iter().any(|w| named.contains(w))
    };
    let matches: Vec<&Unit> = all
        .iter()
        .filter(|u| u.level == "commune" && u.current())
        .filter(|u| keys.contains(&strip_kind(&fold(&u.name))))
        .filter(|u| date.is_none_or(|d| u.valid_on(d)))
        .filter(|u| in_district(u))
        .collect();
    if matches.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no commune named '{}'{}{}",
            raw.chars().take(64).collect::<String>(),
            q.get("district")
                .map(|d| format!(" in '{}'", d.chars().take(64).collect::<String>()))
                .unwrap_or_default(),
            date.map(|d| format!(" on {d}")).unwrap_or_default()
        )));
    }
    let answers: Vec<serde_json::Value> = matches
        .iter()
        .map(|u| {
            let today = follow(&all, u, at);
            serde_json::json!({"unit": u.json(), "at": at, "becomes": today.iter().map(|t| t.json()).collect::<Vec<_>>()})
        })
        .collect();
    Ok(Json(serde_json::json!({
        "name": raw, "matches": answers.len(), "ambiguous": answers.len() > 1, "results": answers,
    })))
}

/// The units valid at `at` that `from` became, following successors (a unit still valid at
/// `at` is its own answer).
fn follow<'a>(all: &'a [Unit], from: &'a Unit, at: NaiveDate) -> Vec<&'a Unit> {
    let mut out = Vec::new();
    let mut frontier = vec![from];
    let mut steps = 0;
    while let Some(u) = frontier.pop() {
        steps += 1;
        if steps > 64 {
            break; // a lineage deeper than any real one: stop rather than loop
        }
        if u.valid_on(at) {
            if !out.iter().any(|o: &&Unit| std::ptr::eq(*o, u)) {
                out.push(u);
            }
            continue;
        }
        for s in &u.successors {
            let effective = s["citation"]["effective"]
                .as_str()
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
            let next = all.iter().find(|n| {
                n.current()
                    && n.code.as_deref() == s["code"].as_str()
                    && n.valid_from == effective
                    && effective.is_some()
            });
            if let Some(n) = next {
                frontier.push(n);
            }
        }
    }
    out
}

/// `GET /admin/reexpress?field=…&to=…[&from=…][&layer=…]`: a numeric attribute of the units
/// valid on `from` (default the day before `to`) re-expressed in the units valid on `to` —
/// by lineage where one is recorded, by the share of area each new unit covers otherwise;
/// totals kept, the part no new unit covers reported as unplaced.
pub async fn reexpress(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    Auth(caller): Auth,
) -> Result<Json<serde_json::Value>, ApiError> {
    only_params(
        &q,
        &[
            "field",
            "from",
            "to",
            "layer",
            "weight_layer",
            "weight_class",
        ],
    )?;
    let to = date_param(&q, "to")?
        .ok_or_else(|| ApiError::BadRequest("to: required (the day whose units to use)".into()))?;
    let from = date_param(&q, "from")?
        .or_else(|| to.pred_opt())
        .unwrap_or(to);
    if to < from {
        return Err(ApiError::BadRequest(format!(
            "to: {to} is before from {from}: re-expression runs forward in time"
        )));
    }
    let layer_id = q.get("layer").map_or("admin_communes", String::as_str);
    let layer = state.whole(&state.collection(&caller, layer_id, "admin/reexpress")?);
    let field = q
        .get("field")
        .ok_or_else(|| ApiError::BadRequest("field: required (a numeric attribute)".into()))?
        .clone();
    // Shares by overlap weighted by a layer's land (of one class), else by plain area.
    let weights = match q.get("weight_layer") {
        Some(w) => {
            let source = state.collection(&caller, w, "admin/reexpress")?;
            let wm = source.meta();
            let class = match q.get("weight_class") {
                Some(c) => Some((
                    cuulong_core::family::class_field(wm.family.as_deref())
                        .and_then(|f| wm.schema.index_of(f))
                        .ok_or_else(|| {
                            ApiError::BadRequest(format!(
                                "weight_class: layer '{}' has no class field",
                                wm.id
                            ))
                        })?,
                    c.clone(),
                )),
                None => None,
            };
            Some((source, class))
        }
        None if q.contains_key("weight_class") => {
            return Err(ApiError::BadRequest(
                "weight_class: needs weight_layer".into(),
            ))
        }
        None => None,
    };
    let meta = layer.meta().clone();
    let column = meta
        .schema
        .index_of(&field)
        .filter(|&i| {
            matches!(
                meta.schema.fields[i].kind,
                cuulong_core::FieldType::Int | cuulong_core::FieldType::Float
            )
        })
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "field: '{}' is not a numeric attribute of '{layer_id}'",
                field.chars().take(64).collect::<String>()
            ))
        })?;
    // Intersections of boundaries: CPU work, off the async workers.
    state
        .work
        .run(move |interrupt| {
            let mut units = Vec::new();
            let mut values = Vec::new();
            for (n, f) in layer.features().enumerate() {
                if n % 64 == 0 {
                    interrupt.check()?;
                }
                let lonlat = cuulong_core::tile::geometry_to_lonlat(&f.geometry);
                let unit = cuulong_core::admin::TimedUnit::from_feature(&meta.schema, &f.values, &lonlat);
                if unit.valid_on(from) {
                    let v = match &f.values[column] {
                        Value::Int(i) => *i as f64,
                        Value::Float(x) => *x,
                        _ => 0.0,
                    };
                    values.push((units.len(), vec![v]));
                }
                units.push(unit);
            }
            let land: Option<Vec<geo::MultiPolygon<f64>>> = weights.map(|(source, class)| {
                source
                    .features()
                    .filter(|f| class.as_ref().is_none_or(|(i, c)| f.values[*i].as_str() == Some(c.as_str())))
                    .filter_map(|f| match cuulong_core::tile::geometry_to_lonlat(&f.geometry) {
                        geo::Geometry::Polygon(p) => Some(geo::MultiPolygon(vec![p])),
                        geo::Geometry::MultiPolygon(m) => Some(m),
                        _ => None,
                    })
                    .collect()
            });
            interrupt.check()?;
            // Every overlap goes through the measure: once the client has gone (or the
            // deadline passed) it measures nothing, so the work ends with the request.
            let by_land = land.as_deref().map(cuulong_core::admin::land_measure);
            let measure = |m: &geo::MultiPolygon<f64>| {
                if interrupt.is_cancelled() {
                    return 0.0;
                }
                match &by_land {
                    Some(f) => f(m),
                    None => cuulong_core::admin::area_measure(m),
                }
            };
            let r = cuulong_core::admin::reexpress_by(&units, 1, &values, to, &measure);
            interrupt.check()?;
            let total_in: f64 = values.iter().map(|(_, v)| v[0]).sum();
            let rows: Vec<serde_json::Value> = r
                .rows
                .iter()
                .map(|(i, v)| serde_json::json!({"code": units[*i].code, "name": units[*i].name, "value": v[0]}))
                .collect();
            Ok(Json(serde_json::json!({
                "layer": meta.id.to_string(), "field": field, "from": from, "to": to,
                "total_in": total_in, "unplaced": r.unplaced[0], "carried": r.carried, "units": rows,
            })))
        })
        .await
}
