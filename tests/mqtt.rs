//! Observations over MQTT with a real broker (Debian mosquitto, started here on a free port):
//! SensorThings topics and a configured pattern, refused messages counted, and nothing that
//! was published lost when the server is SIGKILLed mid-stream (the broker keeps the session's
//! unacknowledged messages) or when PostgreSQL restarts under ingest (the subscriber retries
//! the batch before acknowledging it). Its own test binary: the PostgreSQL restart must not
//! disturb other tests.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

struct Broker {
    port: u16,
    child: std::process::Child,
}

impl Broker {
    fn start() -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // As README says to configure it: no cap on the messages queued for a session
        // (mosquitto drops QoS 1 messages beyond max_queued_messages, 1000 by default), and an
        // in-flight window wide enough for batches (20 by default).
        let conf = std::env::temp_dir().join(format!("cuulong-mosquitto-{port}.conf"));
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 1000\n"),
        )
        .unwrap();
        let child = std::process::Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start mosquitto (scripts/install-deps.sh installs it)");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "mosquitto did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker { port, child }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Publishes (QoS 1) and waits until the broker has acknowledged every message.
fn publish_all(port: u16, messages: &[(String, Vec<u8>)], pause_every: usize, pause: Duration) {
    let mut opts = MqttOptions::new(
        format!("test-pub-{}", std::process::id()),
        "127.0.0.1",
        port,
    );
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut connection) = Client::new(opts, 1024);
    let n = messages.len();
    let acks = std::thread::spawn(move || {
        let mut acked = 0;
        for ev in connection.iter() {
            match ev {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    acked += 1;
                    if acked == n {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("publisher: {e}"),
            }
        }
        acked
    });
    for (i, (topic, payload)) in messages.iter().enumerate() {
        client
            .publish(topic, QoS::AtLeastOnce, false, payload.clone())
            .unwrap();
        if pause_every > 0 && i % pause_every == pause_every - 1 {
            std::thread::sleep(pause);
        }
    }
    assert_eq!(acks.join().unwrap(), n, "the broker took every message");
    let _ = client.disconnect();
}

fn metric_of(server: &Server, name: &str) -> f64 {
    let (_, _, m) = server.get("/metrics", &[]).unwrap();
    metric(&String::from_utf8_lossy(&m), name).unwrap_or(0.0)
}

fn count(server: &Server, ds: i64) -> i64 {
    let (_, _, b) = server
        .get(
            &format!("/sta/v1.1/Datastreams({ds})/Observations?$count=true&$top=0"),
            &[],
        )
        .unwrap();
    let v: Value = serde_json::from_slice(&b).unwrap();
    v["@iot.count"].as_i64().unwrap()
}

fn datastream(server: &Server, station: &str, property: &str) -> i64 {
    let path = format!(
        "/sta/v1.1/Datastreams?$filter=properties/station%20eq%20%27{station}%27%20and%20properties/observedProperty%20eq%20%27{property}%27"
    );
    let (_, _, b) = server.get(&path, &[]).unwrap();
    let v: Value = serde_json::from_slice(&b).unwrap();
    v["value"][0]["@iot.id"].as_i64().unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "{what}: not within 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Readings `first..first+n` seconds after a fixed start, as (topic, payload).
fn readings(ds: i64, first: i64, n: i64) -> Vec<(String, Vec<u8>)> {
    let start = chrono::Utc::now().timestamp() - 40 * 86_400;
    (first..first + n)
        .map(|i| {
            let t = chrono::DateTime::from_timestamp(start + i, 0)
                .unwrap()
                .to_rfc3339();
            let body = json!({"phenomenonTime": t, "result": 1.0 + (i % 50) as f64 / 10.0});
            (
                format!("v1.1/Datastreams({ds})/Observations"),
                serde_json::to_vec(&body).unwrap(),
            )
        })
        .collect()
}

fn serve(store: &[String], broker: &Broker, key: &str, client_id: &str) -> Server {
    Server::start(
        store,
        &[
            "--mqtt-url",
            &format!("mqtt://127.0.0.1:{}", broker.port),
            "--mqtt-key",
            key,
            "--mqtt-topic",
            "bentre/{station}/{property}",
            "--mqtt-client-id",
            client_id,
        ],
    )
}

/// Publishes probes until the server's subscription takes them (a fresh session only exists
/// once the server has subscribed).
fn wait_subscribed(server: &Server, broker: &Broker, ds: i64) {
    let mut i = 1_000_000;
    wait_until("the MQTT subscription", || {
        publish_all(broker.port, &readings(ds, i, 1), 0, Duration::ZERO);
        i += 1;
        std::thread::sleep(Duration::from_millis(200));
        metric_of(server, "cuulong_mqtt_messages_total") > 0.0
    });
}

#[test]
fn mqtt_ingest_survives_sigkill_and_a_postgres_restart() {
    if !require_tool("mosquitto") {
        return;
    }
    let db = TestDb::create("mqtt");
    let dir = tempfile::tempdir().unwrap();
    for (label, store) in stores(db.as_ref(), dir.path()) {
        let broker = Broker::start();
        ok(run(cuulong().args(&store).args(["observations", "setup"])));
        let key = stdout(&ok(run(cuulong().args(&store).args([
            "keys",
            "create",
            "--name",
            "mqtt",
            "--agency",
            "Đài KTTV",
            "--scope",
            "observations:write",
        ]))))
        .trim()
        .to_owned();
        let client_id = format!("cuulong-test-{label}");
        let server = serve(&store, &broker, &key, &client_id);
        let ds = datastream(&server, "BT01", "salinity");
        let bt04 = datastream(&server, "BT04", "salinity");
        wait_subscribed(&server, &broker, ds);
        let base = count(&server, ds);

        // SensorThings topics, the configured pattern, and bad messages counted by reason.
        let mut msgs = readings(ds, 0, 1000);
        for i in 0..100 {
            let t = (chrono::Utc::now() - chrono::Duration::minutes(200 - i)).to_rfc3339();
            msgs.push((
                "bentre/BT04/salinity".into(),
                serde_json::to_vec(&json!({"time": t, "value": 5.5})).unwrap(),
            ));
        }
        msgs.push(("bentre/BT99/salinity".into(), br#"{"value": 1}"#.to_vec()));
        msgs.push((
            "v1.1/Datastreams(1)/Observations".into(),
            b"not json".to_vec(),
        ));
        msgs.push((
            format!("v1.1/Datastreams({ds})/Observations"),
            br#"{"result": 99}"#.to_vec(),
        ));
        let bt04_before = count(&server, bt04);
        publish_all(broker.port, &msgs, 0, Duration::ZERO);
        wait_until("1000 readings over v1.1 topics", || {
            count(&server, ds) == base + 1000
        });
        wait_until("100 readings over the pattern", || {
            count(&server, bt04) == bt04_before + 100
        });
        wait_until("refusals counted", || {
            metric_of(
                &server,
                "cuulong_observations_rejected_total{reason=\"unknown_station\"}",
            ) == 1.0
                && metric_of(
                    &server,
                    "cuulong_observations_rejected_total{reason=\"malformed\"}",
                ) == 1.0
                && metric_of(
                    &server,
                    "cuulong_observations_rejected_total{reason=\"impossible_value\"}",
                ) == 1.0
        });

        // SIGKILL mid-stream: the broker keeps what was not acknowledged for the session and
        // sends it again to the restarted server; re-sends are stored once.
        let before = count(&server, ds);
        let stream = readings(ds, 10_000, 3000);
        let port = broker.port;
        let publisher =
            std::thread::spawn(move || publish_all(port, &stream, 100, Duration::from_millis(30)));
        wait_until("ingest under way", || count(&server, ds) >= before + 300);
        drop(server); // SIGKILL
        publisher.join().unwrap();
        let server = serve(&store, &broker, &key, &client_id);
        wait_until(
            &format!("{label}: every published reading after SIGKILL"),
            || count(&server, ds) == before + 3000,
        );

        // PostgreSQL restarts under ingest: batches wait and are retried, then acknowledged.
        if label == "postgis" {
            let before = count(&server, ds);
            let stream = readings(ds, 20_000, 3000);
            let publisher = std::thread::spawn(move || {
                publish_all(port, &stream, 100, Duration::from_millis(40))
            });
            wait_until("ingest under way", || count(&server, ds) >= before + 300);
            restart_postgres();
            publisher.join().unwrap();
            wait_until("every reading after the PostgreSQL restart", || {
                count(&server, ds) == before + 3000
            });
            // What the server serves is what PostgreSQL holds.
            let db = db.as_ref().unwrap();
            assert_eq!(
                db.scalar_i64(&format!(
                    "SELECT count(*) FROM cuulong.observations WHERE datastream_id = {ds}"
                )),
                before + 3000
            );
        }
    }
}
