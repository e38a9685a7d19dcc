//! Observations over MQTT: cuulong subscribes to a broker (mosquitto in the tests) on the
//! SensorThings topics `v1.1/Datastreams(id)/Observations` and `v1.1/Observations`, and on
//! configured patterns such as `bentre/{station}/{property}` (JSON payloads: a SensorThings
//! Observation, or `{"time", "value"}`). Messages arrive at QoS 1 in a persistent session
//! and are acknowledged (PUBACK) only once their batch is stored durably: a crash, or the
//! store going away, loses nothing acknowledged — the broker sends the rest again, and a
//! re-sent reading is stored once. Readings pass the same checks as over HTTP, with the
//! rights of the configured API key.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cuulong_core::access::{verify, Caller};
use cuulong_core::sta::{Catalog, Quality, Rejection};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use serde_json::Value;

use super::write::{check_all, ingest, Reading};
use crate::state::AppState;

/// Largest message taken, bytes (a larger one is refused by the client library). With the
/// broker's in-flight window this bounds the memory of messages held before they are stored.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Most readings stored in one batch.
const BATCH: usize = 2000;
/// How long a batch waits for more messages.
const LINGER: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
pub struct MqttConfig {
    /// `mqtt://host:port`.
    pub url: String,
    /// The API key whose rights the subscriber writes with (scope observations:write).
    pub key: String,
    /// Extra topic patterns with `{station}` and `{property}` placeholders.
    pub topics: Vec<String>,
    /// The client id: the broker keeps this session's subscriptions and unacknowledged
    /// messages while cuulong is away.
    pub client_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MqttConfigError {
    #[error("--mqtt-url {0}: expected mqtt://host:port")]
    Url(String),
    #[error("--mqtt-topic {0}: a pattern needs {{station}} and {{property}} as whole levels")]
    Pattern(String),
}

fn host_port(url: &str) -> Result<(String, u16), MqttConfigError> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .ok_or_else(|| MqttConfigError::Url(url.to_owned()))?;
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((h, p)) => Ok((
            h.to_owned(),
            p.parse()
                .map_err(|_| MqttConfigError::Url(url.to_owned()))?,
        )),
        None => Ok((rest.to_owned(), 1883)),
    }
}

/// A topic pattern as an MQTT filter: `{station}`/`{property}` levels become `+`.
fn filter_of(pattern: &str) -> Result<String, MqttConfigError> {
    let levels: Vec<&str> = pattern.split('/').collect();
    if !levels.contains(&"{station}") || !levels.contains(&"{property}") {
        return Err(MqttConfigError::Pattern(pattern.to_owned()));
    }
    Ok(levels
        .iter()
        .map(|l| if l.starts_with('{') { "+" } else { l })
        .collect::<Vec<_>>()
        .join("/"))
}

pub fn check(config: &MqttConfig) -> Result<(), MqttConfigError> {
    host_port(&config.url)?;
    for t in &config.topics {
        filter_of(t)?;
    }
    Ok(())
}

/// The station and property a topic names through a pattern.
fn match_pattern<'t>(pattern: &str, topic: &'t str) -> Option<(&'t str, &'t str)> {
    let p: Vec<&str> = pattern.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    if p.len() != t.len() {
        return None;
    }
    let (mut station, mut property) = (None, None);
    for (a, b) in p.iter().zip(&t) {
        match *a {
            "{station}" => station = Some(*b),
            "{property}" => property = Some(*b),
            lit if lit == *b => {}
            _ => return None,
        }
    }
    Some((station?, property?))
}

fn time_of(v: Option<&Value>) -> Result<Option<DateTime<Utc>>, Rejection> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s.trim())
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                Rejection::Malformed(format!(
                    "time '{}' is not ISO 8601 with a zone",
                    s.chars().take(40).collect::<String>()
                ))
            }),
        Some(_) => Err(Rejection::Malformed("the time must be a string".into())),
    }
}

/// A message as a reading (or why it is none).
fn reading(
    catalog: &Catalog,
    topics: &[String],
    topic: &str,
    payload: &[u8],
) -> Result<Reading, Rejection> {
    let v: Value = serde_json::from_slice(payload)
        .map_err(|e| Rejection::Malformed(format!("payload is not JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| Rejection::Malformed("payload must be a JSON object".into()))?;
    let datastream = if let Some(id) = topic
        .strip_prefix("v1.1/Datastreams(")
        .and_then(|r| r.strip_suffix(")/Observations"))
    {
        id.parse::<i64>()
            .map_err(|_| Rejection::Malformed(format!("topic {topic}: no datastream id")))?
    } else if topic == "v1.1/Observations" {
        obj.get("Datastream")
            .and_then(|d| d.get("@iot.id"))
            .and_then(Value::as_i64)
            .ok_or_else(|| Rejection::Malformed("Datastream {\"@iot.id\": n} is required".into()))?
    } else {
        let (station, property) = topics
            .iter()
            .find_map(|p| match_pattern(p, topic))
            .ok_or_else(|| {
                Rejection::Malformed(format!("topic {topic} is not one cuulong reads"))
            })?;
        i64::from(
            catalog
                .datastream_of(station, property)
                .ok_or_else(|| Rejection::UnknownStation {
                    station: station.chars().take(40).collect(),
                    property: property.chars().take(40).collect(),
                })?
                .id,
        )
    };
    let time = time_of(obj.get("phenomenonTime").or_else(|| obj.get("time")))?;
    let result = obj
        .get("result")
        .or_else(|| obj.get("value"))
        .cloned()
        .ok_or_else(|| Rejection::Malformed("result (or value) is required".into()))?;
    let quality = match obj.get("resultQuality").and_then(Value::as_str) {
        Some("suspect") => Quality::Suspect,
        Some("bad") => Quality::Bad,
        _ => Quality::Good,
    };
    Ok(Reading {
        datastream,
        time,
        result,
        quality,
    })
}

/// Stores a batch (retrying while the store is away: nothing is acknowledged meanwhile), then
/// acknowledges its messages.
async fn flush(
    state: &AppState,
    client: &AsyncClient,
    config: &MqttConfig,
    batch: Vec<(Publish, Result<Reading, Rejection>)>,
) {
    let mut delay = Duration::from_millis(200);
    loop {
        // The key's rights now (it may have been revoked since the last batch).
        let Some(caller) = verify(&state.keys.load(), &config.key, Utc::now())
            .ok()
            .map(Caller::from_key)
        else {
            tracing::error!("MQTT: the configured API key is unknown, revoked or expired; readings wait unacknowledged");
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        };
        let catalog = state.observations.catalog.load_full();
        let readings: Vec<Result<Reading, Rejection>> = batch
            .iter()
            .map(|(_, r)| match r {
                Ok(r) => Ok(Reading {
                    datastream: r.datastream,
                    time: r.time,
                    result: r.result.clone(),
                    quality: r.quality,
                }),
                Err(e) => Err(e.clone()),
            })
            .collect();
        let checked = check_all(&catalog, &caller, readings, Utc::now());
        match ingest(state, &checked).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = %e, readings = batch.len(), "MQTT: could not store a batch; retrying (nothing acknowledged)");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    for (p, _) in &batch {
        if let Err(e) = client.ack(p).await {
            tracing::warn!(error = %e, "MQTT: could not acknowledge (the broker sends it again)");
        }
    }
    state
        .observations
        .counters
        .mqtt_messages
        .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
}

/// Subscribes and ingests until the process ends; reconnects when the broker goes away.
pub async fn run(state: Arc<AppState>, config: MqttConfig) {
    let Ok((host, port)) = host_port(&config.url) else {
        tracing::error!(url = %config.url, "MQTT: bad broker URL");
        return;
    };
    // Not before the network is loaded: a reading of a datastream not yet known would be
    // refused and acknowledged — lost.
    while !state.observations.is_loaded() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut options = MqttOptions::new(config.client_id.clone(), host, port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_max_packet_size(MAX_MESSAGE, MAX_MESSAGE);
    let (client, mut events) = AsyncClient::new(options, 4096);
    let mut filters = vec![
        "v1.1/+/Observations".to_owned(),
        "v1.1/Observations".to_owned(),
    ];
    filters.extend(config.topics.iter().filter_map(|t| filter_of(t).ok()));
    // Batches are stored on their own task so the connection keeps being served (keep-alive,
    // and the acknowledgements the writer queues) while the store is slow or away. The queue
    // needs no bound of its own: the broker sends at most its in-flight window
    // (`max_inflight_messages`) of messages this session has not acknowledged, and nothing is
    // acknowledged before it is stored.
    let (tx, mut rx) =
        tokio::sync::mpsc::unbounded_channel::<Vec<(Publish, Result<Reading, Rejection>)>>();
    let writer = {
        let (state, client, config) = (state.clone(), client.clone(), config.clone());
        tokio::spawn(async move {
            while let Some(batch) = rx.recv().await {
                flush(&state, &client, &config, batch).await;
            }
        })
    };
    let mut batch = Vec::new();
    let mut delay = Duration::from_millis(200);
    loop {
        let next = if batch.is_empty() {
            Some(events.poll().await)
        } else {
            tokio::time::timeout(LINGER, events.poll()).await.ok()
        };
        let lingered = next.is_none();
        match next {
            Some(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
                delay = Duration::from_millis(200);
                tracing::info!(url = %config.url, session_present = ack.session_present, "MQTT: connected");
                if !ack.session_present {
                    for f in &filters {
                        if let Err(e) = client.subscribe(f, QoS::AtLeastOnce).await {
                            tracing::error!(error = %e, filter = %f, "MQTT: could not subscribe");
                        }
                    }
                }
            }
            Some(Ok(Event::Incoming(Packet::Publish(p)))) => {
                let catalog = state.observations.catalog.load();
                let r = reading(&catalog, &config.topics, &p.topic, &p.payload);
                batch.push((p, r));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::warn!(error = %e, url = %config.url, "MQTT: connection lost; reconnecting in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            None => {}
        }
        if !batch.is_empty()
            && (batch.len() >= BATCH || lingered)
            && tx.send(std::mem::take(&mut batch)).is_err()
        {
            break;
        }
    }
    writer.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_payloads_become_readings() {
        assert_eq!(
            filter_of("bentre/{station}/{property}").unwrap(),
            "bentre/+/+"
        );
        assert!(filter_of("bentre/{station}").is_err());
        assert_eq!(
            match_pattern("bentre/{station}/{property}", "bentre/BT03/salinity"),
            Some(("BT03", "salinity"))
        );
        assert_eq!(
            match_pattern("bentre/{station}/{property}", "other/BT03/salinity"),
            None
        );
        assert_eq!(
            host_port("mqtt://127.0.0.1:1884").unwrap(),
            ("127.0.0.1".into(), 1884)
        );
        assert!(host_port("http://x").is_err());
        let network = cuulong_core::sta::Network::parse(include_str!(
            "../../../data-samples/observations/network.toml"
        ))
        .unwrap();
        let c = Catalog::default().merge(&network, Utc::now());
        let topics = vec!["bentre/{station}/{property}".to_owned()];
        let r = reading(
            &c,
            &topics,
            "v1.1/Datastreams(3)/Observations",
            br#"{"phenomenonTime":"2026-11-30T00:00:00Z","result":4.5}"#,
        )
        .unwrap();
        assert_eq!((r.datastream, r.result.as_f64()), (3, Some(4.5)));
        let r = reading(
            &c,
            &topics,
            "bentre/BT03/salinity",
            br#"{"time":"2026-11-30T00:00:00+07:00","value":"2.5"}"#,
        )
        .unwrap();
        assert_eq!(
            r.datastream,
            i64::from(c.datastream_of("BT03", "salinity").unwrap().id)
        );
        assert!(reading(&c, &topics, "bentre/BT99/salinity", br#"{"value":1}"#).is_err());
        assert!(reading(&c, &topics, "v1.1/Observations", br#"{"result":1}"#).is_err());
        assert!(reading(&c, &topics, "v1.1/Datastreams(1)/Observations", b"not json").is_err());
    }
}
