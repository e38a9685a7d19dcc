//! A layer served from its FlatGeobuf file without loading it: the file is memory-mapped and
//! searched through its own packed Hilbert R-tree, features are decoded per request. What
//! stays in memory is 17 bytes a feature (id → position, and the first zoom band at which
//! the feature is not sub-pixel), so a layer beyond the index budget costs the page cache,
//! not the heap. Draws exactly what [`cuulong_core::index::LayerIndex`] draws: the same
//! generalisation (`index::generalise`), the same band rule, features in file order.
//!
//! The tree is searched in place rather than through `flatgeobuf::PackedRTree`, which copies
//! every node into a `Vec` (40 bytes a feature) before it can search; the node layout and the
//! level bounds follow that crate's writer.

use std::borrow::Cow;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use byteorder::{ByteOrder, LittleEndian};
use cuulong_core::index::{band_for, band_trees, box_meets, drawn_at, first_visible_band, BANDS};
use cuulong_core::interrupt::Interrupt;
use cuulong_core::source::{FeatureRef, LayerSource, Page, SelectError, Selection};
use cuulong_core::tile::{geometry_into_mercator, to_lonlat};
use cuulong_core::{LayerMeta, Value};
use flatgeobuf::{ColumnType, GeometryType};
use geo::BoundingRect;
use geozero::{ColumnValue, PropertyProcessor};

use crate::embedded::Props;
use crate::StoreError;

/// Bytes of one packed R-tree node: min x, min y, max x, max y, offset.
const NODE: usize = 40;
const MAGIC: [u8; 3] = *b"fgb";

pub struct MappedLayer {
    meta: LayerMeta,
    path: PathBuf,
    map: memmap2::Mmap,
    /// Byte offset of the tree and of the feature section.
    index_start: usize,
    features_start: usize,
    node_size: usize,
    /// Node positions of each tree level, leaves first (storage is root first).
    levels: Vec<Range<usize>>,
    /// Column types of the file (column 0 is the feature id).
    columns: Vec<(String, ColumnType)>,
    /// (feature id, position in file order), sorted by id.
    by_id: Box<[(i64, u32)]>,
    /// By position: the first band at which the feature is not sub-pixel.
    visible_from: Box<[u8]>,
    /// Per band: whether the in-memory index would keep a tree of its own for it (then its
    /// candidates are tested against their generalised envelope, as that tree does).
    band_tree: [bool; BANDS.len()],
    /// By position, the feature's rank in id order, when the layer is served in id order
    /// ([`MappedLayer::in_id_order`]); else features come in file order.
    id_rank: Option<Box<[u32]>>,
}

fn fgb(path: &Path, message: impl std::fmt::Display) -> StoreError {
    StoreError::Fgb {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

impl MappedLayer {
    /// Maps `path` (a layer file the embedded store wrote: with its index, ids in column 0)
    /// and reads every feature once, checking it and noting its id and visibility.
    pub fn open(meta: LayerMeta, path: &Path) -> Result<Self, StoreError> {
        let file = File::open(path).map_err(|e| fgb(path, e))?;
        // SAFETY: the embedded store writes a version's file once, through a temporary file
        // and a rename, and never changes it afterwards; a removed file stays mapped.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| fgb(path, e))?;
        if map.len() < 12 || map[..3] != MAGIC {
            return Err(fgb(path, "not a FlatGeobuf file"));
        }
        let header_size = LittleEndian::read_u32(&map[8..12]) as usize;
        let index_start = 12 + header_size;
        let header = flatgeobuf::size_prefixed_root_as_header(
            map.get(8..index_start)
                .ok_or_else(|| fgb(path, "truncated header"))?,
        )
        .map_err(|e| fgb(path, e))?;
        let count = usize::try_from(header.features_count()).map_err(|e| fgb(path, e))?;
        let node_size = usize::from(header.index_node_size());
        if count > 0 && node_size < 2 {
            return Err(fgb(path, "the file has no spatial index"));
        }
        let columns: Vec<(String, ColumnType)> = header
            .columns()
            .map(|cs| {
                cs.iter()
                    .map(|c| (c.name().to_owned(), c.type_()))
                    .collect()
            })
            .unwrap_or_default();
        if columns.first().is_none_or(|c| c.1 != ColumnType::Long) {
            return Err(fgb(path, "column 0 is not the feature id"));
        }
        let levels = level_bounds(count, node_size.max(2));
        let nodes = levels.first().map_or(0, |l| l.end);
        let features_start = index_start + nodes * NODE;
        if map.len() < features_start {
            return Err(fgb(path, "truncated index"));
        }
        let mut layer = MappedLayer {
            meta,
            path: path.to_owned(),
            map,
            index_start,
            features_start,
            node_size: node_size.max(2),
            levels,
            columns,
            by_id: Box::default(),
            visible_from: Box::default(),
            band_tree: [false; BANDS.len()],
            id_rank: None,
        };
        let mut by_id = Vec::with_capacity(count);
        let mut visible_from = Vec::with_capacity(count);
        for position in 0..count {
            let f = layer
                .decode(position)
                .map_err(|m| fgb(path, format!("feature at position {position}: {m}")))?;
            by_id.push((f.id, position as u32));
            visible_from.push(first_visible_band(&f.geometry));
        }
        by_id.sort_unstable();
        layer.band_tree = band_trees(visible_from.iter().copied());
        layer.by_id = by_id.into_boxed_slice();
        layer.visible_from = visible_from.into_boxed_slice();
        Ok(layer)
    }

    /// Serves the features in id order rather than file order (4 bytes a feature): what a
    /// layer read from PostGIS is drawn and listed in, so a server's snapshot of it, mapped,
    /// answers with the same bytes as the layer did.
    pub fn in_id_order(mut self) -> Self {
        let mut rank = vec![0u32; self.by_id.len()].into_boxed_slice();
        for (r, &(_, position)) in self.by_id.iter().enumerate() {
            rank[position as usize] = r as u32;
        }
        self.id_rank = Some(rank);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn node(&self, n: usize) -> ([f64; 4], u64) {
        let at = self.index_start + n * NODE;
        let b = &self.map[at..at + NODE];
        (
            [
                LittleEndian::read_f64(&b[0..8]),
                LittleEndian::read_f64(&b[8..16]),
                LittleEndian::read_f64(&b[16..24]),
                LittleEndian::read_f64(&b[24..32]),
            ],
            LittleEndian::read_u64(&b[32..40]),
        )
    }

    /// Positions of the features whose box (lon/lat) meets `b`, in the layer's order (file
    /// order, or id order).
    fn search(&self, b: [f64; 4]) -> Vec<u32> {
        let Some(leaves) = self.levels.first() else {
            return Vec::new();
        };
        let mut found = Vec::new();
        let mut queue = std::collections::VecDeque::from([(0usize, self.levels.len() - 1)]);
        while let Some((first, level)) = queue.pop_front() {
            let end = (first + self.node_size).min(self.levels[level].end);
            for n in first..end {
                let (r, offset) = self.node(n);
                if r[0] > b[2] || r[2] < b[0] || r[1] > b[3] || r[3] < b[1] {
                    continue;
                }
                if level == 0 {
                    found.push((n - leaves.start) as u32);
                } else {
                    queue.push_back((offset as usize, level - 1));
                }
            }
        }
        match &self.id_rank {
            Some(rank) => found.sort_unstable_by_key(|&p| rank[p as usize]),
            None => found.sort_unstable(),
        }
        found
    }

    /// The feature at `position`, its geometry in EPSG:3857.
    fn decode(&self, position: usize) -> Result<cuulong_core::Feature, String> {
        let leaves = self.levels.first().ok_or("empty layer")?;
        let (_, offset) = self.node(leaves.start + position);
        let at = self.features_start + offset as usize;
        let size = self
            .map
            .get(at..at + 4)
            .map(LittleEndian::read_u32)
            .ok_or("offset past the end")? as usize;
        let buf = self.map.get(at..at + 4 + size).ok_or("truncated feature")?;
        let feature = flatgeobuf::size_prefixed_root_as_feature(buf).map_err(|e| e.to_string())?;
        let geometry = match feature.geometry() {
            Some(g) => {
                let mut writer = geozero::geo_types::GeoWriter::new();
                flatgeobuf::read_geometry(&mut writer, &g, GeometryType::Unknown)
                    .map_err(|e| e.to_string())?;
                writer.take_geometry().ok_or("empty geometry")?
            }
            None => return Err("no geometry".into()),
        };
        let schema = &self.meta.schema;
        let mut props = Props {
            schema,
            id: 0,
            values: vec![Value::Null; schema.len()],
            error: None,
        };
        if let Some(p) = feature.properties() {
            self.properties(p.bytes(), &mut props)?;
        }
        if let Some(e) = props.error {
            return Err(e);
        }
        let mut geometry = geometry;
        geometry_into_mercator(&mut geometry);
        Ok(cuulong_core::Feature {
            id: props.id,
            geometry,
            values: props.values,
        })
    }

    /// Reads a feature's property bytes (column index, value) in the column types the
    /// embedded store writes.
    fn properties(&self, bytes: &[u8], props: &mut Props<'_>) -> Result<(), String> {
        let mut at = 0;
        let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
            let s = bytes.get(*at..*at + n).ok_or("truncated properties")?;
            *at += n;
            Ok(s)
        };
        while at + 1 < bytes.len() {
            let column = LittleEndian::read_u16(take(&mut at, 2)?) as usize;
            let (name, kind) = self
                .columns
                .get(column)
                .ok_or_else(|| format!("column {column} is not in the header"))?;
            let text = |at: &mut usize| -> Result<&str, String> {
                let len = LittleEndian::read_u32(take(at, 4)?) as usize;
                std::str::from_utf8(take(at, len)?).map_err(|e| e.to_string())
            };
            let value = match *kind {
                ColumnType::Bool => ColumnValue::Bool(take(&mut at, 1)?[0] != 0),
                ColumnType::Long => ColumnValue::Long(LittleEndian::read_i64(take(&mut at, 8)?)),
                ColumnType::Double => {
                    ColumnValue::Double(LittleEndian::read_f64(take(&mut at, 8)?))
                }
                ColumnType::String => ColumnValue::String(text(&mut at)?),
                ColumnType::DateTime => ColumnValue::DateTime(text(&mut at)?),
                other => return Err(format!("column '{name}' has type {other:?}")),
            };
            props
                .property(column, name, &value)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The feature at `position`; a feature that no longer decodes (the file was changed
    /// under the map, which the store never does) is logged and left out.
    fn at(&self, position: usize) -> Option<FeatureRef<'static>> {
        match self.decode(position) {
            Ok(f) => Some(FeatureRef {
                id: f.id,
                values: Cow::Owned(f.values),
                geometry: Cow::Owned(f.geometry),
            }),
            Err(e) => {
                tracing::error!(file = %self.path.display(), position, error = %e, "mapped feature unreadable");
                None
            }
        }
    }

    /// Positions whose box (EPSG:3857) meets `bounds`, searched in lon/lat with a margin
    /// for rounding; callers test the exact EPSG:3857 box after decoding.
    fn near(&self, bounds: [f64; 4]) -> Vec<u32> {
        let (x0, y0) = to_lonlat(bounds[0], bounds[1]);
        let (x1, y1) = to_lonlat(bounds[2], bounds[3]);
        let e = 1e-9;
        self.search([x0 - e, y0 - e, x1 + e, y1 + e])
    }
}

/// Node ranges per level, leaves first, as FlatGeobuf's packed tree lays them out (root
/// first in storage).
fn level_bounds(count: usize, node_size: usize) -> Vec<Range<usize>> {
    if count == 0 {
        return Vec::new();
    }
    let mut sizes = vec![count];
    let mut n = count;
    loop {
        n = n.div_ceil(node_size);
        sizes.push(n);
        if n == 1 {
            break;
        }
    }
    let total: usize = sizes.iter().sum();
    let mut end = total;
    sizes
        .iter()
        .map(|&s| {
            let r = end - s..end;
            end -= s;
            r
        })
        .collect()
}

impl LayerSource for MappedLayer {
    fn meta(&self) -> &LayerMeta {
        &self.meta
    }

    fn len(&self) -> usize {
        self.visible_from.len()
    }

    fn approx_bytes(&self) -> usize {
        self.by_id.len() * std::mem::size_of::<(i64, u32)>()
            + self.visible_from.len()
            + self.id_rank.as_ref().map_or(0, |r| r.len() * 4)
    }

    fn served_from(&self) -> &'static str {
        "flatgeobuf"
    }

    fn feature(&self, id: i64) -> Option<FeatureRef<'_>> {
        let k = self.by_id.binary_search_by_key(&id, |e| e.0).ok()?;
        self.at(self.by_id[k].1 as usize)
    }

    fn features(&self) -> Box<dyn Iterator<Item = FeatureRef<'_>> + Send + '_> {
        match self.id_rank {
            Some(_) => Box::new(self.by_id.iter().filter_map(|&(_, p)| self.at(p as usize))),
            None => Box::new((0..self.len()).filter_map(|p| self.at(p))),
        }
    }

    fn in_envelope(&self, bounds: [f64; 4]) -> Vec<FeatureRef<'_>> {
        self.near(bounds)
            .into_iter()
            .filter_map(|p| self.at(p as usize))
            .filter(|f| {
                f.geometry
                    .bounding_rect()
                    .is_some_and(|r| box_meets(&r, bounds))
            })
            .collect()
    }

    fn candidates(&self, zoom: u8, bounds: [f64; 4]) -> Vec<FeatureRef<'_>> {
        // Sub-pixel features are left out before decoding.
        let band = band_for(zoom);
        self.near(bounds)
            .into_iter()
            .filter(|&p| band.is_none_or(|b| usize::from(self.visible_from[p as usize]) <= b))
            .filter_map(|p| drawn_at(self.at(p as usize)?, zoom, bounds, &self.band_tree))
            .collect()
    }

    /// A page in id order decodes only what it tests: without an envelope, the ids in order
    /// (and nothing but the page when nothing is to be tested).
    fn select(
        &self,
        selection: &Selection<'_>,
        offset: usize,
        limit: usize,
        interrupt: &Interrupt,
    ) -> Result<Page<'_>, SelectError> {
        if selection.is_everything() {
            let features = self
                .by_id
                .iter()
                .skip(offset)
                .take(limit)
                .filter_map(|&(_, p)| self.at(p as usize))
                .collect();
            return Ok(Page {
                matched: self.len(),
                features,
            });
        }
        // With an envelope: the few features near it, decoded once and put in id order;
        // without: every feature, decoded as the ids come.
        let candidates: Box<dyn Iterator<Item = FeatureRef<'_>> + '_> = match selection.envelope {
            Some(b) => {
                let mut near: Vec<FeatureRef<'_>> = self
                    .near(b)
                    .into_iter()
                    .filter_map(|p| self.at(p as usize))
                    .collect();
                near.sort_unstable_by_key(|f| f.id);
                Box::new(near.into_iter())
            }
            None => Box::new(self.by_id.iter().filter_map(|&(_, p)| self.at(p as usize))),
        };
        cuulong_core::source::select_from(
            &self.meta, candidates, selection, offset, limit, interrupt,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_bounds_span_the_index_flatgeobuf_writes() {
        for n in [1usize, 2, 15, 16, 17, 255, 256, 257, 4097, 100_000] {
            let levels = level_bounds(n, 16);
            assert_eq!(
                levels.first().map_or(0, |l| l.end) * NODE,
                flatgeobuf::packed_r_tree::PackedRTree::index_size(n, 16),
                "{n} features"
            );
            assert_eq!(levels[0].len(), n, "the leaves are the features");
            assert_eq!(levels.last().map(|l| l.len()), Some(1), "one root");
        }
    }
}
