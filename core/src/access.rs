//! Who may see what (Decree 47/2020): open layers are for everyone, shared layers
//! for any valid API key, restricted layers for keys granted them (or of the owner agency).
//! API keys are stored only as a salted SHA-256 hash: keys are 160-bit random strings, not
//! passwords, so a fast hash is the right tool.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::layer::{Access, LayerMeta};

/// A stored API key: everything but the key itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub name: String,
    pub agency: String,
    /// Restricted layers this key may read.
    pub grants: Vec<String>,
    /// The public part of the key, to find its record without trying every hash.
    pub prefix: String,
    pub salt: String,
    /// hex(SHA-256(salt ‖ key)).
    pub hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// What the key may do beyond reading: `observations:write` (every datastream it may
    /// see) or `observations:write:<datastream id>`.
    #[serde(default)]
    pub scopes: Vec<String>,
}

pub fn hash_key(salt: &str, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(key.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The lookup prefix of a key string `cl_<prefix>_<secret>`.
pub fn key_prefix(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("cl_")?;
    let (prefix, secret) = rest.split_once('_')?;
    (prefix.len() == 8 && secret.len() >= 32).then_some(prefix)
}

/// Why a presented key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("unknown API key")]
    Unknown,
    #[error("API key '{0}' has been revoked")]
    Revoked(String),
    #[error("API key '{0}' has expired")]
    Expired(String),
}

/// Finds and checks the record of a presented key (constant-time compare of the hashes).
pub fn verify<'k>(
    keys: &'k [ApiKey],
    presented: &str,
    now: DateTime<Utc>,
) -> Result<&'k ApiKey, KeyError> {
    let prefix = key_prefix(presented).ok_or(KeyError::Unknown)?;
    let key = keys
        .iter()
        .filter(|k| k.prefix == prefix)
        .find(|k| {
            let want = k.hash.as_bytes();
            let got = hash_key(&k.salt, presented);
            want.len() == got.len()
                && want
                    .iter()
                    .zip(got.as_bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
        .ok_or(KeyError::Unknown)?;
    if key.revoked_at.is_some() {
        return Err(KeyError::Revoked(key.name.clone()));
    }
    if key.expires_at.is_some_and(|e| e <= now) {
        return Err(KeyError::Expired(key.name.clone()));
    }
    Ok(key)
}

/// One read of a non-open layer, for the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    pub key_name: String,
    pub agency: String,
    pub layer: String,
    pub access: String,
    pub endpoint: String,
}

/// The caller of a request, after its key (if any) was checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Caller {
    #[default]
    Anonymous,
    Key {
        name: String,
        agency: String,
        grants: Vec<String>,
        scopes: Vec<String>,
    },
}

impl Caller {
    pub fn from_key(k: &ApiKey) -> Self {
        Caller::Key {
            name: k.name.clone(),
            agency: k.agency.clone(),
            grants: k.grants.clone(),
            scopes: k.scopes.clone(),
        }
    }

    /// The one rule: may this caller see this layer?
    pub fn can_see(&self, layer: &LayerMeta) -> bool {
        self.may_see(layer.access, layer.id.as_str(), layer.owner.as_deref())
    }

    /// The same rule for anything with an access class: `grant` is what a key's grants name
    /// it by (a layer id; `datastream:<id>` for a datastream).
    pub fn may_see(&self, access: Access, grant: &str, owner: Option<&str>) -> bool {
        match (access, self) {
            (Access::Open, _) => true,
            (_, Caller::Anonymous) => false,
            (Access::Shared, Caller::Key { .. }) => true,
            (Access::Restricted, Caller::Key { agency, grants, .. }) => {
                grants.iter().any(|g| g == grant) || owner == Some(agency.as_str())
            }
        }
    }

    /// Whether this caller may add observations to a datastream: it must see it, and its key
    /// must carry `observations:write` or `observations:write:<id>`.
    pub fn may_write_observations(
        &self,
        datastream: u32,
        access: Access,
        owner: Option<&str>,
    ) -> bool {
        let Caller::Key { scopes, .. } = self else {
            return false;
        };
        let this = format!("{WRITE_OBSERVATIONS}:{datastream}");
        self.may_see(access, &format!("datastream:{datastream}"), owner)
            && scopes.iter().any(|s| s == WRITE_OBSERVATIONS || *s == this)
    }
}

/// The scope that lets a key write observations.
pub const WRITE_OBSERVATIONS: &str = "observations:write";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::LayerId;

    fn layer(id: &str, access: Access, owner: Option<&str>) -> LayerMeta {
        LayerMeta {
            id: LayerId::parse(id).unwrap(),
            title_vi: id.into(),
            title_en: id.into(),
            family: None,
            geometry_type: "Point".into(),
            access,
            owner: owner.map(str::to_owned),
            licence: None,
            lineage: None,
            version: 1,
            updated_at: Utc::now(),
            bbox: None,
            feature_count: 0,
            schema: Default::default(),
        }
    }

    #[test]
    fn visibility_rule() {
        let open = layer("a", Access::Open, None);
        let shared = layer("b", Access::Shared, None);
        let restricted = layer("c", Access::Restricted, Some("Sở TNMT"));
        let anon = Caller::Anonymous;
        let key = |agency: &str, grants: &[&str]| Caller::Key {
            name: "k".into(),
            agency: agency.into(),
            grants: grants.iter().map(|g| g.to_string()).collect(),
            scopes: vec![],
        };
        assert!(anon.can_see(&open) && !anon.can_see(&shared) && !anon.can_see(&restricted));
        let k = key("Sở GTVT", &[]);
        assert!(k.can_see(&open) && k.can_see(&shared) && !k.can_see(&restricted));
        assert!(key("Sở GTVT", &["c"]).can_see(&restricted));
        assert!(
            key("Sở TNMT", &[]).can_see(&restricted),
            "the owner agency sees its layer"
        );
    }

    #[test]
    fn writing_observations_needs_the_scope_and_sight_of_the_datastream() {
        let key = |grants: &[&str], scopes: &[&str]| Caller::Key {
            name: "logger".into(),
            agency: "Đài KTTV".into(),
            grants: grants.iter().map(|g| g.to_string()).collect(),
            scopes: scopes.iter().map(|g| g.to_string()).collect(),
        };
        let open = Access::Open;
        assert!(!Caller::Anonymous.may_write_observations(1, open, None));
        assert!(
            !key(&[], &[]).may_write_observations(1, open, None),
            "read-only key"
        );
        assert!(key(&[], &["observations:write"]).may_write_observations(1, open, None));
        assert!(key(&[], &["observations:write:1"]).may_write_observations(1, open, None));
        assert!(!key(&[], &["observations:write:2"]).may_write_observations(1, open, None));
        let r = Access::Restricted;
        assert!(!key(&[], &["observations:write"]).may_write_observations(1, r, Some("Sở TNMT")));
        assert!(key(&["datastream:1"], &["observations:write"]).may_write_observations(1, r, None));
    }

    #[test]
    fn keys_verify_by_salted_hash_only() {
        let presented = "cl_abcd1234_0123456789abcdef0123456789abcdef";
        let now = Utc::now();
        let mut k = ApiKey {
            name: "gis".into(),
            agency: "Sở TNMT".into(),
            grants: vec![],
            prefix: "abcd1234".into(),
            salt: "s4lt".into(),
            hash: hash_key("s4lt", presented),
            created_at: now,
            expires_at: None,
            revoked_at: None,
            scopes: vec![],
        };
        assert!(!k.hash.contains(presented));
        assert_eq!(
            verify(std::slice::from_ref(&k), presented, now)
                .unwrap()
                .name,
            "gis"
        );
        assert_eq!(
            verify(
                std::slice::from_ref(&k),
                "cl_abcd1234_0123456789abcdef0123456789abcdee",
                now
            ),
            Err(KeyError::Unknown)
        );
        assert_eq!(
            verify(std::slice::from_ref(&k), "nonsense", now),
            Err(KeyError::Unknown)
        );
        k.expires_at = Some(now - chrono::Duration::days(1));
        assert!(matches!(
            verify(std::slice::from_ref(&k), presented, now),
            Err(KeyError::Expired(_))
        ));
        k.expires_at = None;
        k.revoked_at = Some(now);
        assert!(matches!(
            verify(std::slice::from_ref(&k), presented, now),
            Err(KeyError::Revoked(_))
        ));
    }
}
