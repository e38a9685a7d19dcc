//! The download formats that need a whole file before the first byte (FlatGeobuf's index,
//! GeoPackage's SQLite pages): written to a temporary file feature by feature, as compute work,
//! then streamed from it.

use cuulong_core::{Feature, FieldType, LayerMeta, Value};
use futures::TryStreamExt;

use crate::error::ApiError;

/// Why a download file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{format}: {message}")]
    Encode {
        format: &'static str,
        message: String,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("GeoPackage (GDAL): {0}")]
    Gdal(#[from] gdal::errors::GdalError),
    #[error(transparent)]
    Store(#[from] cuulong_store::StoreError),
}

impl From<EncodeError> for ApiError {
    fn from(e: EncodeError) -> Self {
        match e {
            EncodeError::Store(e) => ApiError::from(e),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

fn fgb_error(e: impl std::fmt::Display) -> EncodeError {
    EncodeError::Encode {
        format: "FlatGeobuf",
        message: e.to_string(),
    }
}

/// Writes FlatGeobuf (`fgb`) or GeoPackage to a temporary file. The encoder runs as compute
/// work (one of the cores' slots); if the client leaves, the feed stops and the encoder ends
/// with it.
pub(super) async fn write_file(
    work: &crate::work::Work,
    ext: &str,
    meta: LayerMeta,
    features: cuulong_store::FeatureStream,
) -> Result<tempfile::NamedTempFile, ApiError> {
    let tmp = tempfile::Builder::new()
        .prefix("cuulong-download-")
        .suffix(&format!(".{ext}"))
        .tempfile()
        .map_err(EncodeError::from)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Feature>(256);
    let path = tmp.path().to_owned();
    let fgb = ext == "fgb";
    let writer = work.run(move |_| -> Result<(), ApiError> {
        let written = if fgb {
            write_fgb(&path, &meta, &mut rx)
        } else {
            write_gpkg(&path, &meta, &mut rx)
        };
        // The writer's scratch (FlatGeobuf's index nodes, decoded features) is freed.
        crate::memory::release_freed();
        Ok(written?)
    });
    let feed = async move {
        let mut features = features;
        while let Some(f) = features.try_next().await.map_err(EncodeError::from)? {
            if tx.send(f).await.is_err() {
                break;
            }
        }
        Ok::<(), ApiError>(())
    };
    tokio::try_join!(feed, writer)?;
    Ok(tmp)
}

fn write_fgb(
    path: &std::path::Path,
    meta: &LayerMeta,
    rx: &mut tokio::sync::mpsc::Receiver<Feature>,
) -> Result<(), EncodeError> {
    use flatgeobuf::{ColumnType, FgbCrs, FgbWriter, FgbWriterOptions, GeometryType};
    use geozero::{ColumnValue, PropertyProcessor};
    let mut fgb = FgbWriter::create_with_options(
        meta.id.as_str(),
        GeometryType::Unknown,
        FgbWriterOptions {
            write_index: true,
            crs: FgbCrs {
                code: 4326,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .map_err(fgb_error)?;
    fgb.add_column("fid", ColumnType::Long, |_, _| {});
    for f in &meta.schema.fields {
        let t = match f.kind {
            FieldType::Bool => ColumnType::Bool,
            FieldType::Int => ColumnType::Long,
            FieldType::Float => ColumnType::Double,
            FieldType::Text => ColumnType::String,
            FieldType::Date | FieldType::DateTime => ColumnType::DateTime,
        };
        fgb.add_column(&f.name, t, |_, _| {});
    }
    while let Some(f) = rx.blocking_recv() {
        let mut err = None;
        fgb.add_feature_geom(f.geometry.clone(), |w| {
            let _ = w.property(0, "fid", &ColumnValue::Long(f.id));
            for (i, (field, v)) in meta.schema.fields.iter().zip(&f.values).enumerate() {
                let text;
                let cv = match v {
                    Value::Null => continue,
                    Value::Bool(b) => ColumnValue::Bool(*b),
                    Value::Int(n) => ColumnValue::Long(*n),
                    Value::Float(x) => ColumnValue::Double(*x),
                    Value::Text(s) => ColumnValue::String(s),
                    other => {
                        text = other.to_string();
                        ColumnValue::DateTime(&text)
                    }
                };
                if let Err(e) = w.property(i + 1, &field.name, &cv) {
                    err.get_or_insert(e.to_string());
                }
            }
        })
        .map_err(fgb_error)?;
        if let Some(message) = err {
            return Err(EncodeError::Encode {
                format: "FlatGeobuf",
                message,
            });
        }
    }
    let out = std::fs::File::create(path).map_err(fgb_error)?;
    fgb.write(std::io::BufWriter::new(out)).map_err(fgb_error)
}

fn write_gpkg(
    path: &std::path::Path,
    meta: &LayerMeta,
    rx: &mut tokio::sync::mpsc::Receiver<Feature>,
) -> Result<(), EncodeError> {
    use gdal::vector::{Geometry as OgrGeometry, LayerOptions};
    use gdal::DriverManager;
    use geozero::{CoordDimensions, ToWkb};
    let _ = std::fs::remove_file(path);
    let driver = DriverManager::get_driver_by_name("GPKG")?;
    let mut ds = driver.create_vector_only(path)?;
    let srs = gdal::spatial_ref::SpatialRef::from_epsg(4326)?;
    let mut txn = ds.start_transaction()?;
    let layer = txn.create_layer(LayerOptions {
        name: meta.id.as_str(),
        srs: Some(&srs),
        ty: gdal_sys::OGRwkbGeometryType::wkbUnknown,
        options: Some(&["FID=fid"]),
    })?;
    use gdal_sys::OGRFieldType as T;
    for f in &meta.schema.fields {
        let t = match f.kind {
            FieldType::Bool | FieldType::Int => T::OFTInteger64,
            FieldType::Float => T::OFTReal,
            FieldType::Text => T::OFTString,
            FieldType::Date => T::OFTDate,
            FieldType::DateTime => T::OFTDateTime,
        };
        gdal::vector::FieldDefn::new(&f.name, t).and_then(|d| d.add_to_layer(&layer))?;
    }
    let defn = gdal::vector::Defn::from_layer(&layer);
    while let Some(f) = rx.blocking_recv() {
        let mut feature = gdal::vector::Feature::new(&defn)?;
        let wkb = f
            .geometry
            .to_wkb(CoordDimensions::xy())
            .map_err(|e| EncodeError::Encode {
                format: "GeoPackage",
                message: e.to_string(),
            })?;
        feature.set_geometry(OgrGeometry::from_wkb(&wkb)?)?;
        // SAFETY: the handle is valid while `feature` lives.
        unsafe { gdal_sys::OGR_F_SetFID(feature.c_feature(), f.id) };
        for (i, v) in f.values.iter().enumerate() {
            let r = match v {
                Value::Null => feature.set_field_null(i),
                Value::Bool(b) => feature.set_field_integer64(i, i64::from(*b)),
                Value::Int(n) => feature.set_field_integer64(i, *n),
                Value::Float(x) => feature.set_field_double(i, *x),
                Value::Text(s) => feature.set_field_string(i, s),
                other => feature.set_field_string(i, &other.to_string()),
            };
            r?;
        }
        feature.create(&layer)?;
    }
    Ok(txn.commit()?)
}
