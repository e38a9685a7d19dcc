//! What the import's threads pass each other: the reader (GDAL, on its own thread) sends
//! raw features to the validation stage, which sends store features to the writing task.

use std::collections::BTreeMap;

use cuulong_core::{Feature, LayerDef, Value};

use crate::report::Rejected;
use crate::ImportError;

pub(crate) const BATCH: usize = 4096;

/// Messages from the reading thread (GDAL is not `Send`) to the writing task.
pub(crate) enum Msg {
    Start(Box<LayerDef>, Box<Plan>),
    Batch(Vec<Feature>),
    Done(Box<Tally>),
    Failed(ImportError),
}

pub(crate) struct Plan {
    pub src_crs: String,
    pub operation: String,
    pub warnings: Vec<String>,
    pub total: Option<u64>,
}

#[derive(Default)]
pub(crate) struct Tally {
    pub read: i64,
    pub imported: i64,
    pub repaired: i64,
    pub rejected: Vec<Rejected>,
    pub reasons: BTreeMap<String, i64>,
    pub notes: BTreeMap<String, i64>,
    pub geometry_types: std::collections::BTreeSet<&'static str>,
}

/// A feature as read: its position, geometry as WKB, source attribute values.
pub(crate) struct Raw {
    pub n: i64,
    pub wkb: Option<Vec<u8>>,
    pub values: Vec<Value>,
}
