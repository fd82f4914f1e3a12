//! The private nginx of the outage and interop suites: its phases answer as
//! documented (ETag and 304, maintenance 503 with Retry-After, a slow body,
//! redirects, stop and start on the same port).

#[path = "support/nginx.rs"]
mod nginx;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nginx::{Nginx, SLOW_RATE};

/// One HTTP/1.0 request; the whole answer as text.
fn get(nginx: &Nginx, path: &str, headers: &[(&str, &str)]) -> String {
    let mut stream = TcpStream::connect(nginx.addr()).expect("nginx answers");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

fn status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap()
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer.split("\r\n\r\n").next()?.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn phases_answer_as_documented() {
    let Some(mut nginx) = Nginx::start("phases") else {
        return;
    };
    nginx.put_config("app.json", r#"{"version":1}"#);

    let ok = get(&nginx, "/config/app.json", &[]);
    assert_eq!(status(&ok), 200, "{ok}");
    assert_eq!(header(&ok, "content-type"), Some("application/json"));
    assert!(ok.ends_with(r#"{"version":1}"#), "{ok}");
    let etag = header(&ok, "etag").expect("nginx sends an ETag").to_owned();

    let same = get(&nginx, "/config/app.json", &[("If-None-Match", &etag)]);
    assert_eq!(status(&same), 304, "{same}");

    let gzipped = get(&nginx, "/config/app.json", &[("Accept-Encoding", "gzip")]);
    assert_eq!(header(&gzipped, "content-encoding"), Some("gzip"));

    assert_eq!(status(&get(&nginx, "/config/missing.json", &[])), 404);

    nginx.set_maintenance(true);
    let down = get(&nginx, "/config/app.json", &[]);
    assert_eq!(status(&down), 503, "{down}");
    assert_eq!(header(&down, "retry-after"), Some("1"));
    nginx.set_maintenance(false);
    assert_eq!(status(&get(&nginx, "/config/app.json", &[])), 200);

    let moved = get(&nginx, "/moved/app.json", &[]);
    assert_eq!(status(&moved), 301);
    assert!(
        header(&moved, "location").is_some_and(|l| l.ends_with("/config/app.json")),
        "{moved}"
    );
    let elsewhere = get(&nginx, "/elsewhere/app.json", &[]);
    assert!(
        header(&elsewhere, "location").is_some_and(|l| l.starts_with("http://localhost:")),
        "{elsewhere}"
    );

    // A body of 3 × SLOW_RATE bytes takes seconds in the slow phase.
    nginx.put_config(
        "big.json",
        &format!("\"{}\"", "x".repeat(3 * SLOW_RATE as usize - 2)),
    );
    nginx.set_slow(true);
    let started = Instant::now();
    let slow = get(&nginx, "/config/big.json", &[]);
    assert_eq!(status(&slow), 200);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // A conditional request naming the current version is slow too: no
    // quick 304 in the slow phase.
    let started = Instant::now();
    let slow = get(&nginx, "/config/app.json", &[("If-None-Match", &etag)]);
    assert_eq!(status(&slow), 200, "{slow}");
    assert_eq!(header(&slow, "etag"), None);
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    nginx.set_slow(false);

    nginx.stop();
    assert!(TcpStream::connect(nginx.addr()).is_err());
    nginx.resume();
    assert_eq!(status(&get(&nginx, "/config/app.json", &[])), 200);

    // Every request above but the refused connection: 11.
    let timed = nginx.log_of(11);
    let log: Vec<(String, u16)> = timed
        .iter()
        .map(|logged| (logged.uri.clone(), logged.status))
        .collect();
    assert_eq!(log.len(), 11, "{log:?}");
    assert_eq!(log.first(), Some(&("/config/app.json".to_owned(), 200)));
    assert!(log.contains(&("/config/app.json".to_owned(), 304)));
    assert!(log.contains(&("/config/app.json".to_owned(), 503)));
    assert!(log.contains(&("/slow/app.json".to_owned(), 200)));
    // Each request started before it was read.
    assert!(
        timed
            .iter()
            .all(|logged| logged.started <= std::time::SystemTime::now())
    );
}
