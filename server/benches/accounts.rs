//! Login latency, split into argon2 verification and everything else
//! (store look-ups, counters, session creation, the saved login), on the
//! local store with the default (OWASP) argon2 parameters.
//!
//!     cargo bench -p codegenie --bench accounts

use codegenie::accounts::password::Hasher;
use codegenie::accounts::{self, LoginName};
use codegenie::config::{Argon2Settings, Settings};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings { data_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let acc = rt.block_on(accounts::open(&settings)).unwrap();
    rt.block_on(acc.signup("bench@example.com", "bench", "correct horse 1")).unwrap();
    let hasher = Hasher::new(Argon2Settings::default()).unwrap();
    let phc = hasher.hash_blocking("correct horse 1").unwrap();

    let mut group = c.benchmark_group("login");
    group.sample_size(30);
    group.bench_function("argon2id verify (19 MiB, t=2, p=1)", |b| {
        b.iter(|| assert!(hasher.verify_blocking("correct horse 1", &phc).ok))
    });
    group.bench_function("whole login (local store)", |b| {
        b.iter(|| rt.block_on(acc.login(&LoginName::Email("bench@example.com".into()), "correct horse 1")).unwrap())
    });
    group.bench_function("unknown account (dummy verify)", |b| {
        b.iter(|| {
            rt.block_on(acc.login(&LoginName::Email("nobody@example.com".into()), "correct horse 1")).unwrap_err()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
