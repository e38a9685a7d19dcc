//! `cuulong keys`: create, list and revoke API keys (only salted hashes are stored).

use anyhow::{bail, Result};
use clap::Subcommand;
use cuulong_core::access::ApiKey;
use cuulong_core::LayerId;
use cuulong_store::Store;

#[derive(Subcommand)]
pub enum KeysAction {
    /// Create a key and print it once (only a salted hash is stored).
    Create {
        #[arg(long)]
        name: String,
        /// The agency the key belongs to.
        #[arg(long)]
        agency: String,
        /// A restricted layer this key may read, or `datastream:<id>` for a restricted
        /// datastream (repeat for several).
        #[arg(long = "grant", value_name = "LAYER")]
        grants: Vec<String>,
        /// What the key may do beyond reading: `observations:write` (every datastream it may
        /// see) or `observations:write:<datastream id>` (repeat for several).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Last day the key works (YYYY-MM-DD, UTC); it stops at the end of that day.
        #[arg(long, value_name = "DATE")]
        expires: Option<chrono::NaiveDate>,
    },
    /// List keys (never the keys themselves).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key; running servers stop accepting it within seconds.
    Revoke { name: String },
}

/// A key as `keys list --json` prints it: never the hash or salt.
#[derive(serde::Serialize)]
struct KeyListing<'a> {
    name: &'a str,
    agency: &'a str,
    grants: &'a [String],
    scopes: &'a [String],
    created_at: chrono::DateTime<chrono::Utc>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl<'a> From<&'a ApiKey> for KeyListing<'a> {
    fn from(k: &'a ApiKey) -> Self {
        KeyListing {
            name: &k.name,
            agency: &k.agency,
            grants: &k.grants,
            scopes: &k.scopes,
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
        }
    }
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness for a key: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

pub async fn run(store: &dyn Store, action: KeysAction) -> Result<()> {
    use cuulong_core::access::hash_key;
    match action {
        KeysAction::Create {
            name,
            agency,
            grants,
            scopes,
            expires,
        } => {
            if name.trim().is_empty() || agency.trim().is_empty() {
                bail!("--name and --agency must not be empty");
            }
            let network = store.sta_catalog().await?;
            let datastream = |id: &str| {
                id.parse::<u32>()
                    .ok()
                    .and_then(|id| network.datastream(id))
                    .is_some()
            };
            for s in &scopes {
                match s.strip_prefix(cuulong_core::access::WRITE_OBSERVATIONS) {
                    Some("") => {}
                    Some(rest) if rest.strip_prefix(':').is_some_and(datastream) => {}
                    _ => bail!(
                        "--scope {s}: expected observations:write or observations:write:<id> \
                         of an existing datastream"
                    ),
                }
            }
            for g in &grants {
                if let Some(ds) = g.strip_prefix("datastream:") {
                    if !datastream(ds) {
                        bail!("--grant {g}: datastream '{ds}' does not exist");
                    }
                    continue;
                }
                let id = LayerId::parse(g).map_err(anyhow::Error::msg)?;
                if store.layer(&id).await?.is_none() {
                    bail!("--grant {g}: layer '{g}' does not exist");
                }
            }
            let prefix = random_hex(4)?;
            let key = format!("cl_{prefix}_{}", random_hex(20)?);
            let salt = random_hex(16)?;
            let expires_at = expires
                .and_then(|d| d.succ_opt())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc());
            store
                .add_key(ApiKey {
                    name: name.clone(),
                    agency,
                    grants,
                    prefix,
                    hash: hash_key(&salt, &key),
                    salt,
                    created_at: chrono::Utc::now(),
                    expires_at,
                    revoked_at: None,
                    scopes,
                })
                .await?;
            eprintln!("cuulong: key '{name}' created; it is shown only now — keep it safe:");
            println!("{key}");
        }
        KeysAction::List { json } => {
            let keys = store.keys().await?;
            if json {
                let out: Vec<KeyListing> = keys.iter().map(KeyListing::from).collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for k in keys {
                    let state = match (k.revoked_at, k.expires_at) {
                        (Some(_), _) => "revoked",
                        (None, Some(e)) if e <= chrono::Utc::now() => "expired",
                        _ => "active",
                    };
                    println!(
                        "{:<20} {:<8} {:<30} grants: {}",
                        k.name,
                        state,
                        k.agency,
                        if k.grants.is_empty() {
                            "-".to_string()
                        } else {
                            k.grants.join(",")
                        }
                    );
                }
            }
        }
        KeysAction::Revoke { name } => {
            store.revoke_key(&name).await?;
            println!("key '{name}' revoked");
        }
    }
    Ok(())
}
