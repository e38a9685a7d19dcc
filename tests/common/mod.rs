//! Shared helpers of the integration tests: the real `cuulong` binary, a fresh PostGIS
//! database per test (cloned from `cuulong_template`), and the data samples.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sqlx::{Connection, PgConnection};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn samples() -> PathBuf {
    root().join("data-samples")
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cuulong"))
}

/// `cuulong` with the environment cleared of a store choice, so tests say which store.
pub fn cuulong() -> Command {
    let mut c = Command::new(bin());
    c.env_remove("DATABASE_URL");
    c.env("CUULONG_LOG", "warn");
    c
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run cuulong")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
pub fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "cuulong failed: {}\nstdout: {}",
        stderr(&o),
        stdout(&o)
    );
    o
}

/// A tool the tests need (ogr2ogr, cs2cs, python3 …). Under CI=true a missing tool fails the
/// test; elsewhere the test is skipped with a message.
pub fn require_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("required tool '{name}' is missing (run scripts/install-deps.sh)");
        }
        eprintln!("SKIPPED: tool '{name}' not installed");
    }
    found
}

/// A fresh database for one test, dropped afterwards.
pub struct TestDb {
    pub url: String,
    admin_url: String,
    name: String,
}

fn with_db(url: &str, db: &str) -> String {
    // postgres://user@host:port/DB?params
    let (head, tail) = match url.find('?') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let slash = head.rfind('/').expect("database url has a path");
    format!("{}/{db}{tail}", &head[..slash])
}

impl TestDb {
    /// `None` (skip) when no PostGIS is configured outside CI; panics under CI=true.
    pub fn create(test: &str) -> Option<TestDb> {
        let base = match std::env::var("CUULONG_TEST_DATABASE_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("CUULONG_TEST_DATABASE_URL is not set: PostGIS is required under CI (scripts/test.sh starts it)");
                }
                eprintln!("SKIPPED: CUULONG_TEST_DATABASE_URL not set (run scripts/test.sh)");
                return None;
            }
        };
        let name = format!(
            "t_{}_{}_{}",
            test,
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        let admin_url = with_db(&base, "postgres");
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let mut c = PgConnection::connect(&admin_url)
                .await
                .expect("connect to PostGIS admin database");
            sqlx::query(&format!(
                "CREATE DATABASE \"{name}\" TEMPLATE cuulong_template"
            ))
            .execute(&mut c)
            .await
            .expect("create test database");
        });
        Some(TestDb {
            url: with_db(&base, &name),
            admin_url,
            name,
        })
    }

    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .expect("connect test db")
    }

    /// Runs a query returning one i64 (blocking helper for sync tests).
    pub fn scalar_i64(&self, sql: &str) -> i64 {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let mut c = self.connect().await;
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        })
    }

    pub fn strings(&self, sql: &str) -> Vec<String> {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let mut c = self.connect().await;
            sqlx::query_scalar::<_, String>(sql)
                .fetch_all(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().ok()?;
            rt.block_on(async {
                let mut c = PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut c)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// The two stores a test runs against: (label, extra CLI args).
pub fn stores(db: Option<&TestDb>, dir: &Path) -> Vec<(&'static str, Vec<String>)> {
    let mut v = vec![(
        "embedded",
        vec!["--data-dir".to_string(), dir.display().to_string()],
    )];
    if let Some(db) = db {
        v.push((
            "postgis",
            vec!["--database-url".to_string(), db.url.clone()],
        ));
    }
    v
}

/// `cuulong layers --json` parsed.
pub fn layers_json(store_args: &[String]) -> serde_json::Value {
    let o = ok(run(cuulong().args(store_args).args(["layers", "--json"])));
    serde_json::from_slice(&o.stdout).expect("layers --json is JSON")
}
