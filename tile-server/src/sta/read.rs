//! `GET /sta/v1.1/...`: resource paths (`Things(1)/Datastreams`, `Observations(5)/result/$value`,
//! `Datastreams/$ref`), and the query options on them. The work runs off the async threads,
//! stops when its client leaves, and is bounded in entities per response.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use cuulong_core::access::Caller;
use cuulong_core::interrupt::Interrupt;
use cuulong_core::sta::filter::{Expr, Val};
use cuulong_core::sta::options::{Expand, QueryOptions, DEFAULT_TOP};
use serde_json::{json, Map, Value};

use super::entity::{Ctx, Ent, Kind, KINDS};
use super::{MAX_ENTITIES, MAX_TOP, PREFIX};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;

/// The conformance classes served (STA v1.1 Annex A).
const CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/create-observations-via-mqtt/observations-creation",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/create-update-delete/create-entity",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/data-array/data-array",
];

pub async fn root(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let base = crate::http::base_url(state.public_url.as_deref(), &headers);
    let value: Vec<Value> = KINDS
        .iter()
        .map(|k| json!({"name": k.set(), "url": format!("{base}{PREFIX}/{}", k.set())}))
        .collect();
    // Writing observations over MQTT is not served yet: the class is not claimed.
    let conformance: Vec<&str> = CONFORMANCE
        .iter()
        .copied()
        .filter(|c| !c.contains("mqtt"))
        .collect();
    json_response(&json!({"value": value, "serverSettings": {"conformance": conformance}}))
}

fn json_response(v: &Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(v).unwrap_or_default(),
    )
        .into_response()
}

fn not_found(what: &str) -> ApiError {
    ApiError::NotFound(format!("{PREFIX}/{what}: no such entity or property"))
}

/// What a resource path names.
enum Resource {
    Collection(Kind, Vec<Ent>),
    Entity(Ent),
    Property(Ent, String, bool),
    Refs(Vec<Ent>),
    Ref(Ent),
}

/// `Name` or `Name(id)`.
fn segment(seg: &str) -> Result<(&str, Option<i64>), ApiError> {
    match seg.find('(') {
        None => Ok((seg, None)),
        Some(open) => {
            let id = seg[open + 1..]
                .strip_suffix(')')
                .map(|s| s.trim_matches('\''))
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "'{}': an entity id is an integer in parentheses",
                        seg.chars().take(60).collect::<String>()
                    ))
                })?;
            Ok((&seg[..open], Some(id)))
        }
    }
}

fn resolve_path(ctx: &Ctx, path: &str) -> Result<Resource, ApiError> {
    let mut segs = path.split('/').filter(|s| !s.is_empty());
    let first = segs.next().ok_or_else(|| not_found(path))?;
    let (name, id) = segment(first)?;
    let kind = Kind::from_set(name).ok_or_else(|| not_found(path))?;
    let mut res = match id {
        Some(id) => Resource::Entity(ctx.find(kind, id).ok_or_else(|| not_found(path))?),
        None => Resource::Collection(kind, ctx.all(kind)),
    };
    for seg in segs {
        res = match res {
            Resource::Entity(e) if seg == "$ref" => Resource::Ref(e),
            Resource::Collection(_, members) if seg == "$ref" => Resource::Refs(members),
            Resource::Collection(kind, members) => {
                // `Things(1)/Datastreams(3)`: one member of a navigated collection.
                let (name, id) = segment(seg)?;
                let id = id
                    .filter(|_| name.is_empty())
                    .ok_or_else(|| not_found(path))?;
                let _ = kind;
                Resource::Entity(
                    members
                        .into_iter()
                        .find(|e| e.id() == id)
                        .ok_or_else(|| not_found(path))?,
                )
            }
            Resource::Entity(e) => {
                let (name, id) = segment(seg)?;
                if let Some((_, target, many)) =
                    e.kind().navigation().iter().find(|(n, _, _)| *n == name)
                {
                    let members = ctx.navigate(&e, name);
                    match (many, id) {
                        (true, None) => Resource::Collection(*target, members),
                        (true, Some(id)) => Resource::Entity(
                            members
                                .into_iter()
                                .find(|m| m.id() == id)
                                .ok_or_else(|| not_found(path))?,
                        ),
                        (false, None) => Resource::Entity(
                            members.into_iter().next().ok_or_else(|| not_found(path))?,
                        ),
                        (false, Some(_)) => return Err(not_found(path)),
                    }
                } else if id.is_none() && e.kind().properties().contains(&name) {
                    Resource::Property(e, name.to_owned(), false)
                } else {
                    return Err(not_found(path));
                }
            }
            Resource::Property(e, p, false) if seg == "$value" => Resource::Property(e, p, true),
            _ => return Err(not_found(path)),
        };
    }
    Ok(res)
}

/// Checks every path of a filter or ordering against the entity type it runs on, so a typo is
/// a 400 and not an empty answer.
fn check_paths(kind: Kind, expr: &Expr, option: &str) -> Result<(), ApiError> {
    let mut paths = Vec::new();
    expr.paths(&mut paths);
    for p in paths {
        let mut k = kind;
        for (i, seg) in p.iter().enumerate() {
            if let Some((_, target, many)) = k.navigation().iter().find(|(n, _, _)| n == seg) {
                if *many {
                    return Err(ApiError::BadRequest(format!(
                        "{option}: '{seg}' leads to many {}; filter through a to-one path",
                        target.set()
                    )));
                }
                k = *target;
                continue;
            }
            if !k.properties().contains(&seg.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "{option}: {} has no property '{}'",
                    k.set(),
                    seg.chars().take(60).collect::<String>()
                )));
            }
            // Below a property: JSON members (`properties/river`, `unitOfMeasurement/symbol`).
            let _ = i;
            break;
        }
    }
    Ok(())
}

fn check_options(kind: Kind, o: &QueryOptions) -> Result<(), ApiError> {
    if let Some(f) = &o.filter {
        check_paths(kind, f, "$filter")?;
    }
    for ord in &o.orderby {
        check_paths(kind, &ord.by, "$orderby")?;
    }
    if let Some(sel) = &o.select {
        let navs = kind.navigation();
        if let Some(bad) = sel.iter().find(|s| {
            !kind.properties().contains(&s.as_str()) && !navs.iter().any(|(n, _, _)| n == *s)
        }) {
            return Err(ApiError::BadRequest(format!(
                "$select: {} has no property '{bad}'",
                kind.set()
            )));
        }
    }
    for e in &o.expand {
        let mut k = kind;
        for seg in &e.path {
            let (_, target, _) = k
                .navigation()
                .iter()
                .find(|(n, _, _)| n == seg)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "$expand: {} has no navigation property '{seg}'",
                        k.set()
                    ))
                })?;
            k = *target;
        }
        check_options(k, &e.options)?;
    }
    if o.data_array && kind != Kind::Observation {
        return Err(ApiError::BadRequest(
            "$resultFormat=dataArray: only for Observations".into(),
        ));
    }
    Ok(())
}

/// The running count of entities written into one response.
struct Budget<'a> {
    written: usize,
    interrupt: &'a Interrupt,
}

impl Budget<'_> {
    fn take(&mut self, n: usize) -> Result<(), ApiError> {
        self.written += n;
        if self.written > MAX_ENTITIES {
            return Err(ApiError::BadRequest(format!(
                "the response would hold more than {MAX_ENTITIES} entities; lower $top or $expand less"
            )));
        }
        self.interrupt
            .check()
            .map_err(|e| ApiError::Work(crate::work::WorkError::Interrupted(e)))
    }
}

fn compare_vals(a: &Val, b: &Val) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    let rank = |v: &Val| match v {
        Val::Null => 0,
        _ => 1,
    };
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => x.partial_cmp(y).unwrap_or(Equal),
        (Val::Time(x), Val::Time(y)) => x.cmp(y),
        (Val::Str(x), Val::Str(y)) => x.cmp(y),
        (Val::Bool(x), Val::Bool(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Filters, counts, orders and pages a collection: the page, the count (if asked) and whether
/// more follow.
fn select_page(
    ctx: &Ctx,
    mut members: Vec<Ent>,
    o: &QueryOptions,
    budget: &mut Budget,
) -> Result<(Vec<Ent>, Option<usize>, bool), ApiError> {
    if let Some(f) = &o.filter {
        let mut kept = Vec::new();
        for (i, e) in members.into_iter().enumerate() {
            if i % 4096 == 0 {
                budget.take(0)?;
            }
            if f.matches(&|p: &[String]| ctx.resolve(&e, p)) {
                kept.push(e);
            }
        }
        members = kept;
    }
    let count = o.count.then_some(members.len());
    if !o.orderby.is_empty() {
        let mut keyed: Vec<(Vec<Val>, Ent)> = members
            .into_iter()
            .map(|e| {
                let keys = o
                    .orderby
                    .iter()
                    .map(|ord| ord.by.eval(&|p: &[String]| ctx.resolve(&e, p), 0))
                    .collect();
                (keys, e)
            })
            .collect();
        budget.take(0)?;
        keyed.sort_by(|(a, ea), (b, eb)| {
            for (i, ord) in o.orderby.iter().enumerate() {
                let c = compare_vals(&a[i], &b[i]);
                let c = if ord.descending { c.reverse() } else { c };
                if c.is_ne() {
                    return c;
                }
            }
            ea.id().cmp(&eb.id())
        });
        members = keyed.into_iter().map(|(_, e)| e).collect();
    } else {
        members.sort_by_key(Ent::id);
    }
    let top = o.top.unwrap_or(DEFAULT_TOP);
    let more = members.len() > o.skip.saturating_add(top);
    let page: Vec<Ent> = members.into_iter().skip(o.skip).take(top).collect();
    budget.take(page.len())?;
    Ok((page, count, more))
}

/// `A/B(opts)` becomes `A($expand=B(opts))`, and expands of the same first step are merged.
fn normalise(expands: &[Expand]) -> Vec<Expand> {
    let mut out: Vec<Expand> = Vec::new();
    for e in expands {
        let (first, nested) = if e.path.len() > 1 {
            (
                Expand {
                    path: vec![e.path[0].clone()],
                    options: QueryOptions::default(),
                },
                Some(Expand {
                    path: e.path[1..].to_vec(),
                    options: e.options.clone(),
                }),
            )
        } else {
            (e.clone(), None)
        };
        match out.iter_mut().find(|x| x.path == first.path) {
            Some(x) => {
                if nested.is_none() {
                    let kept = std::mem::take(&mut x.options.expand);
                    x.options = first.options;
                    x.options.expand.extend(kept);
                }
                x.options.expand.extend(nested);
            }
            None => {
                let mut f = first;
                f.options.expand.extend(nested);
                out.push(f);
            }
        }
    }
    out
}

fn entity_json(
    ctx: &Ctx,
    e: &Ent,
    o: &QueryOptions,
    budget: &mut Budget,
) -> Result<Map<String, Value>, ApiError> {
    let mut m = ctx.json(e, o.select.as_deref());
    for x in normalise(&o.expand) {
        let nav = &x.path[0];
        let Some((_, _, many)) = e.kind().navigation().iter().find(|(n, _, _)| n == nav) else {
            continue;
        };
        let related = ctx.navigate(e, nav);
        if *many {
            let (page, count, more) = select_page(ctx, related, &x.options, budget)?;
            let items = page
                .iter()
                .map(|r| entity_json(ctx, r, &x.options, budget).map(Value::Object))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(n) = count {
                m.insert(format!("{nav}@iot.count"), json!(n));
            }
            if more {
                let top = x.options.top.unwrap_or(DEFAULT_TOP);
                m.insert(
                    format!("{nav}@iot.nextLink"),
                    json!(format!(
                        "{}/{nav}?$top={top}&$skip={}",
                        ctx.self_link(e),
                        x.options.skip + top
                    )),
                );
            }
            m.insert(nav.clone(), Value::Array(items));
        } else if let Some(r) = related.first() {
            budget.take(1)?;
            m.insert(
                nav.clone(),
                Value::Object(entity_json(ctx, r, &x.options, budget)?),
            );
        }
    }
    Ok(m)
}

/// The request URL with `$skip` moved on a page, for `@iot.nextLink`.
fn next_link(base: &str, uri: &Uri, pairs: &[(String, String)], skip: usize) -> String {
    let mut q: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "$skip" && k != "key")
        .cloned()
        .collect();
    q.push(("$skip".into(), skip.to_string()));
    let query: Vec<String> = q
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                crate::http::urlencode(k),
                crate::http::urlencode(v)
            )
        })
        .collect();
    format!("{base}{}?{}", uri.path(), query.join("&"))
}

/// `@iot.count` (when asked) and `@iot.nextLink` (when more follow) of a collection page.
fn page_header(
    count: Option<usize>,
    more: bool,
    next: impl FnOnce() -> String,
) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(n) = count {
        out.insert("@iot.count".into(), json!(n));
    }
    if more {
        out.insert("@iot.nextLink".into(), json!(next()));
    }
    out
}

fn data_array(ctx: &Ctx, page: &[Ent], select: Option<&[String]>) -> Value {
    let components: Vec<String> = match select {
        Some(s) => s.to_vec(),
        None => vec!["id".into(), "phenomenonTime".into(), "result".into()],
    };
    let mut groups: Vec<(u32, Vec<Value>)> = Vec::new();
    for e in page {
        let Ent::Observation(o) = e else { continue };
        let row: Vec<Value> = components
            .iter()
            .map(|c| match c.as_str() {
                "id" => json!(o.id()),
                "phenomenonTime" | "resultTime" => json!(cuulong_core::sta::iso_time(o.time_ms)),
                "result" => json!(o.result),
                "resultQuality" => json!(o.quality.as_str()),
                _ => Value::Null,
            })
            .collect();
        match groups.iter_mut().find(|(d, _)| *d == o.datastream) {
            Some((_, rows)) => rows.push(Value::Array(row)),
            None => groups.push((o.datastream, vec![Value::Array(row)])),
        }
    }
    let value: Vec<Value> = groups
        .into_iter()
        .map(|(ds, rows)| {
            json!({
                "Datastream@iot.navigationLink": format!("{}{PREFIX}/Datastreams({ds})", ctx.base),
                "components": components.iter().map(|c| if c == "id" { "id" } else { c.as_str() }).collect::<Vec<_>>(),
                "dataArray@iot.count": rows.len(),
                "dataArray": rows,
            })
        })
        .collect();
    json!(value)
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
    headers: HeaderMap,
    uri: Uri,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = axum::extract::Query::try_from_uri(&uri)
        .map(|axum::extract::Query(p)| p)
        .map_err(|e| ApiError::BadRequest(format!("query string: {}", e.body_text())))?;
    let options = QueryOptions::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), MAX_TOP)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let base = crate::http::base_url(state.public_url.as_deref(), &headers);
    let job_state = state.clone();
    state
        .work
        .run(move |interrupt| {
            read_resource(
                &job_state, &caller, &base, &uri, &pairs, &path, &options, interrupt,
            )
        })
        .await
}

#[allow(clippy::too_many_arguments)]
fn read_resource(
    state: &AppState,
    caller: &Caller,
    base: &str,
    uri: &Uri,
    pairs: &[(String, String)],
    path: &str,
    options: &QueryOptions,
    interrupt: &Interrupt,
) -> Result<Response, ApiError> {
    let catalog = state.observations.catalog.load_full();
    let ctx = Ctx {
        catalog: &catalog,
        caller,
        base,
        observations: &state.observations,
    };
    let mut budget = Budget {
        written: 0,
        interrupt,
    };
    // The link to the page after this one (a collection's or its refs').
    let next_page = || {
        next_link(
            base,
            uri,
            pairs,
            options.skip + options.top.unwrap_or(DEFAULT_TOP),
        )
    };
    match resolve_path(&ctx, path)? {
        Resource::Collection(kind, members) => {
            check_options(kind, options)?;
            let (page, count, more) = select_page(&ctx, members, options, &mut budget)?;
            let mut out = page_header(count, more, next_page);
            if kind == Kind::Observation && options.expand.is_empty() && !options.data_array {
                // Pages of readings are written as text: no tree of values for 35 040 of them.
                let mut text = String::with_capacity(64 + page.len() * 180);
                text.push('{');
                for (k, v) in &out {
                    text.push_str(&serde_json::to_string(k).unwrap_or_default());
                    text.push(':');
                    text.push_str(&v.to_string());
                    text.push(',');
                }
                text.push_str("\"value\":[");
                for (i, e) in page.iter().enumerate() {
                    if let Ent::Observation(o) = e {
                        if i > 0 {
                            text.push(',');
                        }
                        ctx.write_observation(&mut text, o, options.select.as_deref());
                    }
                }
                text.push_str("]}");
                return Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response());
            }
            let value = if options.data_array {
                data_array(&ctx, &page, options.select.as_deref())
            } else {
                Value::Array(
                    page.iter()
                        .map(|e| entity_json(&ctx, e, options, &mut budget).map(Value::Object))
                        .collect::<Result<_, _>>()?,
                )
            };
            out.insert("value".into(), value);
            Ok(json_response(&Value::Object(out)))
        }
        Resource::Entity(e) => {
            check_options(e.kind(), options)?;
            Ok(json_response(&Value::Object(entity_json(
                &ctx,
                &e,
                options,
                &mut budget,
            )?)))
        }
        Resource::Property(e, name, raw) => {
            let v = ctx.properties(&e).remove(&name).unwrap_or(Value::Null);
            if raw {
                let text = match &v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                return Ok(
                    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response(),
                );
            }
            Ok(json_response(&json!({ name: v })))
        }
        Resource::Refs(members) => {
            let (page, count, more) = select_page(&ctx, members, options, &mut budget)?;
            let mut out = page_header(count, more, next_page);
            let value: Vec<Value> = page
                .iter()
                .map(|e| json!({"@iot.selfLink": ctx.self_link(e)}))
                .collect();
            out.insert("value".into(), Value::Array(value));
            Ok(json_response(&Value::Object(out)))
        }
        Resource::Ref(e) => Ok(json_response(&json!({"@iot.selfLink": ctx.self_link(&e)}))),
    }
}
