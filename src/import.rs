//! `cuulong import` and `cuulong import-manifest`: arguments checked before the store is
//! opened (a mistake changes nothing), then one import per file with a summary.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use cuulong_core::{Access, Bbox, Family, LayerId};
use cuulong_importers::{import, ImportOptions, ImportSummary, VIETNAM_EXTENT};
use cuulong_store::{Store, StoreConfig};

#[derive(Args)]
pub struct ImportArgs {
    /// The source file (Shapefile, GeoPackage, GeoJSON, FlatGeobuf, CSV, MapInfo TAB, KML, DGN, …).
    file: PathBuf,
    /// Layer id: a-z, 0-9 and _, starting with a letter.
    #[arg(long)]
    layer: String,
    /// admin, land_use, soil, hydrology or transport; without it the layer is generic.
    #[arg(long)]
    family: Option<String>,
    /// Source CRS (EPSG code, WKT or PROJ string); overrides the file's own.
    #[arg(long, value_name = "CRS")]
    src_crs: Option<String>,
    /// TOML file mapping source fields and values onto the family schema.
    #[arg(long, value_name = "FILE")]
    mapping: Option<PathBuf>,
    #[arg(long, value_name = "TITLE")]
    title_vi: Option<String>,
    #[arg(long, value_name = "TITLE")]
    title_en: Option<String>,
    #[arg(long, default_value = "open", value_parser = ["open", "shared", "restricted"])]
    access: String,
    /// Owner agency.
    #[arg(long, value_name = "AGENCY")]
    owner: Option<String>,
    #[arg(long)]
    licence: Option<String>,
    /// Write rejected features with their reasons to this GeoJSON file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Fail the import if any feature is rejected.
    #[arg(long)]
    strict: bool,
    /// Layer to read when the file has several.
    #[arg(long, value_name = "NAME")]
    source_layer: Option<String>,
    /// Attribute text encoding, e.g. TCVN3, CP1258, UTF-8 (default: from the file).
    #[arg(long)]
    encoding: Option<String>,
    /// CSV column holding easting / longitude (Vietnamese surveyors call the northing X).
    #[arg(long, value_name = "COLUMN")]
    csv_x: Option<String>,
    /// CSV column holding northing / latitude.
    #[arg(long, value_name = "COLUMN")]
    csv_y: Option<String>,
    /// Expected extent in lon/lat (minlon,minlat,maxlon,maxlat); features outside are rejected.
    #[arg(long, value_name = "BBOX")]
    extent: Option<String>,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
}

fn parse_extent(s: &str) -> Result<Bbox> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| {
            format!("--extent '{s}': expected four numbers minlon,minlat,maxlon,maxlat")
        })?;
    match v[..] {
        [a, b, c, d] if a < c && b < d && v.iter().all(|x| x.is_finite()) => Ok(Bbox([a, b, c, d])),
        _ => bail!(
            "--extent '{s}': expected four numbers minlon,minlat,maxlon,maxlat with min < max"
        ),
    }
}

fn import_options(a: Box<ImportArgs>) -> Result<ImportOptions> {
    let layer = LayerId::parse(&a.layer).map_err(anyhow::Error::msg)?;
    let mut opts = ImportOptions::new(a.file, layer);
    opts.family = a.family.as_deref().map(str::parse::<Family>).transpose()?;
    opts.src_crs = a.src_crs;
    opts.mapping = a.mapping;
    opts.title_vi = a.title_vi;
    opts.title_en = a.title_en;
    opts.access = a.access.parse::<Access>().map_err(anyhow::Error::msg)?;
    opts.owner = a.owner;
    opts.licence = a.licence;
    opts.report = a.report;
    opts.strict = a.strict;
    opts.source_layer = a.source_layer;
    opts.encoding = a.encoding;
    opts.csv_x = a.csv_x;
    opts.csv_y = a.csv_y;
    opts.extent = match a.extent {
        Some(e) => parse_extent(&e)?,
        None => VIETNAM_EXTENT,
    };
    opts.progress = !a.quiet;
    Ok(opts)
}

/// `cuulong import`: one file as a new version of a layer.
pub async fn run(config: &StoreConfig, args: Box<ImportArgs>) -> Result<()> {
    // Arguments are checked before the store is opened, so a mistake changes nothing.
    let opts = import_options(args)?;
    let store = cuulong_store::open(config).await?;
    let summary = import(store.clone(), opts).await?;
    print_summary(&summary, &store.describe());
    Ok(())
}

/// `cuulong import-manifest`: every layer of a manifest, in order; the first failure stops.
pub async fn manifest(
    store: Arc<dyn Store>,
    manifest: &std::path::Path,
    strict: bool,
    quiet: bool,
) -> Result<()> {
    let entries = cuulong_importers::manifest::read_manifest(manifest)?;
    for mut opts in entries {
        opts.strict = strict;
        opts.progress = !quiet;
        let file = opts.file.display().to_string();
        let summary = import(store.clone(), opts)
            .await
            .with_context(|| format!("manifest {}: importing {file}", manifest.display()))?;
        print_summary(&summary, &store.describe());
    }
    // Then the lineage tables: the units of later dates over the imported ones.
    for l in cuulong_importers::manifest::read_lineages(manifest)? {
        crate::admin::import_lineage(
            store.as_ref(),
            &l.file,
            &l.layer,
            &l.level,
            l.parent_code.as_deref(),
            false,
        )
        .await
        .with_context(|| {
            format!(
                "manifest {}: lineage {}",
                manifest.display(),
                l.file.display()
            )
        })?;
    }
    Ok(())
}

fn print_summary(s: &ImportSummary, store: &str) {
    let r = &s.record;
    let secs = s.elapsed.as_secs_f64();
    println!(
        "imported layer '{}' version {} into {store}",
        s.layer.id, s.layer.version
    );
    println!(
        "  read {}, imported {}, repaired {}, rejected {} in {secs:.1} s ({:.0} features/s)",
        r.read,
        r.imported,
        r.repaired,
        r.rejected,
        r.read as f64 / secs.max(1e-3)
    );
    println!("  CRS {} → EPSG:4326", r.src_crs);
    println!("  transformation: {}", r.transformation);
    for (reason, n) in &s.reject_reasons {
        println!("  rejected: {n} × {reason}");
    }
    for w in &r.warnings {
        println!("  note: {w}");
    }
}
