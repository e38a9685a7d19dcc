//! cuulong-importers: any file GDAL reads → reprojected to EPSG:4326 with PROJ (VN-2000 pinned
//! to EPSG:6960) → validated (geometry, extent, family code lists) → mapped onto the family
//! schema → written through the store, all or nothing, with a quality report.

mod columns;
pub mod crs;
mod gdal_errors;
pub mod geometry;
pub mod manifest;
mod pipeline;
pub mod progress;
mod read;
mod report;
pub mod source;
pub use cuulong_core::tcvn3;
mod validate;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use sha2::{Digest, Sha256};

use cuulong_core::{
    Access, Bbox, Family, FamilyError, Feature, ImportRecord, LayerDef, LayerId, LayerMeta,
    MappingError,
};
use cuulong_store::{Store, StoreError};

use pipeline::{Msg, Tally};

pub use geometry::VIETNAM_EXTENT;
pub use report::Rejected;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: file not found")]
    NotFound { file: String },
    #[error("{file}: cannot open: {message}")]
    Open { file: String, message: String },
    #[error("{file}: contains no features")]
    Empty { file: String },
    #[error("{file}: has no coordinate reference system (no .prj?); give it with --src-crs, e.g. --src-crs EPSG:9210 for VN-2000 / TM-3 105-45")]
    NoCrs { file: String },
    #[error("unknown CRS '{crs}': not an EPSG code, WKT or PROJ string that PROJ knows")]
    UnknownCrs { crs: String },
    #[error("CRS {crs}: {message}")]
    Crs { crs: String, message: String },
    #[error("{0}")]
    Family(#[from] FamilyError),
    #[error("mapping {file}: {source}")]
    Mapping {
        file: String,
        #[source]
        source: MappingError,
    },
    #[error("{file}: reading feature {feature} failed: {message}")]
    Read {
        file: String,
        feature: i64,
        message: String,
    },
    #[error("{file}: --strict and {rejected} feature(s) rejected; first: feature {first_feature}: {first_reason}")]
    Strict {
        file: String,
        rejected: i64,
        first_feature: i64,
        first_reason: String,
    },
    #[error(
        "{file}: all {read} features rejected; first: feature {first_feature}: {first_reason}"
    )]
    AllRejected {
        file: String,
        read: i64,
        first_feature: i64,
        first_reason: String,
    },
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("writing report {file}: {message}")]
    Report { file: String, message: String },
}

/// Everything `cuulong import` takes.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub file: PathBuf,
    pub layer: LayerId,
    pub family: Option<Family>,
    pub src_crs: Option<String>,
    pub mapping: Option<PathBuf>,
    pub title_vi: Option<String>,
    pub title_en: Option<String>,
    pub access: Access,
    pub owner: Option<String>,
    pub licence: Option<String>,
    pub report: Option<PathBuf>,
    pub strict: bool,
    pub source_layer: Option<String>,
    pub encoding: Option<String>,
    pub csv_x: Option<String>,
    pub csv_y: Option<String>,
    pub extent: Bbox,
    /// Show a progress bar (terminal) or plain progress lines.
    pub progress: bool,
}

impl ImportOptions {
    pub fn new(file: PathBuf, layer: LayerId) -> Self {
        Self {
            file,
            layer,
            family: None,
            src_crs: None,
            mapping: None,
            title_vi: None,
            title_en: None,
            access: Access::Open,
            owner: None,
            licence: None,
            report: None,
            strict: false,
            source_layer: None,
            encoding: None,
            csv_x: None,
            csv_y: None,
            extent: VIETNAM_EXTENT,
            progress: false,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    pub layer: LayerMeta,
    pub record: ImportRecord,
    /// Rejection reasons with their counts.
    pub reject_reasons: BTreeMap<String, i64>,
    /// Notes such as crosswalk mappings, with counts.
    pub notes: BTreeMap<String, i64>,
    /// Wall time of the whole import, commit included.
    pub elapsed: std::time::Duration,
}

fn sha256_of(path: &Path) -> Result<String, ImportError> {
    let mut f = std::fs::File::open(path).map_err(|e| ImportError::Open {
        file: path.display().to_string(),
        message: e.to_string(),
    })?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| ImportError::Open {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Starts reading `opts.file` on a blocking thread: its messages (definition, batches, tally or
/// failure) arrive on the returned channel.
fn start_reading(
    opts: &ImportOptions,
) -> Result<
    (
        tokio::sync::mpsc::Receiver<Msg>,
        tokio::task::JoinHandle<()>,
    ),
    ImportError,
> {
    gdal_errors::install();
    if !opts.file.exists() {
        return Err(ImportError::NotFound {
            file: opts.file.display().to_string(),
        });
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(4);
    let reader_opts = opts.clone();
    let reader = tokio::task::spawn_blocking(move || {
        if let Err(e) = read::read_source(&reader_opts, &tx) {
            let _ = tx.blocking_send(Msg::Failed(e));
        }
    });
    Ok((rx, reader))
}

/// Reads a whole source as an import would (GDAL, CRS to EPSG:4326, validation and repair,
/// mapping) without storing it: its layer definition and features, in memory. For small
/// files that feed another command (official admin boundaries); rejected features are an
/// error naming the first.
pub async fn read_all(opts: ImportOptions) -> Result<(LayerDef, Vec<Feature>), ImportError> {
    let (mut rx, reader) = start_reading(&opts)?;
    let file = opts.file.display().to_string();
    let mut def = None;
    let mut features = Vec::new();
    let result = loop {
        match rx.recv().await {
            Some(Msg::Start(d, _)) => def = Some(*d),
            Some(Msg::Batch(batch)) => features.extend(batch),
            Some(Msg::Done(t)) => break Ok(*t),
            Some(Msg::Failed(e)) => break Err(e),
            None => {
                break Err(ImportError::Read {
                    file: file.clone(),
                    feature: 0,
                    message: "the reader stopped unexpectedly".into(),
                })
            }
        }
    };
    let _ = reader.await;
    let tally = result?;
    if let Some(r) = tally.rejected.first() {
        return Err(ImportError::Read {
            file,
            feature: r.feature,
            message: r.reason.clone(),
        });
    }
    let def = def.ok_or_else(|| ImportError::Empty { file })?;
    Ok((def, features))
}

/// Runs one import: reads on a blocking thread, writes through the store, commits only when
/// everything holds. On any error the store is left as it was.
pub async fn import(
    store: Arc<dyn Store>,
    opts: ImportOptions,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let (mut rx, reader) = start_reading(&opts)?;
    // Hashing runs beside the reading; both hit the page cache.
    let sha256 = {
        let path = opts.file.clone();
        tokio::task::spawn_blocking(move || sha256_of(&path))
    };
    let file = opts.file.display().to_string();
    let (def, plan) = match rx.recv().await {
        Some(Msg::Start(def, plan)) => (def, plan),
        Some(Msg::Failed(e)) => return Err(e),
        _ => {
            return Err(ImportError::Read {
                file,
                feature: 0,
                message: "the reader stopped unexpectedly".into(),
            })
        }
    };
    let mut progress = progress::Progress::new(opts.progress, plan.total, &opts.layer);
    let mut writer = store.begin_replace(*def).await?;
    let tally = match receive(&mut rx, &mut *writer, &mut progress, &file).await {
        Ok(t) => t,
        Err(e) => {
            progress.abandon();
            return Err(e);
        }
    };
    let _ = reader.await;
    progress.finish(tally.read as u64);
    let rejected = tally.read - tally.imported;
    let first = tally.rejected.first();
    if let Some(path) = &opts.report {
        report::write(path, &tally.rejected).map_err(|message| ImportError::Report {
            file: path.display().to_string(),
            message,
        })?;
    }
    if opts.strict && rejected > 0 {
        return Err(ImportError::Strict {
            file,
            rejected,
            first_feature: first.map_or(0, |r| r.feature),
            first_reason: first.map(|r| r.reason.clone()).unwrap_or_default(),
        });
    }
    if tally.read == 0 {
        return Err(ImportError::Empty { file });
    }
    if tally.imported == 0 {
        return Err(ImportError::AllRejected {
            file,
            read: tally.read,
            first_feature: first.map_or(0, |r| r.feature),
            first_reason: first.map(|r| r.reason.clone()).unwrap_or_default(),
        });
    }
    if tally.geometry_types.len() == 1 {
        if let Some(t) = tally.geometry_types.first() {
            writer.set_geometry_type(t);
        }
    } else {
        writer.set_geometry_type("Geometry");
    }
    let mut warnings = plan.warnings.clone();
    warnings.extend(tally.notes.iter().map(|(n, c)| format!("{c} × {n}")));
    let sha256 = sha256
        .await
        .map_err(|e| ImportError::Usage(format!("hashing the file failed: {e}")))??;
    let record = ImportRecord {
        layer_id: opts.layer.to_string(),
        version: 0,
        file: opts.file.display().to_string(),
        sha256,
        src_crs: plan.src_crs.clone(),
        transformation: plan.operation.clone(),
        read: tally.read,
        imported: tally.imported,
        repaired: tally.repaired,
        rejected,
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        finished_at: Utc::now(),
        warnings,
    };
    let layer = writer.commit(record.clone()).await?;
    let mut record = record;
    record.version = layer.version;
    Ok(ImportSummary {
        layer,
        record,
        reject_reasons: tally.reasons,
        notes: tally.notes,
        elapsed: started.elapsed(),
    })
}

/// Writes the batches the reader sends until it is done; its tally, or why it stopped.
async fn receive(
    rx: &mut tokio::sync::mpsc::Receiver<Msg>,
    writer: &mut dyn cuulong_store::LayerWriter,
    progress: &mut progress::Progress,
    file: &str,
) -> Result<Tally, ImportError> {
    let mut written = 0u64;
    loop {
        match rx.recv().await {
            Some(Msg::Batch(batch)) => {
                written += batch.len() as u64;
                writer.write_batch(&batch).await?;
                progress.set(written);
            }
            Some(Msg::Done(t)) => return Ok(*t),
            Some(Msg::Failed(e)) => return Err(e),
            Some(Msg::Start(..)) | None => {
                return Err(ImportError::Read {
                    file: file.to_owned(),
                    feature: written as i64,
                    message: "the reader stopped unexpectedly".into(),
                })
            }
        }
    }
}
