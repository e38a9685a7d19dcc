//! A layer served from its PostGIS table without loading it: every read is spatial SQL on the
//! table's GiST index (`geom && envelope`, prepared and cached by sqlx per connection), the
//! rows decoded and drawn by the same kernels as the in-memory index (`index::drawn_at`), so
//! the answers are the same bytes. What stays in memory is the per-band rule (one pass at
//! open) and the feature count. Reads come from the store's read pool: the standby once it
//! has replayed the version, else the primary.
//!
//! The read floor is synchronous (it runs on the compute pool); each read here blocks its
//! compute thread on the query (`block_in_place` + the runtime's `block_on`).

use std::borrow::Cow;

use cuulong_core::index::{
    band_for, band_trees, box_meets, drawn_at, first_visible_band, pixel_at, BANDS,
};
use cuulong_core::interrupt::Interrupt;
use cuulong_core::source::{FeatureRef, LayerSource, Page, SelectError, Selection};
use cuulong_core::tile::{
    geometry_into_mercator, geometry_to_mercator, to_lonlat, HALF_WORLD, MAX_LAT,
};
use cuulong_core::{Feature, LayerMeta, Schema};
use futures::TryStreamExt;
use geo::BoundingRect;
use sqlx::PgPool;

use crate::postgis::{decode_feature, features_sql};
use crate::{db, Result};

/// Rows fetched per round trip when walking the whole table in id order.
const PAGE: i64 = 10_000;

pub struct PostgisLayer {
    meta: LayerMeta,
    /// Per-request reads: statements bounded by the request timeout (`statement_timeout`).
    pool: PgPool,
    handle: tokio::runtime::Handle,
    count: usize,
    band_tree: [bool; BANDS.len()],
    in_envelope_sql: String,
    /// `in_envelope_sql` leaving out lines and polygons whose box is under `$5` metres both
    /// ways in EPSG:3857: sub-pixel at the zoom band, so never drawn (saves fetching and
    /// decoding them for low-zoom tiles; points are never sub-pixel).
    in_band_sql: String,
    by_id_sql: String,
    page_sql: String,
    after_sql: String,
}

impl PostgisLayer {
    /// Opens version `meta.version` in `table`: one pass over its geometries for the band rule
    /// (on `pool`), the per-request reads on `reads` (bounded in time). Called from the
    /// runtime (it keeps its handle for the blocking reads).
    pub(crate) async fn open(
        meta: LayerMeta,
        table: &str,
        pool: PgPool,
        reads: PgPool,
    ) -> Result<Self> {
        let schema: &Schema = &meta.schema;
        let layer = meta.id.to_string();
        let mut first_bands = Vec::new();
        {
            let sql = features_sql(table, schema, "", "ORDER BY fid");
            let mut rows = sqlx::query(&sql).fetch(&pool);
            while let Some(row) = rows
                .try_next()
                .await
                .map_err(db(format!("reading features of '{layer}'")))?
            {
                let f = decode_feature(&row, &layer, schema)?;
                first_bands.push(first_visible_band(&geometry_to_mercator(&f.geometry)));
            }
        }
        Ok(Self {
            count: first_bands.len(),
            band_tree: band_trees(first_bands.into_iter()),
            in_envelope_sql: features_sql(
                table,
                schema,
                "WHERE geom && ST_MakeEnvelope($1, $2, $3, $4, 4326)",
                "ORDER BY fid",
            ),
            in_band_sql: features_sql(
                table,
                schema,
                &format!(
                    "WHERE geom && ST_MakeEnvelope($1, $2, $3, $4, 4326) \
                     AND (ST_Dimension(geom) = 0 \
                     OR (ST_XMax(geom) - ST_XMin(geom)) * {} >= $5 OR {} - {} >= $5)",
                    HALF_WORLD / 180.0,
                    mercator_y_sql("ST_YMax(geom)"),
                    mercator_y_sql("ST_YMin(geom)"),
                ),
                "ORDER BY fid",
            ),
            by_id_sql: features_sql(table, schema, "WHERE fid = $1", ""),
            page_sql: features_sql(table, schema, "", "ORDER BY fid OFFSET $1 LIMIT $2"),
            after_sql: features_sql(table, schema, "WHERE fid > $1", "ORDER BY fid LIMIT $2"),
            handle: tokio::runtime::Handle::current(),
            meta,
            pool: reads,
        })
    }

    /// Runs a query from the (synchronous) read floor.
    fn block<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        tokio::task::block_in_place(|| self.handle.block_on(f))
    }

    /// The rows of `sql` with `binds`, decoded, geometry in EPSG:3857. A failed read is
    /// logged and gives no features (the layer's store is away; `/metrics` says so).
    fn rows(&self, sql: &str, binds: Binds) -> Vec<Feature> {
        let layer = self.meta.id.to_string();
        let read = async {
            let q = sqlx::query(sql);
            let q = match binds {
                Binds::Id(id) => q.bind(id),
                Binds::Two(a, b) => q.bind(a).bind(b),
                Binds::Envelope(e) => q.bind(e[0]).bind(e[1]).bind(e[2]).bind(e[3]),
                Binds::Band(e, least) => q.bind(e[0]).bind(e[1]).bind(e[2]).bind(e[3]).bind(least),
            };
            let rows = q
                .fetch_all(&self.pool)
                .await
                .map_err(db(format!("reading features of '{layer}'")))?;
            rows.iter()
                .map(|r| {
                    decode_feature(r, &layer, &self.meta.schema).map(|mut f| {
                        geometry_into_mercator(&mut f.geometry);
                        f
                    })
                })
                .collect::<Result<Vec<_>>>()
        };
        match self.block(read) {
            Ok(features) => features,
            Err(e) => {
                tracing::error!(layer = %self.meta.id, error = %e, "PostGIS layer read failed");
                Vec::new()
            }
        }
    }

    fn near(&self, bounds: [f64; 4]) -> Vec<Feature> {
        self.rows(&self.in_envelope_sql, Binds::Envelope(lonlat_box(bounds)))
    }

    /// `near`, leaving out in SQL what is sub-pixel at `zoom`'s band by its box alone
    /// (`index::generalise`: the box under half a pixel both ways), with a margin for
    /// rounding; the rest is still tested by `drawn_at`.
    fn near_at(&self, zoom: u8, bounds: [f64; 4]) -> Vec<Feature> {
        match band_for(zoom) {
            Some(band) => {
                let least = pixel_at(BANDS[band]) / 2.0 * (1.0 - 1e-6);
                self.rows(&self.in_band_sql, Binds::Band(lonlat_box(bounds), least))
            }
            None => self.near(bounds),
        }
    }
}

/// SQL for `tile::to_mercator`'s y of latitude `lat` (degrees).
fn mercator_y_sql(lat: &str) -> String {
    format!(
        "({HALF_WORLD} / pi() * ln(tan(pi() / 4 + radians(LEAST({MAX_LAT}, GREATEST(-{MAX_LAT}, {lat}))) / 2)))"
    )
}

enum Binds {
    Id(i64),
    /// An envelope and the least box extent drawn.
    Band([f64; 4], f64),
    Two(i64, i64),
    Envelope([f64; 4]),
}

/// An EPSG:3857 box in lon/lat, a hair wider so rounding never loses an edge.
fn lonlat_box(bounds: [f64; 4]) -> [f64; 4] {
    let (x0, y0) = to_lonlat(bounds[0], bounds[1]);
    let (x1, y1) = to_lonlat(bounds[2], bounds[3]);
    let e = 1e-9;
    [x0 - e, y0 - e, x1 + e, y1 + e]
}

fn owned(f: Feature) -> FeatureRef<'static> {
    FeatureRef {
        id: f.id,
        values: Cow::Owned(f.values),
        geometry: Cow::Owned(f.geometry),
    }
}

fn meets(f: &Feature, b: [f64; 4]) -> bool {
    f.geometry.bounding_rect().is_some_and(|r| box_meets(&r, b))
}

impl LayerSource for PostgisLayer {
    fn meta(&self) -> &LayerMeta {
        &self.meta
    }

    fn len(&self) -> usize {
        self.count
    }

    fn approx_bytes(&self) -> usize {
        self.in_envelope_sql.len() + self.by_id_sql.len() + self.page_sql.len()
    }

    fn served_from(&self) -> &'static str {
        "postgis"
    }

    fn feature(&self, id: i64) -> Option<FeatureRef<'_>> {
        self.rows(&self.by_id_sql, Binds::Id(id))
            .into_iter()
            .next()
            .map(owned)
    }

    /// Every feature in id order, fetched a page at a time (memory stays bounded).
    fn features(&self) -> Box<dyn Iterator<Item = FeatureRef<'_>> + Send + '_> {
        let mut after = i64::MIN;
        let mut page = std::vec::IntoIter::default();
        let mut done = false;
        Box::new(std::iter::from_fn(move || loop {
            if let Some(f) = page.next() {
                return Some(owned(f));
            }
            if done {
                return None;
            }
            let rows = self.rows(&self.after_sql, Binds::Two(after, PAGE));
            done = (rows.len() as i64) < PAGE;
            if let Some(last) = rows.last() {
                after = last.id;
            }
            page = rows.into_iter();
        }))
    }

    fn in_envelope(&self, bounds: [f64; 4]) -> Vec<FeatureRef<'_>> {
        self.near(bounds)
            .into_iter()
            .filter(|f| meets(f, bounds))
            .map(owned)
            .collect()
    }

    fn candidates(&self, zoom: u8, bounds: [f64; 4]) -> Vec<FeatureRef<'_>> {
        self.near_at(zoom, bounds)
            .into_iter()
            .filter_map(|f| drawn_at(owned(f), zoom, bounds, &self.band_tree))
            .collect()
    }

    /// A page without tests is one `ORDER BY fid OFFSET … LIMIT …`; others test in id order.
    fn select(
        &self,
        selection: &Selection<'_>,
        offset: usize,
        limit: usize,
        interrupt: &Interrupt,
    ) -> std::result::Result<Page<'_>, SelectError> {
        if selection.is_everything() {
            let rows = self.rows(&self.page_sql, Binds::Two(offset as i64, limit as i64));
            return Ok(Page {
                matched: self.count,
                features: rows.into_iter().map(owned).collect(),
            });
        }
        let candidates: Box<dyn Iterator<Item = FeatureRef<'static>> + '_> =
            match selection.envelope {
                Some(b) => Box::new(self.near(b).into_iter().map(owned)),
                None => Box::new(self.features().map(FeatureRef::into_owned)),
            };
        cuulong_core::source::select_from(
            self.meta(),
            candidates,
            selection,
            offset,
            limit,
            interrupt,
        )
    }
}
