//! Observations in PostGIS: `cuulong.observations`, partitioned by UTC month of phenomenon
//! time (partitions made on demand by `cuulong.ensure_observation_partitions`), and the
//! network's catalogue as one JSON document in `cuulong.sta_catalog`. A batch is one
//! `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING` in its own transaction: it is
//! acknowledged once committed, and a re-sent (datastream, time) is skipped.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use cuulong_core::sta::{Catalog, Observation, Quality};
use sqlx::postgres::PgPool;
use sqlx::Row;

use crate::{db, Result, StoreError};

pub async fn catalog(pool: &PgPool) -> Result<Catalog> {
    let body: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT body FROM cuulong.sta_catalog WHERE id = 1")
            .fetch_optional(pool)
            .await
            .map_err(db("reading the observation network"))?;
    match body {
        None => Ok(Catalog::default()),
        Some(b) => serde_json::from_value(b).map_err(|e| {
            StoreError::Config(format!("cuulong.sta_catalog holds no valid network: {e}"))
        }),
    }
}

pub async fn save_catalog(pool: &PgPool, catalog: &Catalog) -> Result<()> {
    let body = serde_json::to_value(catalog)
        .map_err(|e| StoreError::Config(format!("observation network: {e}")))?;
    sqlx::query(
        "INSERT INTO cuulong.sta_catalog (id, body, updated_at) VALUES (1, $1, now()) \
         ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, updated_at = now()",
    )
    .bind(body)
    .execute(pool)
    .await
    .map_err(db("writing the observation network"))?;
    notify(pool).await
}

async fn notify(pool: &PgPool) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(crate::NOTIFY_CHANNEL)
        .bind(crate::OBSERVATIONS_CHANGED)
        .execute(pool)
        .await
        .map_err(db("announcing observations"))?;
    Ok(())
}

pub async fn announce(pool: &PgPool) -> Result<()> {
    sqlx::query(
        "INSERT INTO cuulong.observation_imports (id, imports) VALUES (1, 1) \
         ON CONFLICT (id) DO UPDATE SET imports = cuulong.observation_imports.imports + 1",
    )
    .execute(pool)
    .await
    .map_err(db("announcing observations"))?;
    notify(pool).await
}

pub async fn token(pool: &PgPool) -> Result<Option<String>> {
    let n: Option<i64> =
        sqlx::query_scalar("SELECT imports FROM cuulong.observation_imports WHERE id = 1")
            .fetch_optional(pool)
            .await
            .map_err(db("reading the observation import count"))?;
    Ok(n.map(|n| n.to_string()))
}

/// The first instant (UTC) of the month of `ms`.
fn month_start(ms: i64) -> Option<DateTime<Utc>> {
    let t = DateTime::<Utc>::from_timestamp_millis(ms)?;
    Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
        .single()
}

/// The months whose partition a store has made sure of: partitions are never dropped by
/// cuulong, so each is asked for once; after a failed insert (one dropped by hand) all are
/// checked again.
#[derive(Default)]
pub struct KnownMonths(std::sync::Mutex<std::collections::HashSet<i64>>);

impl KnownMonths {
    fn unknown(&self, months: &[DateTime<Utc>]) -> Vec<DateTime<Utc>> {
        let known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        months
            .iter()
            .filter(|m| !known.contains(&m.timestamp()))
            .copied()
            .collect()
    }

    fn remember(&self, months: &[DateTime<Utc>], ok: bool) {
        let mut known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if ok {
            known.extend(months.iter().map(|m| m.timestamp()));
        } else {
            known.clear();
        }
    }
}

pub async fn append(pool: &PgPool, known: &KnownMonths, batch: &[Observation]) -> Result<u64> {
    if batch.is_empty() {
        return Ok(0);
    }
    let mut months: Vec<DateTime<Utc>> = batch
        .iter()
        .filter_map(|o| month_start(o.time_ms))
        .collect();
    months.sort_unstable();
    months.dedup();
    let mut ds = Vec::with_capacity(batch.len());
    let mut times = Vec::with_capacity(batch.len());
    let mut results = Vec::with_capacity(batch.len());
    let mut quality = Vec::with_capacity(batch.len());
    for o in batch {
        let Some(t) = DateTime::<Utc>::from_timestamp_millis(o.time_ms) else {
            continue;
        };
        ds.push(o.datastream as i32);
        times.push(t);
        results.push(o.result);
        quality.push(i16::from(o.quality.as_u8()));
    }
    let months_to_make = known.unknown(&months);
    if !months_to_make.is_empty() {
        sqlx::query("SELECT cuulong.ensure_observation_partitions($1)")
            .bind(&months_to_make)
            .execute(pool)
            .await
            .map_err(db("making the observation partitions"))?;
    }
    // The fast path: binary COPY straight into the table, as most batches are new readings.
    // A re-sent reading fails it on the primary key; the batch then goes in with INSERT …
    // ON CONFLICT DO NOTHING. Either way in one transaction: all of the batch or none.
    match copy_new(pool, batch).await {
        Ok(n) => {
            known.remember(&months, true);
            return Ok(n);
        }
        Err(e) if is_unique_violation(&e) => {}
        Err(e) => {
            known.remember(&months, false);
            return Err(db("copying observations")(e));
        }
    }
    let done = sqlx::query(
        "INSERT INTO cuulong.observations (datastream_id, phenomenon_time, result, quality) \
         SELECT * FROM unnest($1::int4[], $2::timestamptz[], $3::float8[], $4::int2[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&ds)
    .bind(&times)
    .bind(&results)
    .bind(&quality)
    .execute(pool)
    .await;
    known.remember(&months, done.is_ok());
    Ok(done.map_err(db("writing observations"))?.rows_affected())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}

/// Microseconds from 1970 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// The batch as one binary COPY payload: datastream_id int4, phenomenon_time timestamptz,
/// result float8, quality int2.
fn encode(batch: &[Observation]) -> Vec<u8> {
    let mut out = Vec::with_capacity(19 + batch.len() * 40 + 2);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    for o in batch {
        out.extend_from_slice(&4i16.to_be_bytes());
        out.extend_from_slice(&4i32.to_be_bytes());
        out.extend_from_slice(&(o.datastream as i32).to_be_bytes());
        out.extend_from_slice(&8i32.to_be_bytes());
        out.extend_from_slice(&(o.time_ms * 1000 - PG_EPOCH_US).to_be_bytes());
        out.extend_from_slice(&8i32.to_be_bytes());
        out.extend_from_slice(&o.result.to_bits().to_be_bytes());
        out.extend_from_slice(&2i32.to_be_bytes());
        out.extend_from_slice(&i16::from(o.quality.as_u8()).to_be_bytes());
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

async fn copy_new(pool: &PgPool, batch: &[Observation]) -> std::result::Result<u64, sqlx::Error> {
    let payload = encode(batch);
    let mut tx = pool.begin().await?;
    let mut copy = tx
        .copy_in_raw(
            "COPY cuulong.observations (datastream_id, phenomenon_time, result, quality) \
             FROM STDIN (FORMAT binary)",
        )
        .await?;
    copy.send(payload.as_slice()).await?;
    let n = copy.finish().await?;
    tx.commit().await?;
    Ok(n)
}

pub async fn read(pool: &PgPool, datastream: u32) -> Result<Vec<Observation>> {
    let rows = sqlx::query(
        "SELECT phenomenon_time, result, quality FROM cuulong.observations \
         WHERE datastream_id = $1 ORDER BY phenomenon_time",
    )
    .bind(datastream as i32)
    .fetch_all(pool)
    .await
    .map_err(db("reading observations"))?;
    rows.iter()
        .map(|r| {
            let t: DateTime<Utc> = r.try_get("phenomenon_time")?;
            let q: i16 = r.try_get("quality")?;
            Ok(Observation {
                datastream,
                time_ms: t.timestamp_millis(),
                result: r.try_get("result")?,
                quality: Quality::from_u8(q as u8).unwrap_or_default(),
            })
        })
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(db("reading observations"))
}
