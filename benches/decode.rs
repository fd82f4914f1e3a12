//! Decoding YAML: a body nested deep enough to make the parser quadratic
//! (refused by steadfast's one-pass depth check before the parser runs),
//! and an ordinary configuration (the check's cost on the common path),
//! each against serde_yaml_ng on the same bytes.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use steadfast_config::{ConfigResponse, Format};

/// `{a: ` nested `depth` times, then closed.
fn nested(depth: usize) -> String {
    format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth))
}

/// An ordinary configuration of about 16 KB: services with URLs, limits,
/// flow lists, quoted strings and a block scalar each.
fn ordinary() -> String {
    let mut body = String::from("# generated\nversion: 3\nservices:\n");
    for i in 0..120 {
        body.push_str(&format!(
            "  - name: \"service-{i}\"\n    url: https://svc{i}.example.com/api\n    \
             tags: [a, b, \"c-{i}\", {{k: v}}]\n    limits: {{rps: {i}, burst: 20}}\n    \
             note: |\n      free text [with brackets\n"
        ));
    }
    body
}

fn deep_yaml(c: &mut Criterion) {
    let body = nested(5_000);
    let response = ConfigResponse::new(body.clone(), Format::Yaml);
    let mut group = c.benchmark_group("deep_yaml_20kb");
    group.sample_size(10);
    group.bench_function("serde_yaml_ng", |b| {
        b.iter(|| {
            black_box(serde_yaml_ng::from_str::<serde_json::Value>(black_box(
                &body,
            )))
            .ok()
        })
    });
    group.bench_function("steadfast", |b| {
        b.iter(|| black_box(response.decode::<serde_json::Value>()).ok())
    });
    group.finish();
}

fn ordinary_yaml(c: &mut Criterion) {
    let body = ordinary();
    let response = ConfigResponse::new(body.clone(), Format::Yaml);
    let mut group = c.benchmark_group("ordinary_yaml_16kb");
    group.bench_function("serde_yaml_ng", |b| {
        b.iter(|| {
            black_box(serde_yaml_ng::from_str::<serde_json::Value>(black_box(
                &body,
            )))
            .unwrap()
        })
    });
    group.bench_function("steadfast", |b| {
        b.iter(|| black_box(response.decode::<serde_json::Value>()).unwrap())
    });
    group.finish();
}

criterion_group!(benches, deep_yaml, ordinary_yaml);
criterion_main!(benches);
