//! cuulong-importers: any file GDAL reads → reprojected to EPSG:4326 with PROJ (VN-2000 pinned
//! to EPSG:6960) → validated (geometry, extent, family code lists) → mapped onto the family
//! schema → written through the store, all or nothing, with a quality report.

pub mod crs;
pub mod geometry;
pub mod manifest;
mod progress;
mod report;
pub mod source;
pub mod tcvn3;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use gdal::vector::LayerAccess;
use sha2::{Digest, Sha256};

use cuulong_core::{
    Access, Bbox, Family, FamilyError, Feature, Field, ImportRecord, LayerDef, LayerId, LayerMeta,
    Mapping, MappingError, Schema, Value,
};
use cuulong_store::{Store, StoreError};

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

const BATCH: usize = 4096;

/// Messages from the reading thread (GDAL is not `Send`) to the writing task.
enum Msg {
    Start(Box<LayerDef>, Box<Plan>),
    Batch(Vec<Feature>),
    Done(Box<Tally>),
    Failed(ImportError),
}

struct Plan {
    src_crs: String,
    operation: String,
    warnings: Vec<String>,
    total: Option<u64>,
}

#[derive(Default)]
struct Tally {
    read: i64,
    imported: i64,
    repaired: i64,
    rejected: Vec<Rejected>,
    reasons: BTreeMap<String, i64>,
    notes: BTreeMap<String, i64>,
    geometry_types: std::collections::BTreeSet<&'static str>,
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

/// How a family field gets its value.
enum FamilySource {
    Constant(Value),
    Column(usize),
    Missing,
}

/// Reads, validates and maps the whole source on the current (blocking) thread, sending
/// batches to `tx`. Returns early with an error message on the channel.
fn read_source(
    opts: &ImportOptions,
    tx: &tokio::sync::mpsc::Sender<Msg>,
) -> Result<(), ImportError> {
    let file = opts.file.display().to_string();
    let mapping = match &opts.mapping {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| ImportError::Mapping {
                file: p.display().to_string(),
                source: MappingError::BadConstant(e.to_string()),
            })?;
            let m = Mapping::parse(&text).map_err(|source| ImportError::Mapping {
                file: p.display().to_string(),
                source,
            })?;
            if let Some(fam) = opts.family {
                let names: Vec<&str> = fam.fields().iter().map(|f| f.name).collect();
                m.check_targets(&names)
                    .map_err(|source| ImportError::Mapping {
                        file: p.display().to_string(),
                        source,
                    })?;
            }
            Some(m)
        }
        None => None,
    };
    let mapping = mapping.unwrap_or_default();
    let src = source::open(&source::OpenRequest {
        path: &opts.file,
        source_layer: opts.source_layer.as_deref(),
        encoding: opts.encoding.as_deref(),
        csv_x: opts.csv_x.as_deref(),
        csv_y: opts.csv_y.as_deref(),
    })?;
    let mut layer = src
        .dataset
        .layer(src.layer_index)
        .map_err(|e| ImportError::Open {
            file: file.clone(),
            message: e.to_string(),
        })?;
    let total = layer.try_feature_count();
    if total == Some(0) {
        return Err(ImportError::Empty { file });
    }
    let mut srs = match &opts.src_crs {
        Some(def) => crs::parse_crs(def)?,
        None => layer
            .spatial_ref()
            .ok_or_else(|| ImportError::NoCrs { file: file.clone() })?,
    };
    let reprojection = crs::reprojection(&mut srs)?;

    let source_fields = source::fields(&layer);
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
        .map(|name| {
            if let Some(c) = mapping.constant(name) {
                FamilySource::Constant(c)
            } else {
                match find(mapping.source_of(name)) {
                    Some(i) => FamilySource::Column(i),
                    None => FamilySource::Missing,
                }
            }
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
    // Source fields are all kept (an import never drops data), except the one a family field
    // is read from under its own name; a same-named field that the mapping bypassed (e.g. an
    // ASCII `name` when `name` comes from `name_vi`) is kept under a suffixed name.
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
    let mut schema_fields: Vec<Field> = opts.family.map(|f| f.schema_fields()).unwrap_or_default();
    schema_fields.extend(
        kept.iter()
            .zip(&kept_names)
            .map(|(&i, n)| Field::new(n.clone(), source_fields[i].kind)),
    );
    let schema = Schema::new(schema_fields);
    let file_name = opts
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.clone());
    let def = LayerDef {
        id: opts.layer.clone(),
        title_vi: opts
            .title_vi
            .clone()
            .unwrap_or_else(|| opts.layer.to_string()),
        title_en: opts
            .title_en
            .clone()
            .unwrap_or_else(|| opts.layer.to_string()),
        family: opts.family.map(|f| f.name().to_owned()),
        geometry_type: geometry::layer_type_name(layer.defn().geometry_type()).to_owned(),
        access: opts.access,
        owner: opts.owner.clone(),
        licence: opts.licence.clone(),
        lineage: Some(format!(
            "{file_name} ({} driver, {})",
            src.driver, reprojection.src_name
        )),
        schema,
    };
    let plan = Plan {
        src_crs: reprojection.src_name.clone(),
        operation: reprojection.operation.clone(),
        warnings: reprojection.warnings.clone(),
        total,
    };
    if tx
        .blocking_send(Msg::Start(Box::new(def), Box::new(plan)))
        .is_err()
    {
        return Ok(());
    }

    // Two stages on two threads: this one reads with GDAL (attributes and WKB), the other
    // validates, repairs, reprojects and maps. GDAL objects stay on the thread that made them.
    let src_wkt = srs.to_wkt().map_err(|e| ImportError::Crs {
        crs: reprojection.src_name.clone(),
        message: e.to_string(),
    })?;
    let needs_transform = reprojection.transform.is_some();
    drop(reprojection);
    let stage = Stage {
        opts,
        mapping: &mapping,
        family_sources: &family_sources,
        kept: &kept,
        field_names: source_fields.iter().map(|f| f.name.clone()).collect(),
        src_wkt: needs_transform.then_some(src_wkt),
    };
    let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel::<Vec<Raw>>(4);
    let mut read = 0i64;
    gdal_errors::reset();
    let tally = std::thread::scope(|scope| {
        let validator = scope.spawn(|| stage.run(raw_rx, tx));
        let mut raws = Vec::with_capacity(BATCH);
        for (n, feature) in layer.features().enumerate() {
            let n = n as i64 + 1;
            gdal_errors::at(n);
            read += 1;
            let values: Vec<Value> = source_fields
                .iter()
                .map(|f| source::value(&feature, f, &src.encoding))
                .collect();
            let wkb = feature
                .geometry()
                .filter(|g| g.has_gdal_ptr())
                .and_then(|g| g.wkb().ok());
            raws.push(Raw { n, wkb, values });
            if raws.len() == BATCH
                && raw_tx
                    .send(std::mem::replace(&mut raws, Vec::with_capacity(BATCH)))
                    .is_err()
            {
                break;
            }
        }
        if !raws.is_empty() {
            let _ = raw_tx.send(raws);
        }
        drop(raw_tx);
        validator.join()
    });
    let tally = match tally {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(ImportError::Read {
                file,
                feature: read,
                message: "the validation thread failed".into(),
            })
        }
    };
    let Some(mut tally) = tally else {
        return Ok(()); // the writer went away; it reports why
    };
    tally.read = read;
    // A truncated or corrupt file makes GDAL stop early with an error, not with a panic.
    if let Some((at, message)) = gdal_errors::first_failure() {
        return Err(ImportError::Read {
            file,
            feature: at,
            message: format!("the file is corrupt or truncated (GDAL: {message})"),
        });
    }
    if let Some(total) = total {
        if (read as u64) < total {
            return Err(ImportError::Read {
                file,
                feature: tally.read + 1,
                message: format!(
                    "read only {} of the {total} features the file declares (truncated or corrupt?)",
                    tally.read
                ),
            });
        }
    }
    let _ = tx.blocking_send(Msg::Done(Box::new(tally)));
    Ok(())
}

/// A feature as read: its position, geometry as WKB, source attribute values.
struct Raw {
    n: i64,
    wkb: Option<Vec<u8>>,
    values: Vec<Value>,
}

/// The validation stage: everything it needs to turn raw features into store features.
struct Stage<'a> {
    opts: &'a ImportOptions,
    mapping: &'a Mapping,
    family_sources: &'a [FamilySource],
    kept: &'a [usize],
    field_names: Vec<String>,
    /// Source CRS as WKT when coordinates need reprojecting.
    src_wkt: Option<String>,
}

impl Stage<'_> {
    /// Validates every batch from `rx` and sends the results to the writer. Returns the tally,
    /// or `None` when the writer went away.
    fn run(
        &self,
        rx: std::sync::mpsc::Receiver<Vec<Raw>>,
        tx: &tokio::sync::mpsc::Sender<Msg>,
    ) -> Result<Option<Tally>, ImportError> {
        let reprojection = match &self.src_wkt {
            Some(wkt) => Some(crs::reprojection(&mut crs::parse_crs(wkt)?)?),
            None => None,
        };
        let transform = reprojection.as_ref().and_then(|r| r.transform.as_ref());
        let mut tally = Tally::default();
        for raws in rx {
            let mut batch = Vec::with_capacity(raws.len());
            for raw in raws {
                if let Some(f) = self.feature(raw, transform, &mut tally) {
                    batch.push(f);
                }
            }
            if !batch.is_empty() && tx.blocking_send(Msg::Batch(batch)).is_err() {
                return Ok(None);
            }
        }
        Ok(Some(tally))
    }

    fn feature(
        &self,
        raw: Raw,
        transform: Option<&gdal::spatial_ref::CoordTransform>,
        tally: &mut Tally,
    ) -> Option<Feature> {
        let Raw {
            n,
            wkb,
            values: source_values,
        } = raw;
        let want_report = self.opts.report.is_some();
        let reject =
            |reason: String, tally: &mut Tally, geometry: Option<geo_types::Geometry<f64>>| {
                *tally.reasons.entry(reason_key(&reason)).or_default() += 1;
                if want_report || tally.rejected.is_empty() {
                    tally.rejected.push(Rejected {
                        feature: n,
                        reason,
                        geometry,
                        properties: self
                            .field_names
                            .iter()
                            .zip(&source_values)
                            .map(|(f, v)| (f.clone(), v.to_json()))
                            .collect(),
                    });
                }
            };
        let Some(wkb) = wkb else {
            reject("no geometry".into(), tally, None);
            return None;
        };
        let (geo, repaired) = match geometry::process_wkb(&wkb, transform, &self.opts.extent) {
            Ok(geometry::Outcome::Ok(g)) => (g, false),
            Ok(geometry::Outcome::Repaired(g, note)) => {
                *tally.notes.entry(note_key(&note)).or_default() += 1;
                (g, true)
            }
            Err(r) => {
                reject(r.0, tally, None);
                return None;
            }
        };
        let mut values = Vec::with_capacity(self.family_sources.len() + self.kept.len());
        if let Some(fam) = self.opts.family {
            for (ff, fs) in fam.fields().iter().zip(self.family_sources) {
                let raw = match fs {
                    FamilySource::Constant(c) => c.clone(),
                    FamilySource::Column(i) => {
                        self.mapping.map_value(ff.name, source_values[*i].clone())
                    }
                    FamilySource::Missing => Value::Null,
                };
                match raw.coerce(ff.kind) {
                    Some(v) => values.push(v),
                    None => {
                        let reason =
                            format!("field '{}': '{raw}' is not a {}", ff.name, ff.kind.name());
                        reject(reason, tally, Some(geo));
                        return None;
                    }
                }
            }
            match fam.check(&mut values) {
                Ok(notes) => {
                    for note in notes {
                        *tally.notes.entry(note).or_default() += 1;
                    }
                }
                Err(e) => {
                    reject(e.to_string(), tally, Some(geo));
                    return None;
                }
            }
        }
        // Moved, not cloned: nothing can reject the feature any more.
        let mut source_values = source_values;
        values.extend(
            self.kept
                .iter()
                .map(|&i| std::mem::replace(&mut source_values[i], Value::Null)),
        );
        tally.geometry_types.insert(geometry::geo_type_name(&geo));
        tally.imported += 1;
        tally.repaired += i64::from(repaired);
        Some(Feature {
            id: tally.imported,
            geometry: geo,
            values,
        })
    }
}

/// Groups reasons in the summary: per-value details (numbers, quoted values) are dropped.
fn reason_key(reason: &str) -> String {
    if let Some(i) = reason.find(": bbox") {
        return reason[..i].to_owned();
    }
    if reason.starts_with("invalid geometry: repair would change") {
        return "invalid geometry: repair would change it by more than 0.1 %".into();
    }
    reason.to_owned()
}

fn note_key(note: &str) -> String {
    note.split(" (").next().unwrap_or(note).to_owned()
}

mod gdal_errors {
    //! GDAL reports read errors through its error handler; collect them instead of letting
    //! GDAL print to stderr, so the CLI can name the problem in one line.
    use std::sync::Mutex;

    /// The first failure since `reset`, with the feature counter at that time.
    static FIRST: Mutex<Option<(i64, String)>> = Mutex::new(None);
    static AT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

    /// Tells the handler which feature is being read.
    pub fn at(feature: i64) {
        AT.store(feature, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn install() {
        gdal::config::set_error_handler(|class, _no, msg| {
            use gdal::errors::CplErrType;
            match class {
                CplErrType::Failure | CplErrType::Fatal => {
                    if let Ok(mut first) = FIRST.lock() {
                        if first.is_none() {
                            let at = AT.load(std::sync::atomic::Ordering::Relaxed);
                            *first = Some((at, msg.trim().to_owned()));
                        }
                    }
                }
                CplErrType::Warning => tracing::debug!(target: "gdal", "{msg}"),
                _ => {}
            }
        });
    }

    pub fn reset() {
        if let Ok(mut first) = FIRST.lock() {
            *first = None;
        }
        at(0);
    }

    pub fn first_failure() -> Option<(i64, String)> {
        FIRST.lock().ok().and_then(|mut l| l.take())
    }
}

/// Runs one import: reads on a blocking thread, writes through the store, commits only when
/// everything holds. On any error the store is left as it was.
pub async fn import(
    store: Arc<dyn Store>,
    opts: ImportOptions,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    gdal_errors::install();
    if !opts.file.exists() {
        return Err(ImportError::NotFound {
            file: opts.file.display().to_string(),
        });
    }
    // Hashing runs beside the reading; both hit the page cache.
    let sha256 = {
        let path = opts.file.clone();
        tokio::task::spawn_blocking(move || sha256_of(&path))
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(4);
    let reader_opts = opts.clone();
    let reader = tokio::task::spawn_blocking(move || {
        if let Err(e) = read_source(&reader_opts, &tx) {
            let _ = tx.blocking_send(Msg::Failed(e));
        }
    });
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
    let mut written = 0u64;
    let tally = loop {
        match rx.recv().await {
            Some(Msg::Batch(batch)) => {
                written += batch.len() as u64;
                writer.write_batch(&batch).await?;
                progress.set(written);
            }
            Some(Msg::Done(t)) => break *t,
            Some(Msg::Failed(e)) => {
                progress.abandon();
                return Err(e);
            }
            Some(Msg::Start(..)) | None => {
                progress.abandon();
                return Err(ImportError::Read {
                    file,
                    feature: written as i64,
                    message: "the reader stopped unexpectedly".into(),
                });
            }
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
