//! Embedded backend: one FlatGeobuf file (with its packed Hilbert R-tree) per layer version in
//! `<data dir>/layers/`, and the catalogue plus import history in `<data dir>/catalog.json`.
//!
//! A replace writes the new file under a temporary name, fsyncs it, renames it into place,
//! then writes the catalogue the same way — the catalogue rename is the commit point. A crash
//! before it leaves at most an unreferenced file, which the next open removes; readers keep
//! seeing the previous version until then.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use cuulong_core::access::ApiKey;
use cuulong_core::{
    Access, Feature, FieldType, ImportRecord, LayerDef, LayerId, LayerMeta, Schema, Value,
};
use flatgeobuf::{
    ColumnType, FallibleStreamingIterator, FeatureProperties, FgbCrs, FgbReader, FgbWriter,
    FgbWriterOptions, GeometryType,
};
use futures::StreamExt;
use geozero::{ColumnValue, GeozeroGeometry, PropertyProcessor, ToGeo};
use serde::{Deserialize, Serialize};

use crate::{Extent, FeatureStream, LayerWriter, Result, Store, StoreError};

const CATALOG: &str = "catalog.json";
const LOCK: &str = ".lock";
const LAYERS: &str = "layers";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    #[serde(flatten)]
    meta: LayerMeta,
    /// File name under `layers/`.
    file: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Catalog {
    #[serde(default)]
    layers: Vec<Entry>,
    #[serde(default)]
    history: Vec<ImportRecord>,
    #[serde(default)]
    keys: Vec<ApiKey>,
    /// The observation network (SensorThings), once set up.
    #[serde(default)]
    sta: Option<cuulong_core::sta::Catalog>,
}

pub struct EmbeddedStore {
    dir: PathBuf,
    observations: std::sync::Arc<crate::obs_log::ObservationLogs>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// An exclusive lock on the data dir, held while the catalogue is read-modified-written.
struct DirLock(File);

impl DirLock {
    fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        file.lock().map_err(io(&path))?;
        Ok(Self(file))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync of the directory.
fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".tmp-{}-{name}", std::process::id()));
    let file = File::create(&tmp).map_err(io(&tmp))?;
    {
        let mut w = BufWriter::new(&file);
        write(&mut w).map_err(io(&tmp))?;
        w.flush().map_err(io(&tmp))?;
    }
    file.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

impl EmbeddedStore {
    /// Opens (creating if needed) the data dir and removes what an interrupted import left.
    pub fn open(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir.join(LAYERS)).map_err(io(dir))?;
        let store = Self {
            dir: dir.to_owned(),
            observations: std::sync::Arc::new(crate::obs_log::ObservationLogs::new(dir)),
        };
        let _lock = DirLock::acquire(dir)?;
        store.clean_up()?;
        Ok(store)
    }

    fn catalog_path(&self) -> PathBuf {
        self.dir.join(CATALOG)
    }

    fn read_catalog(&self) -> Result<Catalog> {
        let path = self.catalog_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Catalog {
                path: path.clone(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Catalog::default()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn write_catalog(&self, catalog: &Catalog) -> Result<()> {
        write_atomic(&self.catalog_path(), |w| {
            serde_json::to_writer_pretty(&mut *w, catalog).map_err(std::io::Error::other)
        })
    }

    /// Removes temporary files and layer files the catalogue does not reference. Call with the
    /// directory lock held.
    fn clean_up(&self) -> Result<()> {
        let catalog = self.read_catalog()?;
        for dir in [self.dir.clone(), self.dir.join(LAYERS)] {
            for entry in fs::read_dir(&dir).map_err(io(&dir))? {
                let entry = entry.map_err(io(&dir))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let stale_tmp = name.starts_with(".tmp-");
                let orphan = dir.ends_with(LAYERS)
                    && name.ends_with(".fgb")
                    && !catalog.layers.iter().any(|l| l.file == name);
                if stale_tmp || orphan {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }

    /// The file `version` of a layer is kept in (written once, never changed), or `None`
    /// when that version is no longer the current one.
    pub fn layer_file(&self, id: &LayerId, version: i64) -> Option<PathBuf> {
        let catalog = self.read_catalog().ok()?;
        let entry = catalog
            .layers
            .iter()
            .find(|e| &e.meta.id == id && e.meta.version == version)?;
        Some(self.layer_path(&entry.file))
    }

    fn layer_path(&self, file: &str) -> PathBuf {
        self.dir.join(LAYERS).join(file)
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    fn describe(&self) -> String {
        format!("embedded {}", self.dir.display())
    }

    async fn layers(&self) -> Result<Vec<LayerMeta>> {
        let mut layers: Vec<LayerMeta> = self
            .read_catalog()?
            .layers
            .into_iter()
            .map(|e| e.meta)
            .collect();
        layers.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(layers)
    }

    async fn features_of(&self, id: &LayerId, version: Option<i64>) -> Result<FeatureStream> {
        let entry = self
            .read_catalog()?
            .layers
            .into_iter()
            .find(|e| &e.meta.id == id)
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        if let Some(version) = version.filter(|v| *v != entry.meta.version) {
            return Err(StoreError::VersionGone {
                layer: id.to_string(),
                version,
                current: entry.meta.version,
            });
        }
        let path = self.layer_path(&entry.file);
        // Open now, so a replace that removes the file afterwards cannot pull it away.
        let file = File::open(&path).map_err(io(&path))?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Feature>>(256);
        let schema = entry.meta.schema;
        tokio::task::spawn_blocking(move || {
            if let Err(e) = read_fgb(file, &path, &schema, &tx) {
                let _ = tx.blocking_send(Err(e));
            }
        });
        Ok(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed())
    }

    async fn layer_bytes(&self, meta: &LayerMeta) -> Option<u64> {
        let path = self.layer_file(&meta.id, meta.version)?;
        Some(std::fs::metadata(path).ok()?.len())
    }

    async fn open_source(
        &self,
        meta: &LayerMeta,
    ) -> Result<Option<std::sync::Arc<dyn cuulong_core::source::LayerSource>>> {
        let Some(path) = self.layer_file(&meta.id, meta.version) else {
            return Ok(None);
        };
        let meta = meta.clone();
        let mapped =
            tokio::task::spawn_blocking(move || crate::mapped::MappedLayer::open(meta, &path))
                .await
                .map_err(|e| StoreError::Config(format!("mapping a layer failed: {e}")))??;
        Ok(Some(std::sync::Arc::new(mapped)))
    }

    async fn begin_replace(&self, def: LayerDef) -> Result<Box<dyn LayerWriter>> {
        let mut fgb = FgbWriter::create_with_options(
            def.id.as_str(),
            GeometryType::Unknown,
            FgbWriterOptions {
                write_index: true,
                detect_type: false,
                promote_to_multi: false,
                crs: FgbCrs {
                    code: 4326,
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .map_err(|e| StoreError::Fgb {
            path: self.dir.join(LAYERS),
            message: e.to_string(),
        })?;
        fgb.add_column("fid", ColumnType::Long, |_, col| col.nullable = false);
        for field in &def.schema.fields {
            fgb.add_column(&field.name, column_type(field.kind), |_, _| {});
        }
        Ok(Box::new(EmbeddedWriter {
            dir: self.dir.clone(),
            fgb,
            def,
            extent: Extent::default(),
        }))
    }

    async fn history(&self, id: &LayerId) -> Result<Vec<ImportRecord>> {
        Ok(self
            .read_catalog()?
            .history
            .into_iter()
            .filter(|h| h.layer_id == id.as_str())
            .collect())
    }

    async fn keys(&self) -> Result<Vec<ApiKey>> {
        Ok(self.read_catalog()?.keys)
    }

    async fn add_key(&self, key: ApiKey) -> Result<()> {
        let _lock = DirLock::acquire(&self.dir)?;
        let mut catalog = self.read_catalog()?;
        if catalog.keys.iter().any(|k| k.name == key.name) {
            return Err(StoreError::KeyExists(key.name));
        }
        catalog.keys.push(key);
        self.write_catalog(&catalog)
    }

    async fn revoke_key(&self, name: &str) -> Result<()> {
        let _lock = DirLock::acquire(&self.dir)?;
        let mut catalog = self.read_catalog()?;
        let key = catalog
            .keys
            .iter_mut()
            .find(|k| k.name == name)
            .ok_or_else(|| StoreError::NoSuchKey(name.to_owned()))?;
        key.revoked_at.get_or_insert_with(chrono::Utc::now);
        self.write_catalog(&catalog)
    }

    async fn set_access(&self, id: &LayerId, access: Access) -> Result<()> {
        let _lock = DirLock::acquire(&self.dir)?;
        let mut catalog = self.read_catalog()?;
        let entry = catalog
            .layers
            .iter_mut()
            .find(|e| &e.meta.id == id)
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        entry.meta.access = access;
        self.write_catalog(&catalog)
    }

    async fn sta_catalog(&self) -> Result<cuulong_core::sta::Catalog> {
        Ok(self.read_catalog()?.sta.unwrap_or_default())
    }

    async fn save_sta_catalog(&self, sta: &cuulong_core::sta::Catalog) -> Result<()> {
        let _lock = DirLock::acquire(&self.dir)?;
        let mut catalog = self.read_catalog()?;
        catalog.sta = Some(sta.clone());
        self.write_catalog(&catalog)
    }

    async fn append_observations(&self, batch: &[cuulong_core::sta::Observation]) -> Result<u64> {
        let (dir, logs, batch) = (self.dir.clone(), self.observations.clone(), batch.to_vec());
        tokio::task::spawn_blocking(move || {
            let _lock = DirLock::acquire(&dir)?;
            logs.append(&batch)
        })
        .await
        .map_err(|e| StoreError::Config(format!("observation write task failed: {e}")))?
    }

    async fn announce_observations(&self) -> Result<()> {
        let dir = self.dir.join("observations");
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let token = format!(
            "{}-{}",
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default(),
            std::process::id()
        );
        write_atomic(&dir.join("imported"), |w| w.write_all(token.as_bytes()))
    }

    async fn observations_token(&self) -> Result<Option<String>> {
        let path = self.dir.join("observations").join("imported");
        match fs::read_to_string(&path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    async fn observations(&self, datastream: u32) -> Result<Vec<cuulong_core::sta::Observation>> {
        let logs = self.observations.clone();
        tokio::task::spawn_blocking(move || logs.read(datastream))
            .await
            .map_err(|e| StoreError::Config(format!("observation read task failed: {e}")))?
    }
}

fn column_type(kind: FieldType) -> ColumnType {
    match kind {
        FieldType::Bool => ColumnType::Bool,
        FieldType::Int => ColumnType::Long,
        FieldType::Float => ColumnType::Double,
        FieldType::Text => ColumnType::String,
        FieldType::Date | FieldType::DateTime => ColumnType::DateTime,
    }
}

struct EmbeddedWriter {
    dir: PathBuf,
    fgb: FgbWriter<'static>,
    def: LayerDef,
    extent: Extent,
}

/// Lends a geometry to geozero without cloning it.
struct GeoRef<'a>(&'a geo_types::Geometry<f64>);

impl GeozeroGeometry for GeoRef<'_> {
    fn process_geom<P: geozero::GeomProcessor>(
        &self,
        processor: &mut P,
    ) -> geozero::error::Result<()> {
        self.0.process_geom(processor)
    }
}

fn fgb_err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Fgb {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

#[async_trait]
impl LayerWriter for EmbeddedWriter {
    fn set_geometry_type(&mut self, geometry_type: &str) {
        self.def.geometry_type = geometry_type.to_owned();
    }

    async fn write_batch(&mut self, batch: &[Feature]) -> Result<()> {
        let schema = &self.def.schema;
        for f in batch {
            self.extent.add(f);
            let mut prop_err = None;
            self.fgb
                .add_feature_geom(GeoRef(&f.geometry), |w| {
                    let mut put = |i: usize, name: &str, v: &ColumnValue| {
                        if let Err(e) = w.property(i, name, v) {
                            prop_err.get_or_insert(e.to_string());
                        }
                    };
                    put(0, "fid", &ColumnValue::Long(f.id));
                    for (i, (field, value)) in schema.fields.iter().zip(&f.values).enumerate() {
                        let text;
                        let cv = match value {
                            Value::Null => continue,
                            Value::Bool(b) => ColumnValue::Bool(*b),
                            Value::Int(n) => ColumnValue::Long(*n),
                            Value::Float(x) => ColumnValue::Double(*x),
                            Value::Text(s) => ColumnValue::String(s),
                            Value::Date(_) | Value::DateTime(_) => {
                                text = value.to_string();
                                ColumnValue::DateTime(&text)
                            }
                        };
                        put(i + 1, &field.name, &cv);
                    }
                })
                .map_err(|e| StoreError::Feature {
                    layer: self.def.id.to_string(),
                    feature: f.id,
                    message: e.to_string(),
                })?;
            if let Some(message) = prop_err {
                return Err(StoreError::Feature {
                    layer: self.def.id.to_string(),
                    feature: f.id,
                    message,
                });
            }
        }
        Ok(())
    }

    async fn commit(self: Box<Self>, mut record: ImportRecord) -> Result<LayerMeta> {
        let EmbeddedWriter {
            dir,
            fgb,
            def,
            extent,
        } = *self;
        tokio::task::spawn_blocking(move || {
            let _lock = DirLock::acquire(&dir)?;
            let store = EmbeddedStore {
                dir: dir.clone(),
                observations: std::sync::Arc::new(crate::obs_log::ObservationLogs::new(&dir)),
            };
            let mut catalog = store.read_catalog()?;
            let old = catalog.layers.iter().position(|e| e.meta.id == def.id);
            let version = old.map_or(1, |i| catalog.layers[i].meta.version + 1);
            let file = format!("{}.v{version}.fgb", def.id);
            let path = store.layer_path(&file);
            write_atomic(&path, |w| fgb.write(w).map_err(std::io::Error::other))?;
            let meta = LayerMeta::from_def(def, version, extent.bbox(), extent.count);
            let entry = Entry {
                meta: meta.clone(),
                file,
            };
            let old_file = match old {
                Some(i) => Some(std::mem::replace(&mut catalog.layers[i], entry).file),
                None => {
                    catalog.layers.push(entry);
                    None
                }
            };
            record.version = version;
            catalog.history.push(record);
            store.write_catalog(&catalog)?;
            if let Some(old_file) = old_file {
                // Readers that opened it keep their handle; new readers get the new file.
                let _ = fs::remove_file(store.layer_path(&old_file));
            }
            Ok(meta)
        })
        .await
        .map_err(|e| StoreError::Config(format!("import commit task failed: {e}")))?
    }
}

/// Reads every feature of a FlatGeobuf layer file into the channel, in id order.
fn read_fgb(
    file: File,
    path: &Path,
    schema: &Schema,
    tx: &tokio::sync::mpsc::Sender<Result<Feature>>,
) -> Result<()> {
    let reader = FgbReader::open(BufReader::new(file)).map_err(|e| fgb_err(path, e))?;
    let mut iter = reader.select_all_seq().map_err(|e| fgb_err(path, e))?;
    while let Some(feature) = iter.next().map_err(|e| fgb_err(path, e))? {
        let geometry = feature.to_geo().map_err(|e| fgb_err(path, e))?;
        let mut props = Props {
            schema,
            id: 0,
            values: vec![Value::Null; schema.len()],
            error: None,
        };
        feature
            .process_properties(&mut props)
            .map_err(|e| fgb_err(path, e))?;
        if let Some(e) = props.error {
            return Err(fgb_err(path, e));
        }
        let f = Feature {
            id: props.id,
            geometry,
            values: props.values,
        };
        // Streamed in file (Hilbert) order, never collected: memory stays bounded.
        if tx.blocking_send(Ok(f)).is_err() {
            break; // the reader went away
        }
    }
    Ok(())
}

/// Reads a layer file's properties into a feature's values (column 0: its id).
pub(crate) struct Props<'a> {
    pub(crate) schema: &'a Schema,
    pub(crate) id: i64,
    pub(crate) values: Vec<Value>,
    pub(crate) error: Option<String>,
}

impl PropertyProcessor for Props<'_> {
    fn property(&mut self, i: usize, name: &str, v: &ColumnValue) -> geozero::error::Result<bool> {
        if i == 0 {
            if let ColumnValue::Long(id) = v {
                self.id = *id;
            }
            return Ok(false);
        }
        let Some(field) = self.schema.fields.get(i - 1) else {
            self.error = Some(format!(
                "column {i} '{name}' is not in the catalogue schema"
            ));
            return Ok(true);
        };
        let value = match (v, field.kind) {
            (ColumnValue::Bool(b), _) => Value::Bool(*b),
            (ColumnValue::Long(n), _) => Value::Int(*n),
            (ColumnValue::Double(x), _) => Value::Float(*x),
            (ColumnValue::String(s), _) => Value::Text((*s).to_owned()),
            (ColumnValue::DateTime(s), kind) => Value::Text((*s).to_owned())
                .coerce(kind)
                .unwrap_or(Value::Null),
            (other, _) => {
                self.error = Some(format!("column '{name}' has unexpected value {other:?}"));
                return Ok(true);
            }
        };
        self.values[i - 1] = value;
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cuulong_core::{Field, FieldType, Schema, Value};
    use futures::TryStreamExt;

    async fn import(store: &EmbeddedStore, id: &LayerId, n: i64) {
        let def = LayerDef {
            id: id.clone(),
            title_vi: "Điểm".into(),
            title_en: "Points".into(),
            family: None,
            geometry_type: "Point".into(),
            access: Access::Open,
            owner: None,
            licence: None,
            lineage: None,
            schema: Schema::new(vec![Field::new("n", FieldType::Int)]),
        };
        let mut w = store.begin_replace(def).await.unwrap();
        let batch: Vec<Feature> = (1..=n)
            .map(|i| Feature {
                id: i,
                geometry: geo_types::Geometry::Point(geo_types::Point::new(106.0, 10.0)),
                values: vec![Value::Int(n)],
            })
            .collect();
        w.write_batch(&batch).await.unwrap();
        w.set_geometry_type("Point");
        w.commit(ImportRecord {
            layer_id: id.to_string(),
            version: 0,
            file: "test".into(),
            sha256: String::new(),
            src_crs: "EPSG:4326".into(),
            transformation: "none".into(),
            read: n,
            imported: n,
            repaired: 0,
            rejected: 0,
            duration_ms: 0,
            finished_at: chrono::Utc::now(),
            warnings: Vec::new(),
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_version_streams_to_its_end_or_is_said_to_be_gone() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let id = LayerId::parse("points").unwrap();
        import(&store, &id, 3).await;
        import(&store, &id, 5).await;
        match store.features_of(&id, Some(1)).await {
            Err(StoreError::VersionGone {
                version: 1,
                current: 2,
                ..
            }) => {}
            Err(e) => panic!("expected VersionGone, got {e}"),
            Ok(_) => panic!("expected VersionGone, got a stream"),
        }
        // A stream of version 2 opened before version 3 commits reads version 2 to its end.
        let stream = store.features_of(&id, Some(2)).await.unwrap();
        import(&store, &id, 7).await;
        let features: Vec<Feature> = stream.try_collect().await.unwrap();
        assert_eq!(features.len(), 5);
        assert!(features.iter().all(|f| f.values == vec![Value::Int(5)]));
        let current: Vec<Feature> = store
            .features(&id)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(current.len(), 7);
    }
}
