//! The MVT encoder and clipper: any geometry (finite coordinates) in any tile encodes or is
//! dropped — no panic — and clipped rings and lines stay inside the clip rectangle.
#![no_main]

use cuulong_core::clip::{clip_line, clip_ring};
use cuulong_core::mvt::LayerBuilder;
use geozero::mvt::Message;
use cuulong_core::tile::TileId;
use cuulong_core::{Field, FieldType, Schema, Value};
use geo_types::{Coord, Geometry, LineString, MultiPolygon, Point, Polygon};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    z: u8,
    x: u32,
    y: u32,
    kind: u8,
    /// Offsets from the tile's origin in tile widths, as fractions.
    points: Vec<(i16, i16)>,
    holes: Vec<Vec<(i16, i16)>>,
    name: String,
}

fuzz_target!(|input: Input| {
    let z = u64::from(input.z % 23);
    let n = 1u64 << z;
    let Ok(tile) = TileId::new(z, u64::from(input.x) % n, u64::from(input.y) % n) else {
        return;
    };
    let b = tile.bounds();
    let size = b[2] - b[0];
    let to_coord = |&(dx, dy): &(i16, i16)| Coord {
        x: b[0] + f64::from(dx) / 256.0 * size,
        y: b[1] + f64::from(dy) / 256.0 * size,
    };
    let exterior: Vec<Coord<f64>> = input.points.iter().map(to_coord).collect();
    if exterior.is_empty() {
        return;
    }
    let geometry = match input.kind % 4 {
        0 => Geometry::Point(Point(exterior[0])),
        1 => Geometry::LineString(LineString(exterior.clone())),
        2 => Geometry::Polygon(Polygon::new(
            LineString(exterior.clone()),
            input
                .holes
                .iter()
                .map(|h| LineString(h.iter().map(to_coord).collect()))
                .collect(),
        )),
        _ => Geometry::MultiPolygon(MultiPolygon(vec![Polygon::new(
            LineString(exterior.clone()),
            vec![],
        )])),
    };
    let schema = Schema::new(vec![Field::new("name", FieldType::Text)]);
    let values = vec![Value::Text(input.name.clone())];
    let mut builder = LayerBuilder::new("fuzz", &schema, tile);
    builder.add(1, &values, &geometry);
    // Decoded as any client would read it: the bytes are a valid tile.Layer.
    let layer = geozero::mvt::tile::Layer::decode(builder.finish().bytes()).expect("a valid layer");
    for f in &layer.features {
        // Commands: every command integer's id is MoveTo, LineTo or ClosePath.
        let mut i = 0;
        while i < f.geometry.len() {
            let cmd = f.geometry[i] & 7;
            let count = (f.geometry[i] >> 3) as usize;
            assert!(matches!(cmd, 1 | 2 | 7), "bad command {cmd}");
            i += 1 + if cmd == 7 { 0 } else { 2 * count };
        }
        assert_eq!(i, f.geometry.len(), "truncated geometry");
    }
    // The clipper on its own: output stays inside the rectangle.
    let pts: Vec<(f64, f64)> = exterior.iter().map(|c| (c.x, c.y)).collect();
    let eps = size * 1e-9;
    let inside = |&(x, y): &(f64, f64)| {
        x >= b[0] - eps && x <= b[2] + eps && y >= b[1] - eps && y <= b[3] + eps
    };
    assert!(
        clip_ring(&pts, &b).iter().all(inside),
        "ring leaves the rectangle"
    );
    for piece in clip_line(&pts, &b) {
        assert!(piece.iter().all(inside), "line leaves the rectangle");
    }
});
