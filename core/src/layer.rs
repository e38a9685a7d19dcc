//! Layer metadata and import history records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::feature::Schema;

/// Who may see a layer (Data Law 60/2024, Decree 47/2020).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// dữ liệu mở: anyone.
    #[default]
    Open,
    /// dữ liệu dùng chung: agencies with a key.
    Shared,
    /// dữ liệu dùng riêng: the owner and those it names.
    Restricted,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Open => "open",
            Access::Shared => "shared",
            Access::Restricted => "restricted",
        }
    }
}

impl std::str::FromStr for Access {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(Access::Open),
            "shared" => Ok(Access::Shared),
            "restricted" => Ok(Access::Restricted),
            other => Err(format!(
                "unknown access class '{other}' (expected open, shared or restricted)"
            )),
        }
    }
}

/// A validated layer id: `[a-z][a-z0-9_]{0,47}`. It names tables and files, so it is kept to
/// characters that are safe as a PostgreSQL identifier and a file name on every system.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LayerId(String);

impl LayerId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 48
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "invalid layer id '{s}': use 1-48 characters a-z, 0-9 and _, starting with a letter"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LayerId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        LayerId::parse(&s)
    }
}

impl From<LayerId> for String {
    fn from(id: LayerId) -> String {
        id.0
    }
}

impl std::fmt::Display for LayerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Bounding box in EPSG:4326: [min lon, min lat, max lon, max lat].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bbox(pub [f64; 4]);

impl Bbox {
    pub const EMPTY: Bbox = Bbox([
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ]);

    pub fn is_empty(&self) -> bool {
        self.0[0] > self.0[2]
    }

    pub fn extend(&mut self, other: &Bbox) {
        self.0[0] = self.0[0].min(other.0[0]);
        self.0[1] = self.0[1].min(other.0[1]);
        self.0[2] = self.0[2].max(other.0[2]);
        self.0[3] = self.0[3].max(other.0[3]);
    }

    pub fn of_geometry(g: &geo_types::Geometry<f64>) -> Bbox {
        use geo::BoundingRect;
        match g.bounding_rect() {
            Some(r) => Bbox([r.min().x, r.min().y, r.max().x, r.max().y]),
            None => Bbox::EMPTY,
        }
    }

    pub fn within(&self, outer: &Bbox) -> bool {
        self.0[0] >= outer.0[0]
            && self.0[1] >= outer.0[1]
            && self.0[2] <= outer.0[2]
            && self.0[3] <= outer.0[3]
    }
}

/// What the importer asks the store to create or replace. The store fills in version,
/// timestamps, bbox and count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerDef {
    pub id: LayerId,
    pub title_vi: String,
    pub title_en: String,
    pub family: Option<String>,
    pub geometry_type: String,
    pub access: Access,
    pub owner: Option<String>,
    pub licence: Option<String>,
    /// Where the data came from (source file name and CRS).
    pub lineage: Option<String>,
    pub schema: Schema,
}

/// A layer as the catalogue knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerMeta {
    pub id: LayerId,
    pub title_vi: String,
    pub title_en: String,
    pub family: Option<String>,
    pub geometry_type: String,
    pub access: Access,
    pub owner: Option<String>,
    pub licence: Option<String>,
    pub lineage: Option<String>,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub bbox: Option<Bbox>,
    pub feature_count: i64,
    pub schema: Schema,
}

impl LayerMeta {
    /// The definition to write a new version of this layer with (same titles, family, access,
    /// provenance), with `schema`.
    pub fn def(&self, schema: crate::Schema) -> LayerDef {
        LayerDef {
            id: self.id.clone(),
            title_vi: self.title_vi.clone(),
            title_en: self.title_en.clone(),
            family: self.family.clone(),
            geometry_type: self.geometry_type.clone(),
            access: self.access,
            owner: self.owner.clone(),
            licence: self.licence.clone(),
            lineage: self.lineage.clone(),
            schema,
        }
    }

    /// An open layer of version 1 made now, titled by its id, without extent or count: what a
    /// layer built by code (rather than imported) starts from; set the rest with `..`.
    pub fn new(id: LayerId, geometry_type: &str, schema: Schema) -> Self {
        Self {
            title_vi: id.to_string(),
            title_en: id.to_string(),
            id,
            family: None,
            geometry_type: geometry_type.to_owned(),
            access: Access::Open,
            owner: None,
            licence: None,
            lineage: None,
            version: 1,
            updated_at: Utc::now(),
            bbox: None,
            feature_count: 0,
            schema,
        }
    }

    pub fn from_def(def: LayerDef, version: i64, bbox: Option<Bbox>, feature_count: i64) -> Self {
        Self {
            id: def.id,
            title_vi: def.title_vi,
            title_en: def.title_en,
            family: def.family,
            geometry_type: def.geometry_type,
            access: def.access,
            owner: def.owner,
            licence: def.licence,
            lineage: def.lineage,
            version,
            updated_at: Utc::now(),
            bbox,
            feature_count,
            schema: def.schema,
        }
    }
}

/// One row of a layer's import history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportRecord {
    pub layer_id: String,
    /// The version this import created (filled in by the store at commit).
    pub version: i64,
    pub file: String,
    pub sha256: String,
    pub src_crs: String,
    /// The coordinate operation used, e.g. the pinned EPSG:6960 pipeline for VN-2000.
    pub transformation: String,
    pub read: i64,
    pub imported: i64,
    pub repaired: i64,
    pub rejected: i64,
    pub duration_ms: i64,
    pub finished_at: DateTime<Utc>,
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_ids_are_safe_identifiers() {
        assert!(LayerId::parse("land_use_2020").is_ok());
        for bad in [
            "",
            "Land",
            "1abc",
            "a-b",
            "a\"b",
            "../x",
            "đất",
            &"a".repeat(49),
        ] {
            assert!(LayerId::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn bbox_extends_and_contains() {
        let mut b = Bbox::EMPTY;
        assert!(b.is_empty());
        b.extend(&Bbox([106.0, 10.0, 106.1, 10.1]));
        b.extend(&Bbox([105.9, 10.05, 106.0, 10.2]));
        assert_eq!(b, Bbox([105.9, 10.0, 106.1, 10.2]));
        assert!(b.within(&Bbox([100.0, 5.0, 110.0, 25.0])));
    }
}
