//! The replica set, all real: a PostGIS primary and a hot streaming standby
//! (scripts/replica-set.sh: `pg_basebackup -R`, other ports), two `cuulong serve` replicas
//! reading layer features from the standby and following NOTIFY from the primary, and Debian's
//! nginx in front of them. Checked: the lag guard (a replica never serves a version the
//! standby has not replayed), both replicas following a re-import, SIGKILL of a replica under
//! load costing no failed request at the load balancer, and the standby going away (replicas
//! read from the primary, never answer an error).

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// The primary's and the standby's URLs for database `db`, the set started (created the first
/// time) by the script.
fn replica_set(db: &str) -> (String, String) {
    let out = replica_script(&[]);
    let mut urls = out.split_whitespace().map(str::to_owned);
    let (primary, standby) = (urls.next().unwrap(), urls.next().unwrap());
    let with_db = |u: &str, name: &str| u.replace("/cuulong?", &format!("/{name}?"));
    let admin = with_db(&primary, "postgres");
    // This run's database, and those of earlier runs (one replica-set test runs at a time).
    let old = psql(
        &admin,
        "SELECT datname FROM pg_database WHERE datname LIKE 'rs\\_%'",
    );
    for name in old.lines().chain([db]).filter(|n| !n.is_empty()) {
        psql(
            &admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
    }
    psql(
        &admin,
        &format!("CREATE DATABASE {db} TEMPLATE cuulong_template"),
    );
    (with_db(&primary, db), with_db(&standby, db))
}

fn psql(url: &str, sql: &str) -> String {
    let o = Command::new("psql")
        .args(["-X", "-tA", url, "-c", sql])
        .output()
        .expect("psql");
    assert!(
        o.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

/// Runs scripts/replica-set.sh with `args`; what it printed.
fn replica_script(args: &[&str]) -> String {
    let o = Command::new("bash")
        .arg(root().join("scripts/replica-set.sh"))
        .args(args)
        .output()
        .expect("run scripts/replica-set.sh");
    assert!(
        o.status.success(),
        "scripts/replica-set.sh {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Leaves the standby running and replaying whatever happens to the test.
struct StandbyBack(String);

impl Drop for StandbyBack {
    fn drop(&mut self) {
        replica_script(&["start-standby"]);
        let _ = Command::new("psql")
            .args(["-X", "-tA", &self.0, "-c", "SELECT pg_wal_replay_resume()"])
            .output();
    }
}

/// Debian's nginx in front of `ports` with cuulong's deployment settings (docs/deploy.md):
/// a failed upstream is retried on the next (`proxy_next_upstream`).
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(ports: &[u16]) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let servers: String = ports
            .iter()
            .map(|p| format!("    server 127.0.0.1:{p} max_fails=1 fail_timeout=1s;\n"))
            .collect();
        let conf = format!(
            "worker_processes 2;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               upstream cuulong {{\n{servers}    keepalive 16;\n  }}\n\
               server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
                 proxy_pass http://cuulong;\n      proxy_http_version 1.1;\n\
                 proxy_set_header Connection \"\";\n      proxy_set_header Host $http_host;\n\
                 proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
                 proxy_next_upstream error timeout http_502 http_503 http_504;\n\
                 proxy_next_upstream_tries 2;\n      proxy_connect_timeout 1s;\n    }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let nginx = ["/usr/sbin/nginx", "nginx"]
            .into_iter()
            .find(|n| Command::new(n).arg("-v").output().is_ok())
            .expect("nginx is not installed: scripts/install-deps.sh installs nginx-light");
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let n = Nginx {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(http_get(n.port, "/health", &[]), Ok((200, _, _))) {
            assert!(Instant::now() < deadline, "nginx did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        n
    }
}

impl Drop for Nginx {
    /// SIGTERM: nginx's master stops its workers (SIGKILL would leave them serving).
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn version_on(server: &Server, layer: &str) -> Option<f64> {
    let (_, _, m) = server.get("/metrics", &[]).ok()?;
    metric(
        &String::from_utf8_lossy(&m),
        &format!("cuulong_layer_version{{layer=\"{layer}\"}}"),
    )
}

fn counter(server: &Server, name: &str) -> f64 {
    let (_, _, m) = server.get("/metrics", &[]).unwrap();
    metric(&String::from_utf8_lossy(&m), name).unwrap_or(0.0)
}

fn wait_version(servers: &[&Server], layer: &str, version: i64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    for s in servers {
        while version_on(s, layer) != Some(version as f64) {
            assert!(
                Instant::now() < deadline,
                "version {version} of {layer} not served"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// GETs through the load balancer until stopped, counting answers and failures.
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    failed: Arc<std::sync::Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16, paths: Vec<String>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let threads = (0..4)
            .map(|t| {
                let (stop, done, failed, paths) =
                    (stop.clone(), done.clone(), failed.clone(), paths.clone());
                std::thread::spawn(move || {
                    let mut i = t;
                    while !stop.load(Ordering::Relaxed) {
                        let p = &paths[i % paths.len()];
                        i += 1;
                        match http_get(port, p, &[]) {
                            Ok((200, _, _)) => {}
                            Ok((s, _, b)) => failed
                                .lock()
                                .unwrap()
                                .push(format!("{p}: {s} {}", String::from_utf8_lossy(&b))),
                            Err(e) => failed.lock().unwrap().push(format!("{p}: {e}")),
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Load {
            stop,
            done,
            failed,
            threads,
        }
    }

    /// (answered, failures)
    fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let failed = self.failed.lock().unwrap().clone();
        (self.done.load(Ordering::Relaxed), failed)
    }
}

#[test]
fn two_replicas_behind_nginx_follow_the_standby_guard_its_lag_and_survive_failures() {
    let (primary, standby) = replica_set(&format!("rs_{}", std::process::id()));
    let _back = StandbyBack(standby.clone());
    let store = vec!["--database-url".to_string(), primary.clone()];
    ok(import_stations(&store, "salinity_stations", &[]));
    let land_use = samples().join("land-use/land_use_2020.gpkg");
    if land_use.exists() {
        ok(run(cuulong().args(&store).args([
            "import",
            land_use.to_str().unwrap(),
            "--layer",
            "land_use",
            "--family",
            "land_use",
            "--quiet",
        ])));
    }
    // nginx is trusted to name the client; the load below all comes from this one address,
    // so per-address limits are off here.
    let replica_args = [
        "--standby-url",
        standby.as_str(),
        "--standby-max-lag-s",
        "120",
        "--trusted-proxy",
        "127.0.0.1",
        "--anonymous-rate-limit-per-minute",
        "0",
    ];
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = Server::start_on(&store, &replica_args, port_a);
    let b = Server::start_on(&store, &replica_args, port_b);
    for s in [&a, &b] {
        assert!(
            counter(s, "cuulong_standby_reads_total") >= 1.0,
            "layers read from the standby"
        );
        assert_eq!(counter(s, "cuulong_standby_fallbacks_total"), 0.0);
    }
    let lb = Nginx::start(&[port_a, port_b]);
    let v1 = layer_entry(&store, "salinity_stations")["version"]
        .as_i64()
        .unwrap();
    wait_version(&[&a, &b], "salinity_stations", v1);

    // The lag guard: with the standby's replay paused, a re-import on the primary is
    // notified to both replicas, but neither serves it until the standby has replayed it.
    psql(&standby, "SELECT pg_wal_replay_pause()");
    ok(reimport_stations(&store));
    let v2 = v1 + 1;
    assert_eq!(layer_entry(&store, "salinity_stations")["version"], v2);
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_secs(3) {
        for s in [&a, &b] {
            assert_eq!(
                version_on(s, "salinity_stations"),
                Some(v1 as f64),
                "a replica served a version the standby had not replayed"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let waited_before = counter(&a, "cuulong_standby_wait_seconds_total");
    psql(&standby, "SELECT pg_wal_replay_resume()");
    wait_version(&[&a, &b], "salinity_stations", v2);
    for s in [&a, &b] {
        assert_eq!(
            counter(s, "cuulong_standby_fallbacks_total"),
            0.0,
            "read from the standby"
        );
    }
    assert!(
        counter(&a, "cuulong_standby_wait_seconds_total") > waited_before,
        "replica A waited for the standby"
    );

    // SIGKILL of a replica under load: nginx retries on the other; no request fails. The
    // killed replica comes back on its port and takes requests again.
    let (_, first) = get_json_as(&b, "/collections/salinity_stations/items?limit=1", None);
    let point = &first["features"][0]["geometry"]["coordinates"];
    let (lon, lat) = (point[0].as_f64().unwrap(), point[1].as_f64().unwrap());
    let (z, x, y) = tile_at(lon, lat, 10);
    let paths: Vec<String> = vec![
        "/collections/salinity_stations/items?limit=5".to_string(),
        format!("/tiles/salinity_stations/{z}/{x}/{y}.mvt"),
        format!("/query/point?lon={lon}&lat={lat}&radius_m=5000"),
        "/health".to_string(),
        "/catalog?f=json".to_string(),
    ];
    let load = Load::start(lb.port, paths.clone());
    std::thread::sleep(Duration::from_secs(1));
    let before_kill = load.done.load(Ordering::Relaxed);
    // Killed (SIGKILL), then started again on its port.
    let _ = Command::new("kill")
        .args(["-9", &a.pid().to_string()])
        .status();
    std::thread::sleep(Duration::from_secs(2));
    a = Server::start_on(&store, &replica_args, port_a);
    std::thread::sleep(Duration::from_secs(2));
    let (answered, failed) = load.finish();
    assert!(
        failed.is_empty(),
        "{} of {answered} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(
        answered > before_kill + 50,
        "the load went on: {before_kill} → {answered}"
    );
    let through_a = counter(
        &a,
        "cuulong_requests_total{route=\"/health\",status=\"200\"}",
    );
    let served_a: f64 = {
        let (_, _, m) = a.get("/metrics", &[]).unwrap();
        String::from_utf8_lossy(&m)
            .lines()
            .filter(|l| l.starts_with("cuulong_requests_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(
        served_a > 10.0,
        "the restarted replica takes requests again ({served_a}, /health {through_a})"
    );

    // The standby goes away: a re-import is read from the primary by both replicas, and
    // nothing answers an error meanwhile.
    replica_script(&["stop-standby"]);
    let load = Load::start(lb.port, paths);
    ok(reimport_stations(&store));
    wait_version(&[&a, &b], "salinity_stations", v2 + 1);
    let (answered, failed) = load.finish();
    assert!(
        failed.is_empty(),
        "{} of {answered} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    for s in [&a, &b] {
        assert!(
            counter(s, "cuulong_standby_fallbacks_total") >= 1.0,
            "read from the primary"
        );
        let (status, _, _) = s.get("/ready", &[]).unwrap();
        assert_eq!(status, 200);
    }
    // Back: the standby catches up and serves the replicas' reads again.
    replica_script(&["start-standby"]);
    let before = counter(&b, "cuulong_standby_reads_total");
    ok(reimport_stations(&store));
    wait_version(&[&a, &b], "salinity_stations", v2 + 2);
    assert!(
        counter(&b, "cuulong_standby_reads_total") > before,
        "the standby serves again"
    );
}
