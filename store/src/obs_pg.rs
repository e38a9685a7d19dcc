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

pub async fn append(pool: &PgPool, batch: &[Observation]) -> Result<u64> {
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
    sqlx::query("SELECT cuulong.ensure_observation_partitions($1)")
        .bind(&months)
        .execute(pool)
        .await
        .map_err(db("making the observation partitions"))?;
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
    .await
    .map_err(db("writing observations"))?;
    Ok(done.rows_affected())
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
