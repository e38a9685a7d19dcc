//! `--mapping FILE` (TOML): how a source file's fields and values map onto a family schema.
//!
//! ```toml
//! [fields]            # family field = "source field"
//! lu_code = "MADAT"
//! [constants]         # family field = fixed value
//! code_system = "TT27/2018"
//! [values.lu_code]    # after field mapping: source value = family value
//! "Lúa" = "LUC"
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::feature::Value;

#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("mapping file is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("mapping names family field '{0}', which the family does not have")]
    UnknownTarget(String),
    #[error("mapping constant for '{0}' must be a string, integer, float or boolean")]
    BadConstant(String),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// family field → source field
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// family field → constant value
    #[serde(default)]
    pub constants: BTreeMap<String, toml::Value>,
    /// family field → (source value → family value)
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, toml::Value>>,
}

impl Mapping {
    pub fn parse(text: &str) -> Result<Self, MappingError> {
        Ok(toml::from_str(text)?)
    }

    /// Checks every target against the family's field names.
    pub fn check_targets(&self, family_fields: &[&str]) -> Result<(), MappingError> {
        for target in self
            .fields
            .keys()
            .chain(self.constants.keys())
            .chain(self.values.keys())
        {
            if !family_fields.contains(&target.as_str()) {
                return Err(MappingError::UnknownTarget(target.clone()));
            }
        }
        for (k, v) in &self.constants {
            toml_to_value(v).ok_or_else(|| MappingError::BadConstant(k.clone()))?;
        }
        Ok(())
    }

    /// The source field a family field is read from: the mapped name, else the same name.
    pub fn source_of<'a>(&'a self, family_field: &'a str) -> &'a str {
        self.fields
            .get(family_field)
            .map(String::as_str)
            .unwrap_or(family_field)
    }

    pub fn constant(&self, family_field: &str) -> Option<Value> {
        self.constants.get(family_field).and_then(toml_to_value)
    }

    /// Applies the value table of a family field, if any; values not in the table pass as is.
    pub fn map_value(&self, family_field: &str, value: Value) -> Value {
        let Some(table) = self.values.get(family_field) else {
            return value;
        };
        let key = match &value {
            Value::Null => return value,
            other => other.to_string(),
        };
        match table.get(key.trim()) {
            Some(v) => toml_to_value(v).unwrap_or(value),
            None => value,
        }
    }
}

fn toml_to_value(v: &toml::Value) -> Option<Value> {
    Some(match v {
        toml::Value::String(s) => Value::Text(s.clone()),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_fields_constants_and_values() {
        let m = Mapping::parse(
            r#"
            [fields]
            road_class = "cap_duong"
            [constants]
            lanes = 2
            [values.road_class]
            "Quốc Gia" = "QL"
            "#,
        )
        .unwrap();
        m.check_targets(&["road_class", "lanes", "name"]).unwrap();
        assert_eq!(m.source_of("road_class"), "cap_duong");
        assert_eq!(m.source_of("name"), "name");
        assert_eq!(m.constant("lanes"), Some(Value::Int(2)));
        assert_eq!(
            m.map_value("road_class", Value::Text("Quốc Gia".into())),
            Value::Text("QL".into())
        );
        assert_eq!(
            m.map_value("road_class", Value::Text("other".into())),
            Value::Text("other".into())
        );
    }

    #[test]
    fn rejects_unknown_targets_and_keys() {
        let m = Mapping::parse("[fields]\nnot_a_field = \"x\"\n").unwrap();
        assert!(matches!(
            m.check_targets(&["lu_code"]),
            Err(MappingError::UnknownTarget(_))
        ));
        assert!(Mapping::parse("[field]\na = \"b\"\n").is_err());
    }
}
