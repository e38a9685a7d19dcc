//! PostGIS backend. The catalogue lives in `cuulong.layers`, history in `cuulong.imports`, and
//! each layer version in its own table `cuulong_data.l_<id>_v<version>` with typed columns,
//! `geom geometry(Geometry, 4326)` and a GiST index.
//!
//! A replace runs in one transaction: create the new version's table, COPY the features in,
//! index it, drop the old table, update the catalogue, record history, NOTIFY. A crash before
//! COMMIT rolls everything back, so no half-written table is ever visible.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use cuulong_core::access::{ApiKey, AuditRecord};
use cuulong_core::{
    Access, Bbox, Feature, FieldType, ImportRecord, LayerDef, LayerId, LayerMeta, Schema, Value,
};
use futures::{StreamExt, TryStreamExt};
use geozero::{wkb::Wkb, ToGeo};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};

use crate::copy::{encode_batch, sql_type};
use crate::{
    db, Extent, FeatureStream, LayerWriter, Result, Store, StoreError, KEYS_CHANGED, NOTIFY_CHANNEL,
};

pub struct PostgisStore {
    pool: PgPool,
    description: String,
    /// Set once PostGIS was checked and the migrations applied (at once by `connect`, at the
    /// first successful call for a store opened with `connect_lazy`).
    prepared: tokio::sync::OnceCell<()>,
    /// Months whose observation partition exists (made sure of by this store).
    known_months: crate::obs_pg::KnownMonths,
    /// A hot standby of this primary that layer features are read from (a replica set).
    standby: Option<Standby>,
    /// How long one per-request read of a layer served from its table may run
    /// ([`PostgisStore::with_layer_read_timeout`]; `None`: unbounded).
    layer_read_timeout: Option<std::time::Duration>,
    /// `pool`'s connections with that bound, made on first use.
    layer_reads: std::sync::OnceLock<PgPool>,
}

/// A streaming standby the features of a layer version are read from, once it has replayed
/// the primary's WAL as of the read (the lag guard): a server never reads a version from a
/// standby that does not hold it yet. Away, or behind for longer than `max_lag`, the primary
/// serves the read. Catalogue, keys and notifications stay on the primary (small reads; and
/// a standby cannot `LISTEN`).
struct Standby {
    pool: PgPool,
    /// `pool`'s connections with the layer read bound, made on first use.
    layer_reads: std::sync::OnceLock<PgPool>,
    description: String,
    max_lag: std::time::Duration,
    stats: std::sync::Arc<crate::ReadStats>,
}

/// `pool`'s connection settings with PostgreSQL's `statement_timeout` at `timeout`: a read
/// running past it (a lock held on the table, a huge box) is ended by the server itself, so
/// a request that timed out leaves no query behind, and one whose client left none past the
/// request timeout (sqlx cannot cancel a running statement). A pool of its own:
/// the store's pool also runs migrations and imports, which must not be cut short.
fn bounded_pool(pool: &PgPool, timeout: std::time::Duration) -> PgPool {
    let options = (*pool.connect_options()).clone().options([(
        "statement_timeout",
        format!("{}ms", timeout.as_millis().max(1)),
    )]);
    PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(pool.options().get_acquire_timeout())
        .connect_lazy_with(options)
}

/// Quotes an identifier for SQL. Layer ids are validated and field names come from files, so
/// every identifier goes through here; values never do (they are bound or COPied).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn table_ref(table: &str) -> String {
    format!("cuulong_data.{}", quote_ident(table))
}

/// Redacts the password of a connection URL for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..scheme + 3], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

impl PostgisStore {
    /// Connects, checks PostGIS, and applies the migrations in `migrations/`.
    pub async fn connect(url: &str) -> Result<Self> {
        let description = format!("PostGIS {}", redact_url(url));
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(db(format!("connecting to {description}")))?;
        let store = Self {
            pool,
            description,
            prepared: tokio::sync::OnceCell::new(),
            known_months: Default::default(),
            standby: None,
            layer_read_timeout: None,
            layer_reads: Default::default(),
        };
        store.prepare().await?;
        Ok(store)
    }

    /// A store that connects on first use: for a server that starts from its snapshot while
    /// PostgreSQL is unreachable and catches up when it returns.
    pub fn connect_lazy(url: &str) -> Result<Self> {
        let description = format!("PostGIS {}", redact_url(url));
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_lazy(url)
            .map_err(db(format!("connecting to {description}")))?;
        Ok(Self {
            pool,
            description,
            prepared: tokio::sync::OnceCell::new(),
            known_months: Default::default(),
            standby: None,
            layer_read_timeout: None,
            layer_reads: Default::default(),
        })
    }

    /// Reads layer features from the hot standby at `url` (connected on first use: it may be
    /// away at start) once it has replayed what the primary had, waiting up to `max_lag`.
    pub fn with_standby(mut self, url: &str, max_lag: std::time::Duration) -> Result<Self> {
        let description = format!("standby {}", redact_url(url));
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(2))
            .connect_lazy(url)
            .map_err(db(format!("connecting to {description}")))?;
        self.description = format!("{}, {description}", self.description);
        self.standby = Some(Standby {
            pool,
            layer_reads: Default::default(),
            description,
            max_lag,
            stats: Default::default(),
        });
        Ok(self)
    }

    /// Bounds each per-request read of a layer served from its table (beyond the index
    /// budget) to `timeout`, enforced by PostgreSQL (`statement_timeout`): the server's
    /// request timeout. Loading a layer whole and imports stay unbounded.
    pub fn with_layer_read_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.layer_read_timeout = Some(timeout);
        self
    }

    /// The pool per-request reads of a layer served from its table go to: `read`, bounded.
    fn layer_read_pool(&self, read: &PgPool) -> PgPool {
        let Some(timeout) = self.layer_read_timeout else {
            return read.clone();
        };
        let cell = match &self.standby {
            Some(standby) if std::ptr::eq(read, &standby.pool) => &standby.layer_reads,
            _ => &self.layer_reads,
        };
        cell.get_or_init(|| bounded_pool(read, timeout)).clone()
    }

    /// The pool to read a layer's features from: the standby once it has replayed the
    /// primary's WAL position of now (polled every 20 ms up to `max_lag`), else the primary.
    /// With the primary away the standby serves what it has.
    async fn read_pool(&self) -> &PgPool {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(standby) = &self.standby else {
            return &self.pool;
        };
        let target: Option<String> = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(&self.pool)
            .await
            .ok();
        let started = std::time::Instant::now();
        loop {
            let caught_up: std::result::Result<bool, sqlx::Error> = match &target {
                Some(lsn) => {
                    sqlx::query_scalar(
                        "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)",
                    )
                    .bind(lsn)
                    .fetch_one(&standby.pool)
                    .await
                }
                None => {
                    sqlx::query_scalar("SELECT true")
                        .fetch_one(&standby.pool)
                        .await
                }
            };
            match caught_up {
                Ok(true) => {
                    standby.stats.standby.fetch_add(1, Relaxed);
                    standby
                        .stats
                        .waited_ms
                        .fetch_add(started.elapsed().as_millis() as u64, Relaxed);
                    return &standby.pool;
                }
                Ok(false) if started.elapsed() < standby.max_lag => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Ok(false) => {
                    tracing::warn!(standby = %standby.description, lag_s = standby.max_lag.as_secs_f64(), "standby behind for longer than its allowed lag: reading from the primary");
                    standby.stats.primary.fetch_add(1, Relaxed);
                    return &self.pool;
                }
                Err(e) => {
                    tracing::warn!(standby = %standby.description, error = %e, "standby unreachable: reading from the primary");
                    standby.stats.primary.fetch_add(1, Relaxed);
                    return &self.pool;
                }
            }
        }
    }

    /// Checks PostGIS and applies the migrations, once.
    async fn prepare(&self) -> Result<()> {
        self.prepared
            .get_or_try_init(|| async {
                let has_postgis: Option<String> = sqlx::query_scalar(
                    "SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'",
                )
                .fetch_optional(&self.pool)
                .await
                .map_err(db(format!("connecting to {}", self.description)))?;
                if has_postgis.is_none() {
                    return Err(StoreError::Config(format!(
                        "{}: the PostGIS extension is not installed on this server \
                         (Debian: apt-get install postgresql-15-postgis-3)",
                        self.description
                    )));
                }
                sqlx::migrate!("../migrations").run(&self.pool).await?;
                Ok(())
            })
            .await
            .map(|_| ())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn row_to_meta(row: &PgRow) -> Result<LayerMeta> {
    let get = |e: sqlx::Error| StoreError::Database {
        context: "reading the catalogue".into(),
        source: e,
    };
    let id: String = row.try_get("id").map_err(get)?;
    let access: String = row.try_get("access").map_err(get)?;
    let bbox: Option<Vec<f64>> = row.try_get("bbox").map_err(get)?;
    let schema: sqlx::types::Json<Schema> = row.try_get("schema").map_err(get)?;
    let catalog_err = |message: String| StoreError::Catalog {
        path: "cuulong.layers".into(),
        message,
    };
    Ok(LayerMeta {
        id: LayerId::parse(&id).map_err(catalog_err)?,
        title_vi: row.try_get("title_vi").map_err(get)?,
        title_en: row.try_get("title_en").map_err(get)?,
        family: row.try_get("family").map_err(get)?,
        geometry_type: row.try_get("geometry_type").map_err(get)?,
        access: access.parse().map_err(catalog_err)?,
        owner: row.try_get("owner").map_err(get)?,
        licence: row.try_get("licence").map_err(get)?,
        lineage: row.try_get("lineage").map_err(get)?,
        version: row.try_get("version").map_err(get)?,
        updated_at: row.try_get("updated_at").map_err(get)?,
        bbox: bbox.and_then(|b| <[f64; 4]>::try_from(b).ok().map(Bbox)),
        feature_count: row.try_get("feature_count").map_err(get)?,
        schema: schema.0,
    })
}

const META_COLUMNS: &str =
    "id, title_vi, title_en, family, geometry_type, access, owner, licence, \
     lineage, version, updated_at, bbox, feature_count, schema";

pub(crate) fn decode_feature(row: &PgRow, layer: &str, schema: &Schema) -> Result<Feature> {
    let err = |id: i64, message: String| StoreError::Feature {
        layer: layer.to_owned(),
        feature: id,
        message,
    };
    let id: i64 = row.try_get(0).map_err(|e| err(-1, e.to_string()))?;
    let wkb: Vec<u8> = row.try_get(1).map_err(|e| err(id, e.to_string()))?;
    let geometry = Wkb(wkb).to_geo().map_err(|e| err(id, e.to_string()))?;
    let mut values = Vec::with_capacity(schema.len());
    for (i, field) in schema.fields.iter().enumerate() {
        let col = i + 2;
        let v = match field.kind {
            FieldType::Bool => row
                .try_get::<Option<bool>, _>(col)
                .map(|v| v.map(Value::Bool)),
            FieldType::Int => row
                .try_get::<Option<i64>, _>(col)
                .map(|v| v.map(Value::Int)),
            FieldType::Float => row
                .try_get::<Option<f64>, _>(col)
                .map(|v| v.map(Value::Float)),
            FieldType::Text => row
                .try_get::<Option<String>, _>(col)
                .map(|v| v.map(Value::Text)),
            FieldType::Date => row
                .try_get::<Option<NaiveDate>, _>(col)
                .map(|v| v.map(Value::Date)),
            FieldType::DateTime => row
                .try_get::<Option<DateTime<Utc>>, _>(col)
                .map(|v| v.map(Value::DateTime)),
        }
        .map_err(|e| err(id, format!("field '{}': {e}", field.name)))?;
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(Feature {
        id,
        geometry,
        values,
    })
}

/// `SELECT fid, ST_AsBinary(geom), "a", "b" FROM cuulong_data."t" ORDER BY fid`
pub(crate) fn select_features_sql(table: &str, schema: &Schema) -> String {
    features_sql(table, schema, "", "ORDER BY fid")
}

/// `SELECT fid, ST_AsBinary(geom), "a", … FROM cuulong_data."t" {filter} {tail}`: the columns
/// [`decode_feature`] reads, with a bound-parameter filter and an order or page.
pub(crate) fn features_sql(table: &str, schema: &Schema, filter: &str, tail: &str) -> String {
    let mut sql = String::from("SELECT fid, ST_AsBinary(geom)");
    for f in &schema.fields {
        sql.push_str(", ");
        sql.push_str(&quote_ident(&f.name));
    }
    sql.push_str(" FROM ");
    sql.push_str(&table_ref(table));
    for part in [filter, tail] {
        if !part.is_empty() {
            sql.push(' ');
            sql.push_str(part);
        }
    }
    sql
}

pub(crate) fn create_table_sql(table: &str, schema: &Schema) -> String {
    let mut sql = format!(
        "CREATE TABLE {} (fid bigint NOT NULL, geom geometry(Geometry, 4326) NOT NULL",
        table_ref(table)
    );
    for f in &schema.fields {
        sql.push_str(", ");
        sql.push_str(&quote_ident(&f.name));
        sql.push(' ');
        sql.push_str(sql_type(f.kind));
    }
    sql.push(')');
    sql
}

fn copy_sql(table: &str, schema: &Schema) -> String {
    let mut cols = String::from("fid, geom");
    for f in &schema.fields {
        cols.push_str(", ");
        cols.push_str(&quote_ident(&f.name));
    }
    format!(
        "COPY {} ({cols}) FROM STDIN (FORMAT binary)",
        table_ref(table)
    )
}

#[async_trait]
impl Store for PostgisStore {
    fn describe(&self) -> String {
        self.description.clone()
    }

    async fn layers(&self) -> Result<Vec<LayerMeta>> {
        self.prepare().await?;
        let rows = sqlx::query(&format!(
            "SELECT {META_COLUMNS} FROM cuulong.layers ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing layers"))?;
        rows.iter().map(row_to_meta).collect()
    }

    async fn layer(&self, id: &LayerId) -> Result<Option<LayerMeta>> {
        let row = sqlx::query(&format!(
            "SELECT {META_COLUMNS} FROM cuulong.layers WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db(format!("reading layer '{id}'")))?;
        row.as_ref().map(row_to_meta).transpose()
    }

    async fn features_of(&self, id: &LayerId, version: Option<i64>) -> Result<FeatureStream> {
        let pool = self.read_pool().await;
        match self.features_from(pool, id, version).await {
            // The standby went away between the check and the read.
            Err(StoreError::Database { .. }) if !std::ptr::eq(pool, &self.pool) => {
                if let Some(s) = &self.standby {
                    s.stats
                        .primary
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                self.features_from(&self.pool, id, version).await
            }
            other => other,
        }
    }

    async fn layer_bytes(&self, meta: &LayerMeta) -> Option<u64> {
        sqlx::query_scalar::<_, i64>(
            "SELECT pg_table_size(format('cuulong_data.%I', table_name)::regclass) \
             FROM cuulong.layers WHERE id = $1 AND version = $2",
        )
        .bind(meta.id.as_str())
        .bind(meta.version)
        .fetch_optional(&self.pool)
        .await
        .ok()
        .flatten()
        .map(|b| b as u64)
    }

    async fn open_source(
        &self,
        meta: &LayerMeta,
    ) -> Result<Option<std::sync::Arc<dyn cuulong_core::source::LayerSource>>> {
        let table: Option<String> = sqlx::query_scalar(
            "SELECT table_name FROM cuulong.layers WHERE id = $1 AND version = $2",
        )
        .bind(meta.id.as_str())
        .bind(meta.version)
        .fetch_optional(&self.pool)
        .await
        .map_err(db(format!("reading layer '{}'", meta.id)))?;
        let Some(table) = table else {
            return Ok(None);
        };
        let pool = self.read_pool().await;
        let reads = self.layer_read_pool(pool);
        let layer =
            crate::pg_layer::PostgisLayer::open(meta.clone(), &table, pool.clone(), reads).await?;
        Ok(Some(std::sync::Arc::new(layer)))
    }

    fn read_stats(&self) -> Option<std::sync::Arc<crate::ReadStats>> {
        self.standby.as_ref().map(|s| s.stats.clone())
    }

    async fn begin_replace(&self, def: LayerDef) -> Result<Box<dyn LayerWriter>> {
        let id = def.id.to_string();
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting the import transaction"))?;
        // One import of a layer at a time; others wait here.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('cuulong:' || $1, 0))")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(db(format!("locking layer '{id}'")))?;
        let old: Option<(i64, String)> =
            sqlx::query_as("SELECT version, table_name FROM cuulong.layers WHERE id = $1")
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(format!("reading layer '{id}'")))?;
        let version = old.as_ref().map_or(1, |(v, _)| v + 1);
        let table = format!("l_{id}_v{version}");
        sqlx::query(&format!("DROP TABLE IF EXISTS {}", table_ref(&table)))
            .execute(&mut *tx)
            .await
            .map_err(db(format!("preparing table for '{id}'")))?;
        sqlx::query(&create_table_sql(&table, &def.schema))
            .execute(&mut *tx)
            .await
            .map_err(db(format!("creating table for '{id}'")))?;
        Ok(Box::new(PostgisWriter {
            tx,
            copy_sql: copy_sql(&table, &def.schema),
            table,
            old_table: old.map(|(_, t)| t),
            version,
            def,
            extent: Extent::default(),
            buf: Vec::new(),
        }))
    }

    async fn history(&self, id: &LayerId) -> Result<Vec<ImportRecord>> {
        let rows = sqlx::query(
            "SELECT layer_id, version, file, sha256, src_crs, transformation, read, imported, \
             repaired, rejected, duration_ms, finished_at, warnings \
             FROM cuulong.imports WHERE layer_id = $1 ORDER BY id",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db(format!("reading history of '{id}'")))?;
        rows.iter()
            .map(|r| {
                let warnings: sqlx::types::Json<Vec<String>> = r.try_get("warnings")?;
                Ok(ImportRecord {
                    layer_id: r.try_get("layer_id")?,
                    version: r.try_get("version")?,
                    file: r.try_get("file")?,
                    sha256: r.try_get("sha256")?,
                    src_crs: r.try_get("src_crs")?,
                    transformation: r.try_get("transformation")?,
                    read: r.try_get("read")?,
                    imported: r.try_get("imported")?,
                    repaired: r.try_get("repaired")?,
                    rejected: r.try_get("rejected")?,
                    duration_ms: r.try_get("duration_ms")?,
                    finished_at: r.try_get("finished_at")?,
                    warnings: warnings.0,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(db("reading import history"))
    }

    async fn changes(&self) -> Result<Option<futures::stream::BoxStream<'static, String>>> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool)
            .await
            .map_err(db("listening for layer changes"))?;
        listener
            .listen(NOTIFY_CHANNEL)
            .await
            .map_err(db("listening for layer changes"))?;
        // The listener reconnects by itself; a notification lost while it was away is caught
        // by the server's periodic resync.
        let stream = listener
            .into_stream()
            .filter_map(|n| async move { n.ok().map(|n| n.payload().to_owned()) });
        Ok(Some(stream.boxed()))
    }

    async fn record_reads(&self, reads: &[AuditRecord]) -> Result<()> {
        if reads.is_empty() {
            return Ok(());
        }
        let col = |f: fn(&AuditRecord) -> &str| {
            reads
                .iter()
                .map(|r| f(r).to_owned())
                .collect::<Vec<String>>()
        };
        sqlx::query(
            "INSERT INTO cuulong.audit_log (at, key_name, agency, layer_id, access, endpoint) \
             SELECT * FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])",
        )
        .bind(reads.iter().map(|r| r.at).collect::<Vec<_>>())
        .bind(col(|r| &r.key_name))
        .bind(col(|r| &r.agency))
        .bind(col(|r| &r.layer))
        .bind(col(|r| &r.access))
        .bind(col(|r| &r.endpoint))
        .execute(&self.pool)
        .await
        .map_err(db("writing the audit log"))?;
        Ok(())
    }

    async fn keys(&self) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT name, agency, grants, prefix, salt, hash, created_at, expires_at, revoked_at, \
             scopes FROM cuulong.api_keys ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading API keys"))?;
        rows.iter()
            .map(|r| {
                Ok(ApiKey {
                    name: r.try_get("name")?,
                    agency: r.try_get("agency")?,
                    grants: r.try_get("grants")?,
                    prefix: r.try_get("prefix")?,
                    salt: r.try_get("salt")?,
                    hash: r.try_get("hash")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                    scopes: r.try_get("scopes")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(db("reading API keys"))
    }

    async fn add_key(&self, key: ApiKey) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db("adding an API key"))?;
        let done = sqlx::query(
            "INSERT INTO cuulong.api_keys (name, agency, grants, prefix, salt, hash, created_at, \
             expires_at, scopes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&key.name)
        .bind(&key.agency)
        .bind(&key.grants)
        .bind(&key.prefix)
        .bind(&key.salt)
        .bind(&key.hash)
        .bind(key.created_at)
        .bind(key.expires_at)
        .bind(&key.scopes)
        .execute(&mut *tx)
        .await
        .map_err(db("adding an API key"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::KeyExists(key.name));
        }
        notify(&mut tx, KEYS_CHANGED).await?;
        tx.commit().await.map_err(db("adding an API key"))
    }

    async fn sta_catalog(&self) -> Result<cuulong_core::sta::Catalog> {
        crate::obs_pg::catalog(&self.pool).await
    }

    async fn save_sta_catalog(&self, catalog: &cuulong_core::sta::Catalog) -> Result<()> {
        crate::obs_pg::save_catalog(&self.pool, catalog).await
    }

    async fn append_observations(&self, batch: &[cuulong_core::sta::Observation]) -> Result<u64> {
        crate::obs_pg::append(&self.pool, &self.known_months, batch).await
    }

    async fn observations(&self, datastream: u32) -> Result<Vec<cuulong_core::sta::Observation>> {
        crate::obs_pg::read(&self.pool, datastream).await
    }

    async fn announce_observations(&self) -> Result<()> {
        crate::obs_pg::announce(&self.pool).await
    }

    async fn observations_token(&self) -> Result<Option<String>> {
        crate::obs_pg::token(&self.pool).await
    }

    async fn revoke_key(&self, name: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db("revoking an API key"))?;
        let done = sqlx::query(
            "UPDATE cuulong.api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE name = $1",
        )
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(db("revoking an API key"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NoSuchKey(name.to_owned()));
        }
        notify(&mut tx, KEYS_CHANGED).await?;
        tx.commit().await.map_err(db("revoking an API key"))
    }

    async fn set_access(&self, id: &LayerId, access: Access) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db("setting access"))?;
        let done = sqlx::query("UPDATE cuulong.layers SET access = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(access.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db(format!("setting access of '{id}'")))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(id.to_string()));
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(NOTIFY_CHANNEL)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db("notifying"))?;
        tx.commit().await.map_err(db("setting access"))
    }
}

async fn notify(tx: &mut Transaction<'static, Postgres>, payload: &str) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(NOTIFY_CHANNEL)
        .bind(payload)
        .execute(&mut **tx)
        .await
        .map_err(db("notifying"))?;
    Ok(())
}

struct PostgisWriter {
    tx: Transaction<'static, Postgres>,
    def: LayerDef,
    table: String,
    old_table: Option<String>,
    version: i64,
    copy_sql: String,
    extent: Extent,
    buf: Vec<u8>,
}

#[async_trait]
impl LayerWriter for PostgisWriter {
    fn set_geometry_type(&mut self, geometry_type: &str) {
        self.def.geometry_type = geometry_type.to_owned();
    }

    async fn write_batch(&mut self, batch: &[Feature]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        batch.iter().for_each(|f| self.extent.add(f));
        encode_batch(&self.def.schema, batch, &mut self.buf).map_err(|message| {
            StoreError::Feature {
                layer: self.def.id.to_string(),
                feature: batch[0].id,
                message,
            }
        })?;
        let ctx = || format!("copying features into '{}'", self.def.id);
        let mut copy = self
            .tx
            .copy_in_raw(&self.copy_sql)
            .await
            .map_err(db(ctx()))?;
        copy.send(self.buf.as_slice()).await.map_err(db(ctx()))?;
        copy.finish().await.map_err(db(ctx()))?;
        Ok(())
    }

    async fn commit(self: Box<Self>, mut record: ImportRecord) -> Result<LayerMeta> {
        let PostgisWriter {
            mut tx,
            def,
            table,
            old_table,
            version,
            extent,
            ..
        } = *self;
        let id = def.id.to_string();
        let ctx = |what: &str| format!("{what} of layer '{id}'");
        let t = table_ref(&table);
        for sql in [
            format!("ALTER TABLE {t} ADD PRIMARY KEY (fid)"),
            // No ANALYZE here: it costs as much as the GiST build, and autovacuum analyzes a
            // new table within a minute.
            format!("CREATE INDEX ON {t} USING gist (geom)"),
        ] {
            sqlx::query(&sql)
                .execute(&mut *tx)
                .await
                .map_err(db(ctx("indexing the new version")))?;
        }
        if let Some(old) = old_table.filter(|old| *old != table) {
            sqlx::query(&format!("DROP TABLE IF EXISTS {}", table_ref(&old)))
                .execute(&mut *tx)
                .await
                .map_err(db(ctx("dropping the previous version")))?;
        }
        let meta = LayerMeta::from_def(def, version, extent.bbox(), extent.count);
        sqlx::query(
            "INSERT INTO cuulong.layers (id, title_vi, title_en, family, geometry_type, access, \
             owner, licence, lineage, version, updated_at, bbox, feature_count, schema, table_name) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             ON CONFLICT (id) DO UPDATE SET title_vi = EXCLUDED.title_vi, \
             title_en = EXCLUDED.title_en, family = EXCLUDED.family, \
             geometry_type = EXCLUDED.geometry_type, access = EXCLUDED.access, \
             owner = EXCLUDED.owner, licence = EXCLUDED.licence, lineage = EXCLUDED.lineage, \
             version = EXCLUDED.version, updated_at = EXCLUDED.updated_at, bbox = EXCLUDED.bbox, \
             feature_count = EXCLUDED.feature_count, schema = EXCLUDED.schema, \
             table_name = EXCLUDED.table_name",
        )
        .bind(meta.id.as_str())
        .bind(&meta.title_vi)
        .bind(&meta.title_en)
        .bind(&meta.family)
        .bind(&meta.geometry_type)
        .bind(meta.access.as_str())
        .bind(&meta.owner)
        .bind(&meta.licence)
        .bind(&meta.lineage)
        .bind(meta.version)
        .bind(meta.updated_at)
        .bind(meta.bbox.map(|b| b.0.to_vec()))
        .bind(meta.feature_count)
        .bind(sqlx::types::Json(&meta.schema))
        .bind(&table)
        .execute(&mut *tx)
        .await
        .map_err(db(ctx("updating the catalogue")))?;
        record.version = version;
        sqlx::query(
            "INSERT INTO cuulong.imports (layer_id, version, file, sha256, src_crs, \
             transformation, read, imported, repaired, rejected, duration_ms, finished_at, \
             warnings) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&id)
        .bind(record.version)
        .bind(&record.file)
        .bind(&record.sha256)
        .bind(&record.src_crs)
        .bind(&record.transformation)
        .bind(record.read)
        .bind(record.imported)
        .bind(record.repaired)
        .bind(record.rejected)
        .bind(record.duration_ms)
        .bind(record.finished_at)
        .bind(sqlx::types::Json(&record.warnings))
        .execute(&mut *tx)
        .await
        .map_err(db(ctx("recording the import")))?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(NOTIFY_CHANNEL)
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(db(ctx("notifying")))?;
        tx.commit().await.map_err(db(ctx("committing")))?;
        Ok(meta)
    }
}

impl PostgisStore {
    /// A layer version's features from `pool` (the primary or the standby). Catalogue row and
    /// table are read in one REPEATABLE READ transaction so a concurrent replace cannot swap
    /// the table between the two.
    async fn features_from(
        &self,
        pool: &PgPool,
        id: &LayerId,
        version: Option<i64>,
    ) -> Result<FeatureStream> {
        let mut tx = pool.begin().await.map_err(db("starting a read"))?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db("starting a read"))?;
        let row =
            sqlx::query("SELECT table_name, schema, version FROM cuulong.layers WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(format!("reading layer '{id}'")))?
                .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        let table: String = row.get(0);
        let schema: sqlx::types::Json<Schema> = row.get(1);
        let current: i64 = row.get(2);
        if let Some(version) = version.filter(|v| *v != current) {
            return Err(StoreError::VersionGone {
                layer: id.to_string(),
                version,
                current,
            });
        }
        let schema = schema.0;
        let sql = select_features_sql(&table, &schema);
        let layer = id.to_string();
        let stream = async_stream::try_stream! {
            let mut tx = tx;
            let mut rows = sqlx::query(&sql).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await.map_err(db(format!("reading features of '{layer}'")))? {
                yield decode_feature(&row, &layer, &schema)?;
            }
        };
        Ok(stream.boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cuulong_core::Field;

    #[test]
    fn identifiers_are_quoted_and_values_never_inlined() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        let schema = Schema::new(vec![
            Field::new("tên", FieldType::Text),
            Field::new("x\"; DROP TABLE t; --", FieldType::Int),
        ]);
        let sql = create_table_sql("l_roads_v2", &schema);
        assert_eq!(
            sql,
            "CREATE TABLE cuulong_data.\"l_roads_v2\" (fid bigint NOT NULL, geom geometry(Geometry, 4326) NOT NULL, \"tên\" text, \"x\"\"; DROP TABLE t; --\" bigint)"
        );
        assert_eq!(
            select_features_sql("l_roads_v2", &schema),
            "SELECT fid, ST_AsBinary(geom), \"tên\", \"x\"\"; DROP TABLE t; --\" FROM cuulong_data.\"l_roads_v2\" ORDER BY fid"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://gis:s3cret@db.local:5432/cuulong"),
            "postgres://gis@db.local:5432/cuulong"
        );
        assert_eq!(
            redact_url("postgres:///cuulong?host=/run/postgresql"),
            "postgres:///cuulong?host=/run/postgresql"
        );
    }
}
