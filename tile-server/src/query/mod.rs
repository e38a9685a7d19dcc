//! Spatial questions across layers: what is at a point (`point`), and how much of each class
//! lies inside an area (`summary`).

mod point;
mod summary;

pub use point::{point, MAX_RADIUS_M};
pub use summary::summary;
