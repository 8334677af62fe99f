//! Code-action latency on a 5,000-line and a 100,000-line file (at one
//! version, and right after a keystroke), and applying 1,000 incremental
//! edits.
//!
//!     cargo bench -p codegenie --bench lsp

use std::str::FromStr;

use codegenie::config::Settings;
use codegenie::documents::{Change, Documents, Encoding, Pos};
use codegenie::lsp::code_action;
use codegenie::models::Registry;
use criterion::{Criterion, criterion_group, criterion_main};
use tower_lsp_server::ls_types::{Position, Range, Uri};

/// A 5,000-line Python file: functions with strings, comments and code.
fn big_file() -> String {
    let mut s = String::new();
    for i in 0..1000 {
        s.push_str(&format!("def f{i}(x):\n    # step {i}: scale the input\n    y = \"#{i}\" * x\n    return y\n\n"));
    }
    s
}

fn bench(c: &mut Criterion) {
    let text = big_file();
    assert_eq!(text.lines().count(), 5000);
    let docs = Documents::new();
    docs.open("file:///big.py", "python", 1, &text);
    let (registry, _) = Registry::from_settings(&Settings::default());
    let uri = Uri::from_str("file:///big.py").unwrap();
    let at = |line: u32| Range::new(Position::new(line, 8), Position::new(line, 8));

    let mut group = c.benchmark_group("codeAction (5,000 lines)");
    for (name, line) in [("comment near the top", 6), ("comment near the end", 4996), ("plain code near the end", 4997)]
    {
        group.bench_function(name, |b| {
            b.iter(|| {
                let doc = docs.snapshot("file:///big.py").unwrap();
                code_action::actions(&uri, &doc, at(line), Encoding::Utf16, &registry, None)
            })
        });
    }
    group.bench_function("selection to explain", |b| {
        let r = Range::new(Position::new(4990, 0), Position::new(4994, 0));
        b.iter(|| {
            let doc = docs.snapshot("file:///big.py").unwrap();
            code_action::actions(&uri, &doc, r, Encoding::Utf16, &registry, None)
        })
    });
    group.finish();

    // The last line of a 100,000-line file: at one version (the lexer's
    // checkpoints are there after the first action), and after a keystroke
    // on the prompt line itself (the checkpoints above it stay).
    let mut huge = "x = 1\n".repeat(100_000);
    huge.push_str("# reverse a string\n");
    docs.open("file:///huge.py", "python", 1, &huge);
    let huge_uri = Uri::from_str("file:///huge.py").unwrap();
    let last = Range::new(Position::new(100_000, 10), Position::new(100_000, 10));
    let mut group = c.benchmark_group("codeAction (100,000 lines)");
    group.bench_function("comment on the last line", |b| {
        b.iter(|| {
            let doc = docs.snapshot("file:///huge.py").unwrap();
            code_action::actions(&huge_uri, &doc, last, Encoding::Utf16, &registry, None)
        })
    });
    let mut version = 1;
    group.bench_function("comment on the last line, after a keystroke there", |b| {
        b.iter(|| {
            version += 1;
            let p = Pos::new(100_000, 18);
            let typed = Change { range: Some((p, p)), text: "s".to_owned() };
            docs.change("file:///huge.py", version, &[typed], Encoding::Utf16).unwrap();
            let doc = docs.snapshot("file:///huge.py").unwrap();
            code_action::actions(&huge_uri, &doc, last, Encoding::Utf16, &registry, None)
        })
    });
    group.finish();

    c.bench_function("1,000 incremental edits (5,000 lines)", |b| {
        b.iter(|| {
            let docs = Documents::new();
            docs.open("u", "python", 0, &text);
            for i in 0..1000u32 {
                let p = Pos::new((i * 5) % 5000, 4);
                let change = Change { range: Some((p, p)), text: "x".to_owned() };
                docs.change("u", i as i32 + 1, &[change], Encoding::Utf16).unwrap();
            }
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
