//! `cuulong admin import-lineage FILE`: reads a lineage table (old unit → new unit, act,
//! article, effective date), checks it against the commune layer, and writes a new version of
//! that layer in one atomic swap: the old units end on the eve of their event, the new units
//! begin on its day with their boundary dissolved from whole predecessors (`status` derived,
//! or partial where a predecessor has no boundary here), each carrying its predecessors and the
//! legal citation; the old ones carry their successors. What cannot be drawn is reported as a
//! gap, never guessed. Nothing is written when the table is inconsistent.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use chrono::{NaiveDate, Utc};
use clap::Subcommand;
use cuulong_core::admin::{self, Event, KnownUnit, Lineage};
use cuulong_core::{Feature, Field, FieldType, ImportRecord, LayerDef, LayerId, Schema, Value};
use cuulong_store::Store;
use futures::TryStreamExt;
use geo::{Geometry, MultiPolygon};
use sha2::{Digest, Sha256};

#[derive(Subcommand)]
pub enum AdminAction {
    /// Import a lineage table (CSV) into the commune layer: units end and begin on their
    /// legal dates, new boundaries are dissolved from whole predecessors.
    ImportLineage {
        file: PathBuf,
        /// The admin layer whose units it changes.
        #[arg(long, default_value = "admin_communes")]
        layer: String,
        /// The level of the new units.
        #[arg(long, default_value = "commune", value_parser = ["province", "district", "commune"])]
        level: String,
        /// Parent code of the new units (districts were abolished on 1 July 2025: the
        /// province, 86 for the new Vĩnh Long).
        #[arg(long)]
        parent_code: Option<String>,
        /// Check and report only; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Import official boundaries for units a lineage made: each feature (by its code) becomes
    /// the unit's boundary; the derived one it replaces is kept as history (`recorded_to`), so
    /// the record says what cuulong showed before and since when it knows better.
    ImportBoundaries {
        /// Any file GDAL reads, one feature per unit.
        file: PathBuf,
        /// The admin layer with the units.
        #[arg(long, default_value = "admin_communes")]
        layer: String,
        /// The day the units begin (the lineage's effective date).
        #[arg(long)]
        valid_from: NaiveDate,
        /// The file's field with the GSO code.
        #[arg(long, default_value = "code")]
        code_field: String,
        /// The file's CRS when it does not say.
        #[arg(long)]
        src_crs: Option<String>,
    },
    /// Re-express a table keyed by the units of one day in the units of a later day: values
    /// follow the lineage (merges whole, splits by area), units that ended without a recorded
    /// event by the overlap of their boundaries; totals are kept. Prints CSV.
    Reexpress {
        /// CSV: a `code` column, then numeric columns. Omit to use `--field` of the layer.
        file: Option<PathBuf>,
        /// The day whose units the result is in.
        #[arg(long)]
        to: NaiveDate,
        /// The day the table's codes are valid [default: the day before --to].
        #[arg(long)]
        from: Option<NaiveDate>,
        /// The admin layer with the units.
        #[arg(long, default_value = "admin_communes")]
        layer: String,
        /// Numeric attribute(s) of the layer's units to re-express instead of a file.
        #[arg(long)]
        field: Vec<String>,
        /// Write the CSV here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Share by the land of this layer (e.g. land_use) instead of plain area where values
        /// are shared by overlap (splits, units without a recorded successor).
        #[arg(long)]
        weight_layer: Option<String>,
        /// Only the weight layer's features of this class (land use: an lu_code such as LUC).
        #[arg(long, requires = "weight_layer")]
        weight_class: Option<String>,
    },
}

/// The fields a lineage adds to the admin family's.
const LINEAGE_FIELDS: [(&str, FieldType); 9] = [
    ("kind", FieldType::Text),
    ("label", FieldType::Text),
    ("status", FieldType::Text),
    ("event", FieldType::Text),
    ("predecessors", FieldType::Text),
    ("successors", FieldType::Text),
    ("citation", FieldType::Text),
    ("recorded_at", FieldType::DateTime),
    ("recorded_to", FieldType::DateTime),
];

/// `status` of units a lineage import made: dropped and made again by the next one.
const DERIVED: &str = "derived";
const PARTIAL: &str = "partial";

pub async fn run(store: &dyn Store, action: AdminAction) -> Result<()> {
    match action {
        AdminAction::ImportLineage {
            file,
            layer,
            level,
            parent_code,
            dry_run,
        } => {
            import_lineage(
                store,
                &file,
                &layer,
                &level,
                parent_code.as_deref(),
                dry_run,
            )
            .await
        }
        AdminAction::ImportBoundaries {
            file,
            layer,
            valid_from,
            code_field,
            src_crs,
        } => import_boundaries(store, &file, &layer, valid_from, &code_field, src_crs).await,
        AdminAction::Reexpress {
            file,
            to,
            from,
            layer,
            field,
            out,
            weight_layer,
            weight_class,
        } => {
            let from = from.or_else(|| to.pred_opt()).unwrap_or(to);
            let weights = match weight_layer {
                Some(w) => Some(weight_land(store, &w, weight_class.as_deref()).await?),
                None => None,
            };
            reexpress(
                store,
                file.as_deref(),
                &layer,
                &field,
                from,
                to,
                out.as_deref(),
                weights.as_deref(),
            )
            .await
        }
    }
}

async fn import_boundaries(
    store: &dyn Store,
    file: &std::path::Path,
    layer: &str,
    valid_from: NaiveDate,
    code_field: &str,
    src_crs: Option<String>,
) -> Result<()> {
    let started = std::time::Instant::now();
    let shown = file.display().to_string();
    let id = LayerId::parse(layer).map_err(|e| anyhow::anyhow!("--layer: {e}"))?;
    let Some(meta) = store.layer(&id).await? else {
        bail!("layer '{layer}' is not in {}", store.describe());
    };
    let mut opts = cuulong_importers::ImportOptions::new(file.to_path_buf(), id.clone());
    opts.src_crs = src_crs;
    let (def, official) = cuulong_importers::read_all(opts)
        .await
        .with_context(|| format!("{shown}: reading the boundaries"))?;
    let code_at = def
        .schema
        .index_of(code_field)
        .with_context(|| format!("{shown}: no field '{code_field}' (--code-field)"))?;
    let mut features: Vec<Feature> = store.features(&id).await?.try_collect().await?;
    features.sort_unstable_by_key(|f| f.id);
    let schema = meta.schema.clone();
    let at = Columns::of(&schema).with_context(|| {
        format!("layer '{layer}' has no lineage yet: import one first (admin import-lineage)")
    })?;
    let now = Utc::now();
    let mut next_id = features.iter().map(|f| f.id).max().unwrap_or(0) + 1;
    let mut problems = Vec::new();
    let mut added = Vec::new();
    for (n, o) in official.iter().enumerate() {
        let code = match &o.values[code_at] {
            Value::Text(t) => t.trim().to_owned(),
            Value::Int(i) => i.to_string(),
            _ => String::new(),
        };
        let current = features.iter().position(|f| {
            f.values[at.recorded_to].is_null()
                && f.values[at.code].as_str() == Some(code.as_str())
                && date(&f.values[at.valid_from]) == Some(valid_from)
        });
        let Some(i) = current else {
            problems.push(format!(
                "feature {}: no unit with code '{code}' beginning on {valid_from} in '{layer}'",
                n + 1
            ));
            continue;
        };
        // The replaced boundary stays, as what the record held until now.
        let mut unit = features[i].clone();
        features[i].values[at.recorded_to] = Value::DateTime(now);
        unit.id = next_id;
        next_id += 1;
        unit.geometry = o.geometry.clone();
        unit.values[at.status] = Value::Text("official".into());
        unit.values[at.recorded_at] = Value::DateTime(now);
        unit.values[at.recorded_to] = Value::Null;
        let name = unit.values[at.name].as_str().unwrap_or("").to_owned();
        unit.values[at.label] =
            Value::Text(format!("{name} (từ {})", valid_from.format("%-d/%-m/%Y")));
        added.push(unit);
    }
    if !problems.is_empty() {
        bail!(
            "{shown}: {} problem(s), nothing written:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    let replaced = added.len();
    features.extend(added);
    let mut writer = store.begin_replace(meta.def(schema)).await?;
    for batch in features.chunks(512) {
        writer.write_batch(batch).await?;
    }
    writer.set_geometry_type(&meta.geometry_type);
    let bytes = std::fs::read(file).unwrap_or_default();
    let meta = writer
        .commit(ImportRecord {
            layer_id: layer.to_owned(),
            version: 0,
            file: shown.clone(),
            sha256: hex::encode(Sha256::digest(&bytes)),
            src_crs: def.lineage.clone().unwrap_or_default(),
            transformation: "official boundaries over derived ones".into(),
            read: official.len() as i64,
            imported: replaced as i64,
            repaired: 0,
            rejected: 0,
            duration_ms: started.elapsed().as_millis() as i64,
            finished_at: now,
            warnings: Vec::new(),
        })
        .await?;
    println!(
        "{shown}: {replaced} official boundaries in '{layer}' (version {}); the derived ones they replace are kept as history",
        meta.version
    );
    Ok(())
}

/// The polygons of a weight layer (of one class, if given), in lon/lat.
async fn weight_land(
    store: &dyn Store,
    layer: &str,
    class: Option<&str>,
) -> Result<Vec<MultiPolygon<f64>>> {
    let id = LayerId::parse(layer).map_err(|e| anyhow::anyhow!("--weight-layer: {e}"))?;
    let Some(meta) = store.layer(&id).await? else {
        bail!(
            "--weight-layer: layer '{layer}' is not in {}",
            store.describe()
        );
    };
    let field = match class {
        Some(_) => Some(
            cuulong_core::family::class_field(meta.family.as_deref())
                .and_then(|f| meta.schema.index_of(f))
                .with_context(|| {
                    format!(
                        "--weight-class: layer '{layer}' has no class field (family {:?})",
                        meta.family
                    )
                })?,
        ),
        None => None,
    };
    let features: Vec<Feature> = store.features(&id).await?.try_collect().await?;
    let land: Vec<MultiPolygon<f64>> = features
        .iter()
        .filter(|f| match (field, class) {
            (Some(i), Some(c)) => f.values[i].as_str() == Some(c),
            _ => true,
        })
        .filter_map(|f| multi_polygon(&f.geometry))
        .collect();
    if land.is_empty() {
        bail!(
            "--weight-layer: no polygons of {layer}{} to weight by",
            class.map(|c| format!(" of class {c}")).unwrap_or_default()
        );
    }
    Ok(land)
}

#[allow(clippy::too_many_arguments)]
async fn reexpress(
    store: &dyn Store,
    file: Option<&std::path::Path>,
    layer: &str,
    fields: &[String],
    from: NaiveDate,
    to: NaiveDate,
    out: Option<&std::path::Path>,
    weights: Option<&[MultiPolygon<f64>]>,
) -> Result<()> {
    if to < from {
        bail!("--to {to} is before --from {from}: re-expression runs forward in time");
    }
    let id = LayerId::parse(layer).map_err(|e| anyhow::anyhow!("--layer: {e}"))?;
    let Some(meta) = store.layer(&id).await? else {
        bail!("layer '{layer}' is not in {}", store.describe());
    };
    let mut features: Vec<Feature> = store.features(&id).await?.try_collect().await?;
    features.sort_unstable_by_key(|f| f.id);
    let units: Vec<admin::TimedUnit> = features
        .iter()
        .map(|f| admin::TimedUnit::from_feature(&meta.schema, &f.values, &f.geometry))
        .collect();
    let (columns, values) = match (file, fields.is_empty()) {
        (Some(path), true) => read_table(path, &units, from)?,
        (None, false) => {
            let at: Vec<usize> = fields
                .iter()
                .map(|f| {
                    meta.schema
                        .index_of(f)
                        .with_context(|| format!("--field: the layer has no field '{f}'"))
                })
                .collect::<Result<_>>()?;
            let values = features
                .iter()
                .enumerate()
                .filter(|(i, _)| units[*i].valid_on(from))
                .map(|(i, f)| {
                    (
                        i,
                        at.iter()
                            .map(|&c| number(&f.values[c]).unwrap_or(0.0))
                            .collect(),
                    )
                })
                .collect();
            (fields.to_vec(), values)
        }
        _ => bail!("give either a CSV file or --field, not both nor neither"),
    };
    let result = match weights {
        Some(land) => {
            let by_land = admin::land_measure(land);
            admin::reexpress_by(&units, columns.len(), &values, to, &by_land)
        }
        None => admin::reexpress(&units, columns.len(), &values, to),
    };
    let mut csv = format!("code,name,{}\n", columns.join(","));
    for (i, row) in &result.rows {
        let u = &units[*i];
        let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        csv.push_str(&format!(
            "{},\"{}\",{}\n",
            u.code.as_deref().unwrap_or(""),
            u.name.replace('"', "\"\""),
            cells.join(",")
        ));
    }
    if result.carried.unplaced > 0 {
        let cells: Vec<String> = result.unplaced.iter().map(|v| v.to_string()).collect();
        csv.push_str(&format!(",\"(unplaced)\",{}\n", cells.join(",")));
    }
    match out {
        Some(path) => std::fs::write(path, &csv)
            .with_context(|| format!("{}: cannot write", path.display()))?,
        None => print!("{csv}"),
    }
    let total_in: Vec<f64> = (0..columns.len())
        .map(|c| values.iter().map(|(_, v)| v[c]).sum())
        .collect();
    eprintln!(
        "re-expressed {} units of {from} into {} units of {to}: {} by lineage, {} by overlap, {} unplaced; totals in {total_in:?}",
        values.len(),
        result.rows.len(),
        result.carried.by_lineage,
        result.carried.by_overlay,
        result.carried.unplaced,
    );
    Ok(())
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Text(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A table to re-express: its column names, and per unit (index) its values.
type Table = (Vec<String>, Vec<(usize, Vec<f64>)>);

/// A CSV keyed by `code`: each row's unit is the one with that code valid on `from`; its
/// other columns (but `name`) are the numbers to re-express.
fn read_table(
    path: &std::path::Path,
    units: &[admin::TimedUnit],
    from: NaiveDate,
) -> Result<Table> {
    let shown = path.display();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("{shown}: cannot read"))?;
    let headers = reader
        .headers()
        .with_context(|| format!("{shown}: no header"))?
        .clone();
    let code_col = headers
        .iter()
        .position(|h| h.eq_ignore_ascii_case("code"))
        .with_context(|| format!("{shown}: no 'code' column"))?;
    let columns: Vec<(usize, String)> = headers
        .iter()
        .enumerate()
        .filter(|(i, h)| *i != code_col && !h.eq_ignore_ascii_case("name"))
        .map(|(i, h)| (i, h.to_owned()))
        .collect();
    let mut problems = Vec::new();
    let mut values = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let line = n + 2;
        let Ok(record) = record else {
            problems.push(format!("line {line}: not a CSV row"));
            continue;
        };
        let code = record.get(code_col).unwrap_or("");
        let Some(u) = units
            .iter()
            .position(|u| u.code.as_deref() == Some(code) && u.valid_on(from))
        else {
            problems.push(format!(
                "line {line}: no unit with code '{code}' valid on {from}"
            ));
            continue;
        };
        let mut row = Vec::new();
        for (c, name) in &columns {
            let cell = record.get(*c).unwrap_or("");
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => row.push(v),
                _ if cell.is_empty() => row.push(0.0),
                _ => problems.push(format!("line {line}: {name} '{cell}' is not a number")),
            }
        }
        values.push((u, row));
    }
    if !problems.is_empty() {
        bail!(
            "{shown}: {} problem(s), nothing re-expressed:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok((columns.into_iter().map(|(_, n)| n).collect(), values))
}

pub async fn import_lineage(
    store: &dyn Store,
    file: &std::path::Path,
    layer: &str,
    level: &str,
    parent_code: Option<&str>,
    dry_run: bool,
) -> Result<()> {
    let started = std::time::Instant::now();
    let shown = file.display();
    let bytes = std::fs::read(file).with_context(|| format!("{shown}: cannot read"))?;
    let text = std::str::from_utf8(&bytes).with_context(|| format!("{shown}: not UTF-8"))?;
    let rows = admin::read_lineage(text).map_err(|errors| listed(&shown.to_string(), &errors))?;
    let id = LayerId::parse(layer).map_err(|e| anyhow::anyhow!("--layer: {e}"))?;
    let Some(meta) = store.layer(&id).await? else {
        bail!("layer '{layer}' is not in {} — import the units first (e.g. `cuulong import-manifest data-samples/samples.toml`)", store.describe());
    };
    let mut features: Vec<Feature> = store.features(&id).await?.try_collect().await?;
    // Id order whatever the store's: the same unions, vertex for vertex, from either store.
    features.sort_unstable_by_key(|f| f.id);
    let mut schema = meta.schema.clone();
    for (name, kind) in LINEAGE_FIELDS {
        if schema.index_of(name).is_none() {
            schema.fields.push(Field::new(name, kind));
        }
    }
    let at = Columns::of(&schema)?;
    // Units an earlier import of this table made are made again from it; what a later table
    // recorded on them (their end, their successors) is carried over.
    let made_here: std::collections::HashSet<(String, NaiveDate)> = rows
        .iter()
        .map(|r| (r.new.code.clone(), r.citation.effective))
        .collect();
    let key = |f: &Feature| {
        f.values[at.code]
            .as_str()
            .map(str::to_owned)
            .zip(date(&f.values[at.valid_from]))
    };
    let mut remade: BTreeMap<(String, NaiveDate), (Value, Value, Value)> = BTreeMap::new();
    let kept: Vec<Feature> = features
        .into_iter()
        .map(|mut f| {
            f.values.resize(schema.fields.len(), Value::Null);
            f
        })
        .filter(|f| {
            let again = f.values[at.recorded_to].is_null()
                && matches!(f.values[at.status].as_str(), Some(DERIVED | PARTIAL))
                && key(f).is_some_and(|k| made_here.contains(&k));
            if again {
                if let Some(k) = key(f) {
                    remade.insert(
                        k,
                        (
                            f.values[at.valid_to].clone(),
                            f.values[at.successors].clone(),
                            f.values[at.label].clone(),
                        ),
                    );
                }
            }
            !again
        })
        .collect();
    let known: Vec<KnownUnit> = kept
        .iter()
        .filter(|f| f.values[at.recorded_to].is_null())
        .filter(|f| {
            let key = f.values[at.code]
                .as_str()
                .map(str::to_owned)
                .zip(date(&f.values[at.valid_from]));
            !key.is_some_and(|k| made_here.contains(&k))
        })
        .filter_map(|f| {
            Some(KnownUnit {
                code: f.values[at.code].as_str()?.to_owned(),
                name: f.values[at.name].as_str().unwrap_or("").to_owned(),
                valid_from: date(&f.values[at.valid_from]),
                valid_to: date(&f.values[at.valid_to]),
            })
        })
        .collect();
    let lineage =
        admin::check(&rows, &known).map_err(|errors| listed(&shown.to_string(), &errors))?;
    let mut built = build(kept, &lineage, &at, level, parent_code);
    for f in &mut built.features {
        if let Some((valid_to, successors, label)) = key(f).and_then(|k| remade.get(&k)) {
            if !valid_to.is_null() {
                f.values[at.valid_to] = valid_to.clone();
                f.values[at.successors] = successors.clone();
                f.values[at.label] = label.clone();
            }
        }
    }
    report(&shown.to_string(), layer, &lineage, &built);
    if dry_run {
        println!("dry run: nothing written");
        return Ok(());
    }
    let def = LayerDef {
        lineage: Some(format!(
            "{}; lineage {}",
            meta.lineage.clone().unwrap_or_default(),
            file.file_name()
                .map_or(shown.to_string(), |n| n.to_string_lossy().into_owned())
        )),
        ..meta.def(schema)
    };
    let mut writer = store.begin_replace(def).await?;
    for batch in built.features.chunks(512) {
        writer.write_batch(batch).await?;
    }
    writer.set_geometry_type(&meta.geometry_type);
    let record = ImportRecord {
        layer_id: layer.to_owned(),
        version: 0,
        file: shown.to_string(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        src_crs: "EPSG:4326".into(),
        transformation: "none: boundaries dissolved from the stored units".into(),
        read: rows.len() as i64,
        imported: built.features.len() as i64,
        repaired: 0,
        rejected: 0,
        duration_ms: started.elapsed().as_millis() as i64,
        finished_at: Utc::now(),
        warnings: lineage.gaps.iter().chain(&built.gaps).cloned().collect(),
    };
    let meta = writer.commit(record).await?;
    println!(
        "{layer}: version {} with {} units",
        meta.version, meta.feature_count
    );
    Ok(())
}

/// Every error of the table, one a line, under the file's name.
fn listed(file: &str, errors: &[admin::LineageError]) -> anyhow::Error {
    let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
    anyhow::anyhow!(
        "{file}: the lineage table is inconsistent ({} problem{}), nothing written:\n{}",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" },
        lines.join("\n")
    )
}

/// Where the admin fields are in the layer's schema.
struct Columns {
    code: usize,
    name: usize,
    level: usize,
    parent_code: usize,
    valid_from: usize,
    valid_to: usize,
    kind: usize,
    label: usize,
    status: usize,
    event: usize,
    predecessors: usize,
    successors: usize,
    citation: usize,
    recorded_at: usize,
    recorded_to: usize,
}

impl Columns {
    fn of(schema: &Schema) -> Result<Columns> {
        let at = |name: &str| {
            schema
                .index_of(name)
                .with_context(|| format!("the layer has no field '{name}': not an admin layer"))
        };
        Ok(Columns {
            code: at("code")?,
            name: at("name")?,
            level: at("level")?,
            parent_code: at("parent_code")?,
            valid_from: at("valid_from")?,
            valid_to: at("valid_to")?,
            kind: at("kind")?,
            label: at("label")?,
            status: at("status")?,
            event: at("event")?,
            predecessors: at("predecessors")?,
            successors: at("successors")?,
            citation: at("citation")?,
            recorded_at: at("recorded_at")?,
            recorded_to: at("recorded_to")?,
        })
    }
}

fn date(v: &Value) -> Option<NaiveDate> {
    v.as_date()
}

/// What the import writes, and what it could not draw.
struct Built {
    features: Vec<Feature>,
    derived: usize,
    partial: usize,
    gaps: Vec<String>,
}

fn citation_json(e: &Event) -> serde_json::Value {
    serde_json::json!({
        "act": e.citation.act, "article": e.citation.article, "effective": e.citation.effective,
    })
}

fn build(
    mut kept: Vec<Feature>,
    lineage: &Lineage,
    at: &Columns,
    level: &str,
    parent_code: Option<&str>,
) -> Built {
    let now = Utc::now();
    let mut next_id = kept.iter().map(|f| f.id).max().unwrap_or(0) + 1;
    // Which stored feature each old unit of an event is: its code, valid on the eve.
    let find = |kept: &[Feature], code: &str, eve: NaiveDate| {
        kept.iter().position(|f| {
            f.values[at.recorded_to].is_null()
                && f.values[at.code].as_str() == Some(code)
                && date(&f.values[at.valid_from]).is_none_or(|d| d <= eve)
                && date(&f.values[at.valid_to]).is_none_or(|d| d >= eve)
        })
    };
    let mut successors: BTreeMap<usize, Vec<serde_json::Value>> = BTreeMap::new();
    let mut made = Vec::new();
    let mut gaps = Vec::new();
    let (mut derived, mut partial) = (0, 0);
    for e in &lineage.events {
        let eve = e.eve();
        let official = kept.iter().any(|f| {
            f.values[at.recorded_to].is_null()
                && f.values[at.code].as_str() == Some(e.new.code.as_str())
                && date(&f.values[at.valid_from]) == Some(e.citation.effective)
        });
        let mut shapes: Vec<MultiPolygon<f64>> = Vec::new();
        let mut missing = Vec::new();
        for p in &e.parts {
            match find(&kept, &p.old.code, eve) {
                Some(i) => {
                    successors.entry(i).or_default().push(serde_json::json!({
                        "code": e.new.code, "name": e.new.name, "event": e.kind,
                        "whole": p.whole, "citation": citation_json(e),
                    }));
                    if p.whole {
                        if let Some(m) = multi_polygon(&kept[i].geometry) {
                            shapes.push(m);
                        }
                    }
                }
                None => missing.push(format!("{} '{}'", p.old.code, p.old.name)),
            }
        }
        if official {
            // An official boundary was imported for it: nothing to derive.
            continue;
        }
        let split = e.parts.iter().any(|p| !p.whole);
        if split || shapes.is_empty() {
            gaps.push(format!(
                "{} '{}' ({:?}, {}): no boundary — {}; import an official boundary for it",
                e.new.code,
                e.new.name,
                e.kind,
                e.citation.act,
                if split {
                    "part of a predecessor goes elsewhere and no official boundary says which part"
                        .to_owned()
                } else {
                    "none of its predecessors has a boundary here".to_owned()
                }
            ));
            continue;
        }
        let refs: Vec<&MultiPolygon<f64>> = shapes.iter().collect();
        let geometry = admin::dissolve(&refs);
        let status = if missing.is_empty() {
            derived += 1;
            DERIVED
        } else {
            partial += 1;
            gaps.push(format!(
                "{} '{}': boundary partial — dissolved from the predecessors cuulong has; missing {}",
                e.new.code,
                e.new.name,
                missing.join(", ")
            ));
            PARTIAL
        };
        let predecessors: Vec<serde_json::Value> = e
            .parts
            .iter()
            .map(|p| serde_json::json!({"code": p.old.code, "name": p.old.name, "district": p.old.district, "whole": p.whole}))
            .collect();
        let mut values = vec![Value::Null; kept.first().map_or(0, |f| f.values.len())];
        values[at.code] = Value::Text(e.new.code.clone());
        values[at.name] = Value::Text(e.new.name.clone());
        values[at.level] = Value::Text(level.into());
        values[at.parent_code] = parent_code.map_or(Value::Null, |c| Value::Text(c.to_owned()));
        values[at.valid_from] = Value::Date(e.citation.effective);
        values[at.kind] = e
            .new
            .kind
            .map_or(Value::Null, |k| Value::Text(k.label_vi().to_owned()));
        // The name as of its day ("Tỉnh Vĩnh Long (từ 1/7/2025), khu vực Bến Tre cũ").
        let mut label = format!(
            "{} (từ {})",
            e.new.name,
            e.citation.effective.format("%-d/%-m/%Y")
        );
        if status == PARTIAL {
            let drawn: Vec<String> = e
                .parts
                .iter()
                .filter(|p| {
                    !missing
                        .iter()
                        .any(|m| m.starts_with(&format!("{} ", p.old.code)))
                })
                .map(|p| short_name(&p.old.name))
                .collect();
            label.push_str(&format!(", khu vực {} cũ", drawn.join(", ")));
        }
        values[at.label] = Value::Text(label);
        values[at.status] = Value::Text(status.into());
        values[at.event] = Value::Text(format!("{:?}", e.kind).to_lowercase());
        values[at.predecessors] = Value::Text(serde_json::Value::from(predecessors).to_string());
        values[at.citation] = Value::Text(citation_json(e).to_string());
        values[at.recorded_at] = Value::DateTime(now);
        made.push(Feature {
            id: next_id,
            geometry: Geometry::MultiPolygon(geometry),
            values,
        });
        next_id += 1;
    }
    // Units valid on an eve that no row names: their land goes to no new unit. (The 2009
    // communes merged away in 2020–2024 have no code in the 2009 file, so no lineage row can
    // name them: the new units around them are smaller than the real ones.)
    let days: std::collections::BTreeSet<NaiveDate> = lineage
        .events
        .iter()
        .map(|e| e.citation.effective)
        .collect();
    for day in days {
        let eve = day.pred_opt().unwrap_or(day);
        let orphans: Vec<String> = kept
            .iter()
            .enumerate()
            .filter(|(i, f)| {
                !successors.contains_key(i)
                    && f.values[at.recorded_to].is_null()
                    && date(&f.values[at.valid_from]).is_none_or(|d| d <= eve)
                    && date(&f.values[at.valid_to]).is_none_or(|d| d >= eve)
            })
            .map(|(_, f)| {
                let name = f.values[at.name].as_str().unwrap_or("?");
                match f.values[at.code].as_str() {
                    Some(c) => format!("{c} {name}"),
                    None => name.to_owned(),
                }
            })
            .collect();
        if !orphans.is_empty() {
            gaps.push(format!(
                "{} units valid on {eve} are in no row of the table, so their land is in no unit from {day}: {}",
                orphans.len(),
                orphans.join(", ")
            ));
        }
    }
    for (i, list) in successors {
        let f = &mut kept[i];
        let eve = list
            .first()
            .and_then(|s| s["citation"]["effective"].as_str())
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .and_then(|d| d.pred_opt());
        if let Some(eve) = eve {
            f.values[at.valid_to] = Value::Date(eve);
            let name = f.values[at.name].as_str().unwrap_or("").to_owned();
            f.values[at.label] = Value::Text(format!("{name} (đến {})", eve.format("%-d/%-m/%Y")));
        }
        f.values[at.successors] = Value::Text(serde_json::Value::from(list).to_string());
        if f.values[at.kind].is_null() {
            if let Some(k) = f.values[at.name]
                .as_str()
                .and_then(admin::UnitKind::of_name)
            {
                f.values[at.kind] = Value::Text(k.label_vi().into());
            }
        }
    }
    kept.extend(made);
    Built {
        features: kept,
        derived,
        partial,
        gaps,
    }
}

/// A unit's name without its kind ("Tỉnh Bến Tre" → "Bến Tre").
fn short_name(name: &str) -> String {
    [
        "Tỉnh ",
        "Thành phố ",
        "Huyện ",
        "Thị trấn ",
        "Phường ",
        "Xã ",
    ]
    .iter()
    .find_map(|p| name.strip_prefix(p))
    .unwrap_or(name)
    .to_owned()
}

fn multi_polygon(g: &Geometry<f64>) -> Option<MultiPolygon<f64>> {
    match g {
        Geometry::Polygon(p) => Some(MultiPolygon(vec![p.clone()])),
        Geometry::MultiPolygon(m) => Some(m.clone()),
        _ => None,
    }
}

fn report(file: &str, layer: &str, lineage: &Lineage, built: &Built) {
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for e in &lineage.events {
        *kinds
            .entry(format!("{:?}", e.kind).to_lowercase())
            .or_default() += 1;
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!(
        "{file}: {} events into {layer} ({}); {} boundaries derived, {} partial",
        lineage.events.len(),
        kinds.join(", "),
        built.derived,
        built.partial
    );
    for g in lineage.gaps.iter().chain(&built.gaps) {
        println!("  gap: {g}");
    }
}
