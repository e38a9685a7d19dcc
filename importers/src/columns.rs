//! The columns of an imported layer: where each family field comes from (a constant of the
//! mapping, a source column, or nowhere), which source fields are kept beside them, and safe
//! names for those.

use cuulong_core::{Field, Mapping, Schema, Value};

use crate::source::SourceField;
use crate::{ImportError, ImportOptions};

/// How a family field gets its value.
pub(crate) enum FamilySource {
    Constant(Value),
    Column(usize),
    Missing,
}

/// Source field names made safe as column names: NFC, unique (case-insensitively), at most
/// 63 bytes, not clashing with `fid`/`geom` or a family field.
fn column_names(names: &[String], taken: &[&str]) -> Vec<String> {
    let mut used: Vec<String> = taken.iter().map(|t| t.to_lowercase()).collect();
    used.push("fid".into());
    used.push("geom".into());
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut base: String = n.trim().to_owned();
            if base.is_empty() {
                base = format!("field_{}", i + 1);
            }
            while base.len() > 56 {
                base.pop();
            }
            let mut name = base.clone();
            let mut k = 2;
            while used.contains(&name.to_lowercase()) {
                name = format!("{base}_{k}");
                k += 1;
            }
            used.push(name.to_lowercase());
            name
        })
        .collect()
}

/// The plan of a layer's columns, made before the first feature is read.
pub(crate) struct Columns {
    /// Per family field, where its value comes from.
    pub family_sources: Vec<FamilySource>,
    /// Positions of the source fields kept beside the family fields.
    pub kept: Vec<usize>,
    pub schema: Schema,
}

impl Columns {
    pub fn plan(
        opts: &ImportOptions,
        mapping: &Mapping,
        source_fields: &[SourceField],
        file: &str,
    ) -> Result<Columns, ImportError> {
        let family_names: Vec<&str> = opts
            .family
            .map(|f| f.fields().iter().map(|f| f.name).collect())
            .unwrap_or_default();
        let find = |name: &str| {
            source_fields
                .iter()
                .position(|f| f.name == name)
                .or_else(|| {
                    source_fields
                        .iter()
                        .position(|f| f.name.eq_ignore_ascii_case(name))
                })
        };
        let family_sources: Vec<FamilySource> = family_names
            .iter()
            .map(|name| match mapping.constant(name) {
                Some(c) => FamilySource::Constant(c),
                None => match find(mapping.source_of(name)) {
                    Some(i) => FamilySource::Column(i),
                    None => FamilySource::Missing,
                },
            })
            .collect();
        if let Some(fam) = opts.family {
            for (ff, fs) in fam.fields().iter().zip(&family_sources) {
                if ff.required && matches!(fs, FamilySource::Missing) {
                    let names: Vec<&str> = source_fields.iter().map(|f| f.name.as_str()).collect();
                    return Err(ImportError::Usage(format!(
                        "{file}: family {} needs field '{}' but the file has none (fields: {}); map one with --mapping",
                        fam.name(),
                        ff.name,
                        names.join(", ")
                    )));
                }
            }
        }
        // Source fields are all kept (an import never drops data), except the one a family
        // field is read from under its own name; a same-named field that the mapping bypassed
        // (e.g. an ASCII `name` when `name` comes from `name_vi`) is kept under a suffixed name.
        let absorbed = |i: usize| {
            family_names.iter().zip(&family_sources).any(|(n, fs)| {
                matches!(fs, FamilySource::Column(c) if *c == i)
                    && n.eq_ignore_ascii_case(&source_fields[i].name)
            })
        };
        let kept: Vec<usize> = (0..source_fields.len()).filter(|&i| !absorbed(i)).collect();
        let kept_names = column_names(
            &kept
                .iter()
                .map(|&i| source_fields[i].name.clone())
                .collect::<Vec<_>>(),
            &family_names,
        );
        let mut fields: Vec<Field> = opts.family.map(|f| f.schema_fields()).unwrap_or_default();
        fields.extend(
            kept.iter()
                .zip(&kept_names)
                .map(|(&i, n)| Field::new(n.clone(), source_fields[i].kind)),
        );
        Ok(Columns {
            family_sources,
            kept,
            schema: Schema::new(fields),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_unique_and_safe() {
        let names = vec![
            "Name".to_string(),
            "name".to_string(),
            "".to_string(),
            "fid".to_string(),
            "lu_code".to_string(),
            "x".repeat(80),
        ];
        let out = column_names(&names, &["lu_code"]);
        assert_eq!(out[0], "Name");
        assert_eq!(out[1], "name_2");
        assert_eq!(out[2], "field_3");
        assert_eq!(out[3], "fid_2");
        assert_eq!(out[4], "lu_code_2");
        assert!(out[5].len() <= 63);
    }
}
