//! Salinity intelligence against real PostGIS and real HTTP: aggregates per day and per tidal
//! cycle equal PostgreSQL window-function results on simulated series (with gaps and a sensor
//! fault); alerts open and close with hysteresis and go out as `/events` and as signed webhooks
//! to local receivers (retried on 500 and while a receiver is down, kept across a SIGKILL by the
//! outbox, processed once by a receiver that honours the idempotency key); the land an alert
//! names equals a PostGIS overlay of the zone with the land-use layer; the fronts equal a
//! hand-computed interpolation on a fixture estuary; restricted datastreams raise no public
//! alerts.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

const SECRET_A: &str = "geheim-so-nong-nghiep";
const SECRET_B: &str = "bi-mat-ubnd";
const SECRET_C: &str = "bi-mat-tnmt";
const OWNER: &str = "Sở Tài nguyên và Môi trường";

/// One delivery a receiver got.
#[derive(Debug, Clone)]
struct Delivery {
    key: String,
    event: String,
    body: Value,
    signature_ok: bool,
}

/// A webhook receiver on a local port: checks the signature, records every delivery,
/// processes each idempotency key once, and answers 500 to the first `fail_first` deliveries
/// (after processing them: the answer is what gets lost, as when a receiver's reply times out).
struct Receiver {
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    /// (idempotency key, station) of each key processed, once.
    processed: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    fn start(listener: TcpListener, secret: &'static str, fail_first: usize) -> Receiver {
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let processed = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (d, p, s) = (deliveries.clone(), processed.clone(), stop.clone());
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let mut seen = HashSet::new();
            let mut n = 0usize;
            while !s.load(std::sync::atomic::Ordering::Acquire) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let Some((headers, body)) = read_request(&stream) else {
                    continue;
                };
                let h = |name: &str| {
                    headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let ts = h("X-Cuulong-Timestamp");
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
                mac.update(format!("{ts}.").as_bytes());
                mac.update(&body);
                let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                let key = h("Idempotency-Key");
                let delivery = Delivery {
                    key: key.clone(),
                    event: h("X-Cuulong-Event"),
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    signature_ok: h("X-Cuulong-Signature") == expected && !ts.is_empty(),
                };
                d.lock().unwrap().push(delivery.clone());
                if seen.insert(key.clone()) {
                    let station = delivery.body["alert"]["station"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned();
                    p.lock().unwrap().push((key, station));
                }
                n += 1;
                let status = if n <= fail_first {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let mut stream = stream;
                let _ = stream.write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
            }
        });
        Receiver {
            deliveries,
            processed,
            stop,
        }
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// The keys processed (each once) of alerts of `station`.
    fn processed(&self, station: &str) -> Vec<String> {
        self.processed
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| s == station)
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn processed_all(&self) -> usize {
        self.processed.lock().unwrap().len()
    }

    /// Waits until `n` keys of `station`'s alerts have been processed.
    #[track_caller]
    fn wait_processed(&self, station: &str, n: usize, what: &str) {
        let t0 = Instant::now();
        while self.processed(station).len() < n {
            assert!(
                t0.elapsed() < Duration::from_secs(90),
                "{what}: {} of {n} processed; deliveries {:?}",
                self.processed(station).len(),
                self.deliveries()
                    .iter()
                    .map(|d| d.key.clone())
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// Headers (name, value) and body of a request.
type Request = (Vec<(String, String)>, Vec<u8>);

fn read_request(stream: &TcpStream) -> Option<Request> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        reader.read_line(&mut l).ok()?;
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((headers, body))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[track_caller]
fn ok_json(server: &Server, path: &str, key: Option<&str>) -> Value {
    let (status, v) = get_json_as(server, path, key);
    assert_eq!(status, 200, "{path}: {v}");
    v
}

fn post_observations(server: &Server, key: &str, datastream: i64, readings: &[(i64, f64)]) {
    let body = json!([{
        "Datastream": {"@iot.id": datastream},
        "components": ["phenomenonTime", "result"],
        "dataArray": readings.iter().map(|(t, v)| json!([iso(*t), v])).collect::<Vec<_>>(),
    }]);
    let bytes = serde_json::to_vec(&body).unwrap();
    let len = bytes.len().to_string();
    let auth = format!("Bearer {key}");
    let (status, _, b) = http_request(
        server.port,
        "POST",
        "/sta/v1.1/CreateObservations",
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", &len),
            ("Authorization", &auth),
        ],
        &bytes,
    )
    .unwrap();
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&b));
    let ids: Value = serde_json::from_slice(&b).unwrap();
    assert!(
        ids.as_array()
            .unwrap()
            .iter()
            .all(|i| !i.to_string().contains("error")),
        "{ids}"
    );
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn datastream(server: &Server, key: Option<&str>, station: &str) -> i64 {
    let v = ok_json(
        server,
        &format!("/sta/v1.1/Datastreams?$filter=properties/station%20eq%20%27{station}%27%20and%20properties/observedProperty%20eq%20%27salinity%27&$select=id"),
        key,
    );
    v["value"][0]["@iot.id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no salinity datastream at {station}: {v}"))
}

/// Waits until `path` answers JSON for which `done` holds.
#[track_caller]
fn wait_json(
    server: &Server,
    path: &str,
    key: Option<&str>,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let t0 = Instant::now();
    loop {
        let (s, v) = get_json_as(server, path, key);
        if s == 200 && done(&v) {
            return v;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "{path}: {s} {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The events of one kind in an SSE text.
fn events(text: &str, kind: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut this = false;
    for line in text.lines() {
        if let Some(k) = line.strip_prefix("event:") {
            this = k.trim() == kind;
        } else if let Some(d) = line.strip_prefix("data:") {
            if this {
                out.push(serde_json::from_str(d.trim()).unwrap());
            }
        }
    }
    out
}

/// The test network: the sample one and two stations on a canal with no estuary: TS01 (open)
/// and RX01 (restricted to its owner).
fn test_network(dir: &std::path::Path) -> std::path::PathBuf {
    let mut text = std::fs::read_to_string(samples().join("observations/network.toml")).unwrap();
    text.push_str(&format!(
        r#"
[[station]]
code = "TS01"
name = "Trạm thử"
river = "Kênh thử"
lon = 106.30
lat = 10.10
properties = ["salinity"]
synthetic = true
[[station]]
code = "RX01"
name = "Trạm hạn chế"
river = "Kênh thử"
lon = 106.31
lat = 10.11
properties = ["salinity"]
access = "restricted"
owner = "{OWNER}"
synthetic = true
"#
    ));
    let path = dir.join("network.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The fixture estuary: Hàm Luông drawn straight along 10.0°N from 106.70°E (the mouth)
/// westwards, so a station's distance from the mouth is (106.70 − lon) · cos φ₀ · 111.32 km.
fn test_rules(dir: &std::path::Path, a: u16, b: u16, c: u16) -> std::path::PathBuf {
    let text = format!(
        r#"
[settings]
zone_km = 2.0
fronts = [1.0, 4.0]

[[rule]]
property = "salinity"
limits = ["lua"]
margin = 0.2
[rule.land_use]
lua = ["LUA", "LUC", "LUK", "LUC+NTS"]

[[estuary]]
name = "Hàm Luông"
name_en = "Ham Luong (test: straight)"
centreline = [[106.70, 10.0], [106.20, 10.0]]

[[webhook]]
name = "so-nong-nghiep"
url = "http://127.0.0.1:{a}/hook"
secret_env = "CUULONG_TEST_WEBHOOK_A"

[[webhook]]
name = "ubnd"
url = "http://127.0.0.1:{b}/hook"
secret_env = "CUULONG_TEST_WEBHOOK_B"

[[webhook]]
name = "tnmt"
url = "http://127.0.0.1:{c}/hook"
secret_env = "CUULONG_TEST_WEBHOOK_C"
agency = "{OWNER}"
"#
    );
    let path = dir.join("rules.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn salinity_aggregates_alerts_webhooks_and_fronts_on_postgis() {
    let Some(db) = TestDb::create("salinity") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = vec!["--database-url".to_owned(), db.url.clone()];
    import_samples(&store);
    ok(run(cuulong().args(&store).args(["observations", "setup"])));
    ok(run(cuulong().args(&store).args([
        "observations",
        "simulate",
        "--days",
        "10",
        "--seed",
        "7",
    ])));
    ok(run(cuulong()
        .args(&store)
        .args(["observations", "setup"])
        .arg(test_network(tmp.path()))));
    let writer = create_key(
        &store,
        "writer",
        "Sở NN",
        &["--scope", "observations:write"],
    );
    let owner = create_key(&store, "owner", OWNER, &["--scope", "observations:write"]);

    // Receivers: A answers 500 to its first two deliveries; B is down until later; C is the
    // owner agency of the restricted station.
    let a_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let b_port = free_port();
    let c_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let rules = test_rules(
        tmp.path(),
        a_listener.local_addr().unwrap().port(),
        b_port,
        c_listener.local_addr().unwrap().port(),
    );
    let a = Receiver::start(a_listener, SECRET_A, 2);
    let c = Receiver::start(c_listener, SECRET_C, 0);
    std::env::set_var("CUULONG_TEST_WEBHOOK_A", SECRET_A);
    std::env::set_var("CUULONG_TEST_WEBHOOK_B", SECRET_B);
    std::env::set_var("CUULONG_TEST_WEBHOOK_C", SECRET_C);
    let outbox = tmp.path().join("outbox.jsonl");
    let args = [
        "--salinity-rules",
        rules.to_str().unwrap(),
        "--webhook-outbox",
        outbox.to_str().unwrap(),
    ];
    let server = Server::start(&store, &args);

    // --- Aggregates equal PostgreSQL window functions (BT05 has the sensor fault, every
    // station has gaps). Whole local days of the simulated span.
    let today = (chrono::Utc::now() + chrono::Duration::hours(7)).date_naive();
    let from = today - chrono::Duration::days(9);
    let (from_s, to_s) = (from.to_string(), today.to_string());
    let mut checked_days = 0;
    let mut total_cycles = 0;
    let mut flagged = 0;
    for station in ["BT05", "BT03", "BT09"] {
        let ds = datastream(&server, None, station);
        let api = ok_json(
            &server,
            &format!("/api/observations/{ds}/aggregates?period=day&from={from_s}&to={to_s}&limits=lua,4.5"),
            None,
        );
        let sql = format!(
            "WITH r AS ({}),
             d AS (SELECT *, date_trunc('day', t AT TIME ZONE 'Asia/Ho_Chi_Minh') AS day FROM r),
             h AS (SELECT *, extract(epoch FROM least(coalesce(nxt - t, interval '1 hour'), interval '1 hour',
                          ((day + interval '1 day') AT TIME ZONE 'Asia/Ho_Chi_Minh') - t))::float8 / 3600 AS held FROM d)
             SELECT to_char(day, 'YYYY-MM-DD') || '|' || count(*) || '|' || min(v) || '|' || max(v) || '|' || avg(v)
                    || '|' || coalesce(sum(held) FILTER (WHERE v > 2.0), 0) || '|' || coalesce(sum(held) FILTER (WHERE v > 4.5), 0)
             FROM h GROUP BY day ORDER BY day",
            readings(ds, &from_s, &to_s)
        );
        let rows = db.strings(&sql);
        let buckets: Vec<&Value> = api["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["count"].as_u64().unwrap() > 0)
            .collect();
        assert_eq!(rows.len(), buckets.len(), "{station}: days with readings");
        for (row, b) in rows.iter().zip(&buckets) {
            let f: Vec<&str> = row.split('|').collect();
            let day_start = chrono::NaiveDate::parse_from_str(f[0], "%Y-%m-%d").unwrap();
            let start_ms = day_start
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis()
                - 7 * 3_600_000;
            assert_eq!(b["start"], iso_z(start_ms), "{station} {row}");
            assert_eq!(b["count"].as_u64().unwrap(), f[1].parse::<u64>().unwrap());
            let close = |api: &Value, sql: &str, what: &str| {
                let (x, y) = (api.as_f64().unwrap(), sql.parse::<f64>().unwrap());
                assert!(
                    (x - y).abs() <= 1e-9 * y.abs().max(1.0),
                    "{station} {} {what}: API {x} SQL {y}",
                    f[0]
                );
            };
            close(&b["min"], f[2], "min");
            close(&b["max"], f[3], "max");
            close(&b["mean"], f[4], "mean");
            close(&b["hours_above"]["lua"], f[5], "hours above 2‰");
            close(&b["hours_above"]["4.5"], f[6], "hours above 4.5‰");
            checked_days += 1;
        }
        flagged += api["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["flagged"].as_u64().unwrap())
            .sum::<u64>();
        let suspect = db.scalar_i64(&format!(
            "SELECT count(*) FROM cuulong.observations WHERE datastream_id = {ds} AND quality <> 0
               AND phenomenon_time >= '{from_s}T00:00:00+07:00' AND phenomenon_time < '{to_s}T00:00:00+07:00'"
        ));
        let api_flagged: u64 = api["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["flagged"].as_u64().unwrap())
            .sum();
        assert_eq!(api_flagged as i64, suspect, "{station}: flagged readings");

        // Tidal cycles: the API's cycle bounds, aggregated by SQL over the same readings.
        let tide = ok_json(
            &server,
            &format!(
                "/api/observations/{ds}/aggregates?period=tide&from={from_s}&to={to_s}&limits=lua"
            ),
            None,
        );
        let cycles = tide["buckets"].as_array().unwrap();
        // About 17 in 9 days; a gap of more than 3 h (the simulated loggers go offline for
        // 2–6 h now and then) or the fault costs the cycles around it.
        assert!(
            cycles.len() >= 5,
            "{station}: {} cycles in 9 days",
            cycles.len()
        );
        total_cycles += cycles.len();
        let bounds: Vec<String> = cycles
            .iter()
            .map(|c| {
                format!(
                    "('{}'::timestamptz, '{}'::timestamptz)",
                    c["start"].as_str().unwrap(),
                    c["end"].as_str().unwrap()
                )
            })
            .collect();
        let sql = format!(
            "WITH r AS ({}),
             c(s, e) AS (VALUES {}),
             h AS (SELECT c.s, r.v, extract(epoch FROM least(coalesce(r.nxt - r.t, interval '1 hour'), interval '1 hour', c.e - r.t))::float8 / 3600 AS held
                   FROM c JOIN r ON r.t >= c.s AND r.t < c.e)
             SELECT count(*) || '|' || min(v) || '|' || max(v) || '|' || avg(v) || '|' || coalesce(sum(held) FILTER (WHERE v > 2.0), 0)
             FROM h GROUP BY s ORDER BY s",
            readings(ds, &from_s, &to_s),
            bounds.join(", ")
        );
        let rows = db.strings(&sql);
        assert_eq!(rows.len(), cycles.len(), "{station}: cycles");
        for (row, cy) in rows.iter().zip(cycles) {
            let f: Vec<&str> = row.split('|').collect();
            assert_eq!(cy["count"].as_u64().unwrap(), f[0].parse::<u64>().unwrap());
            for (k, name) in [(1, "min"), (2, "max"), (3, "mean")] {
                let (x, y) = (cy[name].as_f64().unwrap(), f[k].parse::<f64>().unwrap());
                assert!(
                    (x - y).abs() <= 1e-9 * y.abs().max(1.0),
                    "{station} cycle {name}: {x} vs {y}"
                );
            }
            let (x, y) = (
                cy["hours_above"]["lua"].as_f64().unwrap(),
                f[4].parse::<f64>().unwrap(),
            );
            assert!(
                (x - y).abs() < 1e-9,
                "{station} cycle hours above: {x} vs {y}"
            );
            let hours = (ms(cy["end"].as_str().unwrap()) - ms(cy["start"].as_str().unwrap()))
                as f64
                / 3.6e6;
            assert!(
                (8.0..17.0).contains(&hours),
                "{station}: a tidal cycle of {hours} h"
            );
        }
        // CSV carries the same days.
        let (s, h, body) = server
            .get(
                &format!(
                    "/api/observations/{ds}/aggregates?from={from_s}&to={to_s}&limits=lua&f=csv"
                ),
                &[],
            )
            .unwrap();
        assert_eq!(s, 200);
        assert!(header(&h, "content-type").unwrap().starts_with("text/csv"));
        let csv = String::from_utf8(body).unwrap();
        assert!(csv.starts_with(
            "start,end,count,flagged,min,max,max_at,mean,longest_gap_min,hours_above_lua\n"
        ));
        assert_eq!(
            csv.lines().count(),
            1 + api["buckets"].as_array().unwrap().len()
        );
    }
    assert!(checked_days >= 27, "{checked_days} days compared");
    assert!(total_cycles >= 24, "{total_cycles} tidal cycles compared");
    assert!(
        flagged > 0,
        "the simulated sensor fault is flagged and left out"
    );

    // --- Zones: the land an alert names equals a PostGIS overlay of the zone with land use.
    let zones = ok_json(&server, "/api/salinity/zones", None);
    let bt04 = zones["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "BT04")
        .expect("BT04 has a zone")
        .clone();
    assert_eq!(bt04["properties"]["zone_kind"], "reach");
    let lu_v = db.scalar_i64("SELECT version FROM cuulong.layers WHERE id = 'land_use'");
    let c_v = db.scalar_i64("SELECT version FROM cuulong.layers WHERE id = 'admin_communes'");
    let zone_json = bt04["geometry"].to_string().replace('\'', "''");
    let rows = db.strings(&format!(
        "WITH z AS (SELECT ST_SetSRID(ST_GeomFromGeoJSON('{zone_json}'), 4326) AS g),
              c AS (SELECT code, geom FROM cuulong_data.\"l_admin_communes_v{c_v}\"
                    WHERE valid_from <= current_date AND (valid_to IS NULL OR valid_to >= current_date))
         SELECT c.code || '|' || lu.lu_code || '|' ||
                sum(ST_Area(ST_Intersection(ST_Intersection(lu.geom, z.g), c.geom)::geography)) / 10000
         FROM cuulong_data.\"l_land_use_v{lu_v}\" lu, c, z
         WHERE ST_Intersects(lu.geom, z.g) AND ST_Intersects(c.geom, z.g) AND ST_Intersects(lu.geom, c.geom)
         GROUP BY c.code, lu.lu_code"
    ));
    let mut postgis: BTreeMap<(String, String), f64> = BTreeMap::new();
    for r in &rows {
        let f: Vec<&str> = r.split('|').collect();
        let ha: f64 = f[2].parse().unwrap();
        if ha > 0.0 {
            postgis.insert((f[0].to_owned(), f[1].to_owned()), ha);
        }
    }
    let mut ours: BTreeMap<(String, String), f64> = BTreeMap::new();
    for c in bt04["properties"]["communes"].as_array().unwrap() {
        for (class, ha) in c["classes"].as_object().unwrap() {
            ours.insert(
                (c["code"].as_str().unwrap().to_owned(), class.clone()),
                ha.as_f64().unwrap(),
            );
        }
    }
    let total = |m: &BTreeMap<(String, String), f64>| m.values().sum::<f64>();
    assert!(total(&postgis) > 100.0, "the zone holds land: {postgis:?}");
    assert!(
        (total(&ours) - total(&postgis)).abs() < 0.001 * total(&postgis),
        "zone total: ours {} ha, PostGIS {} ha",
        total(&ours),
        total(&postgis)
    );
    for (k, &ha) in &postgis {
        if ha < 1.0 {
            continue; // slivers along shared borders: compared in the total
        }
        let mine = ours.get(k).copied().unwrap_or(0.0);
        assert!(
            (mine - ha).abs() < 0.005 * ha,
            "{k:?}: ours {mine} ha, PostGIS {ha} ha"
        );
    }

    // An alert of BT04 names the same land: its exposure is the zone's.
    let bt04_alerts = ok_json(&server, "/api/alerts?station=BT04&limit=1", None);
    let exposure = &bt04_alerts["alerts"][0]["exposure"];
    assert_eq!(
        exposure["communes"], bt04["properties"]["communes"],
        "{bt04_alerts}"
    );
    let rice: f64 = ["LUA", "LUC", "LUK", "LUC+NTS"]
        .iter()
        .filter_map(|c| exposure["classes"][c].as_f64())
        .sum();
    let at_risk = bt04_alerts["alerts"][0]["land_at_risk_ha"]
        .as_f64()
        .unwrap();
    assert!((at_risk - rice).abs() < 1e-6, "{at_risk} vs {rice}");

    // --- Fronts on the fixture estuary, by hand: chainage = (106.70 − lon) · cos 10° · 111.32.
    let km = |lon: f64| (106.70 - lon) * 10.0_f64.to_radians().cos() * 111.320;
    let (x3, x4, x8, x5) = (km(106.605), km(106.464), km(106.400), km(106.349));
    let now = chrono::Utc::now().timestamp_millis() - 1000;
    for (station, value) in [("BT03", 8.0), ("BT04", 3.0), ("BT08", 0.5), ("BT05", 0.2)] {
        let ds = datastream(&server, None, station);
        post_observations(&server, &writer, ds, &[(now, value)]);
    }
    let fronts = wait_json(&server, "/api/salinity/fronts", None, |v| {
        v["estuaries"][0]["stations"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["code"] == "BT05" && s["value"] == 0.2))
    });
    let e = &fronts["estuaries"][0];
    let by = |t: f64| {
        e["fronts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["threshold"] == t)
            .unwrap()
            .clone()
    };
    let f4 = by(4.0);
    let want4 = x3 + (8.0 - 4.0) / (8.0 - 3.0) * (x4 - x3);
    assert!(
        (f4["km"].as_f64().unwrap() - want4).abs() < 1e-6,
        "4‰ front {f4} vs {want4}"
    );
    assert_eq!(
        (f4["downstream"].as_str(), f4["upstream"].as_str()),
        (Some("BT03"), Some("BT04"))
    );
    let f1 = by(1.0);
    let want1 = x4 + (3.0 - 1.0) / (3.0 - 0.5) * (x8 - x4);
    assert!(
        (f1["km"].as_f64().unwrap() - want1).abs() < 1e-6,
        "1‰ front {f1} vs {want1}"
    );
    assert!((f1["lat"].as_f64().unwrap() - 10.0).abs() < 1e-9);
    assert!(
        (f1["lon"].as_f64().unwrap() - (106.70 - want1 / (10.0_f64.to_radians().cos() * 111.320)))
            .abs()
            < 1e-9
    );
    let rice = &e["rice_front"];
    let want2 = x4 + (3.0 - 2.0) / (3.0 - 0.5) * (x8 - x4);
    assert!((rice["km"].as_f64().unwrap() - want2).abs() < 1e-6);
    assert!(
        e["rice_land_seaward_of_front"]["total_ha"]
            .as_f64()
            .unwrap()
            >= 0.0
    );
    assert!(x5 > x8, "BT05 lies upstream of BT08");
    // The live layer shows both fronts.
    let layer = wait_json(&server, "/collections/salinity_front/items", None, |v| {
        v["features"].as_array().is_some_and(|f| {
            f.iter().any(|f| {
                (f["properties"]["km_from_mouth"].as_f64().unwrap() - (want4 * 10.0).round() / 10.0)
                    .abs()
                    < 1e-9
            })
        })
    });
    assert_eq!(layer["features"].as_array().unwrap().len(), 2);

    // --- Hysteresis, events and webhooks. TS01 (open) crosses rice's 2‰ limit: opens at
    // 2.05, stays open at 1.9 and 1.85 (within the 0.2 margin), closes at 1.79, opens again
    // at 2.1. RX01 (restricted) goes to 30‰.
    let anon_events = EventStream::open(server.port, "/events", &[]);
    let owner_auth = format!("Bearer {owner}");
    let owner_events = EventStream::open(server.port, "/events", &[("Authorization", &owner_auth)]);
    let ts01 = datastream(&server, None, "TS01");
    let rx01 = datastream(&server, Some(&owner), "RX01");
    let t0 = chrono::Utc::now().timestamp_millis() - 600_000;
    let series = [1.5, 2.05, 1.9, 1.85, 1.79, 2.1];
    for (i, v) in series.iter().enumerate() {
        post_observations(&server, &writer, ts01, &[(t0 + i as i64 * 60_000, *v)]);
        std::thread::sleep(Duration::from_millis(150));
    }
    post_observations(&server, &owner, rx01, &[(t0, 30.0)]);
    let alerts = wait_json(&server, "/api/alerts?station=TS01", None, |v| {
        v["numberMatched"] == 2
    });
    let list = alerts["alerts"].as_array().unwrap();
    // Newest first.
    assert_eq!(list[0]["state"], "open");
    assert_eq!(list[0]["opened_value"], 2.1);
    assert_eq!(list[1]["state"], "closed");
    assert_eq!(list[1]["opened_value"], 2.05);
    assert_eq!(list[1]["closed_value"], 1.79);
    assert_eq!(list[1]["peak"], 2.05);
    assert_eq!(list[1]["limit"], 2.0);
    assert_eq!(list[1]["close_below"], 1.8);
    assert_eq!(list[1]["opened_at"], iso_z(t0 + 60_000));
    assert_eq!(list[1]["closed_at"], iso_z(t0 + 4 * 60_000));
    let alert_id = list[1]["id"].as_str().unwrap().to_owned();
    // Restricted: no public alert; its owner sees it.
    let anon = ok_json(&server, "/api/alerts?station=RX01", None);
    assert_eq!(anon["numberMatched"], 0, "{anon}");
    let mine = wait_json(&server, "/api/alerts?station=RX01", Some(&owner), |v| {
        v["numberMatched"] == 1
    });
    assert_eq!(mine["alerts"][0]["opened_value"], 30.0);
    // CSV history.
    let (s, _, body) = server.get("/api/alerts?station=TS01&f=csv", &[]).unwrap();
    assert_eq!(s, 200);
    let csv = String::from_utf8(body).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.contains(&alert_id));

    // Webhook A: the three TS01 changes, signed; retried after its two 500s (whichever alerts
    // they hit: the fronts' readings may change alerts of the estuary's stations too);
    // processed once each.
    a.wait_processed("TS01", 3, "receiver A");
    let got = a.deliveries();
    assert!(
        got.iter().all(|d| d.signature_ok),
        "bad signatures: {got:?}"
    );
    assert!(
        got.len() >= a.processed_all() + 2,
        "two 500s were retried: {} deliveries of {} keys",
        got.len(),
        a.processed_all()
    );
    let ts_keys = a.processed("TS01");
    assert_eq!(ts_keys.len(), 3, "{ts_keys:?}");
    let kinds: Vec<String> = {
        let mut seen = HashSet::new();
        got.iter()
            .filter(|d| d.body["alert"]["station"] == "TS01" && seen.insert(d.key.clone()))
            .map(|d| d.event.clone())
            .collect()
    };
    assert_eq!(kinds, ["alert.open", "alert.close", "alert.open"]);
    assert!(ts_keys.contains(&format!("{alert_id}-close")));
    assert!(
        got.iter().all(|d| d.body["alert"]["station"] != "RX01"),
        "a restricted alert reached a public receiver"
    );
    // Webhook C (the owner agency) gets the restricted alert too.
    c.wait_processed("RX01", 1, "receiver C");
    assert!(c
        .deliveries()
        .iter()
        .any(|d| d.body["alert"]["station"] == "RX01" && d.signature_ok));

    // Events: anonymous streams carry the TS01 alerts and not RX01's; the owner's carries both.
    std::thread::sleep(Duration::from_millis(500));
    let (_, anon_text, _) = anon_events.finish();
    let (_, owner_text, _) = owner_events.finish();
    let anon_alerts = events(&anon_text, "alert");
    assert_eq!(
        anon_alerts
            .iter()
            .filter(|e| e["alert"]["station"] == "TS01")
            .count(),
        3,
        "{anon_text}"
    );
    assert!(anon_alerts.iter().all(|e| e["alert"]["station"] != "RX01"));
    assert!(events(&owner_text, "alert")
        .iter()
        .any(|e| e["alert"]["station"] == "RX01"));

    // --- Receiver B was down all along: SIGKILL the server with its deliveries pending, start
    // again, bring B up: the outbox delivers them (each once to a receiver honouring the key).
    let pending = std::fs::read_to_string(&outbox).unwrap();
    assert!(pending.contains("\"webhook\":\"ubnd\""), "{pending}");
    drop(server);
    let server = Server::start(&store, &args);
    let b = Receiver::start(
        TcpListener::bind(("127.0.0.1", b_port)).unwrap(),
        SECRET_B,
        0,
    );
    b.wait_processed("TS01", 3, "receiver B after the restart");
    assert!(b.deliveries().iter().all(|d| d.signature_ok));
    assert!(b
        .deliveries()
        .iter()
        .all(|d| d.body["alert"]["station"] != "RX01"));
    // A restart sends A nothing new: its deliveries were recorded as done, and the history
    // replayed at start is not sent again.
    let before = a.deliveries().len();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        a.deliveries().len(),
        before,
        "A got deliveries again after the restart"
    );
    // The history is the series replayed: the same alerts after the restart.
    let again = wait_json(&server, "/api/alerts?station=TS01", None, |v| {
        v["numberMatched"] == 2
    });
    assert_eq!(again["alerts"][1]["id"], alert_id);
    let metrics = String::from_utf8(server.get("/metrics", &[]).unwrap().2).unwrap();
    assert!(
        metric(&metrics, "cuulong_webhook_delivered_total").is_some(),
        "{metrics}"
    );

    // A late reading (before everything TS01 had) rewrites its history as the replay would:
    // 2.5 a minute before t0 opens an alert that 1.5 at t0 closes; the two alerts after stay.
    post_observations(&server, &writer, ts01, &[(t0 - 60_000, 2.5)]);
    let late = wait_json(&server, "/api/alerts?station=TS01", None, |v| {
        v["numberMatched"] == 3
    });
    let oldest = &late["alerts"][2];
    assert_eq!(oldest["opened_at"], iso_z(t0 - 60_000), "{late}");
    assert_eq!(oldest["closed_at"], iso_z(t0), "{late}");
    assert_eq!(late["alerts"][1]["id"], alert_id, "{late}");
}

/// The good readings of a datastream between two local midnights, each with the time of the
/// next (`lead()`): what a reading stands for, as cuulong counts it.
fn readings(ds: i64, from: &str, to: &str) -> String {
    format!(
        "SELECT phenomenon_time t, result v, lead(phenomenon_time) OVER (ORDER BY phenomenon_time) nxt
         FROM cuulong.observations
         WHERE datastream_id = {ds} AND quality = 0
           AND phenomenon_time >= '{from}T00:00:00+07:00' AND phenomenon_time < '{to}T00:00:00+07:00'"
    )
}

fn iso_z(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}
