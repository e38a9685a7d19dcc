//! The compiled styles of `styles/` for server-side rendering (WMS), and which of them can
//! draw a given layer. The web map reads the same files as JSON: one source of colours.

use std::path::Path;
use std::sync::Arc;

use cuulong_core::style::{LayerKind, Style, StyleLayer};
use cuulong_core::LayerMeta;

/// The generic style's placeholder source layer: it draws any layer.
const ANY_LAYER: &str = "{{layer}}";

/// Every style of the styles directory: its text as served to the web map, and compiled for
/// WMS. One set serves both, and is replaced as a whole when the folder changes, so the map in
/// the browser and the map image never disagree.
#[derive(Default)]
pub struct StyleSet {
    styles: Vec<Arc<Style>>,
    /// Each `NAME.json` as read (also those that did not compile for WMS).
    texts: std::collections::BTreeMap<String, String>,
    /// What the folder looked like when read: each file's name, size and modification time.
    fingerprint: Vec<(std::path::PathBuf, u64, Option<std::time::SystemTime>)>,
    /// A number no other set read by this process has: caches of drawn images key on it, so
    /// a reloaded style never meets an image drawn with the one before.
    generation: u64,
}

/// The generation of the next style set read.
static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The `*.json` files of `dir`, sorted, with their size and modification time.
fn fingerprint(dir: &Path) -> Vec<(std::path::PathBuf, u64, Option<std::time::SystemTime>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().and_then(|x| x.to_str()) == Some("json"))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((e.path(), m.len(), m.modified().ok()))
        })
        .collect();
    out.sort();
    out
}

/// A style that can draw one layer: the style layers to use, and the style's name as WMS
/// STYLES sees it.
#[derive(Clone)]
pub struct LayerStyle {
    pub name: String,
    pub title: String,
    pub style: Arc<Style>,
    /// The source layer of `style` used for this layer (the layer id itself, or a stand-in of
    /// the same family and geometry, or the generic placeholder).
    pub source_layer: String,
}

impl LayerStyle {
    pub fn layers(&self) -> Vec<&StyleLayer> {
        self.style.layers_for(&self.source_layer).collect()
    }
}

fn geometry_kind(geometry_type: &str) -> LayerKind {
    let g = geometry_type.to_ascii_lowercase();
    if g.contains("polygon") {
        LayerKind::Fill
    } else if g.contains("line") {
        LayerKind::Line
    } else {
        LayerKind::Circle
    }
}

/// What geometry a style's source layer draws, judged from its style layers.
fn drawn_kind(style: &Style, source_layer: &str) -> Option<LayerKind> {
    let kinds: Vec<LayerKind> = style.layers_for(source_layer).map(|l| l.kind).collect();
    [LayerKind::Fill, LayerKind::Line, LayerKind::Circle]
        .into_iter()
        .find(|k| kinds.contains(k))
}

impl StyleSet {
    /// Reads and compiles every `*.json` of `dir`; a style that does not compile is skipped
    /// with a warning (the web map may still use it).
    pub fn load(dir: &Path) -> StyleSet {
        let mut styles = Vec::new();
        let mut texts = std::collections::BTreeMap::new();
        let fingerprint = fingerprint(dir);
        let Ok(entries) = std::fs::read_dir(dir) else {
            tracing::warn!(dir = %dir.display(), "no styles directory: WMS draws nothing");
            return StyleSet::default();
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    let style = Style::parse(name, &text).map_err(|e| e.to_string());
                    texts.insert(name.to_owned(), text);
                    style
                });
            match parsed {
                Ok(style) => styles.push(Arc::new(style)),
                Err(e) => tracing::warn!(style = name, error = %e, "style skipped for WMS"),
            }
        }
        StyleSet {
            styles,
            texts,
            fingerprint,
            generation: GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// This set's generation (see the field).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether the files of `dir` differ from those this set was read from.
    pub fn is_stale(&self, dir: &Path) -> bool {
        fingerprint(dir) != self.fingerprint
    }

    /// The text of style `name` (`NAME.json`), as the web map gets it.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.texts.get(name).map(String::as_str)
    }

    fn get(&self, name: &str) -> Option<&Arc<Style>> {
        self.styles.iter().find(|s| s.name == name)
    }

    /// The styles that can draw `meta`, default first: the family's style, then every other
    /// style naming the layer, then the generic style.
    pub fn for_layer(&self, meta: &LayerMeta) -> Vec<LayerStyle> {
        let id = meta.id.as_str();
        let family = meta.family.as_deref().unwrap_or("");
        let mut out: Vec<LayerStyle> = Vec::new();
        let mut push = |style: &Arc<Style>, source_layer: &str| {
            if out.iter().any(|s| s.name == style.name) {
                return;
            }
            out.push(LayerStyle {
                name: style.name.clone(),
                title: style.title.clone(),
                style: style.clone(),
                source_layer: source_layer.to_owned(),
            });
        };
        if let Some(style) = self.get(family) {
            if style.layers_for(id).next().is_some() {
                push(style, id);
            } else {
                // A layer of the family under another id (e.g. a second land-use layer): the
                // family style's source layer that draws the same kind of geometry.
                let want = geometry_kind(&meta.geometry_type);
                if let Some(stand_in) = style
                    .source_layers()
                    .into_iter()
                    .find(|sl| drawn_kind(style, sl) == Some(want))
                {
                    push(style, stand_in);
                }
            }
        }
        for style in &self.styles {
            if style.name != "generic" && style.layers_for(id).next().is_some() {
                push(style, id);
            }
        }
        if let Some(generic) = self.get("generic") {
            push(generic, ANY_LAYER);
        }
        out
    }
}
