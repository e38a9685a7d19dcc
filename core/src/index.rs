//! The in-memory index of one layer version: geometries in EPSG:3857 behind rstar R-trees,
//! one per zoom band, with generalised geometry built once at load so low-zoom tiles never
//! walk every vertex of every feature.

use std::borrow::Cow;

use geo::{Area, BoundingRect, Intersects, Simplify};
use geo_types::Geometry;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use crate::columns::Columns;
use crate::containment::{covers, covers_banded, polygon_bands, RingBands};
use crate::feature::Feature;
use crate::interrupt::Interrupt;
use crate::layer::LayerMeta;
use crate::mvt::LayerBuilder;
use crate::source::{
    tile_bounds, time_fields, FeatureRef, Hit, LayerSource, Page, SelectError, Selection,
};
use crate::tile::{geometry_to_mercator, tile_size, TileId};

/// Zoom bands with generalised geometry: a tile at zoom z uses the first band ≥ z; above the
/// last band tiles use the full geometry.
pub const BANDS: [u8; 5] = [4, 6, 8, 10, 12];

/// The band a tile or map at `zoom` draws from (`None`: above the last, full geometry).
pub fn band_for(zoom: u8) -> Option<usize> {
    BANDS.iter().position(|&z| z >= zoom)
}

/// Size in EPSG:3857 metres of a pixel of a 256-pixel tile at `zoom`: what `generalise`
/// measures sub-pixel features and simplification by.
pub fn pixel_at(zoom: u8) -> f64 {
    tile_size(zoom) / 256.0
}

type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// One zoom band. Memory is spent only where it buys speed: generalised geometry only where
/// generalising removed a vertex (else the full geometry serves), stored densely and at its
/// length, and an R-tree of its own only when under half the features are visible at the
/// band (else the full tree, filtered by `visible_from`, is walked).
struct Band {
    /// Generalised geometries, and by feature position the slot of each one (`NO_SLOT`: the
    /// full geometry serves); no slots when nothing was generalised. Dense rather than a hash
    /// map: 4 bytes a feature, and no hashing per tile candidate.
    simplified: Vec<Geometry<f64>>,
    slots: Option<Box<[u32]>>,
    /// The visible features (entry data: position), when they are few.
    tree: Option<RTree<Entry>>,
}

const NO_SLOT: u32 = u32::MAX;

/// Whether a band keeps an R-tree of its own (over its generalised envelopes) or filters the
/// full tree: the former when under half the features are visible at it.
pub fn band_keeps_tree(visible: usize, features: usize) -> bool {
    visible * 2 < features
}

/// Whether box `r` meets `bounds` (min x, min y, max x, max y), edges included: the test the
/// R-trees make.
pub fn box_meets(r: &geo_types::Rect<f64>, bounds: [f64; 4]) -> bool {
    r.min().x <= bounds[2]
        && r.max().x >= bounds[0]
        && r.min().y <= bounds[3]
        && r.max().y >= bounds[1]
}

/// The first band at which a geometry (EPSG:3857) is not sub-pixel (`BANDS.len()`: only at
/// full resolution).
pub fn first_visible_band(g: &Geometry<f64>) -> u8 {
    BANDS
        .iter()
        .position(|&z| generalise(g, z).is_some())
        .unwrap_or(BANDS.len()) as u8
}

/// Per band, whether the in-memory index of features whose first visible bands are
/// `first_bands` keeps a tree of its own for it ([`band_keeps_tree`]).
pub fn band_trees(first_bands: impl Iterator<Item = u8>) -> [bool; BANDS.len()] {
    let mut visible = [0usize; BANDS.len()];
    let mut n = 0;
    for first in first_bands {
        n += 1;
        for v in visible.iter_mut().skip(usize::from(first)) {
            *v += 1;
        }
    }
    visible.map(|v| band_keeps_tree(v, n))
}

/// What the in-memory index draws of feature `f` (full geometry, EPSG:3857) at `zoom` within
/// `bounds`: `None` when it is sub-pixel at the zoom's band, or outside `bounds` by the
/// envelope the index tests there (the generalised one where the band keeps a tree of its own,
/// `band_trees`, else the full one); else the feature with the geometry drawn. For sources that
/// decode features per request, so they draw what the index draws.
pub fn drawn_at<'a>(
    mut f: crate::source::FeatureRef<'a>,
    zoom: u8,
    bounds: [f64; 4],
    band_trees: &[bool; BANDS.len()],
) -> Option<crate::source::FeatureRef<'a>> {
    let meets = |r: geo_types::Rect<f64>| box_meets(&r, bounds);
    let full = f.geometry.bounding_rect()?;
    let Some(b) = band_for(zoom) else {
        return meets(full).then_some(f);
    };
    if let Some(g) = generalise(&f.geometry, BANDS[b])? {
        f.geometry = Cow::Owned(g);
    }
    let tested = if band_trees[b] {
        f.geometry.bounding_rect()?
    } else {
        full
    };
    meets(tested).then_some(f)
}

impl Band {
    /// The geometry to draw at this band for the feature at `position`.
    fn geometry<'a>(&'a self, position: u32, full: &'a [Geometry<f64>]) -> &'a Geometry<f64> {
        match self.slots.as_ref().map(|s| s[position as usize]) {
            Some(slot) if slot != NO_SLOT => &self.simplified[slot as usize],
            _ => &full[position as usize],
        }
    }
}

pub struct LayerIndex {
    meta: LayerMeta,
    /// Feature ids by position.
    ids: Vec<i64>,
    /// Attribute values by position, as columns.
    columns: Columns,
    /// Full-resolution geometry in EPSG:3857, aligned with `ids`.
    geometries: Vec<Geometry<f64>>,
    tree: RTree<Entry>,
    bands: Vec<Band>,
    /// By position: the first band at which the feature is not sub-pixel (`BANDS.len()`: only
    /// at full resolution). Sub-pixel is monotone in zoom, so it is visible at every later one.
    visible_from: Vec<u8>,
    /// Positions sorted by id (ids are unique): lookups by binary search, and walks in id
    /// order without sorting (4 bytes a feature; a hash map took 20–30).
    by_id: Box<[u32]>,
    /// Bands over the large rings of polygons, by position, for point-in-polygon tests.
    ring_bands: rustc_hash::FxHashMap<u32, Box<[Option<RingBands>]>>,
}

pub(crate) fn envelope(g: &Geometry<f64>) -> Option<Rectangle<[f64; 2]>> {
    let r = g.bounding_rect()?;
    Some(Rectangle::from_corners(
        [r.min().x, r.min().y],
        [r.max().x, r.max().y],
    ))
}

/// Generalises a geometry for display at `zoom` (every source draws through this, so a
/// mapped or database source draws what the in-memory index draws): `None` when it is sub-pixel there — its bbox
/// under half a pixel of a 256-pixel tile, or for polygons an area under half a pixel —
/// else simplified at half a pixel (Douglas–Peucker); `Some(None)` when that removed nothing
/// (the full geometry serves).
pub fn generalise(g: &Geometry<f64>, zoom: u8) -> Option<Option<Geometry<f64>>> {
    use geo::CoordsIter;
    let pixel = pixel_at(zoom);
    match g {
        Geometry::Point(_) | Geometry::MultiPoint(_) => return Some(None),
        _ => {}
    }
    let r = g.bounding_rect()?;
    if r.width().max(r.height()) < pixel / 2.0 {
        return None;
    }
    if matches!(g, Geometry::Polygon(_) | Geometry::MultiPolygon(_))
        && g.unsigned_area() < pixel * pixel / 2.0
    {
        return None;
    }
    let eps = pixel / 2.0;
    let simplified = match g {
        Geometry::LineString(l) => Geometry::LineString(l.simplify(eps)),
        Geometry::MultiLineString(l) => Geometry::MultiLineString(l.simplify(eps)),
        Geometry::Polygon(p) => Geometry::Polygon(p.simplify(eps)),
        Geometry::MultiPolygon(p) => Geometry::MultiPolygon(p.simplify(eps)),
        _ => return Some(None),
    };
    // Douglas–Peucker only removes vertices: the same count is the same geometry. At the last
    // band a copy keeping more than half the vertices is not held either: such copies of
    // small polygons cost their vertices again plus a shell each (200 000 land-use parcels:
    // 146 000 copies, 20 MB), while drawing the full geometry there cost little (criterion,
    // 50 000 parcels, interleaved runs: z12 tile +7 %, map ±0). At lower bands they buy speed
    // (the same rule at every band: z10 maps +44 %), and few small features are visible there.
    let kept = simplified.coords_count();
    let last_band = zoom >= BANDS[BANDS.len() - 1];
    if kept == g.coords_count() || (last_band && kept * 2 > g.coords_count()) {
        return Some(None);
    }
    Some(Some(shrunk(simplified)))
}

/// The geometry with its coordinate vectors at their length (Douglas–Peucker leaves them at
/// the capacity of the input).
fn shrunk(mut g: Geometry<f64>) -> Geometry<f64> {
    fn polygon(p: &mut geo_types::Polygon<f64>) {
        p.exterior_mut(|r| r.0.shrink_to_fit());
        p.interiors_mut(|rings| {
            for r in rings {
                r.0.shrink_to_fit();
            }
        });
    }
    match &mut g {
        Geometry::LineString(l) => l.0.shrink_to_fit(),
        Geometry::MultiLineString(m) => m.0.iter_mut().for_each(|l| l.0.shrink_to_fit()),
        Geometry::Polygon(p) => polygon(p),
        Geometry::MultiPolygon(m) => m.0.iter_mut().for_each(polygon),
        _ => {}
    }
    g
}

impl LayerIndex {
    /// Builds the index from a layer's features (EPSG:4326).
    pub fn build(meta: LayerMeta, features: Vec<Feature>) -> Self {
        let mut ids = Vec::with_capacity(features.len());
        let mut rows = Vec::with_capacity(features.len());
        let mut geometries = Vec::with_capacity(features.len());
        for f in features {
            // A copy, not in place: the copies fill the holes the decoding left, so the
            // loaded layer sits in fewer pages (in place: 200 000 parcels 108-110 MiB
            // resident instead of 98-101).
            geometries.push(geometry_to_mercator(&f.geometry));
            ids.push(f.id);
            rows.push(f.values);
        }
        let columns = Columns::build(rows);
        let entries: Vec<Entry> = geometries
            .iter()
            .enumerate()
            .filter_map(|(i, g)| Some(Entry::new(envelope(g)?, i as u32)))
            .collect();
        let tree = RTree::bulk_load(entries);
        let mut visible_from = vec![BANDS.len() as u8; geometries.len()];
        let bands = BANDS
            .iter()
            .enumerate()
            .map(|(b, &zoom)| {
                let mut simplified = Vec::new();
                let mut slots = vec![NO_SLOT; geometries.len()];
                let mut visible = Vec::new();
                for (i, g) in geometries.iter().enumerate() {
                    // Visible at an earlier band: visible here; only the geometry is new.
                    let generalised = if usize::from(visible_from[i]) < b {
                        generalise(g, zoom).unwrap_or(None)
                    } else {
                        match generalise(g, zoom) {
                            Some(x) => {
                                visible_from[i] = b as u8;
                                x
                            }
                            None => continue,
                        }
                    };
                    visible.push(i as u32);
                    if let Some(s) = generalised {
                        slots[i] = simplified.len() as u32;
                        simplified.push(s);
                    }
                }
                simplified.shrink_to_fit();
                let band = Band {
                    slots: (!simplified.is_empty()).then(|| slots.into_boxed_slice()),
                    simplified,
                    tree: None,
                };
                let tree = band_keeps_tree(visible.len(), geometries.len()).then(|| {
                    RTree::bulk_load(
                        visible
                            .iter()
                            .filter_map(|&i| {
                                Some(Entry::new(envelope(band.geometry(i, &geometries))?, i))
                            })
                            .collect(),
                    )
                });
                Band { tree, ..band }
            })
            .collect();
        let mut by_id: Box<[u32]> = (0..ids.len() as u32).collect();
        by_id.sort_unstable_by_key(|&i| ids[i as usize]);
        let ring_bands = geometries
            .iter()
            .enumerate()
            .filter_map(|(i, g)| Some((i as u32, polygon_bands(g)?)))
            .collect();
        Self {
            meta,
            ids,
            columns,
            geometries,
            tree,
            bands,
            visible_from,
            by_id,
            ring_bands,
        }
    }

    /// Whether the feature at `position` covers `c` (EPSG:3857): inside or on the boundary.
    pub fn covers(&self, position: usize, c: geo_types::Coord<f64>) -> bool {
        let g = &self.geometries[position];
        match self.ring_bands.get(&(position as u32)) {
            Some(bands) => covers_banded(g, bands, c),
            None => covers(g, c),
        }
    }

    /// Position of the feature with this id.
    pub fn position(&self, id: i64) -> Option<usize> {
        self.by_id
            .binary_search_by_key(&id, |&i| self.ids[i as usize])
            .ok()
            .map(|k| self.by_id[k] as usize)
    }

    /// Features whose bounding box meets `bounds` (EPSG:3857), full resolution: (index, geometry).
    pub fn query(&self, bounds: [f64; 4]) -> impl Iterator<Item = (usize, &Geometry<f64>)> {
        let env = AABB::from_corners([bounds[0], bounds[1]], [bounds[2], bounds[3]]);
        self.tree
            .locate_in_envelope_intersecting(&env)
            .map(|e| (e.data as usize, &self.geometries[e.data as usize]))
    }

    /// What to draw at `zoom` within `bounds`: the band for that zoom (`None`: full
    /// geometry) and the positions of the features visible there, in feature order.
    fn band_positions(&self, zoom: u8, bounds: [f64; 4]) -> (Option<usize>, Vec<u32>) {
        let env = AABB::from_corners([bounds[0], bounds[1]], [bounds[2], bounds[3]]);
        let band = band_for(zoom);
        let mut positions: Vec<u32> = match band {
            Some(b) => match &self.bands[b].tree {
                Some(tree) => tree
                    .locate_in_envelope_intersecting(&env)
                    .map(|e| e.data)
                    .collect(),
                None => self
                    .tree
                    .locate_in_envelope_intersecting(&env)
                    .filter(|e| usize::from(self.visible_from[e.data as usize]) <= b)
                    .map(|e| e.data)
                    .collect(),
            },
            None => self
                .tree
                .locate_in_envelope_intersecting(&env)
                .map(|e| e.data)
                .collect(),
        };
        // Stable order (feature order) so identical requests give identical bytes.
        positions.sort_unstable();
        (band, positions)
    }

    /// The geometry drawn at `band` (`None`: full) of the feature at `position`.
    fn drawn(&self, band: Option<usize>, position: u32) -> &Geometry<f64> {
        match band {
            Some(b) => self.bands[b].geometry(position, &self.geometries),
            None => &self.geometries[position as usize],
        }
    }

    /// Candidates for a tile (or map image) at `zoom`: generalised geometry from the band for
    /// that zoom, in feature order; every value, or only `reading`'s (the rest `Null`).
    fn band_candidates(
        &self,
        zoom: u8,
        bounds: [f64; 4],
        reading: Option<&[usize]>,
    ) -> Vec<FeatureRef<'_>> {
        let (band, positions) = self.band_positions(zoom, bounds);
        positions
            .into_iter()
            .map(|i| FeatureRef {
                id: self.ids[i as usize],
                values: match reading {
                    Some(fields) => self.columns.row_reading_cow(i as usize, fields),
                    None => Cow::Owned(self.columns.row(i as usize)),
                },
                geometry: Cow::Borrowed(self.drawn(band, i)),
            })
            .collect()
    }

    /// Rough heap size of the index in bytes, for metrics.
    fn heap_bytes(&self) -> usize {
        fn coords(g: &Geometry<f64>) -> usize {
            use geo::CoordsIter;
            g.coords_count()
        }
        let full: usize = self.geometries.iter().map(coords).sum::<usize>() * 16
            + self.geometries.len() * (std::mem::size_of::<Geometry<f64>>() + 1)
            + self.tree.size() * 64;
        let bands: usize = self
            .bands
            .iter()
            .map(|b| {
                b.simplified
                    .iter()
                    .map(|g| 56 + coords(g) * 16)
                    .sum::<usize>()
                    + b.slots.as_ref().map_or(0, |s| s.len() * 4)
                    + b.tree.as_ref().map_or(0, |t| t.size() * 64)
            })
            .sum();
        let attrs = self.columns.heap_bytes() + self.ids.len() * 8 + self.by_id.len() * 4;
        let ring_bands: usize = self
            .ring_bands
            .values()
            .flat_map(|rings| rings.iter().flatten())
            .map(RingBands::heap_bytes)
            .sum();
        full + bands + attrs + ring_bands
    }
}

impl LayerIndex {
    fn at(&self, position: usize) -> FeatureRef<'_> {
        FeatureRef {
            id: self.ids[position],
            values: Cow::Owned(self.columns.row(position)),
            geometry: Cow::Borrowed(&self.geometries[position]),
        }
    }
}

impl LayerSource for LayerIndex {
    fn meta(&self) -> &LayerMeta {
        &self.meta
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn approx_bytes(&self) -> usize {
        self.heap_bytes()
    }

    fn feature(&self, id: i64) -> Option<FeatureRef<'_>> {
        self.position(id).map(|i| self.at(i))
    }

    fn features(&self) -> Box<dyn Iterator<Item = FeatureRef<'_>> + Send + '_> {
        Box::new((0..self.ids.len()).map(|i| self.at(i)))
    }

    fn in_envelope(&self, bounds: [f64; 4]) -> Vec<FeatureRef<'_>> {
        self.query(bounds).map(|(i, _)| self.at(i)).collect()
    }

    fn candidates(&self, zoom: u8, bounds: [f64; 4]) -> Vec<FeatureRef<'_>> {
        self.band_candidates(zoom, bounds, None)
    }

    fn candidates_reading(
        &self,
        zoom: u8,
        bounds: [f64; 4],
        fields: &[usize],
    ) -> Vec<FeatureRef<'_>> {
        self.band_candidates(zoom, bounds, Some(fields))
    }

    /// Tags straight from the columns: no feature's values are materialised.
    fn tile(&self, tile: TileId) -> Option<crate::mvt::EncodedLayer> {
        let (band, positions) = self.band_positions(tile.z, tile_bounds(tile));
        let mut builder = LayerBuilder::new(self.meta.id.as_str(), &self.meta.schema, tile);
        for i in positions {
            builder.add_tags(
                self.ids[i as usize],
                self.columns.tags(i as usize),
                self.drawn(band, i),
            );
        }
        (!builder.is_empty()).then(|| builder.finish())
    }

    /// Tests equalities and time on the columns, so only what passes them (for a predicate)
    /// and the page are materialised; walks in id order without sorting.
    fn select(
        &self,
        selection: &Selection<'_>,
        offset: usize,
        limit: usize,
        interrupt: &Interrupt,
    ) -> Result<Page<'_>, SelectError> {
        let time = time_fields(&self.meta);
        let holds = |i: usize| {
            selection.holds_by(
                |field, want| self.columns.equals(i, field, want),
                |field| Cow::Owned(self.columns.value(i, field)),
                time,
            )
        };
        let mut positions: Vec<u32> = match selection.envelope {
            Some(b) => {
                let rect = geo_types::Rect::new(
                    geo_types::coord! { x: b[0], y: b[1] },
                    geo_types::coord! { x: b[2], y: b[3] },
                );
                let mut found: Vec<u32> = self
                    .query(b)
                    .filter(|(_, g)| g.intersects(&rect))
                    .map(|(i, _)| i as u32)
                    .collect();
                interrupt.check()?;
                found.sort_unstable_by_key(|&i| self.ids[i as usize]);
                found
            }
            None => self.by_id.to_vec(),
        };
        let mut seen = 0usize;
        let mut cancelled = false;
        positions.retain(|&i| {
            seen += 1;
            // A cancelled scan stops matching; the check below turns it into an error.
            if seen.is_multiple_of(1024) && interrupt.is_cancelled() {
                cancelled = true;
            }
            !cancelled && holds(i as usize)
        });
        interrupt.check()?;
        if let Some(predicate) = selection.predicate {
            let mut kept = Vec::with_capacity(positions.len());
            for (n, &i) in positions.iter().enumerate() {
                if n % 64 == 0 {
                    interrupt.check()?;
                }
                if predicate(&self.at(i as usize)).map_err(SelectError::Predicate)? {
                    kept.push(i);
                }
            }
            positions = kept;
        }
        let matched = positions.len();
        let features = positions
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|i| self.at(i as usize))
            .collect();
        Ok(Page { matched, features })
    }

    /// Point hits with the ring bands of large polygons (the generic test walks every ring).
    fn hits<'a>(&'a self, x: f64, y: f64, radius: f64, scale: f64, out: &mut Vec<Hit<'a>>) {
        use geo::{Distance, Euclidean};
        let pad = (radius / scale).max(0.01);
        let c = geo_types::Coord { x, y };
        let p = geo_types::Point(c);
        out.extend(
            self.query([x - pad, y - pad, x + pad, y + pad])
                .filter_map(|(i, g)| {
                    let d = if self.covers(i, c) {
                        0.0
                    } else if radius > 0.0 {
                        Euclidean.distance(&p, g) * scale
                    } else {
                        return None;
                    };
                    (d <= radius).then(|| (d, self.at(i)))
                }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feature::{Field, FieldType, Schema, Value};
    use crate::layer::LayerId;
    use crate::tile::TileId;
    use geo_types::polygon;

    fn meta() -> LayerMeta {
        let schema = Schema::new(vec![Field::new("lu_code", FieldType::Text)]);
        LayerMeta {
            feature_count: 2,
            ..LayerMeta::new(LayerId::parse("lu").unwrap(), "MultiPolygon", schema)
        }
    }

    fn square(lon: f64, lat: f64, d: f64, id: i64) -> Feature {
        Feature {
            id,
            geometry: Geometry::Polygon(polygon![
                (x: lon, y: lat), (x: lon + d, y: lat), (x: lon + d, y: lat + d), (x: lon, y: lat + d), (x: lon, y: lat)
            ]),
            values: vec![Value::Text("CLN".into())],
        }
    }

    #[test]
    fn tiles_hold_the_features_that_meet_them_and_drop_sub_pixel_ones() {
        // A 1 km parcel and a 20 m parcel in Bến Tre city.
        let idx = LayerIndex::build(
            meta(),
            vec![
                square(106.37, 10.23, 0.01, 1),
                square(106.39, 10.23, 0.0002, 2),
            ],
        );
        let (x, y) = crate::tile::to_mercator(106.375, 10.235);
        let tile_at = |z: u8| {
            let n = f64::from(1u32 << z);
            let size = crate::tile::tile_size(z);
            let tx = ((x + crate::tile::HALF_WORLD) / size).floor().min(n - 1.0) as u64;
            let ty = ((crate::tile::HALF_WORLD - y) / size).floor().min(n - 1.0) as u64;
            TileId::new(u64::from(z), tx, ty).unwrap()
        };
        let ids = |t: TileId| -> Vec<u64> {
            use geozero::mvt::Message;
            idx.tile(t)
                .map(|l| geozero::mvt::tile::Layer::decode(l.bytes()).unwrap())
                .map(|l| l.features.iter().filter_map(|f| f.id).collect())
                .unwrap_or_default()
        };
        assert_eq!(ids(tile_at(8)), vec![1], "20 m parcel is sub-pixel at z8");
        assert_eq!(ids(tile_at(14)), vec![1, 2]);
        // A tile far away is empty.
        assert!(idx.tile(TileId::new(14, 0, 0).unwrap()).is_none());
    }

    #[test]
    fn the_last_band_keeps_no_copy_that_keeps_over_half_the_vertices() {
        use geo::CoordsIter;
        // A 1 km square (EPSG:3857 metres) with a vertex near the middle of each side, `off`
        // metres out: under half a pixel at z12 (19 m) those four go, at z10 (76 m) too.
        let square = |off: f64| -> Geometry<f64> {
            let ring: Vec<(f64, f64)> = vec![
                (0.0, 0.0),
                (500.0, -off),
                (1000.0, 0.0),
                (1000.0 + off, 500.0),
                (1000.0, 1000.0),
                (500.0, 1000.0 + off),
                (0.0, 1000.0),
                (-off, 500.0),
                (0.0, 0.0),
            ];
            Geometry::Polygon(geo_types::Polygon::new(ring.into(), vec![]))
        };
        // 5 of 9 kept: over half, so z12 draws the full geometry; z10 keeps its copy.
        assert_eq!(generalise(&square(10.0), 12), Some(None));
        let z10 = generalise(&square(10.0), 10)
            .unwrap()
            .expect("a copy at z10");
        assert_eq!(z10.coords_count(), 5);
        // 30 m out: kept at z12 (nothing removed), removed at z10.
        assert_eq!(generalise(&square(30.0), 12), Some(None));
        assert!(generalise(&square(30.0), 10).unwrap().is_some());
        // A ring of 41 jagged vertices, 600 m across, loses most of them at z12: that copy is kept.
        let jagged: Vec<(f64, f64)> = (0..=40)
            .map(|k| {
                let a = f64::from(k % 40) / 40.0 * std::f64::consts::TAU;
                let r = 300.0 + if k % 2 == 0 { 5.0 } else { -5.0 };
                (r * a.cos(), r * a.sin())
            })
            .collect();
        let jagged = Geometry::Polygon(geo_types::Polygon::new(jagged.into(), vec![]));
        let copy = generalise(&jagged, 12).unwrap().expect("a copy at z12");
        assert!(copy.coords_count() * 2 <= jagged.coords_count());
    }

    #[test]
    fn bands_hold_what_generalising_each_feature_alone_gives() {
        // 2 000 parcels from 3 m to 6 km wide, many-vertex (jagged) and simple ones, so some
        // bands keep a tree of their own and some filter the full tree.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut features = Vec::new();
        for id in 0..2000 {
            let (lon, lat) = (106.0 + next() * 0.8, 9.8 + next() * 0.5);
            let r = 0.00003 * 2000f64.powf(next());
            let n = if next() < 0.3 { 40 } else { 5 };
            let mut ring: Vec<(f64, f64)> = (0..n)
                .map(|k| {
                    let a = f64::from(k) / f64::from(n) * std::f64::consts::TAU;
                    let jag = r * (0.5 + 0.5 * next());
                    (lon + jag * a.cos(), lat + jag * a.sin())
                })
                .collect();
            ring.push(ring[0]);
            features.push(Feature {
                id,
                geometry: Geometry::Polygon(geo_types::Polygon::new(ring.into(), vec![])),
                values: vec![Value::Text("LUC".into())],
            });
        }
        let idx = LayerIndex::build(meta(), features);
        assert!(idx.bands.iter().any(|b| b.tree.is_some()));
        assert!(idx.bands.iter().any(|b| b.tree.is_none()));
        assert!(idx.bands.iter().any(|b| !b.simplified.is_empty()));
        let (x, y) = crate::tile::to_mercator(106.4, 10.05);
        for zoom in 3..=13u8 {
            for half in [2_000.0, 20_000.0, 200_000.0] {
                let bounds = [x - half, y - half, x + half, y + half];
                let got: Vec<(i64, usize)> = idx
                    .band_candidates(zoom, bounds, None)
                    .into_iter()
                    .map(|f| {
                        use geo::CoordsIter;
                        (f.id, f.geometry.coords_count())
                    })
                    .collect();
                let band = BANDS.iter().find(|&&b| b >= zoom);
                let want: Vec<(i64, usize)> = idx
                    .geometries
                    .iter()
                    .enumerate()
                    .filter_map(|(i, g)| {
                        use geo::CoordsIter;
                        let shown = match band {
                            Some(&b) => generalise(g, b)?.unwrap_or_else(|| g.clone()),
                            None => g.clone(),
                        };
                        let r = shown.bounding_rect()?;
                        (r.min().x <= bounds[2]
                            && r.max().x >= bounds[0]
                            && r.min().y <= bounds[3]
                            && r.max().y >= bounds[1])
                            .then(|| (idx.ids[i], shown.coords_count()))
                    })
                    .collect();
                assert_eq!(got, want, "zoom {zoom}, half-width {half}");
            }
        }
    }

    #[test]
    fn drawn_at_draws_what_the_index_draws() {
        // Parcels of every size, so some bands keep a tree and some filter the full one.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let features: Vec<Feature> = (0..1500)
            .map(|id| {
                let (lon, lat) = (106.0 + next() * 0.8, 9.8 + next() * 0.5);
                square(lon, lat, 0.00002 * 3000f64.powf(next()), id)
            })
            .collect();
        let idx = LayerIndex::build(meta(), features);
        let full: Vec<crate::source::FeatureRef<'_>> = idx.features().collect();
        let trees = band_trees(full.iter().map(|f| first_visible_band(&f.geometry)));
        let (x, y) = crate::tile::to_mercator(106.4, 10.05);
        for zoom in [3u8, 5, 7, 9, 11, 12, 13, 15] {
            for half in [3_000.0, 30_000.0, 300_000.0] {
                let b = [x - half, y - half, x + half, y + half];
                let want: Vec<_> = idx
                    .candidates(zoom, b)
                    .into_iter()
                    .map(|f| (f.id, f.geometry.into_owned()))
                    .collect();
                let got: Vec<_> = full
                    .iter()
                    .filter_map(|f| drawn_at(f.clone(), zoom, b, &trees))
                    .map(|f| (f.id, f.geometry.into_owned()))
                    .collect();
                assert!(want == got, "zoom {zoom}, half-width {half}");
            }
        }
    }
}
