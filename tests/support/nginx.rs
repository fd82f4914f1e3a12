//! A private nginx for tests: its own prefix directory, configuration file
//! and document root, on a free loopback port, started and stopped by the
//! test (by its pid), never the machine's own nginx.
//!
//! The configuration gives the phases an outage needs, each switched by a
//! file the test writes:
//!
//! - `/config/<name>.json` from the document root, with nginx's own `ETag`
//!   and `304 Not Modified` handling, and gzip for JSON when asked for;
//! - a maintenance flag: while `<prefix>/maintenance` exists every request
//!   is answered `503` with `Retry-After: 1`;
//! - a slow flag: while `<prefix>/slow` exists bodies are sent at
//!   [`SLOW_RATE`] bytes per second (`limit_rate`), so a body of a few
//!   hundred bytes takes seconds; a conditional request is answered in
//!   full then (no `ETag`, no `304`), so it is slow too;
//! - `/moved/<path>` redirects (`301`) to `/config/<path>`, and
//!   `/elsewhere/<path>` to the same path on `localhost` (another origin);
//! - the access log names each request's `Host`, the answer's
//!   `Content-Encoding` and `ETag`, and the request's `Authorization`, so a
//!   test can tell what each origin saw, and the size of a file sent
//!   compressed ([`Logged::file_len`]).
//!
//! Without an nginx binary the harness skips loudly, unless
//! `STEADFAST_REQUIRE_NGINX=1`, which makes it fail.

#![allow(dead_code, unreachable_pub)]

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// The rate of the slow phase, in bytes per second.
pub const SLOW_RATE: u32 = 64;

/// One request of nginx's access log.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    /// The URI, after nginx's rewrites (`/slow/<file>` in the slow phase).
    pub uri: String,
    /// The status sent.
    pub status: u16,
    /// The bytes of the body sent.
    pub bytes: u64,
    /// When nginx began to read the request.
    pub started: SystemTime,
    /// The `Host` the request named.
    pub host: String,
    /// The `Content-Encoding` of the answer, if any.
    pub content_encoding: Option<String>,
    /// The `ETag` of the answer, if any.
    pub etag: Option<String>,
    /// The `Authorization` the request carried, if any.
    pub authorization: Option<String>,
}

impl Logged {
    /// The length of the file sent, from nginx's `ETag` (`"<mtime>-<len>"`
    /// in hex, `W/` when it compressed it): the body's size before gzip.
    pub fn file_len(&self) -> Option<u64> {
        let tag = self.etag.as_deref()?;
        let tag = tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"');
        u64::from_str_radix(tag.rsplit_once('-')?.1, 16).ok()
    }
}

/// A private nginx and its files.
#[derive(Debug)]
pub struct Nginx {
    binary: PathBuf,
    prefix: PathBuf,
    addr: SocketAddr,
    child: Option<Child>,
}

fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("STEADFAST_NGINX") {
        return Some(PathBuf::from(path));
    }
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}

fn required() -> bool {
    std::env::var("STEADFAST_REQUIRE_NGINX").is_ok_and(|v| v == "1")
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

impl Nginx {
    /// Starts a private nginx, or `None` (with a loud message) when the
    /// machine has none and `STEADFAST_REQUIRE_NGINX` is not `1`.
    pub fn start(test: &str) -> Option<Nginx> {
        let Some(binary) = binary() else {
            assert!(
                !required(),
                "STEADFAST_REQUIRE_NGINX=1 but no nginx binary was found (apt-get install -y nginx)"
            );
            eprintln!(
                "\n\n*** SKIPPED {test}: no nginx binary (apt-get install -y nginx, or set \
                 STEADFAST_NGINX); set STEADFAST_REQUIRE_NGINX=1 to make this a failure ***\n"
            );
            return None;
        };
        let prefix = std::env::temp_dir().join(format!(
            "steadfast-nginx-{}-{}-{}",
            test,
            std::process::id(),
            fastrand::u64(..)
        ));
        for dir in ["logs", "tmp", "html/config"] {
            fs::create_dir_all(prefix.join(dir)).expect("nginx prefix directories");
        }
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        fs::write(prefix.join("nginx.conf"), config(&prefix, addr)).expect("nginx.conf");
        let mut nginx = Nginx {
            binary,
            prefix,
            addr,
            child: None,
        };
        nginx.resume();
        Some(nginx)
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address nginx listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The document root's `config` directory.
    pub fn config_dir(&self) -> PathBuf {
        self.prefix.join("html/config")
    }

    /// Writes `body` as `/config/<file>`, atomically (nginx never serves a
    /// half-written file).
    pub fn put_config(&self, file: &str, body: &str) {
        let dir = self.config_dir();
        let temp = dir.join(format!(".{file}.tmp"));
        fs::write(&temp, body).expect("config file");
        fs::rename(&temp, dir.join(file)).expect("config file rename");
    }

    /// Removes `/config/<file>`.
    pub fn remove_config(&self, file: &str) {
        let _ = fs::remove_file(self.config_dir().join(file));
    }

    /// Turns the maintenance phase (every answer `503`) on or off.
    pub fn set_maintenance(&self, on: bool) {
        self.flag("maintenance", on);
    }

    /// Turns the slow phase (bodies at [`SLOW_RATE`] bytes/s) on or off.
    pub fn set_slow(&self, on: bool) {
        self.flag("slow", on);
    }

    fn flag(&self, name: &str, on: bool) {
        let path = self.prefix.join(name);
        if on {
            fs::write(path, b"on").expect("flag file");
        } else {
            let _ = fs::remove_file(path);
        }
    }

    /// The access log once it holds at least `n` requests (nginx writes a
    /// request's line after it has sent the answer), or as it is after 5 s.
    pub fn log_of(&self, n: usize) -> Vec<Logged> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            if log.len() >= n || Instant::now() >= deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every request nginx logged, with when it started (a request is
    /// logged when it ends, so one still running is not there yet).
    pub fn log(&self) -> Vec<Logged> {
        fs::read_to_string(self.prefix.join("logs/access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let mut parts = line.split(' ');
                let uri = parts.next()?.to_owned();
                let status = parts.next()?.parse().ok()?;
                let bytes = parts.next()?.parse().ok()?;
                let ended: f64 = parts.next()?.parse().ok()?;
                let took: f64 = parts.next()?.parse().ok()?;
                let started = SystemTime::UNIX_EPOCH
                    + Duration::try_from_secs_f64((ended - took).max(0.0)).ok()?;
                let host = parts.next()?.to_owned();
                let dash = |field: &str| (field != "-").then(|| field.to_owned());
                let content_encoding = dash(parts.next()?);
                // nginx writes a `"` in a logged value as `\x22`.
                let etag = dash(parts.next()?).map(|tag| tag.replace("\\x22", "\""));
                // Last: the one field that may hold spaces.
                let authorization = dash(&parts.collect::<Vec<_>>().join(" "));
                Some(Logged {
                    uri,
                    status,
                    bytes,
                    started,
                    host,
                    content_encoding,
                    etag,
                    authorization,
                })
            })
            .collect()
    }

    /// Whether nginx runs.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Stops nginx (its master process, by pid, and with it its worker):
    /// connections are refused until [`resume`](Self::resume).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: a fast shutdown of master and worker.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
            // The worker goes with the master; wait until the port is free.
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(self.addr).is_ok() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Starts nginx again on the same port and files.
    pub fn resume(&mut self) {
        if self.child.is_some() {
            return;
        }
        let child = Command::new(&self.binary)
            .arg("-p")
            .arg(&self.prefix)
            .arg("-c")
            .arg(self.prefix.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.answers() {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let log =
                    fs::read_to_string(self.prefix.join("logs/error.log")).unwrap_or_default();
                panic!("nginx exited at start ({status}):\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether nginx answers an HTTP request (its master listens before
    /// its worker has started to accept).
    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(self.addr) else {
            return false;
        };
        let timeout = Some(Duration::from_secs(1));
        let mut head = [0u8; 12];
        stream.set_read_timeout(timeout).is_ok()
            && stream
                .write_all(b"HEAD /ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .is_ok()
            && stream.read_exact(&mut head).is_ok()
            && head.starts_with(b"HTTP/1.")
    }

    /// The prefix directory (configuration, logs, document root).
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.prefix);
    }
}

fn config(prefix: &Path, addr: SocketAddr) -> String {
    let prefix = prefix.display();
    format!(
        r#"
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    types {{ application/json json; application/toml toml; application/yaml yaml yml; text/html html; }}
    log_format steadfast '$uri $status $body_bytes_sent $msec $request_time $host $sent_http_content_encoding $sent_http_etag $http_authorization';
    access_log {prefix}/logs/access.log steadfast;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    sendfile off;
    keepalive_timeout 30s;
    gzip on;
    gzip_min_length 1;
    gzip_http_version 1.0;
    gzip_vary on;
    gzip_types application/json application/toml application/yaml;
    server {{
        listen {addr};
        root {prefix}/html;
        # The harness's readiness check, kept out of the access log.
        location = /ready {{
            access_log off;
            return 204;
        }}
        location /config/ {{
            if (-f {prefix}/maintenance) {{
                add_header Retry-After 1 always;
                return 503;
            }}
            if (-f {prefix}/slow) {{
                rewrite ^/config/(.*)$ /slow/$1 last;
            }}
            etag on;
        }}
        location /slow/ {{
            internal;
            alias {prefix}/html/config/;
            limit_rate {SLOW_RATE};
            etag off;
            if_modified_since off;
        }}
        location /moved/ {{
            rewrite ^/moved/(.*)$ /config/$1 permanent;
        }}
        location /elsewhere/ {{
            rewrite ^/elsewhere/(.*)$ http://localhost:{port}/config/$1 permanent;
        }}
    }}
}}
"#,
        port = addr.port(),
    )
}
