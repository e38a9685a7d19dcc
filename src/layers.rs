//! `cuulong layers`: list the catalogue (table or JSON), change a layer's access, show its
//! import history.

use anyhow::{bail, Result};
use clap::Subcommand;
use cuulong_core::{Access, LayerId, LayerMeta, Schema};
use cuulong_store::Store;

#[derive(Subcommand)]
pub enum LayersAction {
    /// Change who may see a layer.
    SetAccess {
        layer: String,
        #[arg(value_parser = ["open", "shared", "restricted"])]
        access: String,
    },
    /// Show a layer's import history.
    History {
        layer: String,
        #[arg(long)]
        json: bool,
    },
}

/// A layer as `layers --json` prints it.
#[derive(serde::Serialize)]
struct LayerListing<'a> {
    id: &'a LayerId,
    title_vi: &'a str,
    title_en: &'a str,
    family: Option<&'a str>,
    geometry_type: &'a str,
    access: Access,
    owner: Option<&'a str>,
    licence: Option<&'a str>,
    version: i64,
    feature_count: i64,
    updated_at: chrono::DateTime<chrono::Utc>,
    bbox: Option<[f64; 4]>,
    fields: &'a Schema,
}

impl<'a> From<&'a LayerMeta> for LayerListing<'a> {
    fn from(l: &'a LayerMeta) -> Self {
        LayerListing {
            id: &l.id,
            title_vi: &l.title_vi,
            title_en: &l.title_en,
            family: l.family.as_deref(),
            geometry_type: &l.geometry_type,
            access: l.access,
            owner: l.owner.as_deref(),
            licence: l.licence.as_deref(),
            version: l.version,
            feature_count: l.feature_count,
            updated_at: l.updated_at,
            bbox: l.bbox.map(|b| b.0),
            fields: &l.schema,
        }
    }
}

pub async fn run(store: &dyn Store, json: bool, action: Option<LayersAction>) -> Result<()> {
    match action {
        None => {
            let layers = store.layers().await?;
            if json {
                let out: Vec<LayerListing> = layers.iter().map(LayerListing::from).collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else if layers.is_empty() {
                println!(
                    "no layers in {} — import one with `cuulong import FILE --layer ID`",
                    store.describe()
                );
            } else {
                println!(
                    "{:<22} {:<10} {:<10} {:>4} {:>9}  {:<20} TITLE (vi / en)",
                    "ID", "FAMILY", "ACCESS", "VER", "FEATURES", "UPDATED (UTC)"
                );
                for l in &layers {
                    println!(
                        "{:<22} {:<10} {:<10} {:>4} {:>9}  {:<20} {} / {}",
                        l.id.as_str(),
                        l.family.as_deref().unwrap_or("-"),
                        l.access.as_str(),
                        l.version,
                        l.feature_count,
                        l.updated_at.format("%Y-%m-%d %H:%M:%S"),
                        l.title_vi,
                        l.title_en
                    );
                }
            }
        }
        Some(LayersAction::SetAccess { layer, access }) => {
            let id = LayerId::parse(&layer).map_err(anyhow::Error::msg)?;
            let access: Access = access.parse().map_err(anyhow::Error::msg)?;
            store.set_access(&id, access).await?;
            println!("layer '{id}' is now {}", access.as_str());
        }
        Some(LayersAction::History { layer, json }) => {
            let id = LayerId::parse(&layer).map_err(anyhow::Error::msg)?;
            if store.layer(&id).await?.is_none() {
                bail!("layer '{id}' does not exist");
            }
            let history = store.history(&id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&history)?);
            } else {
                for h in history {
                    println!(
                        "v{} {} {} read {} imported {} repaired {} rejected {} ({} ms) sha256 {} CRS {}",
                        h.version,
                        h.finished_at.format("%Y-%m-%d %H:%M:%S"),
                        h.file,
                        h.read,
                        h.imported,
                        h.repaired,
                        h.rejected,
                        h.duration_ms,
                        &h.sha256[..h.sha256.len().min(16)],
                        h.src_crs
                    );
                }
            }
        }
    }
    Ok(())
}
