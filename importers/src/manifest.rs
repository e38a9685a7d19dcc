//! A manifest of several imports (TOML), e.g. `data-samples/samples.toml`:
//!
//! ```toml
//! [[layer]]
//! id = "land_use"
//! file = "land-use/land_use_synthetic_tm3.shp"   # relative to the manifest
//! family = "land_use"
//! title_vi = "Hiện trạng sử dụng đất"
//! title_en = "Land use"
//! mapping = "land-use/land_use_synthetic_tm3.mapping.toml"
//! licence = "CC0-1.0"
//! access = "open"
//! owner = "Sở Tài nguyên và Môi trường Bến Tre"
//! src_crs = "EPSG:4326"   # only when the file has none
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use cuulong_core::{Access, Family, LayerId};

use crate::{ImportError, ImportOptions};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default)]
    layer: Vec<Entry>,
    #[serde(default)]
    lineage: Vec<LineageEntry>,
}

/// A lineage table to import after the layers (`cuulong admin import-lineage`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineageEntry {
    pub file: PathBuf,
    /// The admin layer whose units it changes.
    pub layer: String,
    /// The level of its new units (province, district, commune).
    #[serde(default = "commune")]
    pub level: String,
    pub parent_code: Option<String>,
}

fn commune() -> String {
    "commune".into()
}

/// The lineage tables of a manifest, paths resolved against its folder.
pub fn read_lineages(path: &Path) -> Result<Vec<LineageEntry>, ImportError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ImportError::Open {
        file: file.clone(),
        message: e.to_string(),
    })?;
    let manifest: Manifest = toml::from_str(&text).map_err(|e| ImportError::Open {
        file,
        message: e.to_string(),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(manifest
        .lineage
        .into_iter()
        .map(|mut l| {
            l.file = base.join(&l.file);
            l
        })
        .collect())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    file: PathBuf,
    family: Option<String>,
    title_vi: Option<String>,
    title_en: Option<String>,
    mapping: Option<PathBuf>,
    licence: Option<String>,
    access: Option<String>,
    owner: Option<String>,
    src_crs: Option<String>,
    source_layer: Option<String>,
    encoding: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// Reads a manifest into one set of import options per layer, paths resolved against the
/// manifest's folder.
pub fn read_manifest(path: &Path) -> Result<Vec<ImportOptions>, ImportError> {
    let file = path.display().to_string();
    let bad = |message: String| ImportError::Open {
        file: file.clone(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ImportError::NotFound { file: file.clone() },
        _ => bad(e.to_string()),
    })?;
    let manifest: Manifest = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    manifest
        .layer
        .into_iter()
        .map(|e| {
            let id = LayerId::parse(&e.id).map_err(&bad)?;
            let mut o = ImportOptions::new(base.join(&e.file), id);
            o.family = e.family.as_deref().map(str::parse::<Family>).transpose()?;
            o.mapping = e.mapping.map(|m| base.join(m));
            o.title_vi = e.title_vi;
            o.title_en = e.title_en;
            o.licence = e.licence;
            o.owner = e.owner;
            o.src_crs = e.src_crs;
            o.source_layer = e.source_layer;
            o.encoding = e.encoding;
            let _ = e.description;
            if let Some(a) = e.access {
                o.access = a.parse::<Access>().map_err(&bad)?;
            }
            Ok(o)
        })
        .collect()
}
