//! cuulong-core: the pure kernels of cuulong — the feature model, layer metadata, the layer
//! families with their Vietnamese code lists, and attribute mapping. No I/O, no async.

pub mod family;
pub mod feature;
pub mod layer;
pub mod mapping;

pub use family::{Family, FamilyError};
pub use feature::{Feature, Field, FieldType, Schema, Value};
pub use layer::{Access, Bbox, ImportRecord, LayerDef, LayerId, LayerMeta};
pub use mapping::{Mapping, MappingError};
