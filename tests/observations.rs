//! Observations through the SensorThings API v1.1 on both stores: the network set up and
//! simulated by the CLI, every entity set and navigation path, every query option, writes with
//! scoped keys (idempotent re-sends, refused readings with reasons), restricted datastreams
//! invisible on every endpoint, live layers and observation events, hostile options, FROST's
//! and stapy's Python clients, CSV import, and SIGKILL during ingest losing nothing that was
//! acknowledged.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

/// Percent-encodes what a request line cannot carry (spaces, quotes, non-ASCII).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b' ' => "%20".to_owned(),
            b'\'' => "%27".to_owned(),
            b'"' => "%22".to_owned(),
            b'#' => "%23".to_owned(),
            b if b.is_ascii() && !b.is_ascii_control() => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn get_json(server: &Server, path: &str, key: Option<&str>) -> (u16, Value) {
    get_json_as(server, &enc(path), key)
}

#[track_caller]
fn ok_json(server: &Server, path: &str, key: Option<&str>) -> Value {
    let (status, v) = get_json(server, path, key);
    assert_eq!(status, 200, "{path}: {v}");
    v
}

fn post(
    server: &Server,
    path: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Vec<(String, String)>, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let len = bytes.len().to_string();
    let auth = key.map(|k| format!("Bearer {k}"));
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("Content-Length", len.as_str()),
    ];
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    let (status, h, b) = http_request(server.port, "POST", path, &headers, &bytes).expect("POST");
    let v =
        serde_json::from_slice(&b).unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&b)}));
    (status, h, v)
}

fn key(store: &[String], name: &str, agency: &str, extra: &[&str]) -> String {
    create_key(store, name, agency, extra)
}

fn setup(store: &[String], days: &str) {
    ok(run(cuulong().args(store).args(["observations", "setup"])));
    ok(run(cuulong().args(store).args([
        "observations",
        "simulate",
        "--days",
        days,
        "--seed",
        "7",
    ])));
}

/// The id of a station's datastream of a property, by the API.
fn datastream(server: &Server, key: Option<&str>, station: &str, property: &str) -> i64 {
    let v = ok_json(
        server,
        &format!(
            "/sta/v1.1/Datastreams?$filter=properties/station eq '{station}' and properties/observedProperty eq '{property}'&$select=id"
        ),
        key,
    );
    v["value"][0]["@iot.id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no datastream {station}/{property}: {v}"))
}

fn count(server: &Server, path: &str, key: Option<&str>) -> i64 {
    let sep = if path.contains('?') { '&' } else { '?' };
    let v = ok_json(server, &format!("{path}{sep}$count=true&$top=0"), key);
    v["@iot.count"]
        .as_i64()
        .unwrap_or_else(|| panic!("{path}: no count: {v}"))
}

/// Every page of a collection, following @iot.nextLink.
fn all_pages(server: &Server, first: &str, key: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut path = first.to_owned();
    let prefix = server.url("");
    for _ in 0..10_000 {
        let v = ok_json(server, &path, key);
        out.extend(v["value"].as_array().unwrap().iter().cloned());
        match v["@iot.nextLink"].as_str() {
            Some(next) => {
                path = next
                    .strip_prefix(&prefix)
                    .expect("nextLink on this server")
                    .to_owned()
            }
            None => return out,
        }
    }
    panic!("paging did not end");
}

const OWNER: &str = "Sở Tài nguyên và Môi trường";

#[test]
fn sensorthings_reads_writes_and_access_on_both_stores() {
    let db = TestDb::create("sta_api");
    let dir = tempfile::tempdir().unwrap();
    for (label, store) in stores(db.as_ref(), dir.path()) {
        setup(&store, "3");
        let writer = key(
            &store,
            "logger",
            "Đài KTTV",
            &["--scope", "observations:write"],
        );
        let reader = key(&store, "viewer", "Sở GTVT", &[]);
        let owner = key(&store, "tnmt", OWNER, &["--scope", "observations:write"]);
        let server = Server::start(&store, &[]);
        let s = &server;

        // The service root lists the eight entity sets; conformance is declared.
        let root = ok_json(s, "/sta/v1.1", None);
        let sets: BTreeSet<&str> = root["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(sets.len(), 8, "{label}: {root}");
        assert!(
            root["serverSettings"]["conformance"]
                .as_array()
                .unwrap()
                .len()
                >= 3
        );

        // What the anonymous caller sees: 10 of the 11 stations (the discharge station is
        // restricted), 18 of the 21 datastreams; the owner agency sees all.
        assert_eq!(count(s, "/sta/v1.1/Things", None), 10, "{label}");
        assert_eq!(count(s, "/sta/v1.1/Things", Some(&owner)), 11, "{label}");
        assert_eq!(count(s, "/sta/v1.1/Datastreams", None), 18, "{label}");
        assert_eq!(
            count(s, "/sta/v1.1/Datastreams", Some(&reader)),
            18,
            "{label}"
        );
        assert_eq!(
            count(s, "/sta/v1.1/Datastreams", Some(&owner)),
            21,
            "{label}"
        );
        for set in ["Locations", "HistoricalLocations", "FeaturesOfInterest"] {
            assert_eq!(
                count(s, &format!("/sta/v1.1/{set}"), None),
                10,
                "{label} {set}"
            );
        }
        assert_eq!(count(s, "/sta/v1.1/ObservedProperties", None), 7);
        assert_eq!(count(s, "/sta/v1.1/Sensors", None), 7);

        // Navigation.
        let salinity = datastream(s, None, "BT03", "salinity");
        let thing = ok_json(s, &format!("/sta/v1.1/Datastreams({salinity})/Thing"), None);
        assert_eq!(thing["name"], "An Thuận", "{label}");
        let thing_id = thing["@iot.id"].as_i64().unwrap();
        assert_eq!(
            count(
                s,
                &format!("/sta/v1.1/Things({thing_id})/Datastreams"),
                None
            ),
            2
        );
        let loc = ok_json(
            s,
            &format!("/sta/v1.1/Things({thing_id})/Locations({thing_id})"),
            None,
        );
        assert_eq!(loc["location"]["coordinates"], json!([106.605, 9.976]));
        assert_eq!(
            ok_json(s, &format!("/sta/v1.1/Locations({thing_id})/Things"), None)["value"][0]
                ["name"],
            "An Thuận"
        );
        let op = ok_json(
            s,
            &format!("/sta/v1.1/Datastreams({salinity})/ObservedProperty"),
            None,
        );
        assert_eq!(op["properties"]["code"], "salinity");
        assert!(op["properties"]["limits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["code"] == "lua" && l["limit"] == 2.0));
        let sensor = ok_json(
            s,
            &format!("/sta/v1.1/Datastreams({salinity})/Sensor"),
            None,
        );
        assert!(sensor["name"].as_str().unwrap().contains("độ mặn"));
        let unit = ok_json(
            s,
            &format!("/sta/v1.1/Datastreams({salinity})/unitOfMeasurement"),
            None,
        );
        assert_eq!(unit["unitOfMeasurement"]["symbol"], "‰");
        let (_, _, raw) = s
            .get(
                &enc(&format!("/sta/v1.1/Things({thing_id})/name/$value")),
                &[],
            )
            .unwrap();
        assert_eq!(String::from_utf8(raw).unwrap(), "An Thuận");
        let refs = ok_json(s, "/sta/v1.1/Things/$ref?$top=2", None);
        assert_eq!(
            refs["value"][0]["@iot.selfLink"],
            server.url("/sta/v1.1/Things(1)")
        );

        // $count, $filter (its complement counts the rest), $orderby, $top/$skip/nextLink.
        let obs_path = format!("/sta/v1.1/Datastreams({salinity})/Observations");
        let total = count(s, &obs_path, None);
        assert!(
            total > 200,
            "{label}: 3 days of 15-minute readings: {total}"
        );
        let high = count(s, &format!("{obs_path}?$filter=result gt 10"), None);
        let low = count(s, &format!("{obs_path}?$filter=not (result gt 10)"), None);
        assert_eq!(high + low, total, "{label}");
        assert!(
            high > 0 && low > 0,
            "{label}: the tide crosses 10‰ ({high}/{low})"
        );
        let pages = all_pages(
            s,
            &format!("{obs_path}?$top=97&$select=id,phenomenonTime"),
            None,
        );
        assert_eq!(
            pages.len() as i64,
            total,
            "{label}: paging returns every reading once"
        );
        let times: Vec<&str> = pages
            .iter()
            .map(|o| o["phenomenonTime"].as_str().unwrap())
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] < w[1]),
            "{label}: by id = by time"
        );
        assert!(
            pages.iter().all(|o| o.as_object().unwrap().len() == 2),
            "$select keeps only what it names"
        );
        let top = ok_json(s, &format!("{obs_path}?$orderby=result desc&$top=3"), None);
        let max = ok_json(
            s,
            &format!("{obs_path}?$orderby=result asc&$skip={}&$top=1", total - 1),
            None,
        );
        assert_eq!(
            top["value"][0]["result"], max["value"][0]["result"],
            "{label}"
        );
        let r: Vec<f64> = top["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["result"].as_f64().unwrap())
            .collect();
        assert!(r.windows(2).all(|w| w[0] >= w[1]));

        // Functions: arithmetic, time, string, spatial, navigation paths.
        assert_eq!(
            count(s, &format!("{obs_path}?$filter=result mul 2 gt 20"), None),
            high
        );
        let day = times[times.len() / 2][..10].to_owned();
        let that_day = count(
            s,
            &format!("{obs_path}?$filter=date(phenomenonTime) eq '{day}'"),
            None,
        );
        assert!(
            (60..=96).contains(&that_day),
            "{label}: {day} holds a day of readings: {that_day}"
        );
        let y: i64 = day[..4].parse().unwrap();
        assert_eq!(
            count(
                s,
                &format!(
                    "{obs_path}?$filter=year(phenomenonTime) eq {y} and hour(phenomenonTime) lt 24"
                ),
                None
            ),
            count(
                s,
                &format!("{obs_path}?$filter=year(phenomenonTime) eq {y}"),
                None
            )
        );
        assert_eq!(
            count(
                s,
                "/sta/v1.1/Things?$filter=properties/river eq 'Hàm Luông'",
                None
            ),
            4
        );
        assert_eq!(
            count(
                s,
                "/sta/v1.1/Things?$filter=startswith(name, 'Bến') or substringof('Thuận', name)",
                None
            ),
            3
        );
        assert_eq!(count(s, "/sta/v1.1/Things?$filter=length(properties/code) eq 4 and toupper(properties/code) eq properties/code", None), 10);
        let box_filter = "st_within(location, geography'POLYGON((106.2 9.9, 106.5 9.9, 106.5 10.1, 106.2 10.1, 106.2 9.9))')";
        let inside = ok_json(
            s,
            &format!("/sta/v1.1/Locations?$filter={box_filter}"),
            None,
        );
        let names: BTreeSet<&str> = inside["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            BTreeSet::from(["Sơn Đốc", "Hương Mỹ", "Khánh Thạnh Tân"]),
            "{label}"
        );
        assert_eq!(
            count(s, "/sta/v1.1/Observations?$filter=Datastream/Thing/properties/code eq 'BT03' and Datastream/ObservedProperty/properties/code eq 'salinity'", None),
            total
        );
        let near = count(s, "/sta/v1.1/Locations?$filter=geo.distance(location, geography'POINT(106.605 9.976)') lt 0.01", None);
        assert_eq!(near, 1);

        // $expand, nested, with options at each level.
        let e = ok_json(s, &format!(
            "/sta/v1.1/Things({thing_id})?$expand=Datastreams($select=name;$expand=Observations($top=2;$orderby=phenomenonTime desc),ObservedProperty),Locations"
        ), None);
        let ds = e["Datastreams"].as_array().unwrap();
        assert_eq!(ds.len(), 2, "{e}");
        for d in ds {
            let o = d["Observations"].as_array().unwrap();
            assert_eq!(o.len(), 2);
            assert!(o[0]["phenomenonTime"].as_str() > o[1]["phenomenonTime"].as_str());
            assert!(d["ObservedProperty"]["name"].is_string());
            assert!(d.get("description").is_none(), "$select inside $expand");
        }
        assert_eq!(e["Locations"][0]["name"], "An Thuận");
        let path_expand = ok_json(s, &format!("/sta/v1.1/Observations?$top=1&$filter=Datastream/id eq {salinity}&$expand=Datastream/Thing"), None);
        assert_eq!(
            path_expand["value"][0]["Datastream"]["Thing"]["name"],
            "An Thuận"
        );
        let arr = ok_json(
            s,
            &format!("{obs_path}?$resultFormat=dataArray&$select=phenomenonTime,result&$top=5"),
            None,
        );
        assert_eq!(
            arr["value"][0]["components"],
            json!(["phenomenonTime", "result"])
        );
        assert_eq!(arr["value"][0]["dataArray"].as_array().unwrap().len(), 5);

        // Writes: anonymous 401, a read-only key 403, a writer 201 with Location.
        let t = chrono::Utc::now() - chrono::Duration::minutes(40);
        let one = json!({"phenomenonTime": t.to_rfc3339(), "result": 7.75, "Datastream": {"@iot.id": salinity}});
        assert_eq!(post(s, "/sta/v1.1/Observations", None, &one).0, 401);
        let (st, _, body) = post(s, "/sta/v1.1/Observations", Some(&reader), &one);
        assert_eq!(st, 403, "{body}");
        let (st, h, body) = post(s, "/sta/v1.1/Observations", Some(&writer), &one);
        assert_eq!(st, 201, "{label}: {body}");
        let location = header(&h, "location").unwrap().to_owned();
        assert_eq!(body["result"], 7.75);
        let read = ok_json(s, location.strip_prefix(&server.url("")).unwrap(), None);
        assert_eq!(read["result"], 7.75);
        // A re-send is acknowledged again and stored once.
        let (st, h2, _) = post(
            s,
            &format!("/sta/v1.1/Datastreams({salinity})/Observations"),
            Some(&writer),
            &json!({"phenomenonTime": t.to_rfc3339(), "result": 7.75}),
        );
        assert_eq!(
            (st, header(&h2, "location").unwrap()),
            (201, location.as_str())
        );
        assert_eq!(count(s, &obs_path, None), total + 1, "{label}: idempotent");

        // CreateObservations: good, re-sent, refused with a reason each; nothing else lost.
        let xt = datastream(s, Some(&owner), "XT01", "ph");
        let now = chrono::Utc::now();
        let at = |mins: i64| (now - chrono::Duration::minutes(mins)).to_rfc3339();
        // Newer than any simulated reading (those end at the last quarter hour before now).
        let newest = (now - chrono::Duration::seconds(5)).to_rfc3339();
        let batch = json!([
            {"Datastream": {"@iot.id": salinity}, "components": ["phenomenonTime", "result"],
             "dataArray": [[at(20), 8.5], [at(10), 9.0], [t.to_rfc3339(), 7.75], [at(5), "abc"], [at(4), -3], [at(-120), 1.0], [newest.clone(), 2.5]]},
            {"Datastream": {"@iot.id": 99999}, "components": ["phenomenonTime", "result"], "dataArray": [[at(1), 1.0]]},
            {"Datastream": {"@iot.id": xt}, "components": ["phenomenonTime", "result"], "dataArray": [[at(1), 7.1]]}
        ]);
        let (st, _, links) = post(s, "/sta/v1.1/CreateObservations", Some(&writer), &batch);
        assert_eq!(st, 201, "{links}");
        let links: Vec<&str> = links
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert_eq!(links.len(), 9);
        assert!(
            links[0].contains("/Observations(")
                && links[1].contains("/Observations(")
                && links[6].contains("/Observations(")
        );
        assert_eq!(
            links[2], location,
            "a re-send inside a batch names the stored reading"
        );
        assert!(
            links[3].starts_with("error") && links[3].contains("not a number"),
            "{}",
            links[3]
        );
        assert!(links[4].contains("impossible"), "{}", links[4]);
        assert!(links[5].contains("future"), "{}", links[5]);
        assert!(links[7].contains("unknown datastream"), "{}", links[7]);
        assert!(
            links[8].contains("unknown datastream"),
            "a restricted datastream does not exist for this key: {}",
            links[8]
        );
        assert_eq!(count(s, &obs_path, None), total + 4);
        let (_, _, m) = s.get("/metrics", &[]).unwrap();
        let m = String::from_utf8(m).unwrap();
        assert_eq!(
            metric(
                &m,
                "cuulong_observations_rejected_total{reason=\"not_a_number\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            metric(
                &m,
                "cuulong_observations_rejected_total{reason=\"future_time\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            metric(&m, "cuulong_observations_duplicates_total"),
            Some(2.0)
        );

        // The live layer shows the newest reading, classed by the crop limits.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let feature = loop {
            let items = ok_json(
                s,
                "/collections/salinity_latest/items?station_code=BT03",
                None,
            );
            let f = items["features"][0].clone();
            if f["properties"]["value"] == 2.5 || std::time::Instant::now() > deadline {
                break f;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        assert_eq!(feature["properties"]["value"], 2.5, "{label}: {feature}");
        assert_eq!(feature["properties"]["class_code"], "lo_2_4");
        assert_eq!(feature["properties"]["unit"], "‰");

        // Restricted datastreams are invisible to others on every endpoint.
        let xt_thing = ok_json(
            s,
            &format!("/sta/v1.1/Datastreams({xt})/Thing"),
            Some(&owner),
        )["@iot.id"]
            .as_i64()
            .unwrap();
        for path in [
            format!("/sta/v1.1/Datastreams({xt})"),
            format!("/sta/v1.1/Datastreams({xt})/Observations"),
            format!("/sta/v1.1/Things({xt_thing})"),
            format!("/sta/v1.1/Locations({xt_thing})"),
            format!("/sta/v1.1/FeaturesOfInterest({xt_thing})"),
            "/collections/ph_latest".to_owned(),
            "/collections/ph_latest/items".to_owned(),
        ] {
            assert_eq!(get_json(s, &path, None).0, 404, "{label}: anonymous {path}");
            assert_eq!(
                get_json(s, &path, Some(&reader)).0,
                404,
                "{label}: reader {path}"
            );
            assert_eq!(
                get_json(s, &path, Some(&owner)).0,
                200,
                "{label}: owner {path}"
            );
        }
        let ph = ok_json(
            s,
            "/sta/v1.1/ObservedProperties?$filter=properties/code eq 'ph'&$expand=Datastreams",
            None,
        );
        assert_eq!(ph["value"][0]["Datastreams"], json!([]), "{label}: {ph}");
        assert_eq!(
            count(
                s,
                &format!("/sta/v1.1/Observations?$filter=Datastream/id eq {xt}"),
                None
            ),
            0
        );
        let all = ok_json(s, "/sta/v1.1/Things?$expand=Datastreams&$top=100", None).to_string();
        assert!(!all.contains("XT01"), "{label}");

        // /events: an observation event reaches those who may see its datastream only.
        let anon_events = EventStream::open(server.port, "/events", &[]);
        let owner_auth = format!("Bearer {owner}");
        let owner_events = EventStream::open(
            server.port,
            "/events",
            &[("Authorization", owner_auth.as_str())],
        );
        let (st, _, b) = post(
            s,
            "/sta/v1.1/CreateObservations",
            Some(&owner),
            &json!([
                {"Datastream": {"@iot.id": xt}, "components": ["phenomenonTime", "result"], "dataArray": [[at(2), 7.05]]},
                {"Datastream": {"@iot.id": salinity}, "components": ["phenomenonTime", "result"], "dataArray": [[at(2), 2.75]]}
            ]),
        );
        assert_eq!(st, 201, "{b}");
        assert!(
            b.as_array()
                .unwrap()
                .iter()
                .all(|l| !l.as_str().unwrap().starts_with("error")),
            "{b}"
        );
        std::thread::sleep(std::time::Duration::from_millis(800));
        let (_, anon_text, _) = anon_events.finish();
        let (_, owner_text, _) = owner_events.finish();
        let mentions = |text: &str, ds: i64| text.contains(&format!("\"datastream\":{ds},"));
        assert!(
            mentions(&anon_text, salinity) && !mentions(&anon_text, xt),
            "{label}: {anon_text}"
        );
        assert!(
            mentions(&owner_text, salinity) && mentions(&owner_text, xt),
            "{label}: {owner_text}"
        );

        // Hostile options: 400 with a reason, and the server serves on.
        let deep = format!("{}result gt 1{}", "(".repeat(200), ")".repeat(200));
        let mut deep_expand = "Observations".to_owned();
        for _ in 0..12 {
            deep_expand = format!("Datastreams($expand=Thing($expand={deep_expand}))");
        }
        for (path, want) in [
            (format!("/sta/v1.1/Observations?$filter={deep}"), "nested deeper"),
            ("/sta/v1.1/Observations?$top=100000000000".to_owned(), "$top"),
            (format!("/sta/v1.1/Things?$expand={deep_expand}"), "$expand"),
            ("/sta/v1.1/Things?$filter=nosuch eq 1".to_owned(), "no property"),
            ("/sta/v1.1/Things?$frobnicate=1".to_owned(), "unknown query option"),
            ("/sta/v1.1/Things?$skip=-1".to_owned(), "$skip"),
            (format!("/sta/v1.1/Things?$filter={}", "not ".repeat(3000)), "longer than"),
            ("/sta/v1.1/Observations?$top=100000&$expand=Datastream($expand=Thing($expand=Datastreams($expand=Observations($top=100000))))".to_owned(), "more than"),
        ] {
            let (st, v) = get_json(s, &path, None);
            assert_eq!(st, 400, "{label}: {}: {v}", &path[..path.len().min(80)]);
            assert!(v["description"].as_str().unwrap_or("").contains(want), "{v}");
        }
        assert_eq!(get_json(s, "/sta/v1.1/Nothing", None).0, 404);
        assert_eq!(get_json(s, "/sta/v1.1/Things(abc)", None).0, 400);
        assert_eq!(s.get("/health", &[]).unwrap().0, 200);
        drop(server);
        if label == "postgis" {
            let db = db.as_ref().unwrap();
            assert!(db.scalar_i64("SELECT count(*) FROM pg_inherits WHERE inhparent = 'cuulong.observations'::regclass") >= 1);
            assert_eq!(
                db.scalar_i64(&format!(
                    "SELECT count(*) FROM cuulong.observations WHERE datastream_id = {salinity}"
                )),
                total + 5
            );
        }
    }
}

/// Posts batches of readings with distinct times until the server stops answering; returns
/// the times (ms) it acknowledged.
fn ingest_until_killed(
    port: u16,
    key: &str,
    ds: i64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<i64> {
    let mut acked = Vec::new();
    let base = chrono::Utc::now().timestamp_millis() - 30 * 86_400_000;
    let auth = format!("Bearer {key}");
    for batch in 0..100_000i64 {
        if stop.load(std::sync::atomic::Ordering::Acquire) && batch > 0 {
            // The server is gone: one more try must fail, then stop.
        }
        let rows: Vec<Value> = (0..200)
            .map(|i| {
                let t = base + (batch * 200 + i) * 1000;
                json!([
                    chrono::DateTime::from_timestamp_millis(t)
                        .unwrap()
                        .to_rfc3339(),
                    1.0 + (i as f64) / 100.0
                ])
            })
            .collect();
        let body = serde_json::to_vec(&json!([{"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"], "dataArray": rows}])).unwrap();
        let len = body.len().to_string();
        let headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", len.as_str()),
            ("Authorization", auth.as_str()),
        ];
        match http_request(
            port,
            "POST",
            "/sta/v1.1/CreateObservations",
            &headers,
            &body,
        ) {
            Ok((201, _, b)) => {
                let links: Vec<String> = serde_json::from_slice(&b).unwrap_or_default();
                for (i, l) in links.iter().enumerate() {
                    if !l.starts_with("error") {
                        acked.push(base + (batch * 200 + i as i64) * 1000);
                    }
                }
            }
            // Killed mid-request: nothing of this batch was acknowledged.
            _ => return acked,
        }
    }
    acked
}

#[test]
fn sigkill_during_ingest_loses_no_acknowledged_observation() {
    let db = TestDb::create("sta_sigkill");
    let dir = tempfile::tempdir().unwrap();
    for (label, store) in stores(db.as_ref(), dir.path()) {
        ok(run(cuulong().args(&store).args(["observations", "setup"])));
        let writer = key(
            &store,
            "logger",
            "Đài KTTV",
            &["--scope", "observations:write"],
        );
        let server = Server::start(&store, &[]);
        let ds = datastream(&server, None, "BT01", "water_level");
        let port = server.port;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let k = writer.clone();
        let poster = std::thread::spawn(move || ingest_until_killed(port, &k, ds, flag));
        // Let some batches land, then SIGKILL (Child::kill) in the middle of the stream.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let (_, _, m) = server.get("/metrics", &[]).unwrap();
            let accepted = metric(
                &String::from_utf8_lossy(&m),
                "cuulong_observations_accepted_total",
            )
            .unwrap_or(0.0);
            if accepted >= 2000.0 || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        drop(server);
        stop.store(true, std::sync::atomic::Ordering::Release);
        let acked = poster.join().unwrap();
        assert!(
            acked.len() >= 2000,
            "{label}: {} acknowledged before the kill",
            acked.len()
        );
        let server = Server::start(&store, &[]);
        let stored: BTreeSet<i64> = all_pages(
            &server,
            &format!("/sta/v1.1/Datastreams({ds})/Observations?$top=50000&$select=phenomenonTime"),
            None,
        )
        .iter()
        .map(|o| {
            chrono::DateTime::parse_from_rfc3339(o["phenomenonTime"].as_str().unwrap())
                .unwrap()
                .timestamp_millis()
        })
        .collect();
        let lost: Vec<&i64> = acked.iter().filter(|t| !stored.contains(t)).collect();
        assert!(
            lost.is_empty(),
            "{label}: {} of {} acknowledged readings lost after SIGKILL",
            lost.len(),
            acked.len()
        );
        // And the log is whole: a batch more goes in after the restart.
        let (st, _, b) = post(
            &server,
            "/sta/v1.1/CreateObservations",
            Some(&writer),
            &json!([
                {"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"], "dataArray": [[chrono::Utc::now().to_rfc3339(), 0.5]]}
            ]),
        );
        assert_eq!(st, 201, "{b}");
        assert!(!b[0].as_str().unwrap().starts_with("error"), "{b}");
    }
}

#[test]
fn csv_import_reports_each_refusal_and_repeats_without_duplicates() {
    let db = TestDb::create("sta_csv");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ban_tin_do_man.csv");
    let now = chrono::Utc::now();
    let past = |h: i64| (now - chrono::Duration::hours(h)).to_rfc3339();
    std::fs::write(
        &csv,
        format!(
            "ma_tram,thoi_gian,gia_tri\n\
             BT03,{},12.5\n\
             BT03,{},\"13,1\"\n\
             BT04,{},8.0\n\
             BT04,{},abc\n\
             BT04,{},99\n\
             BT99,{},1.0\n\
             BT05,{},2.0\n\
             BT05,2026-03-01 07:00,3.0\n",
            past(30),
            past(29),
            past(30),
            past(28),
            past(27),
            past(26),
            past(-5)
        ),
    )
    .unwrap();
    for (label, store) in stores(db.as_ref(), &dir.path().join("data")) {
        ok(run(cuulong().args(&store).args(["observations", "setup"])));
        let server = Server::start(&store, &[]);
        let before = count(&server, "/sta/v1.1/Observations", None);
        let o = ok(run(cuulong().args(&store).args([
            "observations",
            "import",
            csv.to_str().unwrap(),
            "--quiet",
        ])));
        let report: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        assert_eq!(report["read"], 8, "{label}: {report}");
        assert_eq!(report["stored"], 3, "{label}: {report}");
        assert_eq!(report["rejected"]["not_a_number"], 1);
        assert_eq!(report["rejected"]["impossible_value"], 1);
        assert_eq!(report["rejected"]["unknown_station"], 1);
        assert_eq!(report["rejected"]["future_time"], 1);
        assert_eq!(
            report["rejected"]["malformed"], 1,
            "a time without a zone: {report}"
        );
        let err = stderr(&o);
        assert!(
            err.contains("row 5: result \"abc\" is not a number"),
            "{err}"
        );
        assert!(err.contains("row 7: unknown station 'BT99'"), "{err}");
        assert!(err.contains("has no zone"), "{err}");
        // A running server takes in the import.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while count(&server, "/sta/v1.1/Observations", None) != before + 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "{label}: the server did not load the import"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        // Again, with local times read as UTC+7: only the bulletin row of 1 March is new.
        let o = ok(run(cuulong().args(&store).args([
            "observations",
            "import",
            csv.to_str().unwrap(),
            "--quiet",
            "--assume-offset",
            "+07:00",
        ])));
        let again: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        assert_eq!(
            (again["stored"].as_i64(), again["duplicates"].as_i64()),
            (Some(1), Some(3)),
            "{label}: {again}"
        );
        let bt05 = datastream(&server, None, "BT05", "salinity");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let v = ok_json(
                &server,
                &format!("/sta/v1.1/Datastreams({bt05})/Observations?$filter=result eq 3"),
                None,
            );
            if let Some(t) = v["value"][0]["phenomenonTime"].as_str() {
                assert_eq!(t, "2026-03-01T00:00:00Z", "07:00 at UTC+7");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{label}: second import not loaded"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let bad = run(cuulong()
            .args(&store)
            .args(["observations", "import", "/nonexistent.csv"]));
        assert!(!bad.status.success() && stderr(&bad).contains("nonexistent.csv"));
    }
}

#[test]
fn frost_and_stapy_clients_read_and_write() {
    if !test_tools() {
        return;
    }
    let db = TestDb::create("sta_clients");
    let dir = tempfile::tempdir().unwrap();
    let stores = stores(db.as_ref(), dir.path());
    let (label, store) = stores.last().unwrap();
    setup(store, "2");
    let writer = key(
        store,
        "logger",
        "Đài KTTV",
        &["--scope", "observations:write"],
    );
    let server = Server::start(store, &[]);
    let ds = datastream(&server, None, "BT01", "salinity");
    let before = count(
        &server,
        &format!("/sta/v1.1/Datastreams({ds})/Observations"),
        None,
    );
    let python = root().join(".tools/sta-venv/bin/python");
    let url = server.url("/sta/v1.1");
    let run_client = |script: &str, cwd: &std::path::Path| -> Value {
        let o = std::process::Command::new(&python)
            .arg(root().join("tests/sta").join(script))
            .args([url.as_str(), writer.as_str(), &ds.to_string()])
            .current_dir(cwd)
            .output()
            .expect("run the STA client");
        assert!(
            o.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{script}: {e}: {}", String::from_utf8_lossy(&o.stdout)))
    };
    let frost = run_client("frost_client.py", dir.path());
    assert_eq!(
        frost["things"].as_array().unwrap().len(),
        10,
        "{label}: {frost}"
    );
    assert!(frost["coordinates"]
        .as_array()
        .unwrap()
        .contains(&json!([106.605, 9.976])));
    assert_eq!(frost["datastream"]["unit"], "‰");
    assert_eq!(frost["count"], before, "{frost}");
    let latest = frost["latest"].as_array().unwrap();
    assert_eq!(latest.len(), 5);
    assert!(latest[0]["time"].as_str() > latest[4]["time"].as_str());
    assert_eq!(frost["read_back"]["result"], 3.25);
    assert_eq!(frost["read_back"]["time"], "2026-10-01T00:00:00Z");
    let scratch = tempfile::tempdir().unwrap();
    let stapy = run_client("stapy_client.py", scratch.path());
    assert_eq!(stapy["things"].as_array().unwrap().len(), 10, "{stapy}");
    assert_eq!(stapy["results"].as_array().unwrap().len(), 10);
    assert!(stapy["created"].as_i64().unwrap() > 0, "{stapy}");
    assert_eq!(
        count(
            &server,
            &format!("/sta/v1.1/Datastreams({ds})/Observations"),
            None
        ),
        before + 2
    );
}

/// A bulletin table as Excel writes it: Vietnamese headers, a date-time cell, a decimal comma.
#[test]
fn xlsx_bulletins_import_with_their_local_times() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ban_tin.xlsx");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let when = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    for (c, h) in ["Mã trạm", "Thời gian", "Độ mặn"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    let rows = [("BT03", 7, "12.4"), ("BT04", 7, "13,5"), ("BT05", 7, "x")];
    for (r, (code, hour, value)) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        ws.write_string(r, 0, *code).unwrap();
        let t = ExcelDateTime::from_ymd(2026, 3, 1)
            .unwrap()
            .and_hms(*hour, 0, 0)
            .unwrap();
        ws.write_datetime_with_format(r, 1, &t, &when).unwrap();
        ws.write_string(r, 2, *value).unwrap();
    }
    wb.save(&file).unwrap();
    let store = vec![
        "--data-dir".to_string(),
        dir.path().join("data").display().to_string(),
    ];
    ok(run(cuulong().args(&store).args(["observations", "setup"])));
    let o = ok(run(cuulong().args(&store).args([
        "observations",
        "import",
        file.to_str().unwrap(),
        "--quiet",
        "--assume-offset",
        "+07:00",
    ])));
    let report: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(report["stored"], 2, "{report}");
    assert_eq!(report["rejected"]["not_a_number"], 1, "{report}");
    let server = Server::start(&store, &[]);
    let ds = datastream(&server, None, "BT04", "salinity");
    let v = ok_json(
        &server,
        &format!("/sta/v1.1/Datastreams({ds})/Observations"),
        None,
    );
    assert_eq!(v["value"][0]["result"], 13.5);
    assert_eq!(
        v["value"][0]["phenomenonTime"], "2026-03-01T00:00:00Z",
        "07:00 in Bến Tre"
    );
}
