//! Reading a source on its own (blocking) thread: open it with GDAL, plan the layer (CRS,
//! columns, catalogue entry), then read every feature and hand it to the validation stage,
//! and finally check that the file gave every feature it declared.

use gdal::vector::{Layer, LayerAccess};

use cuulong_core::{LayerDef, Mapping, MappingError, Value};

use crate::columns::Columns;
use crate::crs::{self, Reprojection};
use crate::pipeline::{Msg, Plan, Raw, Tally, BATCH};
use crate::source::{self, Source, SourceField};
use crate::validate::Stage;
use crate::{gdal_errors, geometry, ImportError, ImportOptions};

/// Reads, validates and maps the whole source on the current (blocking) thread, sending
/// batches to `tx`. Returns early (the writer reports why) when the writer goes away.
pub(crate) fn read_source(
    opts: &ImportOptions,
    tx: &tokio::sync::mpsc::Sender<Msg>,
) -> Result<(), ImportError> {
    let file = opts.file.display().to_string();
    let mapping = load_mapping(opts)?;
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
    let columns = Columns::plan(opts, &mapping, &source_fields, &file)?;
    let def = layer_def(opts, &src, &layer, &columns, &reprojection);
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
    // The validation stage builds its own transformation from the WKT (GDAL objects stay on
    // the thread that made them).
    let src_wkt = srs.to_wkt().map_err(|e| ImportError::Crs {
        crs: reprojection.src_name.clone(),
        message: e.to_string(),
    })?;
    let stage = Stage {
        opts,
        mapping: &mapping,
        family_sources: &columns.family_sources,
        kept: &columns.kept,
        field_names: source_fields.iter().map(|f| f.name.clone()).collect(),
        src_wkt: reprojection.transform.is_some().then_some(src_wkt),
    };
    drop(reprojection);
    let (read, tally) = read_features(&mut layer, &source_fields, &src, &stage, tx, &file)?;
    let Some(mut tally) = tally else {
        return Ok(()); // the writer went away; it reports why
    };
    tally.read = read;
    check_complete(&file, read, total)?;
    let _ = tx.blocking_send(Msg::Done(Box::new(tally)));
    Ok(())
}

/// The attribute mapping given with `--mapping`, checked against the family's fields.
fn load_mapping(opts: &ImportOptions) -> Result<Mapping, ImportError> {
    let Some(p) = &opts.mapping else {
        return Ok(Mapping::default());
    };
    let bad = |source| ImportError::Mapping {
        file: p.display().to_string(),
        source,
    };
    let text =
        std::fs::read_to_string(p).map_err(|e| bad(MappingError::BadConstant(e.to_string())))?;
    let m = Mapping::parse(&text).map_err(bad)?;
    if let Some(fam) = opts.family {
        let names: Vec<&str> = fam.fields().iter().map(|f| f.name).collect();
        m.check_targets(&names).map_err(bad)?;
    }
    Ok(m)
}

/// The catalogue entry of the new version: ids and titles, family, geometry type, access,
/// lineage (file, driver, source CRS) and the planned schema.
fn layer_def(
    opts: &ImportOptions,
    src: &Source,
    layer: &Layer,
    columns: &Columns,
    reprojection: &Reprojection,
) -> LayerDef {
    let file_name = opts.file.file_name().map_or_else(
        || opts.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let title = |given: &Option<String>| given.clone().unwrap_or_else(|| opts.layer.to_string());
    LayerDef {
        id: opts.layer.clone(),
        title_vi: title(&opts.title_vi),
        title_en: title(&opts.title_en),
        family: opts.family.map(|f| f.name().to_owned()),
        geometry_type: geometry::layer_type_name(layer.defn().geometry_type()).to_owned(),
        access: opts.access,
        owner: opts.owner.clone(),
        licence: opts.licence.clone(),
        lineage: Some(format!(
            "{file_name} ({} driver, {})",
            src.driver, reprojection.src_name
        )),
        schema: columns.schema.clone(),
    }
}

/// Two stages on two threads: this one reads with GDAL (attributes and WKB), the other
/// validates, repairs, reprojects and maps. Returns the features read and the stage's tally
/// (`None` when the writer went away).
fn read_features(
    layer: &mut Layer,
    source_fields: &[SourceField],
    src: &Source,
    stage: &Stage<'_>,
    tx: &tokio::sync::mpsc::Sender<Msg>,
    file: &str,
) -> Result<(i64, Option<Tally>), ImportError> {
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
        Ok(result) => result?,
        Err(_) => {
            return Err(ImportError::Read {
                file: file.to_owned(),
                feature: read,
                message: "the validation thread failed".into(),
            })
        }
    };
    // A truncated or corrupt file makes GDAL stop early with an error, not with a panic.
    if let Some((at, message)) = gdal_errors::first_failure() {
        return Err(ImportError::Read {
            file: file.to_owned(),
            feature: at,
            message: format!("the file is corrupt or truncated (GDAL: {message})"),
        });
    }
    Ok((read, tally))
}

/// Fewer features than the file declares means it is truncated or corrupt.
fn check_complete(file: &str, read: i64, total: Option<u64>) -> Result<(), ImportError> {
    match total {
        Some(total) if (read as u64) < total => Err(ImportError::Read {
            file: file.to_owned(),
            feature: read + 1,
            message: format!(
                "read only {read} of the {total} features the file declares (truncated or corrupt?)"
            ),
        }),
        _ => Ok(()),
    }
}
