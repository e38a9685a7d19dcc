//! Alert webhooks: each alert change is POSTed as JSON to every configured agency URL whose
//! agency may see the datastream, signed, retried with backoff until delivered (at least
//! once), and recorded in an outbox file so a restart sends what was not delivered yet.
//!
//! A request carries:
//! - `Idempotency-Key` / `X-Cuulong-Delivery`: the event id (`{datastream}-{limit}-{opened
//!   ms}-{open|close}`), the same on every retry, every replica and after a restart: a
//!   receiver that keeps the keys it has processed sees each event once;
//! - `X-Cuulong-Timestamp`: Unix seconds when this attempt was signed;
//! - `X-Cuulong-Signature`: `sha256=` and the hex HMAC-SHA256, keyed with the webhook's
//!   secret, of `{timestamp}.{body}` (the timestamp lets a receiver refuse replays);
//! - `X-Cuulong-Event`: `alert.open` or `alert.close`; `X-Cuulong-Attempt`: 1, 2, …
//!
//! Retries: 0.5 s, then doubling up to 60 s, for up to [`GIVE_UP_AFTER`] from a job's first
//! attempt; any 2xx is success,
//! anything else (an error status, a refused connection, no answer in 10 s) is retried.
//! Deliveries to one receiver go one at a time, in order.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cuulong_core::access::Caller;
use cuulong_core::sta::alert::WebhookDef;
use cuulong_core::sta::Catalog;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::mpsc;

use super::AlertEvent;

/// A delivery not made within this long is given up (and counted).
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LONGEST_RETRY: Duration = Duration::from_secs(60);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook '{name}': environment variable {var} (its secret) is not set")]
    NoSecret { name: String, var: String },
    #[error("webhook outbox {path}: {source}")]
    Outbox {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Default)]
pub struct Counters {
    pub delivered: AtomicU64,
    pub attempts: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub given_up: AtomicU64,
    pub pending: AtomicU64,
}

struct Target {
    def: WebhookDef,
    secret: Vec<u8>,
    caller: Caller,
    tx: mpsc::UnboundedSender<Job>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Job {
    webhook: String,
    event_id: String,
    kind: String,
    body: String,
    queued_ms: i64,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Line {
    /// When this outbox began: alert changes before it were never this server's to send.
    Since {
        ms: i64,
    },
    Queued(Job),
    Done {
        webhook: String,
        event_id: String,
    },
    GaveUp {
        webhook: String,
        event_id: String,
    },
}

struct Outbox {
    path: Option<PathBuf>,
    file: Option<std::fs::File>,
    /// (webhook, event id) queued or delivered, as the outbox remembers.
    known: HashSet<(String, String)>,
}

impl Outbox {
    fn append(&mut self, line: &Line) {
        let Some(f) = self.file.as_mut() else {
            return;
        };
        let mut text = serde_json::to_string(line).unwrap_or_default();
        text.push('\n');
        let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_data());
        if let Err(e) = written {
            tracing::error!(error = %e, path = ?self.path, "webhook outbox: cannot write");
        }
    }
}

pub struct Deliveries {
    targets: Vec<Target>,
    outbox: Mutex<Outbox>,
    pub counters: Arc<Counters>,
    receivers: Mutex<Vec<(usize, mpsc::UnboundedReceiver<Job>)>>,
    pending_at_start: Mutex<Vec<Job>>,
    /// When the outbox began (its first start); a change older is history, never sent.
    pub since_ms: i64,
}

impl Deliveries {
    /// Reads the secrets and the outbox (what was queued and not delivered is sent again once
    /// [`Deliveries::start`] runs).
    pub fn new(defs: &[WebhookDef], outbox: Option<&Path>) -> Result<Self, WebhookError> {
        let mut targets = Vec::new();
        let mut receivers = Vec::new();
        for (i, def) in defs.iter().enumerate() {
            let secret = std::env::var(&def.secret_env)
                .ok()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| WebhookError::NoSecret {
                    name: def.name.clone(),
                    var: def.secret_env.clone(),
                })?;
            let caller = if def.agency.is_some() || !def.grants.is_empty() {
                Caller::Key {
                    name: format!("webhook {}", def.name),
                    agency: def.agency.clone().unwrap_or_default(),
                    grants: def.grants.clone(),
                    scopes: Vec::new(),
                }
            } else {
                Caller::Anonymous
            };
            let (tx, rx) = mpsc::unbounded_channel();
            targets.push(Target {
                def: def.clone(),
                secret: secret.into_bytes(),
                caller,
                tx,
            });
            receivers.push((i, rx));
        }
        let read = match outbox {
            Some(path) => read_outbox(path).map_err(|source| WebhookError::Outbox {
                path: path.to_owned(),
                source,
            })?,
            None => Read {
                pending: Vec::new(),
                known: HashSet::new(),
                file: None,
                since_ms: chrono::Utc::now().timestamp_millis(),
            },
        };
        let Read {
            pending,
            known,
            file,
            since_ms,
        } = read;
        Ok(Self {
            targets,
            outbox: Mutex::new(Outbox {
                path: outbox.map(Path::to_owned),
                file,
                known,
            }),
            counters: Arc::new(Counters::default()),
            receivers: Mutex::new(receivers),
            pending_at_start: Mutex::new(pending),
            since_ms,
        })
    }

    pub fn names(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.def.name.clone()).collect()
    }

    /// Queues an alert change for every receiver that may see its datastream. With
    /// `only_unknown` (the replay at start), only what the outbox has no record of.
    pub fn enqueue(&self, ev: &AlertEvent, catalog: &Catalog, only_unknown: bool) {
        let Some(d) = catalog.datastream(ev.alert.datastream) else {
            return;
        };
        let body = match serde_json::to_string(ev) {
            Ok(b) => b,
            Err(_) => return,
        };
        let mut outbox = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
        for t in &self.targets {
            if !t.caller.may_see(
                d.access,
                &format!("datastream:{}", d.id),
                d.owner.as_deref(),
            ) {
                continue;
            }
            let key = (t.def.name.clone(), ev.event_id.clone());
            if only_unknown && outbox.known.contains(&key) {
                continue;
            }
            let job = Job {
                webhook: t.def.name.clone(),
                event_id: ev.event_id.clone(),
                kind: ev.kind.to_owned(),
                body: body.clone(),
                queued_ms: chrono::Utc::now().timestamp_millis(),
            };
            outbox.append(&Line::Queued(job.clone()));
            outbox.known.insert(key);
            self.counters.pending.fetch_add(1, Ordering::Relaxed);
            let _ = t.tx.send(job);
        }
    }

    /// Starts one delivery task per receiver (and re-sends what the outbox held).
    pub fn start(self: &Arc<Self>) {
        let client = match reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cuulong/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhooks: cannot make an HTTP client");
                return;
            }
        };
        let pending = std::mem::take(
            &mut *self
                .pending_at_start
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for job in pending {
            if let Some(t) = self.targets.iter().find(|t| t.def.name == job.webhook) {
                self.counters.pending.fetch_add(1, Ordering::Relaxed);
                let _ = t.tx.send(job);
            }
        }
        let receivers =
            std::mem::take(&mut *self.receivers.lock().unwrap_or_else(|e| e.into_inner()));
        for (i, rx) in receivers {
            tokio::spawn(deliver(self.clone(), i, rx, client.clone()));
        }
    }

    fn finish(&self, job: &Job, delivered: bool) {
        self.counters.pending.fetch_sub(1, Ordering::Relaxed);
        let (webhook, event_id) = (job.webhook.clone(), job.event_id.clone());
        let line = if delivered {
            self.counters.delivered.fetch_add(1, Ordering::Relaxed);
            Line::Done { webhook, event_id }
        } else {
            self.counters.given_up.fetch_add(1, Ordering::Relaxed);
            Line::GaveUp { webhook, event_id }
        };
        self.outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .append(&line);
    }
}

/// The signature header value of a body signed at `timestamp`.
pub fn signature(secret: &[u8], timestamp: i64, body: &str) -> String {
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn deliver(
    all: Arc<Deliveries>,
    target: usize,
    mut rx: mpsc::UnboundedReceiver<Job>,
    client: reqwest::Client,
) {
    while let Some(job) = rx.recv().await {
        let t = &all.targets[target];
        let mut delay = FIRST_RETRY;
        let mut attempt = 0u32;
        // A job's 24 h of retries start when its turn comes, not when it was queued: jobs
        // queued behind one that waited for a receiver down for a day get their own day.
        let first_attempt = chrono::Utc::now().timestamp_millis();
        loop {
            attempt += 1;
            all.counters.attempts.fetch_add(1, Ordering::Relaxed);
            let now = chrono::Utc::now().timestamp();
            let answer = client
                .post(&t.def.url)
                .header("Content-Type", "application/json")
                .header("Idempotency-Key", &job.event_id)
                .header("X-Cuulong-Delivery", &job.event_id)
                .header("X-Cuulong-Event", &job.kind)
                .header("X-Cuulong-Attempt", attempt.to_string())
                .header("X-Cuulong-Timestamp", now.to_string())
                .header("X-Cuulong-Signature", signature(&t.secret, now, &job.body))
                .body(job.body.clone())
                .send()
                .await;
            match answer {
                Ok(r) if r.status().is_success() => {
                    finish(&all, &job, true).await;
                    break;
                }
                Ok(r) => {
                    tracing::warn!(webhook = %t.def.name, event = %job.event_id, status = %r.status(), attempt, "webhook refused; retrying");
                }
                Err(e) => {
                    tracing::warn!(webhook = %t.def.name, event = %job.event_id, error = %e, attempt, "webhook unreachable; retrying");
                }
            }
            all.counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
            let age = chrono::Utc::now().timestamp_millis() - first_attempt;
            if age > GIVE_UP_AFTER.as_millis() as i64 {
                tracing::error!(webhook = %t.def.name, event = %job.event_id, "webhook given up");
                finish(&all, &job, false).await;
                break;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(LONGEST_RETRY);
        }
    }
}

/// Records a delivery's end in the outbox (an fsync: off the async threads).
async fn finish(all: &Arc<Deliveries>, job: &Job, delivered: bool) {
    let (all, job) = (all.clone(), job.clone());
    let _ = tokio::task::spawn_blocking(move || all.finish(&job, delivered)).await;
}

/// What an outbox holds.
struct Read {
    /// Queued and not finished.
    pending: Vec<Job>,
    /// Every (webhook, event) recorded.
    known: HashSet<(String, String)>,
    /// The file, rewritten with only what is still worth keeping, open for appending.
    file: Option<std::fs::File>,
    since_ms: i64,
}

fn read_outbox(path: &Path) -> std::io::Result<Read> {
    let mut since_ms = None;
    let mut queued: Vec<Job> = Vec::new();
    let mut finished: HashSet<(String, String)> = HashSet::new();
    match std::fs::File::open(path) {
        Ok(f) => {
            for line in std::io::BufReader::new(f).lines() {
                // A torn last line (killed mid-write) is skipped.
                let Ok(line) = serde_json::from_str::<Line>(&line?) else {
                    continue;
                };
                match line {
                    Line::Since { ms } => since_ms = since_ms.or(Some(ms)),
                    Line::Queued(j) => queued.push(j),
                    Line::Done { webhook, event_id } | Line::GaveUp { webhook, event_id } => {
                        finished.insert((webhook, event_id));
                    }
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let horizon = chrono::Utc::now().timestamp_millis() - GIVE_UP_AFTER.as_millis() as i64 * 2;
    let since_ms = since_ms.unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
    let mut known = HashSet::new();
    let mut keep = serde_json::to_string(&Line::Since { ms: since_ms }).unwrap_or_default();
    keep.push('\n');
    let mut pending = Vec::new();
    for j in queued {
        let key = (j.webhook.clone(), j.event_id.clone());
        if j.queued_ms < horizon || !known.insert(key.clone()) {
            continue;
        }
        keep.push_str(&serde_json::to_string(&Line::Queued(j.clone())).unwrap_or_default());
        keep.push('\n');
        if finished.contains(&key) {
            let (webhook, event_id) = key;
            keep.push_str(
                &serde_json::to_string(&Line::Done { webhook, event_id }).unwrap_or_default(),
            );
            keep.push('\n');
        } else {
            pending.push(j);
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(keep.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    let file = std::fs::OpenOptions::new().append(true).open(path)?;
    Ok(Read {
        pending,
        known,
        file: Some(file),
        since_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Checked with Python: hmac.new(b"Jefe", b"0.what do ya want for nothing?",
        // hashlib.sha256).hexdigest() (the key and message of RFC 4231 case 2).
        assert_eq!(
            signature(b"Jefe", 0, "what do ya want for nothing?"),
            "sha256=37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc"
        );
    }

    #[test]
    fn the_outbox_resends_what_was_not_delivered_and_forgets_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.jsonl");
        let now = chrono::Utc::now().timestamp_millis();
        let job = |id: &str| Job {
            webhook: "w".into(),
            event_id: id.into(),
            kind: "alert.open".into(),
            body: "{}".into(),
            queued_ms: now,
        };
        let mut text = String::new();
        for l in [
            Line::Queued(job("a")),
            Line::Queued(job("b")),
            Line::Done {
                webhook: "w".into(),
                event_id: "a".into(),
            },
        ] {
            text.push_str(&serde_json::to_string(&l).unwrap());
            text.push('\n');
        }
        text.push_str("{\"op\":\"queu"); // torn
        std::fs::write(&path, text).unwrap();
        let first = read_outbox(&path).unwrap();
        assert_eq!(first.pending.len(), 1);
        assert_eq!(first.pending[0].event_id, "b");
        assert!(first.known.contains(&("w".into(), "a".into())));
        // Read again: the rewrite kept the same state, and when the outbox began.
        let again = read_outbox(&path).unwrap();
        assert_eq!((again.pending.len(), again.known.len()), (1, 2));
        assert_eq!(again.since_ms, first.since_ms);
    }
}
