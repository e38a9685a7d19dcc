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

/// Writes COUNT synthetic cadastre parcels to `out` (scripts/make_parcels.py, Debian's
/// python3-gdal): ten attributes, shared edges, the sizes of the delta's parcels.
pub fn make_parcels(count: usize, out: &Path) {
    let o = Command::new("/usr/bin/python3")
        .arg(root().join("scripts/make_parcels.py"))
        .arg(count.to_string())
        .arg(out)
        .output()
        .expect("run scripts/make_parcels.py (python3-gdal)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
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

/// Whether the person running the tests asked to skip what needs `what` (a tool's name,
/// `postgis` or `test-tools`), by naming it in `CUULONG_TEST_SKIP` (comma list). Nothing else
/// skips a check: a missing tool or database fails the test, in CI or not.
pub fn skip_requested(what: &str) -> bool {
    std::env::var("CUULONG_TEST_SKIP")
        .map(|v| v.split(',').any(|s| s.trim() == what))
        .unwrap_or(false)
}

/// A tool the tests need (ogr2ogr, cs2cs, python3 …). A missing tool fails the test, unless
/// `CUULONG_TEST_SKIP` names it (then the test says SKIPPED and passes over it).
pub fn require_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if !skip_requested(name) {
            panic!("required tool '{name}' is missing (run scripts/install-deps.sh, or skip it by name: CUULONG_TEST_SKIP={name})");
        }
        eprintln!("SKIPPED (CUULONG_TEST_SKIP): tool '{name}' not installed");
    }
    found
}

/// QGIS's Python bindings (Debian python3-qgis) under Debian's own python3, for the tests that
/// drive QGIS headless. Missing fails the test unless skipped by name (`CUULONG_TEST_SKIP=qgis`).
pub fn require_qgis() -> bool {
    let found = Command::new("/usr/bin/python3")
        .args(["-c", "import qgis.core"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if !skip_requested("qgis") {
            panic!("QGIS's python3-qgis is missing (run scripts/install-test-tools.sh, or skip it by name: CUULONG_TEST_SKIP=qgis)");
        }
        eprintln!("SKIPPED (CUULONG_TEST_SKIP): QGIS (python3-qgis) not installed");
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
    /// A fresh database; panics when no PostGIS is configured, unless `CUULONG_TEST_SKIP`
    /// names `postgis` (then `None`: the test says SKIPPED and passes over it).
    pub fn create(test: &str) -> Option<TestDb> {
        let base = match std::env::var("CUULONG_TEST_DATABASE_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                if !skip_requested("postgis") {
                    panic!("CUULONG_TEST_DATABASE_URL is not set: PostGIS is required (scripts/test.sh starts it; to skip these checks by name: CUULONG_TEST_SKIP=postgis)");
                }
                eprintln!("SKIPPED (CUULONG_TEST_SKIP): PostGIS");
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

    /// The URL of another database on the same server.
    pub fn sibling_url(&self, db: &str) -> String {
        with_db(&self.url, db)
    }

    /// The test database's own name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs a statement on the server's `postgres` database (CREATE/DROP DATABASE).
    pub fn admin_exec(&self, sql: &str) -> Result<(), String> {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let mut c = PgConnection::connect(&self.admin_url)
                .await
                .map_err(|e| e.to_string())?;
            sqlx::query(sql)
                .execute(&mut c)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
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

/// An HTTP response: status, headers (names lowercased), body.
pub type Response = (u16, Vec<(String, String)>, Vec<u8>);

/// A TCP port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A running `cuulong serve` on a free port, stopped on drop.
pub struct Server {
    pub port: u16,
    child: std::process::Child,
}

impl Server {
    pub fn start(store_args: &[String], extra: &[&str]) -> Server {
        Server::start_on(store_args, extra, free_port())
    }

    /// A server on `port` (a replica restarted where its load balancer expects it).
    pub fn start_on(store_args: &[String], extra: &[&str], port: u16) -> Server {
        // Tests run in parallel: no server writes the default snapshot folder unless a test
        // names its own.
        let no_snapshot: &[&str] = if extra.contains(&"--snapshot-dir") {
            &[]
        } else {
            &["--no-snapshot"]
        };
        let child = cuulong()
            .args(store_args)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .args(no_snapshot)
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start cuulong serve");
        let server = Server { port, child };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            if let Ok((200, _, _)) = server.get("/ready", &[]) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server not ready in 120 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A GET over a real connection: (status, headers lowercased, body).
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
        http_get(self.port, path, headers)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal HTTP/1.1 POST of a JSON body (Connection: close).
pub fn http_post(port: u16, path: &str, body: &[u8]) -> std::io::Result<Response> {
    let len = body.len().to_string();
    http_request(
        port,
        "POST",
        path,
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", &len),
        ],
        body,
    )
}

/// Minimal HTTP/1.1 GET (Connection: close), enough for tests without an HTTP client crate.
pub fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
    http_request(port, "GET", path, headers, &[])
}

pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let hdrs: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    if hdrs
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Ok((status, hdrs, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..pos]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[pos + 2..pos + 2 + size]);
        b = &b[pos + 2 + size + 2..];
    }
    out
}

pub fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The tile containing lon/lat at zoom z.
pub fn tile_at(lon: f64, lat: f64, z: u32) -> (u32, u32, u32) {
    let n = f64::from(1u32 << z);
    let x = ((lon + 180.0) / 360.0 * n).floor() as u32;
    let lat_r = lat.to_radians();
    let y = ((1.0 - (lat_r.tan() + 1.0 / lat_r.cos()).ln() / std::f64::consts::PI) / 2.0 * n)
        .floor() as u32;
    (z, x, y)
}

/// Imports every sample layer into a store.
pub fn import_samples(store_args: &[String]) {
    let manifest = samples().join("samples.toml");
    ok(run(cuulong().args(store_args).args([
        "import-manifest",
        manifest.to_str().unwrap(),
        "--quiet",
    ])));
}

/// Whether the independent clients of scripts/install-test-tools.sh (.tools/) are installed.
/// Under CI=true they must be.
pub fn test_tools() -> bool {
    let ok = root().join(".tools/venv/bin/python").exists()
        && root().join(".tools/sta-venv/bin/python").exists()
        && root().join(".tools/node/node_modules").exists();
    if !ok {
        if !skip_requested("test-tools") {
            panic!("test tools missing: run scripts/install-test-tools.sh (or skip them by name: CUULONG_TEST_SKIP=test-tools)");
        }
        eprintln!("SKIPPED (CUULONG_TEST_SKIP): test tools (.tools/)");
    }
    ok
}

/// Runs the test tools' Python (.tools/venv) with `args` and returns what it printed, as JSON.
/// A failing run fails the test with its stderr, under `what` (the client it drives).
pub fn python_json<I, S>(what: &str, args: I) -> serde_json::Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let o = Command::new(root().join(".tools/venv/bin/python"))
        .args(args)
        .output()
        .expect("run .tools/venv/bin/python (scripts/install-test-tools.sh)");
    assert!(
        o.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

/// The catalogue entry of one layer (`cuulong layers --json`), which must exist.
pub fn layer_entry(store_args: &[String], id: &str) -> serde_json::Value {
    layers_json(store_args)
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == id)
        .unwrap_or_else(|| panic!("layer '{id}' is not in the catalogue"))
        .clone()
}

/// An embedded store in a temp dir with every sample imported, served with `extra` flags.
pub fn serve_samples(extra: &[&str]) -> (tempfile::TempDir, Vec<String>, Server) {
    let tmp = tempfile::tempdir().unwrap();
    let store = vec![
        "--data-dir".to_string(),
        tmp.path().join("s").display().to_string(),
    ];
    import_samples(&store);
    let server = Server::start(&store, extra);
    (tmp, store, server)
}

/// The 200k-polygon GeoPackage, generated once per target dir (deterministic).
pub fn big_gpkg(count: usize) -> PathBuf {
    let dir = root().join("target").join("test-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("land_use_big_{count}.gpkg"));
    if !path.exists() {
        let tmp = dir.join(format!(".land_use_big_{count}.{}.gpkg", std::process::id()));
        let o = std::process::Command::new("/usr/bin/python3")
            .arg(root().join("scripts/make_big_layer.py"))
            .arg(count.to_string())
            .arg(&tmp)
            .output()
            .expect("run scripts/make_big_layer.py");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

/// Imports the salinity-station sample again (a new version of a small layer), as tests that
/// need a layer change do. Returns the CLI's output.
pub fn reimport_stations(store_args: &[String]) -> Output {
    import_stations(store_args, "salinity_stations", &[])
}

/// Imports the salinity-station sample as layer `layer`, with `extra` import flags.
pub fn import_stations(store_args: &[String], layer: &str, extra: &[&str]) -> Output {
    let stations = samples().join("hydrology/salinity_stations.csv");
    let mapping = samples().join("hydrology/salinity_stations.mapping.toml");
    run(cuulong()
        .args(store_args)
        .args([
            "import",
            stations.to_str().unwrap(),
            "--layer",
            layer,
            "--family",
            "hydrology",
            "--src-crs",
            "EPSG:4326",
            "--mapping",
            mapping.to_str().unwrap(),
            "--quiet",
        ])
        .args(extra))
}

/// EPSG:6960 in `+towgs84` form (position-vector convention: rotations negated).
pub const TOWGS84: &str =
    "-191.90441429,-39.30318279,-111.45032835,0.00928836,-0.01975479,0.00427372,0.252906278";
/// VN-2000 / TM-3 105-45 (Bến Tre's zone, EPSG:9210) without its datum shift.
pub const TM3_10545: &str =
    "+proj=tmerc +lat_0=0 +lon_0=105.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m";
/// WGS 84 lon/lat as cs2cs takes it.
pub const WGS84_LONLAT: &str = "+proj=longlat +datum=WGS84 +type=crs";

/// PROJ's own cs2cs from `from` to `to` (PROJ strings) for each (x, y): the independent
/// reference the VN-2000 tests compare with.
pub fn cs2cs(from: &str, to: &str, points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new("cs2cs")
        .args(["-f", "%.10f"])
        .args(from.split_whitespace())
        .arg("+to")
        .args(to.split_whitespace())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run cs2cs");
    {
        let stdin = child.stdin.as_mut().unwrap();
        for (x, y) in points {
            writeln!(stdin, "{x} {y}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Vec<f64> = l
                .split_whitespace()
                .take(2)
                .map(|t| t.parse().unwrap())
                .collect();
            (v[0], v[1])
        })
        .collect()
}

/// An open `GET /events` stream read on its own thread until it ends or is stopped.
pub struct EventStream {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    reader: Option<std::thread::JoinHandle<(u16, String, bool)>>,
}

impl EventStream {
    /// Opens the stream with `headers` and waits for its status line.
    pub fn open(port: u16, path: &str, headers: &[(&str, &str)]) -> EventStream {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let (first_tx, first_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let mut told = false;
            // (status, text, whether the server ended the stream)
            loop {
                if !told && buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let _ = first_tx.send(());
                    told = true;
                }
                if flag.load(std::sync::atomic::Ordering::Acquire) {
                    break (
                        status_of(&buf),
                        String::from_utf8_lossy(&buf).into_owned(),
                        false,
                    );
                }
                match s.read(&mut chunk) {
                    Ok(0) => {
                        let _ = first_tx.send(());
                        break (
                            status_of(&buf),
                            String::from_utf8_lossy(&buf).into_owned(),
                            true,
                        );
                    }
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        // The last chunk of a chunked body: the server ended the stream.
                        if buf.ends_with(b"\r\n0\r\n\r\n") {
                            let _ = first_tx.send(());
                            break (
                                status_of(&buf),
                                String::from_utf8_lossy(&buf).into_owned(),
                                true,
                            );
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => {
                        let _ = first_tx.send(());
                        break (
                            status_of(&buf),
                            String::from_utf8_lossy(&buf).into_owned(),
                            true,
                        );
                    }
                }
            }
        });
        first_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("no answer from /events in 30 s");
        EventStream {
            stop,
            reader: Some(reader),
        }
    }

    /// Whether the server has ended the stream (the reader returned on its own).
    pub fn ended(&self) -> bool {
        self.reader.as_ref().is_none_or(|r| r.is_finished())
    }

    /// Stops reading: (status, everything read, whether the server had ended it).
    pub fn finish(mut self) -> (u16, String, bool) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        self.reader.take().unwrap().join().unwrap()
    }

    /// The layers named by `layer` events in `text`.
    pub fn layers(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut is_layer = false;
        for line in text.lines() {
            if let Some(kind) = line.strip_prefix("event:") {
                is_layer = kind.trim() == "layer";
            } else if let Some(data) = line.strip_prefix("data:") {
                if is_layer {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim()) {
                        out.push(v["layer"].as_str().unwrap_or("").to_owned());
                    }
                }
            }
        }
        out
    }
}

fn status_of(buf: &[u8]) -> u16 {
    String::from_utf8_lossy(buf)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// A value of the Prometheus text at `/metrics` (`name` with its labels, e.g.
/// `cuulong_in_flight_requests` or `cuulong_layer_version{layer="x"}`).
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

/// A PNG decoded to RGBA rows: (width, height, 4 bytes a pixel).
pub fn png_rgba(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let mut rgba = Vec::with_capacity((info.width * info.height * 4) as usize);
    for px in buf[..info.buffer_size()].chunks(channels) {
        match channels {
            4 => rgba.extend_from_slice(px),
            3 => rgba.extend_from_slice(&[px[0], px[1], px[2], 255]),
            2 => rgba.extend_from_slice(&[px[0], px[0], px[0], px[1]]),
            _ => rgba.extend_from_slice(&[px[0], px[0], px[0], 255]),
        }
    }
    (info.width, info.height, rgba)
}

/// A GDAL tool with its WMS/WMTS tile cache off: left on, it writes `gdalwmscache/` into the
/// working directory (the repository) and could answer from tiles of an earlier run.
pub fn gdal_tool(tool: &str) -> std::process::Command {
    let mut c = std::process::Command::new(tool);
    c.env("GDAL_ENABLE_WMS_CACHE", "NO").env(
        "GDAL_DEFAULT_WMS_CACHE_PATH",
        std::env::temp_dir().join("cuulong-tests-gdalwmscache"),
    );
    c
}

/// Restarts the test PostgreSQL cluster (`pg_ctlcluster <version> <cluster> restart`; the
/// cluster is `CUULONG_PG_CLUSTER`, default `cuulong`, as scripts/pg-start.sh makes it).
pub fn restart_postgres() {
    let version = std::fs::read_dir("/usr/lib/postgresql")
        .expect("/usr/lib/postgresql")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .expect("an installed PostgreSQL version");
    let cluster = std::env::var("CUULONG_PG_CLUSTER").unwrap_or_else(|_| "cuulong".into());
    let status = Command::new("pg_ctlcluster")
        .args([version.to_string(), cluster, "restart".into()])
        .status()
        .expect("run pg_ctlcluster");
    assert!(status.success(), "pg_ctlcluster restart failed");
}

/// Runs tests/web/map_check.mjs on `url` (screenshot to `shot`, `env` set) and returns its
/// JSON report; fails the test when the check fails.
pub fn map_check(url: &str, shot: &Path, env: &[(&str, &str)]) -> serde_json::Value {
    let o = Command::new("node")
        .arg(root().join("tests/web/map_check.mjs"))
        .arg(url)
        .arg(shot)
        .envs(env.iter().copied())
        .output()
        .expect("run node");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "map check failed: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(out.lines().last().unwrap_or("")).expect("map_check prints JSON")
}

/// GET `path` (already percent-encoded) with an optional `Bearer` key: the status and the JSON
/// body (`{"raw": text}` when it is not JSON).
pub fn get_json_as(server: &Server, path: &str, key: Option<&str>) -> (u16, serde_json::Value) {
    let auth = key.map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let (status, _, body) = server.get(path, &headers).expect("GET");
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::json!({"raw": String::from_utf8_lossy(&body)}));
    (status, v)
}

/// `cuulong keys create --name NAME --agency AGENCY EXTRA…`: the new key.
pub fn create_key(store: &[String], name: &str, agency: &str, extra: &[&str]) -> String {
    let o = ok(run(cuulong()
        .args(store)
        .args(["keys", "create", "--name", name, "--agency", agency])
        .args(extra)));
    stdout(&o).trim().to_owned()
}
