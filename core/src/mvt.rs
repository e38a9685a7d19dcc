//! Mapbox Vector Tile 2.1 encoding of EPSG:3857 geometries: transform to tile coordinates,
//! clip to the tile plus a buffer, quantise to the extent, drop degenerate parts, fix ring
//! winding (exterior rings positive area in tile coordinates, holes negative), and encode
//! command integers and typed, deduplicated tags.

use std::borrow::Cow;

use rustc_hash::FxHashMap;

use geo_types::{Geometry, LineString, Point, Polygon};
use geozero::mvt::tile;

use crate::clip::{clip_line, clip_ring, Rect};
use crate::feature::{Schema, Value};
use crate::tile::TileId;

pub const EXTENT: u32 = 4096;
/// Buffer around the tile, in tile units, so strokes and labels join across tile edges.
pub const BUFFER: u32 = 64;

const MOVE_TO: u32 = 1;
const LINE_TO: u32 = 2;
const CLOSE_PATH: u32 = 7;

fn command(id: u32, count: u32) -> u32 {
    (id & 0x7) | (count << 3)
}

fn zigzag(n: i32) -> u32 {
    ((n << 1) ^ (n >> 31)) as u32
}

/// Transforms EPSG:3857 coordinates into a tile's coordinate space (y down).
#[derive(Debug, Clone, Copy)]
pub struct TileTransform {
    minx: f64,
    maxy: f64,
    scale: f64,
    pub clip: Rect,
}

impl TileTransform {
    pub fn new(tile: TileId, extent: u32, buffer: u32) -> Self {
        Self::for_bounds(tile.bounds(), extent, buffer)
    }

    /// A tile of any grid: `bounds` in the grid's CRS (east/north), square pixels assumed.
    pub fn for_bounds(b: [f64; 4], extent: u32, buffer: u32) -> Self {
        let scale = f64::from(extent) / (b[2] - b[0]);
        let buf = f64::from(buffer);
        Self {
            minx: b[0],
            maxy: b[3],
            scale,
            clip: [-buf, -buf, f64::from(extent) + buf, f64::from(extent) + buf],
        }
    }

    #[inline]
    fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        ((x - self.minx) * self.scale, (self.maxy - y) * self.scale)
    }

    fn ring(&self, ls: &LineString<f64>) -> Vec<(f64, f64)> {
        ls.0.iter().map(|c| self.apply(c.x, c.y)).collect()
    }
}

/// Encodes geometry commands, tracking the cursor across parts of one feature.
#[derive(Default)]
struct Encoder {
    out: Vec<u32>,
    cx: i32,
    cy: i32,
}

impl Encoder {
    fn move_to(&mut self, pts: &[(i32, i32)]) {
        self.out.push(command(MOVE_TO, pts.len() as u32));
        for &p in pts {
            self.param(p);
        }
    }

    fn param(&mut self, (x, y): (i32, i32)) {
        self.out.push(zigzag(x - self.cx));
        self.out.push(zigzag(y - self.cy));
        self.cx = x;
        self.cy = y;
    }

    fn path(&mut self, pts: &[(i32, i32)], close: bool) {
        self.out.push(command(MOVE_TO, 1));
        self.param(pts[0]);
        let rest = &pts[1..];
        self.out.push(command(LINE_TO, rest.len() as u32));
        for &p in rest {
            self.param(p);
        }
        if close {
            self.out.push(command(CLOSE_PATH, 1));
        }
    }
}

fn quantise(pts: &[(f64, f64)]) -> Vec<(i32, i32)> {
    let mut out: Vec<(i32, i32)> = Vec::with_capacity(pts.len());
    for &(x, y) in pts {
        let p = (x.round() as i32, y.round() as i32);
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    out
}

/// Twice the signed area of a closed integer ring (surveyor's formula, tile coordinates).
fn area2(ring: &[(i32, i32)]) -> i64 {
    ring.windows(2)
        .map(|w| i64::from(w[0].0) * i64::from(w[1].1) - i64::from(w[1].0) * i64::from(w[0].1))
        .sum()
}

/// Buffers reused across the rings and features of one tile, so a ring inside the tile (most
/// of them at the zooms parcels are drawn) costs no allocation.
#[derive(Default)]
struct Scratch {
    float: Vec<(f64, f64)>,
    ring: Vec<(i32, i32)>,
    /// A feature's commands, grown here and written out from here.
    commands: Vec<u32>,
}

/// A ring clipped and quantised into `s.ring`, closed, with the requested winding; false if
/// degenerate.
fn tile_ring(t: &TileTransform, ls: &LineString<f64>, exterior: bool, s: &mut Scratch) -> bool {
    let c = &t.clip;
    s.float.clear();
    let mut inside = true;
    for p in &ls.0 {
        let (x, y) = t.apply(p.x, p.y);
        inside &= x >= c[0] && x <= c[2] && y >= c[1] && y <= c[3];
        s.float.push((x, y));
    }
    let clipped_slow;
    let clipped: &[(f64, f64)] = if inside {
        // What `clip_ring` answers for a ring inside the rectangle: the ring, closed.
        let closed = s.float.len() > 1 && s.float.first() == s.float.last();
        if let (false, Some(&first)) = (closed, s.float.first()) {
            s.float.push(first);
        }
        &s.float
    } else {
        clipped_slow = clip_ring(&s.float, c);
        &clipped_slow
    };
    if clipped.len() < 4 {
        return false;
    }
    let q = &mut s.ring;
    q.clear();
    for &(x, y) in clipped {
        let p = (x.round() as i32, y.round() as i32);
        if q.last() != Some(&p) {
            q.push(p);
        }
    }
    if q.first() != q.last() {
        let first = q[0];
        q.push(first);
    }
    if q.len() < 4 {
        return false;
    }
    let a = area2(q);
    if a == 0 {
        return false;
    }
    if (a > 0) != exterior {
        q.reverse();
    }
    true
}

fn encode_polygon(t: &TileTransform, p: &Polygon<f64>, enc: &mut Encoder, s: &mut Scratch) -> bool {
    if !tile_ring(t, p.exterior(), true, s) {
        return false;
    }
    enc.path(&s.ring[..s.ring.len() - 1], true);
    for hole in p.interiors() {
        if tile_ring(t, hole, false, s) {
            enc.path(&s.ring[..s.ring.len() - 1], true);
        }
    }
    true
}

fn encode_line(t: &TileTransform, ls: &LineString<f64>, enc: &mut Encoder) -> bool {
    let mut any = false;
    for piece in clip_line(&t.ring(ls), &t.clip) {
        let q = quantise(&piece);
        if q.len() >= 2 {
            enc.path(&q, false);
            any = true;
        }
    }
    any
}

fn point_in(t: &TileTransform, p: &Point<f64>) -> Option<(i32, i32)> {
    let (x, y) = t.apply(p.x(), p.y());
    let c = &t.clip;
    (x >= c[0] && x <= c[2] && y >= c[1] && y <= c[3]).then(|| (x.round() as i32, y.round() as i32))
}

/// Geometry commands and type of one feature in a tile; `None` if nothing is left after
/// clipping and quantisation.
pub fn encode_geometry(t: &TileTransform, g: &Geometry<f64>) -> Option<(tile::GeomType, Vec<u32>)> {
    let mut scratch = Scratch::default();
    let kind = encode_scratch(t, g, &mut scratch)?;
    Some((kind, scratch.commands))
}

/// [`encode_geometry`] into `scratch.commands`.
fn encode_scratch(
    t: &TileTransform,
    g: &Geometry<f64>,
    scratch: &mut Scratch,
) -> Option<tile::GeomType> {
    let mut enc = Encoder {
        out: std::mem::take(&mut scratch.commands),
        ..Encoder::default()
    };
    enc.out.clear();
    let kind = encode_into(t, g, &mut enc, scratch);
    scratch.commands = enc.out;
    kind
}

fn encode_into(
    t: &TileTransform,
    g: &Geometry<f64>,
    enc: &mut Encoder,
    scratch: &mut Scratch,
) -> Option<tile::GeomType> {
    let kind = match g {
        Geometry::Point(p) => {
            enc.move_to(&[point_in(t, p)?]);
            tile::GeomType::Point
        }
        Geometry::MultiPoint(mp) => {
            let pts: Vec<(i32, i32)> = mp.0.iter().filter_map(|p| point_in(t, p)).collect();
            if pts.is_empty() {
                return None;
            }
            enc.move_to(&pts);
            tile::GeomType::Point
        }
        Geometry::LineString(ls) => {
            if !encode_line(t, ls, enc) {
                return None;
            }
            tile::GeomType::Linestring
        }
        Geometry::MultiLineString(mls) => {
            let mut any = false;
            for ls in &mls.0 {
                any |= encode_line(t, ls, enc);
            }
            if !any {
                return None;
            }
            tile::GeomType::Linestring
        }
        Geometry::Polygon(p) => {
            if !encode_polygon(t, p, enc, scratch) {
                return None;
            }
            tile::GeomType::Polygon
        }
        Geometry::MultiPolygon(mp) => {
            let mut any = false;
            for p in &mp.0 {
                any |= encode_polygon(t, p, enc, scratch);
            }
            if !any {
                return None;
            }
            tile::GeomType::Polygon
        }
        _ => return None,
    };
    Some(kind)
}

/// A tag value, borrowing text from the feature or from its layer's columns (no copies per
/// lookup); also the key of value deduplication.
#[derive(Hash, PartialEq, Eq)]
pub enum Cell<'v> {
    Null,
    Text(&'v str),
    /// Dates and date-times, as their text (borrowed where the source keeps it formatted).
    Formatted(Cow<'v, str>),
    Int(i64),
    /// By its bits.
    Float(u64),
    Bool(bool),
}

impl<'v> Cell<'v> {
    pub fn of(v: &'v Value) -> Self {
        match v {
            Value::Null => Cell::Null,
            Value::Text(s) => Cell::Text(s),
            Value::Int(n) => Cell::Int(*n),
            Value::Float(f) => Cell::Float(f.to_bits()),
            Value::Bool(b) => Cell::Bool(*b),
            Value::Date(_) | Value::DateTime(_) => Cell::Formatted(Cow::Owned(v.to_string())),
        }
    }

    /// Appends the cell as a layer's `values` entry (field 4): a `tile.Value` message with
    /// the one field its type takes.
    fn write_value(&self, buf: &mut Vec<u8>) {
        let text = |buf: &mut Vec<u8>, t: &str| {
            put_varint(buf, (1 + varint_len(t.len() as u64) + t.len()) as u64);
            put_bytes(buf, 1, t.as_bytes());
        };
        buf.push(key(4, LEN));
        match self {
            Cell::Null => buf.push(0),
            Cell::Text(t) => text(buf, t),
            Cell::Formatted(t) => text(buf, t),
            Cell::Int(n) => {
                let z = ((*n << 1) ^ (*n >> 63)) as u64;
                put_varint(buf, (1 + varint_len(z)) as u64);
                buf.push(key(6, VARINT));
                put_varint(buf, z);
            }
            Cell::Float(bits) => {
                buf.push(9);
                buf.push(key(3, I64));
                buf.extend_from_slice(&bits.to_le_bytes());
            }
            Cell::Bool(b) => {
                buf.push(2);
                buf.push(key(7, VARINT));
                buf.push(u8::from(*b));
            }
        }
    }
}

// Protocol Buffers wire format, written directly: the tile is built in its bytes rather than
// as prost structs encoded afterwards (a `String` per tag value, two vectors per feature, and
// every feature's length computed three times). Fields go in tag order, as prost writes them,
// so the bytes are the same (tested against prost).
const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;

const fn key(field: u8, wire: u8) -> u8 {
    (field << 3) | wire
}

fn varint_len(v: u64) -> usize {
    // 1 byte per 7 significant bits, at least one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_bytes(buf: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    buf.push(key(field, LEN));
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

fn packed_len(values: &[u32]) -> usize {
    values.iter().map(|&v| varint_len(u64::from(v))).sum()
}

/// The payload length of a packed repeated `uint32` field (`None` when empty: not written).
fn packed_payload(values: &[u32]) -> Option<usize> {
    (!values.is_empty()).then(|| packed_len(values))
}

/// The bytes a field of `payload` bytes takes, key and length included.
fn field_len(payload: usize) -> usize {
    1 + varint_len(payload as u64) + payload
}

fn put_packed(buf: &mut Vec<u8>, field: u8, values: &[u32], len: usize) {
    buf.push(key(field, LEN));
    put_varint(buf, len as u64);
    for &v in values {
        put_varint(buf, u64::from(v));
    }
}

/// One layer of a vector tile, encoded (a `tile.Layer` message).
#[derive(Debug, PartialEq, Eq)]
pub struct EncodedLayer(Vec<u8>);

impl EncodedLayer {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A vector tile of `layers`, in order.
pub fn encode_tile(layers: &[EncodedLayer]) -> Vec<u8> {
    let mut out = Vec::with_capacity(layers.iter().map(|l| l.0.len() + 6).sum());
    for l in layers {
        put_bytes(&mut out, 3, &l.0);
    }
    out
}

/// A tag value as a source hands it to [`LayerBuilder::add_tags`]: the cell and, where the
/// source keeps the field dictionary-coded, the value's code in that dictionary, so a value
/// already in the tile is found by an array read instead of by hashing the cell.
pub struct Tag<'v> {
    pub cell: Cell<'v>,
    pub code: Option<u32>,
}

impl<'v> From<Cell<'v>> for Tag<'v> {
    fn from(cell: Cell<'v>) -> Self {
        Tag { cell, code: None }
    }
}

/// A dictionary code not yet seen in the tile.
const NOT_SEEN: u32 = u32::MAX;
/// Codes from here on are hashed like uncoded cells: the per-tile array stays small (16 KiB a
/// field at most) while classes, communes, sheets and dates fit under it.
const CODED_LIMIT: u32 = 4096;

/// Builds one MVT layer: features are added one by one, tags deduplicated per layer.
pub struct LayerBuilder<'a> {
    transform: TileTransform,
    schema: &'a Schema,
    /// The layer's name and its features so far, encoded.
    encoded: Vec<u8>,
    features: usize,
    /// Layer keys, by index.
    key_names: Vec<String>,
    /// The layer's values so far, encoded, and how many.
    value_bytes: Vec<u8>,
    value_count: u32,
    /// The tag ids of the feature being added.
    tag_ids: Vec<u32>,
    values: FxHashMap<Cell<'a>, u32>,
    /// Layer key index of each schema field, assigned on first use.
    keys: Vec<Option<u32>>,
    /// Per field: (lookups, hits) of value deduplication. Fields whose values are nearly all
    /// distinct (areas, notes) stop being looked up: hashing them costs more than it saves.
    dedup: Vec<(u32, u32)>,
    /// Per field, by dictionary code: the layer value index sent for it (`NOT_SEEN`: none
    /// yet). The values table and the dedup counts stay what hashing alone would make them.
    coded: Vec<Vec<u32>>,
    scratch: Scratch,
}

/// After this many lookups a field keeps deduplicating only if at least 1 in 8 hit.
const DEDUP_PROBE: u32 = 64;

impl<'a> LayerBuilder<'a> {
    pub fn new(name: &str, schema: &'a Schema, tile: TileId) -> Self {
        Self::with_transform(name, schema, TileTransform::new(tile, EXTENT, BUFFER))
    }

    /// A layer of a tile of any grid (coordinates handed to [`LayerBuilder::add`] are then in
    /// the grid's CRS).
    pub fn with_transform(name: &str, schema: &'a Schema, transform: TileTransform) -> Self {
        Self {
            transform,
            schema,
            encoded: {
                let mut b = Vec::with_capacity(4096);
                put_bytes(&mut b, 1, name.as_bytes());
                b
            },
            features: 0,
            key_names: Vec::new(),
            value_bytes: Vec::new(),
            value_count: 0,
            tag_ids: Vec::new(),
            values: FxHashMap::default(),
            keys: vec![None; schema.len()],
            dedup: vec![(0, 0); schema.len()],
            coded: vec![Vec::new(); schema.len()],
            scratch: Scratch::default(),
        }
    }

    /// Adds a feature; returns false if its geometry vanished in this tile.
    pub fn add(&mut self, id: i64, values: &'a [Value], geometry: &Geometry<f64>) -> bool {
        self.add_tags(id, values.iter().map(|v| Tag::from(Cell::of(v))), geometry)
    }

    /// [`LayerBuilder::add`] with the values as tags in field order (a source that keeps
    /// them other than as `Value`s).
    pub fn add_tags(
        &mut self,
        id: i64,
        tags: impl ExactSizeIterator<Item = Tag<'a>>,
        geometry: &Geometry<f64>,
    ) -> bool {
        let Some(kind) = encode_scratch(&self.transform, geometry, &mut self.scratch) else {
            return false;
        };
        let mut tag_ids = std::mem::take(&mut self.tag_ids);
        tag_ids.clear();
        for (i, Tag { cell, code }) in tags.enumerate() {
            if matches!(cell, Cell::Null) {
                continue;
            }
            let k = match self.keys[i] {
                Some(k) => k,
                None => {
                    let k = self.key_names.len() as u32;
                    self.key_names.push(self.schema.fields[i].name.clone());
                    self.keys[i] = Some(k);
                    k
                }
            };
            let next = self.value_count;
            let (lookups, hits) = &mut self.dedup[i];
            let vi = if *lookups >= DEDUP_PROBE && *hits * 8 < *lookups {
                cell.write_value(&mut self.value_bytes);
                self.value_count += 1;
                next
            } else {
                *lookups += 1;
                let coded = &mut self.coded[i];
                let code = code.filter(|&c| c < CODED_LIMIT);
                let seen = code
                    .and_then(|c| coded.get(c as usize).copied())
                    .filter(|&v| v != NOT_SEEN);
                if let Some(v) = seen {
                    *hits += 1;
                    v
                } else {
                    let v = match self.values.entry(cell) {
                        std::collections::hash_map::Entry::Occupied(e) => {
                            *hits += 1;
                            *e.get()
                        }
                        std::collections::hash_map::Entry::Vacant(e) => {
                            e.key().write_value(&mut self.value_bytes);
                            self.value_count += 1;
                            *e.insert(next)
                        }
                    };
                    if let Some(c) = code.map(|c| c as usize) {
                        if coded.len() <= c {
                            coded.resize(c + 1, NOT_SEEN);
                        }
                        coded[c] = v;
                    }
                    v
                }
            };
            tag_ids.push(k);
            tag_ids.push(vi);
        }
        // A `tile.Feature`: id (1), tags (2), type (3), geometry (4).
        let id = u64::try_from(id).ok();
        let commands = &self.scratch.commands;
        let tags_len = packed_payload(&tag_ids);
        let geometry_len = packed_payload(commands);
        let len = id.map_or(0, |id| 1 + varint_len(id))
            + tags_len.map_or(0, field_len)
            + 1
            + varint_len(kind as u64)
            + geometry_len.map_or(0, field_len);
        let buf = &mut self.encoded;
        buf.push(key(2, LEN));
        put_varint(buf, len as u64);
        if let Some(id) = id {
            buf.push(key(1, VARINT));
            put_varint(buf, id);
        }
        if let Some(n) = tags_len {
            put_packed(buf, 2, &tag_ids, n);
        }
        buf.push(key(3, VARINT));
        put_varint(buf, kind as u64);
        if let Some(n) = geometry_len {
            put_packed(buf, 4, commands, n);
        }
        self.features += 1;
        self.tag_ids = tag_ids;
        true
    }

    pub fn is_empty(&self) -> bool {
        self.features == 0
    }

    /// The layer: name (1), features (2), keys (3), values (4), extent (5), version (15).
    pub fn finish(self) -> EncodedLayer {
        let mut buf = self.encoded;
        for k in &self.key_names {
            put_bytes(&mut buf, 3, k.as_bytes());
        }
        buf.extend_from_slice(&self.value_bytes);
        buf.push(key(5, VARINT));
        put_varint(&mut buf, u64::from(EXTENT));
        buf.push(key(15, VARINT));
        put_varint(&mut buf, 2);
        EncodedLayer(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feature::{Field, FieldType};
    use geo_types::{polygon, MultiPolygon};
    use geozero::mvt::Tile;

    #[test]
    fn commands_and_zigzag() {
        assert_eq!(command(MOVE_TO, 1), 9);
        assert_eq!(command(LINE_TO, 3), 26);
        assert_eq!(command(CLOSE_PATH, 1), 15);
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-2), 3);
    }

    fn z0() -> TileId {
        TileId::new(0, 0, 0).unwrap()
    }

    #[test]
    fn polygon_exterior_is_positive_and_holes_negative() {
        // Counter-clockwise in map coordinates (y up) → must come out clockwise on screen.
        let h = crate::tile::HALF_WORLD;
        let p = polygon![
            exterior: [(x: -h / 2.0, y: -h / 2.0), (x: h / 2.0, y: -h / 2.0), (x: h / 2.0, y: h / 2.0), (x: -h / 2.0, y: h / 2.0)],
            interiors: [[(x: -h / 4.0, y: -h / 4.0), (x: -h / 4.0, y: h / 4.0), (x: h / 4.0, y: h / 4.0), (x: h / 4.0, y: -h / 4.0)]],
        ];
        let t = TileTransform::new(z0(), EXTENT, BUFFER);
        let mut s = Scratch::default();
        assert!(tile_ring(&t, p.exterior(), true, &mut s));
        assert!(area2(&s.ring) > 0);
        assert!(tile_ring(&t, &p.interiors()[0], false, &mut s));
        assert!(area2(&s.ring) < 0);
        let (kind, cmds) = encode_geometry(&t, &Geometry::Polygon(p)).unwrap();
        assert_eq!(kind, tile::GeomType::Polygon);
        assert_eq!(cmds[0], command(MOVE_TO, 1));
        assert_eq!(
            cmds.iter()
                .filter(|&&c| c == command(CLOSE_PATH, 1))
                .count(),
            2
        );
    }

    /// The ring as clipping every ring answers it (no fast path, fresh buffers).
    fn reference_ring(
        t: &TileTransform,
        ls: &LineString<f64>,
        exterior: bool,
    ) -> Option<Vec<(i32, i32)>> {
        let clipped = clip_ring(&t.ring(ls), &t.clip);
        if clipped.len() < 4 {
            return None;
        }
        let mut q = quantise(&clipped);
        if q.first() != q.last() {
            q.push(q[0]);
        }
        if q.len() < 4 || area2(&q) == 0 {
            return None;
        }
        if (area2(&q) > 0) != exterior {
            q.reverse();
        }
        Some(q)
    }

    #[test]
    fn rings_inside_the_tile_come_out_as_clipping_makes_them() {
        let t = TileTransform::for_bounds([0.0, 0.0, 4096.0, 4096.0], EXTENT, BUFFER);
        let mut s = Scratch::default();
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as f64 / f64::from(1u32 << 31)
        };
        let mut inside = 0;
        for case in 0..2000 {
            // Centres inside, across the edge and outside; rings closed or not, some tiny.
            let (cx, cy) = (next() * 4600.0 - 250.0, next() * 4600.0 - 250.0);
            let r = if case % 5 == 0 {
                next() * 2.0
            } else {
                next() * 300.0
            };
            let n = 1 + (next() * 9.0) as usize;
            let mut pts: Vec<(f64, f64)> = (0..n)
                .map(|k| {
                    let a = k as f64 / n as f64 * std::f64::consts::TAU;
                    (cx + r * a.cos(), cy + r * a.sin())
                })
                .collect();
            if case % 2 == 0 {
                pts.push(pts[0]);
            }
            let ls = LineString::from(pts);
            inside += usize::from(ls.0.iter().all(|c| {
                let (x, y) = t.apply(c.x, c.y);
                x >= t.clip[0] && x <= t.clip[2] && y >= t.clip[1] && y <= t.clip[3]
            }));
            for exterior in [true, false] {
                let want = reference_ring(&t, &ls, exterior);
                let got = tile_ring(&t, &ls, exterior, &mut s).then(|| s.ring.clone());
                assert_eq!(got, want, "case {case}");
            }
        }
        assert!(inside > 500 && inside < 1900, "{inside} rings inside");
    }

    #[test]
    fn sub_unit_polygons_vanish() {
        let tiny = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 0.0)];
        let t = TileTransform::new(z0(), EXTENT, BUFFER);
        assert!(encode_geometry(&t, &Geometry::MultiPolygon(MultiPolygon(vec![tiny]))).is_none());
    }

    /// The layer as prost reads it, after checking the bytes are what prost itself writes
    /// for it.
    fn decoded(l: EncodedLayer) -> tile::Layer {
        use geozero::mvt::Message;
        let layer = tile::Layer::decode(l.bytes()).expect("a tile.Layer");
        assert_eq!(layer.encode_to_vec(), l.bytes(), "prost writes other bytes");
        layer
    }

    #[test]
    fn layers_are_written_as_prost_writes_them() {
        use geozero::mvt::Message;
        let schema = Schema::new(vec![
            Field::new("text", FieldType::Text),
            Field::new("date", FieldType::Text),
            Field::new("int", FieldType::Int),
            Field::new("float", FieldType::Float),
            Field::new("bool", FieldType::Bool),
        ]);
        let t = TileTransform::for_bounds([0.0, 0.0, 4096.0, 4096.0], EXTENT, BUFFER);
        let mut b = LayerBuilder::with_transform("mọi_kiểu", &schema, t);
        let long = "đường ".repeat(40);
        let square = Geometry::Polygon(
            polygon![(x: 10.0, y: 10.0), (x: 3000.0, y: 10.0), (x: 3000.0, y: 3000.0), (x: 10.0, y: 3000.0)],
        );
        let line = Geometry::LineString(LineString::from(vec![
            (-500.0, 5.0),
            (200.0, 300.0),
            (9000.0, 300.0),
        ]));
        let points =
            Geometry::MultiPoint(vec![Point::new(1.0, 2.0), Point::new(4000.0, 100.0)].into());
        for (i, n) in [0i64, -1, 1, i64::MIN, i64::MAX, 300, -300]
            .into_iter()
            .enumerate()
        {
            let tags = [
                Cell::Text(if i % 2 == 0 { "CLN" } else { &long }),
                Cell::Formatted(Cow::Owned(format!("2025-07-0{}", i + 1))),
                Cell::Int(n),
                Cell::Float((n as f64 / 3.0).to_bits()),
                if i == 3 {
                    Cell::Null
                } else {
                    Cell::Bool(i % 2 == 1)
                },
            ];
            let g = [&square, &line, &points][i % 3];
            // Negative ids have no MVT id; large ones take ten bytes.
            let id = [5, -2, i64::MAX, 0, 1 << 35, 127, 128][i];
            assert!(b.add_tags(id, tags.into_iter().map(Tag::from), g));
        }
        // A feature with no tags at all.
        assert!(b.add_tags(9, std::iter::empty(), &square));
        let l = decoded(b.finish());
        assert_eq!(l.name, "mọi_kiểu");
        assert_eq!((l.version, l.extent), (2, Some(EXTENT)));
        assert_eq!(l.features.len(), 8);
        assert_eq!(l.features[1].id, None);
        assert_eq!(l.features[2].id, Some(i64::MAX as u64));
        assert!(l.features[7].tags.is_empty());
        assert_eq!(l.features[3].tags.len(), 8, "the null is not tagged");
        let value = |f: usize, k: usize| &l.values[l.features[f].tags[2 * k + 1] as usize];
        assert_eq!(value(3, 2).sint_value, Some(i64::MIN));
        assert_eq!(value(4, 2).sint_value, Some(i64::MAX));
        assert_eq!(value(1, 0).string_value.as_deref(), Some(long.as_str()));
        assert_eq!(value(1, 4).bool_value, Some(true));
        assert_eq!(value(6, 3).double_value, Some(-100.0));
        // The tile holds the layers as prost would hold them.
        let tile = encode_tile(&[decoded_bytes(&l), decoded_bytes(&l)]);
        let read = Tile::decode(tile.as_slice()).unwrap();
        assert_eq!(read.layers, vec![l.clone(), l]);
        assert_eq!(read.encode_to_vec(), tile);
    }

    fn decoded_bytes(l: &tile::Layer) -> EncodedLayer {
        use geozero::mvt::Message;
        EncodedLayer(l.encode_to_vec())
    }

    #[test]
    fn tags_are_deduplicated_and_typed() {
        let schema = Schema::new(vec![
            Field::new("lu_code", FieldType::Text),
            Field::new("year", FieldType::Int),
            Field::new("note", FieldType::Text),
        ]);
        let v1 = [Value::Text("CLN".into()), Value::Int(2020), Value::Null];
        let v2 = [Value::Text("CLN".into()), Value::Int(2021), Value::Null];
        let mut b = LayerBuilder::new("land_use", &schema, z0());
        let g = Geometry::Point(Point::new(0.0, 0.0));
        assert!(b.add(1, &v1, &g));
        assert!(b.add(2, &v2, &g));
        let l = decoded(b.finish());
        assert_eq!(l.keys, vec!["lu_code", "year"]);
        assert_eq!(l.values.len(), 3);
        assert_eq!(l.features[0].tags, vec![0, 0, 1, 1]);
        assert_eq!(l.features[1].tags, vec![0, 0, 1, 2]);
        assert_eq!(l.features[1].id, Some(2));
        assert_eq!(l.extent, Some(4096));
    }

    #[test]
    fn coded_tags_make_the_layer_hashing_makes() {
        let schema = Schema::new(vec![
            Field::new("class", FieldType::Text),
            Field::new("sheet", FieldType::Int),
            Field::new("name", FieldType::Text),
            Field::new("old_class", FieldType::Text),
        ]);
        let classes = ["LUC", "ONT", "CLN", "NTS"];
        let names: Vec<String> = (0..100).map(|i| format!("thửa {i}")).collect();
        let g = Geometry::Point(Point::new(0.0, 0.0));
        // The class repeats; codes are per field (class 2 and sheet 2 are different values);
        // the old class is coded by a dictionary of its own but holds the class's words (one
        // value each in the tile); names repeat too rarely, so their field stops
        // deduplicating after the probe, coded or not.
        let layer = |coded: bool| {
            let mut b = LayerBuilder::new("parcels", &schema, z0());
            for i in 0..300u32 {
                let code = |c: u32| coded.then_some(c);
                let tags = [
                    Tag {
                        cell: Cell::Text(classes[i as usize % 4]),
                        code: code(i % 4),
                    },
                    Tag {
                        cell: if i % 9 == 0 {
                            Cell::Null
                        } else {
                            Cell::Int(i64::from(i % 7))
                        },
                        code: code(i % 7),
                    },
                    Tag {
                        cell: Cell::Text(&names[i as usize % 100]),
                        code: code(i % 100 + 10),
                    },
                    Tag {
                        cell: Cell::Text(classes[(i as usize + 1) % 4]),
                        code: code((i + 1) % 4 + 20),
                    },
                ];
                assert!(b.add_tags(i64::from(i), tags.into_iter(), &g));
            }
            decoded(b.finish())
        };
        let (hashed, coded) = (layer(false), layer(true));
        assert_eq!(coded.keys, hashed.keys);
        assert_eq!(coded.values, hashed.values);
        assert_eq!(coded.features, hashed.features);
        // 4 classes + 7 sheets + every name sent (no hit in the probe's 64 lookups).
        assert_eq!(hashed.values.len(), 4 + 7 + 300);
        assert_eq!(hashed.features[299].tags.len(), 8);
    }
}
