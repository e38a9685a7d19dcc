//! PostgreSQL binary COPY encoding of features: the fastest way into a table, and the values
//! travel typed, never as text pasted into SQL.

use chrono::{NaiveDate, TimeZone, Utc};
use cuulong_core::{Feature, FieldType, Schema, Value};
use geozero::{CoordDimensions, ToWkb};

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
        let ewkb = f
            .geometry
            .to_ewkb(CoordDimensions::xy(), Some(4326))
            .map_err(|e| format!("feature {}: {e}", f.id))?;
        put(out, &ewkb);
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
    use geo_types::{point, Geometry};

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
