//! Opening a source file with GDAL: choosing the driver options (CSV geometry columns, DBF code
//! pages including TCVN3), picking the layer, and reading attributes as typed values.

use std::ffi::CStr;
use std::path::Path;

use gdal::vector::{Feature as OgrFeature, FieldValue, LayerAccess};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use gdal_sys::OGRFieldType as F;
use unicode_normalization::UnicodeNormalization;

use cuulong_core::{FieldType, Value};

use crate::{tcvn3, ImportError};

/// Text encoding of the source's attribute strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoding {
    /// Whatever GDAL decides (UTF-8 output, from .cpg / DBF code page / format rules).
    Gdal,
    /// GDAL is told this encoding (`ENCODING=` open option, shapefiles).
    Named(String),
    /// Raw bytes decoded by cuulong as TCVN3 (GDAL does not know it).
    Tcvn3,
}

pub struct Source {
    pub dataset: Dataset,
    pub layer_index: usize,
    pub encoding: Encoding,
    pub driver: String,
}

pub struct SourceField {
    pub index: usize,
    pub name: String,
    pub kind: FieldType,
}

fn is_ext(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Reads the `.cpg` beside a shapefile, if any.
fn cpg_of(path: &Path) -> Option<String> {
    let cpg = path.with_extension("cpg");
    let alt = path.with_extension("CPG");
    std::fs::read_to_string(&cpg)
        .or_else(|_| std::fs::read_to_string(alt))
        .ok()
        .map(|s| s.trim().to_owned())
}

pub struct OpenRequest<'a> {
    pub path: &'a Path,
    pub source_layer: Option<&'a str>,
    pub encoding: Option<&'a str>,
    pub csv_x: Option<&'a str>,
    pub csv_y: Option<&'a str>,
}

pub fn open(req: &OpenRequest<'_>) -> Result<Source, ImportError> {
    let path = req.path;
    let file = path.display().to_string();
    if !path.exists() {
        return Err(ImportError::NotFound { file });
    }
    let mut open_options: Vec<String> = Vec::new();
    let mut encoding = Encoding::Gdal;
    let shapefile = is_ext(path, &["shp", "dbf"]);
    let requested = req.encoding.map(str::to_owned).or_else(|| {
        shapefile
            .then(|| cpg_of(path))
            .flatten()
            .filter(|c| c.to_ascii_uppercase().contains("TCVN"))
    });
    if let Some(enc) = requested {
        if enc
            .to_ascii_uppercase()
            .replace(['-', '_', ' '], "")
            .starts_with("TCVN")
        {
            encoding = Encoding::Tcvn3;
            if shapefile {
                open_options.push("ENCODING=".into());
            }
        } else {
            if shapefile {
                open_options.push(format!("ENCODING={enc}"));
            }
            encoding = Encoding::Named(enc);
        }
    }
    let csv = is_ext(path, &["csv", "tsv"]);
    if csv {
        open_options.push("AUTODETECT_TYPE=YES".into());
        open_options.push("KEEP_GEOM_COLUMNS=NO".into());
        open_options.push("GEOM_POSSIBLE_NAMES=wkt,WKT,geometry,geom,the_geom".into());
        match (req.csv_x, req.csv_y) {
            (Some(x), Some(y)) => {
                open_options.push(format!("X_POSSIBLE_NAMES={x}"));
                open_options.push(format!("Y_POSSIBLE_NAMES={y}"));
            }
            (None, None) => {
                // Only unambiguous names: Vietnamese surveyors write X = northing, so plain
                // X/Y columns need --csv-x/--csv-y.
                open_options.push(
                    "X_POSSIBLE_NAMES=lon,longitude,long,lng,kinh_do,kinhdo,easting".into(),
                );
                open_options.push("Y_POSSIBLE_NAMES=lat,latitude,vi_do,vido,northing".into());
            }
            _ => {
                return Err(ImportError::Usage(
                    "--csv-x and --csv-y go together (easting/longitude column and northing/latitude column)".into(),
                ))
            }
        }
    }
    let opts: Vec<&str> = open_options.iter().map(String::as_str).collect();
    let dataset = Dataset::open_ex(
        path,
        DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
            open_options: (!opts.is_empty()).then_some(&opts[..]),
            ..Default::default()
        },
    )
    .map_err(|e| ImportError::Open {
        file: file.clone(),
        message: clean_gdal_message(&e.to_string()),
    })?;
    let driver = dataset.driver().short_name();
    let layer_index = pick_layer(&dataset, req.source_layer, &file)?;
    if csv {
        let layer = dataset.layer(layer_index).map_err(|e| ImportError::Open {
            file: file.clone(),
            message: e.to_string(),
        })?;
        if layer.defn().geom_fields().count() == 0 {
            let names: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
            return Err(ImportError::Open {
                file,
                message: format!(
                    "no geometry column found among {names:?}: name them lon/lat (or wkt), or give --csv-x EASTING_COLUMN --csv-y NORTHING_COLUMN (note: in Vietnamese surveying X is the northing)"
                ),
            });
        }
    }
    Ok(Source {
        dataset,
        layer_index,
        encoding,
        driver,
    })
}

fn clean_gdal_message(msg: &str) -> String {
    msg.lines().next().unwrap_or(msg).trim().to_owned()
}

fn pick_layer(ds: &Dataset, wanted: Option<&str>, file: &str) -> Result<usize, ImportError> {
    let names: Vec<(usize, String, u64)> = ds
        .layers()
        .enumerate()
        .map(|(i, l)| (i, l.name(), l.try_feature_count().unwrap_or(1)))
        .collect();
    if let Some(w) = wanted {
        return names
            .iter()
            .find(|(_, n, _)| n == w)
            .map(|(i, _, _)| *i)
            .ok_or_else(|| ImportError::Open {
                file: file.to_owned(),
                message: format!(
                    "no layer '{w}' (layers: {})",
                    names
                        .iter()
                        .map(|(_, n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
    }
    let with_features: Vec<_> = names.iter().filter(|(_, _, c)| *c > 0).collect();
    match (names.len(), with_features.len()) {
        (0, _) => Err(ImportError::Empty {
            file: file.to_owned(),
        }),
        (1, _) => Ok(0),
        (_, 0) => Err(ImportError::Empty {
            file: file.to_owned(),
        }),
        (_, 1) => Ok(with_features[0].0),
        _ => Err(ImportError::Open {
            file: file.to_owned(),
            message: format!(
                "has several layers with features ({}); choose one with --source-layer",
                with_features
                    .iter()
                    .map(|(_, n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// The attribute fields of a layer with cuulong types.
pub fn fields<L: LayerAccess>(layer: &L) -> Vec<SourceField> {
    layer
        .defn()
        .fields()
        .enumerate()
        .map(|(index, f)| SourceField {
            index,
            name: f.name().nfc().collect(),
            kind: match f.field_type() {
                F::OFTInteger | F::OFTInteger64 => FieldType::Int,
                F::OFTReal => FieldType::Float,
                F::OFTDate => FieldType::Date,
                F::OFTDateTime => FieldType::DateTime,
                _ => FieldType::Text,
            },
        })
        .collect()
}

/// NFC form of a string, without copying when it already is (the common case).
pub fn nfc(s: String) -> String {
    if s.is_ascii()
        || unicode_normalization::is_nfc_quick(s.chars())
            == unicode_normalization::IsNormalized::Yes
    {
        s
    } else {
        s.nfc().collect()
    }
}

/// Reads one attribute as a typed value.
pub fn value(feature: &OgrFeature<'_>, field: &SourceField, encoding: &Encoding) -> Value {
    if field.kind == FieldType::Text {
        if *encoding == Encoding::Tcvn3 {
            // SAFETY: the handle is valid while `feature` lives; GDAL returns a pointer to its
            // own buffer (or to an empty string), which we copy before the next call.
            let bytes = unsafe {
                let h = feature.c_feature();
                if gdal_sys::OGR_F_IsFieldSetAndNotNull(h, field.index as i32) == 0 {
                    return Value::Null;
                }
                let p = gdal_sys::OGR_F_GetFieldAsString(h, field.index as i32);
                if p.is_null() {
                    return Value::Null;
                }
                CStr::from_ptr(p).to_bytes().to_vec()
            };
            return Value::Text(tcvn3::decode(&bytes));
        }
        return match feature.field_as_string(field.index) {
            Ok(Some(s)) => Value::Text(nfc(s)),
            _ => Value::Null,
        };
    }
    match feature.field(field.index) {
        Ok(Some(v)) => match v {
            FieldValue::IntegerValue(i) => Value::Int(i64::from(i)),
            FieldValue::Integer64Value(i) => Value::Int(i),
            FieldValue::RealValue(x) => Value::Float(x),
            FieldValue::DateValue(d) => Value::Date(d),
            FieldValue::DateTimeValue(t) => Value::DateTime(t.with_timezone(&chrono::Utc)),
            FieldValue::StringValue(s) => Value::Text(s),
            other => Value::Text(format!("{other:?}")),
        },
        _ => Value::Null,
    }
}
