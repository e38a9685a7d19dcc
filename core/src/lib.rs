//! cuulong-core: the pure kernels of cuulong — the feature model, layer metadata, the layer
//! families with their Vietnamese code lists, attribute mapping, tile math, clipping, MVT
//! encoding and the in-memory layer index. No I/O, no async.

pub mod access;
pub mod admin;
pub mod clip;
pub mod columns;
pub mod containment;
pub mod crs;
pub mod family;
pub mod feature;
pub mod index;
pub mod interrupt;
pub mod layer;
pub mod mapping;
pub mod mvt;
pub mod query;
pub mod render;
pub mod source;
pub mod sta;
pub mod style;
pub mod tcvn3;
pub mod tile;
pub mod tms;

pub use family::{Family, FamilyError};
pub use feature::{Feature, Field, FieldType, Schema, Value};
pub use layer::{Access, Bbox, ImportRecord, LayerDef, LayerId, LayerMeta};
pub use mapping::{Mapping, MappingError};
