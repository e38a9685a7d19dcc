//! Features with typed attributes, as they flow from importer to store to server.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use geo_types::Geometry;
use serde::{Deserialize, Serialize};

/// The type of an attribute column. Kept small on purpose: every store and output format
/// (PostGIS, FlatGeobuf, MVT, GeoJSON) can represent each of them exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Bool,
    Int,
    Float,
    Text,
    Date,
    DateTime,
}

impl FieldType {
    /// The JSON Schema `type` of the field's values, and a `format` where one applies.
    pub fn json_schema(self) -> (&'static str, Option<&'static str>) {
        match self {
            FieldType::Bool => ("boolean", None),
            FieldType::Int => ("integer", None),
            FieldType::Float => ("number", None),
            FieldType::Text => ("string", None),
            FieldType::Date => ("string", Some("date")),
            FieldType::DateTime => ("string", Some("date-time")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldType::Bool => "bool",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Text => "text",
            FieldType::Date => "date",
            FieldType::DateTime => "datetime",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
}

impl Field {
    pub fn new(name: impl Into<String>, kind: FieldType) -> Self {
        Self {
            name: name.into(),
            kind,
        }
    }
}

/// The attribute schema of a layer: ordered, unique field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Schema {
    pub fields: Vec<Field>,
}

impl Schema {
    pub fn new(fields: Vec<Field>) -> Self {
        Self { fields }
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// One attribute value. `Null` is a value of every type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The day a value names: a date, a date-time's day, or `YYYY-MM-DD` text (how validity
    /// is read from any store).
    pub fn as_date(&self) -> Option<NaiveDate> {
        match self {
            Value::Date(d) => Some(*d),
            Value::DateTime(t) => Some(t.date_naive()),
            Value::Text(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
            _ => None,
        }
    }

    /// Converts to `kind`, the way a mapped source column is coerced into a family field.
    /// Returns `None` when the value cannot be represented (e.g. "abc" as an integer).
    pub fn coerce(&self, kind: FieldType) -> Option<Value> {
        use Value as V;
        Some(match (self, kind) {
            (V::Null, _) => V::Null,
            (V::Bool(b), FieldType::Bool) => V::Bool(*b),
            (V::Int(i), FieldType::Int) => V::Int(*i),
            (V::Int(i), FieldType::Float) => V::Float(*i as f64),
            (V::Int(i), FieldType::Bool) if *i == 0 || *i == 1 => V::Bool(*i == 1),
            (V::Float(f), FieldType::Float) => V::Float(*f),
            (V::Float(f), FieldType::Int) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                V::Int(*f as i64)
            }
            (V::Text(s), FieldType::Text) => V::Text(s.clone()),
            (V::Text(s), FieldType::Int) => V::Int(s.trim().parse().ok()?),
            (V::Text(s), FieldType::Float) => V::Float(s.trim().parse().ok()?),
            (V::Text(s), FieldType::Bool) => match s.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "t" | "yes" | "y" | "có" => V::Bool(true),
                "0" | "false" | "f" | "no" | "n" | "không" => V::Bool(false),
                _ => return None,
            },
            (V::Text(s), FieldType::Date) => {
                V::Date(NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?)
            }
            (V::Text(s), FieldType::DateTime) => V::DateTime(
                DateTime::parse_from_rfc3339(s.trim())
                    .ok()?
                    .with_timezone(&Utc),
            ),
            (V::Date(d), FieldType::Date) => V::Date(*d),
            (V::Date(d), FieldType::DateTime) => V::DateTime(d.and_hms_opt(0, 0, 0)?.and_utc()),
            (V::DateTime(t), FieldType::DateTime) => V::DateTime(*t),
            (V::DateTime(t), FieldType::Date) => V::Date(t.date_naive()),
            (v, FieldType::Text) => V::Text(v.to_string()),
            _ => return None,
        })
    }

    /// JSON form used in reports, catalogues and (later) GeoJSON output.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Text(s) => s.clone().into(),
            Value::Date(_) | Value::DateTime(_) => self.to_string().into(),
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => f.write_str(s),
            // By hand: chrono's strftime parser showed in the point-query profile.
            Value::Date(d) => write!(f, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
            Value::DateTime(t) => write!(f, "{}", t.to_rfc3339()),
        }
    }
}

/// The same JSON as [`Value::to_json`], written straight to the serializer.
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(_) => s.serialize_unit(),
            Value::Text(t) => s.serialize_str(t),
            Value::Date(_) | Value::DateTime(_) => s.collect_str(self),
        }
    }
}

/// A feature's properties as a JSON object, serialised without building a JSON tree.
pub struct Properties<'a> {
    schema: &'a Schema,
    values: &'a [Value],
}

impl serde::Serialize for Properties<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.values.len()))?;
        for (f, v) in self.schema.fields.iter().zip(self.values) {
            map.serialize_entry(&f.name, v)?;
        }
        map.end()
    }
}

impl Schema {
    /// The properties of a feature, to serialise as a JSON object.
    pub fn properties<'a>(&'a self, values: &'a [Value]) -> Properties<'a> {
        Properties {
            schema: self,
            values,
        }
    }

    /// The properties of a feature as a JSON object (GeoJSON, query answers, reports).
    pub fn properties_json(&self, values: &[Value]) -> serde_json::Map<String, serde_json::Value> {
        self.fields
            .iter()
            .zip(values)
            .map(|(f, v)| (f.name.clone(), v.to_json()))
            .collect()
    }
}

/// A feature: a stable id within its layer version, a geometry in EPSG:4326 (lon, lat), and
/// one value per field of the layer's schema, in schema order.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub id: i64,
    pub geometry: Geometry<f64>,
    pub values: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialised_properties_equal_the_json_tree() {
        let schema = Schema {
            fields: vec![
                Field::new("code", FieldType::Text),
                Field::new("n", FieldType::Int),
                Field::new("x", FieldType::Float),
                Field::new("bad", FieldType::Float),
                Field::new("ok", FieldType::Bool),
                Field::new("from", FieldType::Date),
                Field::new("at", FieldType::DateTime),
                Field::new("none", FieldType::Text),
            ],
        };
        let values = vec![
            Value::Text("Xã An \"Thạnh\"".into()),
            Value::Int(-7),
            Value::Float(0.1),
            Value::Float(f64::NAN),
            Value::Bool(true),
            Value::Date(NaiveDate::from_ymd_opt(905, 3, 1).unwrap()),
            Value::Text("2024-01-02T03:04:05Z".into())
                .coerce(FieldType::DateTime)
                .unwrap(),
            Value::Null,
        ];
        let streamed = serde_json::to_value(schema.properties(&values)).unwrap();
        assert_eq!(
            streamed,
            serde_json::Value::Object(schema.properties_json(&values))
        );
        assert_eq!(streamed["from"], "0905-03-01");
        assert_eq!(streamed["bad"], serde_json::Value::Null);
    }

    #[test]
    fn coerces_text_to_typed_values() {
        assert_eq!(
            Value::Text(" 42 ".into()).coerce(FieldType::Int),
            Some(Value::Int(42))
        );
        assert_eq!(Value::Text("x".into()).coerce(FieldType::Int), None);
        assert_eq!(
            Value::Text("2020-05-01".into()).coerce(FieldType::Date),
            Some(Value::Date(NaiveDate::from_ymd_opt(2020, 5, 1).unwrap()))
        );
        assert_eq!(Value::Float(2.5).coerce(FieldType::Int), None);
        assert_eq!(
            Value::Float(3.0).coerce(FieldType::Int),
            Some(Value::Int(3))
        );
        assert_eq!(
            Value::Int(7).coerce(FieldType::Text),
            Some(Value::Text("7".into()))
        );
    }
}
