//! The servers an outage timeline runs against, behind one trait: the hyper
//! config server (over an in-process pipe or its loopback TCP port) and a
//! private nginx. Each one switches to what a phase asks of it and reports,
//! from its own side, the requests it got.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use steadfast::config::{HttpSource, RequestBody};

use crate::config_server::{ConfigServer, INVALID_BODY, Mode, Outcome, config_body};
use crate::nginx::Nginx;
use crate::pipe::Pipe;

/// The time limit of one HTTP request of the source; the stack's own
/// per-attempt limit is shorter, so it is the one that cuts a hang.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(1);

/// The keys the timeline loads; each is a file `/config/<key>.json`.
pub const KEYS: [&str; 2] = ["app", "flags"];

/// What the server does during a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// Not running: connections are refused.
    Stopped,
    /// Serving config `version` (with its `ETag`; `304` for the current
    /// one).
    Serving(u64),
    /// Answering `503` with `Retry-After: 1` (maintenance).
    Unavailable,
    /// Taking far longer than any time limit to answer.
    Hanging,
    /// Answering `200` with a body that does not parse.
    Invalid,
}

/// How a request was answered, as the server saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seen {
    /// `200` with the config.
    Ok,
    /// `304 Not Modified`.
    NotModified,
    /// `503`.
    Unavailable,
    /// `200` with the invalid body.
    Invalid,
    /// Not answered before the client gave up.
    Hung,
}

impl Seen {
    pub fn as_str(self) -> &'static str {
        match self {
            Seen::Ok => "200",
            Seen::NotModified => "304",
            Seen::Unavailable => "503",
            Seen::Invalid => "200 invalid",
            Seen::Hung => "hung",
        }
    }
}

/// Where the server's log stood at a moment of the timeline.
#[derive(Debug, Clone, Copy)]
pub enum Mark {
    /// The number of requests logged.
    Index(usize),
    /// The wall-clock time: nginx logs a request when it ends, so requests
    /// are placed by when they started.
    Time(SystemTime),
}

/// A server the timeline runs against.
pub trait Backend {
    /// A short name for the summary.
    fn name(&self) -> &'static str;

    /// Switches to `server`.
    fn apply(&mut self, server: Server) -> impl Future<Output = ()>;

    /// Where the server's log stands now.
    fn mark(&self) -> Mark;

    /// The requests the server got between two marks: the key and how it
    /// was answered. Complete only once the requests have ended.
    fn requests(&self, from: Mark, to: Mark) -> Vec<(String, Seen)>;

    /// When each request arrived, on the runtime's clock, where the server
    /// runs on it.
    fn arrivals(&self) -> Option<Vec<Instant>>;
}

/// The key of a request path `/config/<key>.json` (or nginx's
/// `/slow/<key>.json`).
fn key_of(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.strip_suffix(".json").unwrap_or(file).to_owned()
}

fn builder(base_url: String) -> steadfast::config::HttpSourceBuilder {
    HttpSource::builder(base_url)
        .path("/config/{name}.json")
        .timeout(HTTP_TIMEOUT)
}

/// How the hyper server is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Through in-process pipes: no socket, so the paused clock works.
    Pipe,
    /// Through its loopback TCP port.
    Loopback,
}

/// The hyper config server of `examples/support/config_server.rs`.
pub struct Hyper {
    server: ConfigServer,
    transport: Transport,
}

impl Hyper {
    /// A server serving version 1.
    pub async fn start(transport: Transport) -> Self {
        let server = ConfigServer::start(Mode::Healthy, Duration::ZERO).await;
        Self { server, transport }
    }

    /// The source over the in-process pipe.
    pub fn pipe_source(&self) -> HttpSource<Client<Pipe, RequestBody>> {
        let client = Client::builder(TokioExecutor::new()).build(Pipe::new(self.server.acceptor()));
        builder(self.server.base_url())
            .build_with(client)
            .expect("a valid source")
    }

    /// The source over the loopback TCP port.
    pub fn tcp_source(&self) -> HttpSource {
        builder(self.server.base_url())
            .build()
            .expect("a valid source")
    }
}

impl Backend for Hyper {
    fn name(&self) -> &'static str {
        match self.transport {
            Transport::Pipe => "hyper, in-process pipe, paused clock",
            Transport::Loopback => "hyper, loopback TCP, real clock",
        }
    }

    async fn apply(&mut self, server: Server) {
        let mode = match server {
            Server::Stopped => {
                self.server.stop().await;
                return;
            }
            Server::Serving(version) => {
                self.server.set_version(version);
                Mode::Healthy
            }
            Server::Unavailable => Mode::Unavailable,
            Server::Hanging => Mode::Hang,
            Server::Invalid => Mode::InvalidJson,
        };
        self.server.set_mode(mode);
        self.server.resume().await;
    }

    fn mark(&self) -> Mark {
        Mark::Index(self.server.log().len())
    }

    fn requests(&self, from: Mark, to: Mark) -> Vec<(String, Seen)> {
        let (Mark::Index(from), Mark::Index(to)) = (from, to) else {
            unreachable!("the hyper server marks its log by index")
        };
        self.server.log()[from..to]
            .iter()
            .map(|request| {
                let seen = match request.outcome {
                    Outcome::Ok | Outcome::Slow => Seen::Ok,
                    Outcome::NotModified => Seen::NotModified,
                    Outcome::Unavailable | Outcome::Error => Seen::Unavailable,
                    Outcome::Invalid => Seen::Invalid,
                    Outcome::Hang => Seen::Hung,
                };
                (key_of(&request.path), seen)
            })
            .collect()
    }

    fn arrivals(&self) -> Option<Vec<Instant>> {
        Some(self.server.log().iter().map(|request| request.at).collect())
    }
}

/// A private nginx (`tests/support/nginx.rs`): files it serves, a
/// maintenance flag (`503`), a slow flag (`limit_rate`), stop and start by
/// pid.
pub struct Nginxed {
    nginx: Arc<Mutex<Nginx>>,
    /// What the config files hold: rewritten only when it changes, since
    /// nginx's `ETag` changes with the file's modification time.
    body: String,
}

impl Nginxed {
    /// A running nginx serving version 1, or `None` (skipped loudly) when
    /// the machine has none.
    pub fn start(test: &str) -> Option<Self> {
        let nginx = Nginx::start(test)?;
        let body = config_body(1);
        for key in KEYS {
            nginx.put_config(&format!("{key}.json"), &body);
        }
        Some(Self {
            nginx: Arc::new(Mutex::new(nginx)),
            body,
        })
    }

    /// The source, over loopback TCP.
    pub fn source(&self) -> HttpSource {
        builder(self.nginx.lock().unwrap().base_url())
            .build()
            .expect("a valid source")
    }
}

impl Backend for Nginxed {
    fn name(&self) -> &'static str {
        "nginx, loopback TCP, real clock"
    }

    async fn apply(&mut self, server: Server) {
        let nginx = self.nginx.clone();
        let body = match server {
            Server::Serving(version) => Some(config_body(version)),
            Server::Invalid => Some(INVALID_BODY.to_owned()),
            _ => None,
        }
        .filter(|body| *body != self.body);
        if let Some(body) = &body {
            self.body.clone_from(body);
        }
        // Stopping and starting nginx waits for its process and its port:
        // off the runtime's thread.
        tokio::task::spawn_blocking(move || {
            let mut nginx = nginx.lock().unwrap();
            if let Some(body) = body {
                for key in KEYS {
                    nginx.put_config(&format!("{key}.json"), &body);
                }
            }
            nginx.set_maintenance(server == Server::Unavailable);
            nginx.set_slow(server == Server::Hanging);
            match server {
                Server::Stopped => nginx.stop(),
                _ => nginx.resume(),
            }
        })
        .await
        .expect("nginx switched");
    }

    fn mark(&self) -> Mark {
        Mark::Time(SystemTime::now())
    }

    fn requests(&self, from: Mark, to: Mark) -> Vec<(String, Seen)> {
        let (Mark::Time(from), Mark::Time(to)) = (from, to) else {
            unreachable!("nginx marks its log by time")
        };
        let mut requests: Vec<_> = self
            .nginx
            .lock()
            .unwrap()
            .log()
            .into_iter()
            .filter(|logged| from <= logged.started && logged.started < to)
            .collect();
        requests.sort_by_key(|logged| logged.started);
        requests
            .into_iter()
            .map(|logged| {
                let seen = match logged.status {
                    _ if logged.uri.starts_with("/slow/") => Seen::Hung,
                    304 => Seen::NotModified,
                    503 => Seen::Unavailable,
                    // Sent gzipped, its size before gzip is in the ETag.
                    _ if logged.file_len().unwrap_or(logged.bytes) == INVALID_BODY.len() as u64 => {
                        Seen::Invalid
                    }
                    _ => Seen::Ok,
                };
                (key_of(&logged.uri), seen)
            })
            .collect()
    }

    fn arrivals(&self) -> Option<Vec<Instant>> {
        None
    }
}
