//! Store latency: recording a prompt entry, and "the 50 newest entries of
//! one model and kind", for a user with 10k and 100k history entries.
//!
//! Runs the local store always and MongoDB when `CODEGENIE_TEST_MONGODB_URI`
//! is set (a fresh database, dropped afterwards).
//!
//!     cargo bench --bench store
//!     CODEGENIE_TEST_MONGODB_URI=mongodb://127.0.0.1:27017 cargo bench --bench store

use std::time::Duration;

use codegenie::config::{Secret, Settings};
use codegenie::store::{
    self, EventKind, HistoryQuery, NewUser, PromptEntry, PromptKind, PromptStatus, Store, new_id_at,
};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const SIZES: [usize; 2] = [10_000, 100_000];
const MODELS: [&str; 5] = ["deepseek-coder", "phi-2", "gemma", "stable-code", "replit-code"];

fn entry(user_id: &str, i: usize) -> PromptEntry {
    let at = 1_700_000_000_000 + i64::try_from(i).unwrap();
    PromptEntry {
        id: new_id_at(at),
        user_id: user_id.to_owned(),
        kind: if i.is_multiple_of(3) { PromptKind::Explain } else { PromptKind::Generate },
        model: MODELS[i % MODELS.len()].to_owned(),
        language: "rust".to_owned(),
        input: format!("write a function number {i} that parses the config file"),
        output: format!("fn f{i}() -> Config {{ Config::load(\"app.toml\") }}"),
        status: PromptStatus::Ok,
        latency_ms: 250,
        created_at: at,
    }
}

/// Brings the user's history to `size` entries, 16 writes at a time.
async fn fill(store: &Store, user_id: &str, from: usize, size: usize) {
    let mut next = from;
    while next < size {
        let end = (next + 16).min(size);
        let writes = (next..end).map(|i| store.record_prompt(entry(user_id, i)));
        for result in futures_util::future::join_all(writes).await {
            result.expect("fill");
        }
        next = end;
    }
}

fn bench_backend(c: &mut Criterion, name: &str, settings: Settings) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let store = rt.block_on(store::open(&settings)).expect("store");
    let user = rt
        .block_on(store.create_user(NewUser {
            email: "bench@example.com".into(),
            username: "bench".into(),
            password_hash: "x".into(),
            created_at: 0,
        }))
        .expect("user");
    let query = HistoryQuery {
        limit: 50,
        kind: Some(EventKind::Generate),
        model: Some("phi-2".into()),
        ..HistoryQuery::default()
    };
    let mut filled = 0;
    let mut next_id = 10_000_000;
    for size in SIZES {
        rt.block_on(fill(&store, &user.id, filled, size));
        filled = size;
        let mut group = c.benchmark_group(format!("store/{name}/{}k", size / 1000));
        group.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
        group.bench_function("record_prompt", |b| {
            b.iter_batched(
                || {
                    next_id += 1;
                    entry(&user.id, next_id)
                },
                |e| rt.block_on(store.record_prompt(e)).unwrap(),
                BatchSize::SmallInput,
            )
        });
        group.bench_function("newest_50_filtered", |b| {
            b.iter(|| {
                let page = rt.block_on(store.list_history(&user.id, &query)).unwrap();
                assert_eq!(page.entries.len(), 50);
            })
        });
        group.finish();
    }
}

fn store_benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let local = Settings { data_dir: Some(dir.path().join("local")), ..Settings::default() };
    bench_backend(c, "local", local);

    match std::env::var("CODEGENIE_TEST_MONGODB_URI") {
        Ok(uri) if !uri.trim().is_empty() => {
            let db = format!("codegenie_bench_{}", new_id_at(0).to_lowercase());
            let mut mongo = Settings { data_dir: Some(dir.path().join("mongo")), ..Settings::default() };
            mongo.mongodb.uri = Some(Secret::new(uri.clone()));
            mongo.mongodb.db = db.clone();
            bench_backend(c, "mongodb", mongo);
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
                client.database(&db).drop().await.unwrap();
            });
        }
        _ => eprintln!("SKIPPED: MongoDB store benchmarks (CODEGENIE_TEST_MONGODB_URI is unset)"),
    }
}

criterion_group!(benches, store_benches);
criterion_main!(benches);
