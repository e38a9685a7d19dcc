//! `cuulong observations`: set up the network of stations (SensorThings catalogue), import
//! bulletin tables and history from CSV or Excel, and simulate readings for the samples.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use clap::Subcommand;
use cuulong_core::sta::simulate::Simulation;
use cuulong_core::sta::{Catalog, Network, Observation, Rejection};
use cuulong_store::Store;

#[derive(Subcommand)]
pub enum ObservationsAction {
    /// Load (or update) the network of stations, properties and datastreams; ids of known
    /// ones never change.
    Setup {
        /// The network file.
        #[arg(default_value = "data-samples/observations/network.toml")]
        network: PathBuf,
    },
    /// Import readings from a CSV or Excel (.xlsx) table: columns station, time (with a
    /// zone), value, and property (or --property).
    Import {
        file: PathBuf,
        /// The observed property when the table has no property column.
        #[arg(long, default_value = "salinity")]
        property: String,
        /// The UTC offset of times written without one (e.g. +07:00 for bulletins of Bến Tre);
        /// without it such times are refused.
        #[arg(long, value_name = "OFFSET")]
        assume_offset: Option<String>,
        /// Check only; store nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        quiet: bool,
    },
    /// Write simulated readings (labelled synthetic) for every datastream: the last --days,
    /// then with --follow one reading per datastream every --every-seconds.
    Simulate {
        #[arg(long, default_value_t = 7)]
        days: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 15)]
        step_minutes: u32,
        /// Send through a server's SensorThings API (CreateObservations) instead of writing
        /// into the store.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// API key with the scope observations:write (with --url); or the file holding it.
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
        #[arg(long)]
        follow: bool,
        #[arg(long, default_value_t = 10)]
        every_seconds: u64,
    },
}

pub async fn run(store: Arc<dyn Store>, action: ObservationsAction) -> Result<()> {
    match action {
        ObservationsAction::Setup { network } => setup(store.as_ref(), &network).await,
        ObservationsAction::Import {
            file,
            property,
            assume_offset,
            dry_run,
            quiet,
        } => {
            let offset = match assume_offset {
                Some(o) => Some(parse_offset(&o)?),
                None => None,
            };
            import(store.as_ref(), &file, &property, offset, dry_run, quiet).await
        }
        ObservationsAction::Simulate {
            days,
            seed,
            step_minutes,
            url,
            key,
            follow,
            every_seconds,
        } => {
            let key = match key {
                Some(k) if Path::new(&k).is_file() => Some(
                    std::fs::read_to_string(&k)
                        .with_context(|| format!("reading the key file {k}"))?
                        .trim()
                        .to_owned(),
                ),
                other => other,
            };
            let sink = match url {
                Some(url) => Sink::Http {
                    url: url.trim_end_matches('/').to_owned(),
                    key: key
                        .context("--url needs --key (a key with the scope observations:write)")?,
                    client: reqwest::Client::new(),
                },
                None => Sink::Store(store.clone()),
            };
            simulate(
                store.as_ref(),
                &sink,
                days,
                seed,
                step_minutes,
                follow,
                every_seconds,
            )
            .await
        }
    }
}

async fn setup(store: &dyn Store, path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the network file {}", path.display()))?;
    let network = Network::parse(&text).with_context(|| path.display().to_string())?;
    let before = store.sta_catalog().await?;
    let after = before.merge(&network, Utc::now());
    store.save_sta_catalog(&after).await?;
    eprintln!(
        "cuulong: observation network from {}: {} stations, {} properties, {} datastreams ({} new)",
        path.display(),
        after.things.len(),
        after.properties.len(),
        after.datastreams.len(),
        after.datastreams.len() - before.datastreams.len()
    );
    Ok(())
}

fn parse_offset(s: &str) -> Result<FixedOffset> {
    let t = format!("2000-01-01T00:00:00{s}");
    DateTime::parse_from_rfc3339(&t)
        .map(|t| *t.offset())
        .map_err(|_| anyhow::anyhow!("--assume-offset {s}: expected an offset like +07:00"))
}

/// A time cell: RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` with a zone (or the assumed one).
fn parse_time(s: &str, offset: Option<FixedOffset>) -> Result<DateTime<Utc>, Rejection> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%:z",
        "%Y-%m-%d %H:%M%:z",
        "%Y-%m-%d %H:%M:%S %:z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%d/%m/%Y %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return match offset {
                Some(o) => n
                    .and_local_timezone(o)
                    .single()
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(|| Rejection::Malformed(format!("time '{s}' is ambiguous"))),
                None => Err(Rejection::Malformed(format!(
                    "time '{s}' has no zone (give --assume-offset +07:00 for local times)"
                ))),
            };
        }
    }
    Err(Rejection::Malformed(format!(
        "time '{}' is not a date and time",
        s.chars().take(40).collect::<String>()
    )))
}

/// The rows of a table as text cells, with its header.
fn read_table(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("xlsx") | Some("xls") | Some("ods") => {
            use calamine::{open_workbook_auto, Data, Reader};
            let mut wb = open_workbook_auto(path)
                .with_context(|| format!("{}: not a readable workbook", path.display()))?;
            let sheet = wb
                .sheet_names()
                .first()
                .cloned()
                .with_context(|| format!("{}: no sheet", path.display()))?;
            let range = wb
                .worksheet_range(&sheet)
                .with_context(|| format!("{}: sheet '{sheet}'", path.display()))?;
            let mut rows = range.rows().map(|r| {
                r.iter()
                    .map(|c| match c {
                        Data::DateTime(d) => d
                            .as_datetime()
                            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                            .unwrap_or_default(),
                        Data::DateTimeIso(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<String>>()
            });
            let header = rows.next().unwrap_or_default();
            Ok((header, rows.collect()))
        }
        _ => {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .from_path(path)
                .with_context(|| format!("{}: cannot open", path.display()))?;
            let header = reader
                .headers()
                .with_context(|| format!("{}: no header row", path.display()))?
                .iter()
                .map(str::to_owned)
                .collect();
            let mut rows = Vec::new();
            for (n, r) in reader.records().enumerate() {
                let r = r.with_context(|| format!("{}: row {}", path.display(), n + 2))?;
                rows.push(r.iter().map(str::to_owned).collect());
            }
            Ok((header, rows))
        }
    }
}

fn column(header: &[String], names: &[&str]) -> Option<usize> {
    header.iter().position(|h| {
        let h = h.trim().to_lowercase();
        names.contains(&h.as_str())
    })
}

async fn import(
    store: &dyn Store,
    path: &Path,
    default_property: &str,
    offset: Option<FixedOffset>,
    dry_run: bool,
    quiet: bool,
) -> Result<()> {
    let started = std::time::Instant::now();
    let catalog = store.sta_catalog().await?;
    if catalog.datastreams.is_empty() {
        bail!("no observation network yet: run `cuulong observations setup` first");
    }
    let (header, rows) = read_table(path)?;
    let file = path.display().to_string();
    let station = column(
        &header,
        &["station", "station_code", "ma_tram", "mã trạm", "code"],
    )
    .with_context(|| format!("{file}: no station column (station, station_code, ma_tram)"))?;
    let time = column(
        &header,
        &[
            "time",
            "phenomenon_time",
            "phenomenontime",
            "thoi_gian",
            "thời gian",
            "datetime",
        ],
    )
    .with_context(|| format!("{file}: no time column (time, phenomenon_time, thoi_gian)"))?;
    let value = column(
        &header,
        &[
            "value",
            "result",
            "gia_tri",
            "giá trị",
            "do_man",
            "độ mặn",
            "salinity",
        ],
    )
    .with_context(|| format!("{file}: no value column (value, result, gia_tri)"))?;
    let property = column(
        &header,
        &["property", "observed_property", "chi_tieu", "chỉ tiêu"],
    );
    let now = Utc::now();
    let total = rows.len() as u64;
    let mut progress = cuulong_importers::progress::Progress::new(!quiet, Some(total), &file);
    let mut rejected: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut examples = Vec::new();
    let (mut new, mut batch) = (0u64, Vec::with_capacity(50_000));
    let mut good = 0u64;
    for (n, row) in rows.iter().enumerate() {
        let cell = |i: usize| row.get(i).map(String::as_str).unwrap_or("");
        let checked = (|| -> Result<Observation, Rejection> {
            let code = cell(station).trim();
            let prop = property.map_or(default_property, |i| cell(i).trim());
            let ds =
                catalog
                    .datastream_of(code, prop)
                    .ok_or_else(|| Rejection::UnknownStation {
                        station: code.chars().take(40).collect(),
                        property: prop.chars().take(40).collect(),
                    })?;
            let t = parse_time(cell(time), offset)?;
            let v = serde_json::Value::String(cell(value).trim().replace(',', "."));
            catalog.check(i64::from(ds.id), t, &v, now)
        })();
        match checked {
            Ok(o) => {
                good += 1;
                batch.push(o);
            }
            Err(e) => {
                *rejected.entry(e.reason()).or_default() += 1;
                if examples.len() < 10 {
                    // Row numbers as a spreadsheet shows them (the header is row 1).
                    examples.push(format!("{file}: row {}: {e}", n + 2));
                }
            }
        }
        if batch.len() >= 50_000 {
            if !dry_run {
                new += store.append_observations(&batch).await?;
            }
            batch.clear();
            progress.set(n as u64 + 1);
        }
    }
    if !batch.is_empty() && !dry_run {
        new += store.append_observations(&batch).await?;
    }
    progress.finish(total);
    if !dry_run && new > 0 {
        store.announce_observations().await?;
    }
    for e in &examples {
        eprintln!("cuulong: rejected: {e}");
    }
    let refused: u64 = rejected.values().sum();
    let reasons: Vec<String> = rejected.iter().map(|(r, n)| format!("{r} {n}")).collect();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "cuulong: {file}: {total} rows read, {good} valid, {} stored new, {} already stored, {refused} rejected{} in {secs:.1} s ({:.0} rows/s){}",
        if dry_run { 0 } else { new },
        if dry_run { 0 } else { good - new },
        if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) },
        total as f64 / secs.max(1e-3),
        if dry_run { " — dry run, nothing stored" } else { "" },
    );
    println!(
        "{}",
        serde_json::json!({
            "file": file, "read": total, "valid": good, "stored": if dry_run { 0 } else { new },
            "duplicates": if dry_run { 0 } else { good - new }, "rejected": rejected,
            "seconds": secs,
        })
    );
    Ok(())
}

enum Sink {
    Store(Arc<dyn Store>),
    Http {
        url: String,
        key: String,
        client: reqwest::Client,
    },
}

impl Sink {
    async fn send(&self, catalog: &Catalog, obs: &[Observation]) -> Result<u64> {
        match self {
            Sink::Store(store) => {
                let n = store.append_observations(obs).await?;
                if n > 0 {
                    store.announce_observations().await?;
                }
                Ok(n)
            }
            Sink::Http { url, key, client } => {
                let mut sent = 0;
                for chunk in obs.chunks(10_000) {
                    let mut groups: BTreeMap<u32, Vec<serde_json::Value>> = BTreeMap::new();
                    for o in chunk {
                        groups
                            .entry(o.datastream)
                            .or_default()
                            .push(serde_json::json!([
                                cuulong_core::sta::iso_time(o.time_ms),
                                o.result,
                                o.quality.as_str()
                            ]));
                    }
                    let body: Vec<serde_json::Value> = groups
                        .into_iter()
                        .filter(|(ds, _)| catalog.datastream(*ds).is_some())
                        .map(|(ds, rows)| {
                            serde_json::json!({
                                "Datastream": {"@iot.id": ds},
                                "components": ["phenomenonTime", "result", "resultQuality"],
                                "dataArray@iot.count": rows.len(),
                                "dataArray": rows,
                            })
                        })
                        .collect();
                    let resp = client
                        .post(format!("{url}/sta/v1.1/CreateObservations"))
                        .bearer_auth(key)
                        .json(&body)
                        .send()
                        .await
                        .with_context(|| format!("sending observations to {url}"))?;
                    let status = resp.status();
                    if !status.is_success() {
                        let text = resp.text().await.unwrap_or_default();
                        bail!(
                            "{url}: {status}: {}",
                            text.chars().take(300).collect::<String>()
                        );
                    }
                    let links: Vec<String> = resp.json().await.context("reading the answer")?;
                    sent += links.iter().filter(|l| !l.starts_with("error")).count() as u64;
                }
                Ok(sent)
            }
        }
    }
}

async fn simulate(
    store: &dyn Store,
    sink: &Sink,
    days: u32,
    seed: u64,
    step_minutes: u32,
    follow: bool,
    every_seconds: u64,
) -> Result<()> {
    let catalog = store.sta_catalog().await?;
    if catalog.datastreams.is_empty() {
        bail!("no observation network yet: run `cuulong observations setup` first");
    }
    let step = i64::from(step_minutes.max(1)) * 60_000;
    let now = Utc::now().timestamp_millis();
    let history = Simulation {
        seed,
        from_ms: now - i64::from(days) * 86_400_000,
        to_ms: now,
        step_ms: step,
        clean: false,
    }
    .run(&catalog);
    let n = sink.send(&catalog, &history).await?;
    eprintln!(
        "cuulong: simulated {} readings (synthetic) for {} datastreams over {days} days; {n} new",
        history.len(),
        catalog.datastreams.len()
    );
    if !follow {
        return Ok(());
    }
    let every = every_seconds.max(1);
    let mut last = now;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(every)).await;
        let now = Utc::now().timestamp_millis();
        let live = Simulation {
            seed,
            from_ms: last,
            to_ms: now,
            step_ms: every as i64 * 1000,
            clean: true,
        }
        .run(&catalog);
        last = now;
        match sink.send(&catalog, &live).await {
            Ok(_) => {}
            // A server restarting or busy: the next round sends again.
            Err(e) => eprintln!("cuulong: simulate: {e:#}"),
        }
    }
}
