//! PostgreSQL binary COPY encoding of features: the fastest way into a table, and the values
//! travel typed, never as text pasted into SQL.

use chrono::{NaiveDate, TimeZone, Utc};
use cuulong_core::{Feature, FieldType, Schema, Value};
use geozero::wkb::{WkbDialect, WkbWriter};
use geozero::{CoordDimensions, GeozeroGeometry};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

fn pg_epoch_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()
}

/// The SQL type of a field in a layer table.
pub(crate) fn sql_type(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Bool => "boolean",
        FieldType::Int => "bigint",
        FieldType::Float => "double precision",
        FieldType::Text => "text",
        FieldType::Date => "date",
        FieldType::DateTime => "timestamptz",
    }
}

/// Encodes a batch as one COPY ... (FORMAT binary) payload with columns
/// `fid, geom, <schema fields...>`.
pub(crate) fn encode_batch(
    schema: &Schema,
    batch: &[Feature],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    out.clear();
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    let ncols = i16::try_from(schema.len() + 2).map_err(|_| "too many columns".to_owned())?;
    let epoch_date = pg_epoch_date();
    let epoch_ts = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
    for f in batch {
        out.extend_from_slice(&ncols.to_be_bytes());
        put(out, &f.id.to_be_bytes());
        // EWKB written in place behind its length (no buffer per feature).
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        let mut writer = WkbWriter::with_opts(
            &mut *out,
            WkbDialect::Ewkb,
            CoordDimensions::xy(),
            Some(4326),
            Vec::new(),
        );
        f.geometry
            .process_geom(&mut writer)
            .map_err(|e| format!("feature {}: {e}", f.id))?;
        let len = i32::try_from(out.len() - at - 4)
            .map_err(|_| format!("feature {}: geometry over 2 GiB", f.id))?;
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        for (field, value) in schema.fields.iter().zip(&f.values) {
            match (value, field.kind) {
                (Value::Null, _) => out.extend_from_slice(&(-1i32).to_be_bytes()),
                (Value::Bool(b), FieldType::Bool) => put(out, &[u8::from(*b)]),
                (Value::Int(i), FieldType::Int) => put(out, &i.to_be_bytes()),
                (Value::Float(x), FieldType::Float) => put(out, &x.to_be_bytes()),
                (Value::Text(s), FieldType::Text) => put(out, s.as_bytes()),
                (Value::Date(d), FieldType::Date) => {
                    let days = i32::try_from((*d - epoch_date).num_days())
                        .map_err(|_| format!("feature {}: date out of range", f.id))?;
                    put(out, &days.to_be_bytes());
                }
                (Value::DateTime(t), FieldType::DateTime) => {
                    let epoch = epoch_ts.ok_or("bad epoch")?;
                    let micros = (*t - epoch)
                        .num_microseconds()
                        .ok_or_else(|| format!("feature {}: timestamp out of range", f.id))?;
                    put(out, &micros.to_be_bytes());
                }
                (v, kind) => {
                    return Err(format!(
                        "feature {}: field '{}' expects {} but got {v:?}",
                        f.id,
                        field.name,
                        kind.name()
                    ))
                }
            }
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    Ok(())
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    // Field lengths are i32 by the protocol; a single value over 2 GiB cannot be sent anyway.
    let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use cuulong_core::Field;
    use geo_types::{point, polygon, Geometry};

    #[test]
    fn encodes_header_rows_and_trailer() {
        let schema = Schema::new(vec![
            Field::new("name", FieldType::Text),
            Field::new("n", FieldType::Int),
        ]);
        let f = Feature {
            id: 7,
            geometry: Geometry::Point(point!(x: 106.0, y: 10.0)),
            values: vec![Value::Text("Bến Tre".into()), Value::Null],
        };
        let mut out = Vec::new();
        encode_batch(&schema, &[f], &mut out).unwrap();
        assert!(out.starts_with(SIGNATURE));
        assert_eq!(&out[19..21], &4i16.to_be_bytes());
        assert_eq!(&out[21..25], &8i32.to_be_bytes());
        assert_eq!(&out[25..33], &7i64.to_be_bytes());
        assert!(out.ends_with(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
        let text = "Bến Tre".as_bytes();
        assert!(out.windows(text.len()).any(|w| w == text));
    }

    #[test]
    fn geometry_goes_in_as_the_ewkb_postgis_reads() {
        use geozero::ToWkb;
        let schema = Schema::new(vec![]);
        let g: Geometry = geo_types::MultiPolygon(vec![polygon![
            (x: 106.0, y: 10.0), (x: 106.1, y: 10.0), (x: 106.1, y: 10.1), (x: 106.0, y: 10.0)
        ]])
        .into();
        let ewkb = g.to_ewkb(CoordDimensions::xy(), Some(4326)).unwrap();
        let f = Feature {
            id: 1,
            geometry: g,
            values: vec![],
        };
        let mut out = Vec::new();
        encode_batch(&schema, &[f], &mut out).unwrap();
        // Header (19), column count (2), fid (4 + 8), then the geometry's length and bytes.
        let at = 19 + 2 + 12;
        let len = i32::from_be_bytes(out[at..at + 4].try_into().unwrap());
        assert_eq!(len as usize, ewkb.len());
        assert_eq!(&out[at + 4..at + 4 + ewkb.len()], ewkb.as_slice());
        // The SRID travels: EWKB flag 0x20000000 and 4326 after the type.
        assert_eq!(&ewkb[1..5], &(6u32 | 0x2000_0000).to_le_bytes());
        assert_eq!(&ewkb[5..9], &4326u32.to_le_bytes());
    }

    #[test]
    fn rejects_mistyped_values() {
        let schema = Schema::new(vec![Field::new("n", FieldType::Int)]);
        let f = Feature {
            id: 1,
            geometry: Geometry::Point(point!(x: 0.0, y: 0.0)),
            values: vec![Value::Text("x".into())],
        };
        let err = encode_batch(&schema, &[f], &mut Vec::new()).unwrap_err();
        assert!(err.contains("'n'"), "{err}");
    }
}
