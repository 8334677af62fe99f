//! One conformance suite for every store backend.
//!
//! Each test is written once against [`Store`] and run twice: against the
//! local (SQLite) store, always, and against MongoDB when
//! `CODEGENIE_TEST_MONGODB_URI` is set (every test gets a fresh, randomly
//! named database that it drops at the end). Without that variable the
//! MongoDB half says on stderr that it was skipped.

mod support;

use std::collections::HashSet;

use codegenie::store::*;
use support::*;

const MINUTE: Millis = 60_000;

// ---- users ----

async fn concurrent_signups_with_one_email_register_once(b: Backend) {
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = b.store.clone();
            tokio::spawn(async move {
                let email = if i % 2 == 0 { "Race@Example.com" } else { "race@example.COM" };
                store.create_user(new_user(email, &format!("racer{i}"))).await
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(user) => {
                created += 1;
                assert_eq!(user.email, "race@example.com");
            }
            Err(e) => {
                assert_eq!(e, StoreError::AlreadyRegistered { field: UniqueField::Email });
                assert_eq!(e.to_string(), "an account with this email is already registered");
            }
        }
    }
    assert_eq!(created, 1, "exactly one sign-up wins");

    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = b.store.clone();
            let name = if i % 2 == 0 { "SameName" } else { "samename" };
            tokio::spawn(async move { store.create_user(new_user(&format!("u{i}@example.com"), name)).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|r| r.is_ok()).count(), 1);
    for outcome in outcomes.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(*outcome, StoreError::AlreadyRegistered { field: UniqueField::Username });
    }
    b.finish().await;
}

async fn users_are_found_ignoring_case_and_track_logins(b: Backend) {
    let s = &b.store;
    let user = s.create_user(new_user("Ada@Example.com", "AdaL")).await.unwrap();
    assert_eq!(user.username, "AdaL");
    assert_eq!(s.user_by_email("ADA@example.com").await.unwrap().as_ref(), Some(&user));
    assert_eq!(s.user_by_username("adal").await.unwrap().as_ref(), Some(&user));
    assert_eq!(s.user_by_id(&user.id).await.unwrap().as_ref(), Some(&user));
    assert_eq!(s.user_by_email("nobody@example.com").await.unwrap(), None);

    assert_eq!(s.add_failed_login(&user.id).await.unwrap(), 1);
    assert_eq!(s.add_failed_login(&user.id).await.unwrap(), 2);
    s.lock_user(&user.id, 5_000).await.unwrap();
    let locked = s.user_by_id(&user.id).await.unwrap().unwrap();
    assert_eq!((locked.failed_logins, locked.locked_until), (0, Some(5_000)));
    assert_eq!(s.add_failed_login(&user.id).await.unwrap(), 1);
    s.record_login(&user.id, 9_000).await.unwrap();
    let back = s.user_by_id(&user.id).await.unwrap().unwrap();
    assert_eq!((back.failed_logins, back.locked_until, back.last_login_at), (0, None, Some(9_000)));

    // A new password starts afresh: no failures counted, no lock.
    s.add_failed_login(&user.id).await.unwrap();
    s.lock_user(&user.id, 20_000).await.unwrap();
    s.add_failed_login(&user.id).await.unwrap();
    s.set_password_hash(&user.id, "$argon2id$new").await.unwrap();
    let reset = s.user_by_id(&user.id).await.unwrap().unwrap();
    assert_eq!(reset.password_hash, "$argon2id$new");
    assert_eq!((reset.failed_logins, reset.locked_until), (0, None));
    assert_eq!(s.set_password_hash("missing", "x").await, Err(StoreError::NotFound));
    assert_eq!(s.add_failed_login("missing").await, Err(StoreError::NotFound));
    b.finish().await;
}

// ---- sessions and reset codes ----

async fn sessions_expire_on_read_and_revoke(b: Backend) {
    let s = &b.store;
    let user = s.create_user(new_user("s@example.com", "sess")).await.unwrap();
    // Real times: a server's TTL monitor may remove documents that expired
    // long ago, and this test wants to see expiry decided on read.
    let t0 = now_millis();
    for hash in ["t1", "t2", "t3"] {
        s.create_session(session(hash, &user.id, t0, t0 + 10 * MINUTE)).await.unwrap();
    }
    let found = s.session("t1", t0 + MINUTE).await.unwrap().unwrap();
    assert_eq!(found, session("t1", &user.id, t0, t0 + 10 * MINUTE));
    // Expiry is honoured on read, whatever a TTL monitor did or did not do.
    assert_eq!(s.session("t1", t0 + 10 * MINUTE).await.unwrap(), None);
    assert!(!s.touch_session("t1", t0 + 11 * MINUTE, t0 + 40 * MINUTE).await.unwrap());
    // Sliding expiry.
    assert!(s.touch_session("t2", t0 + 9 * MINUTE, t0 + 30 * MINUTE).await.unwrap());
    let slid = s.session("t2", t0 + 20 * MINUTE).await.unwrap().unwrap();
    assert_eq!((slid.last_seen_at, slid.expires_at), (t0 + 9 * MINUTE, t0 + 30 * MINUTE));

    assert!(s.revoke_session("t3").await.unwrap());
    assert!(!s.revoke_session("t3").await.unwrap());
    assert_eq!(s.session("t3", t0).await.unwrap(), None);

    for hash in ["k1", "k2", "k3"] {
        s.create_session(session(hash, &user.id, t0, t0 + MINUTE)).await.unwrap();
    }
    assert_eq!(s.revoke_sessions(&user.id, Some("k2")).await.unwrap(), 4, "t1, t2, k1, k3");
    assert!(s.session("k2", t0).await.unwrap().is_some());
    assert_eq!(s.revoke_sessions(&user.id, None).await.unwrap(), 1);
    assert_eq!(s.session("k2", t0).await.unwrap(), None);
    b.finish().await;
}

async fn reset_codes_throttle_expire_and_consume_once(b: Backend) {
    let s = &b.store;
    let user = s.create_user(new_user("r@example.com", "resetter")).await.unwrap();
    let code = |hash: &str, at: Millis| ResetCode {
        user_id: user.id.clone(),
        code_hash: hash.into(),
        created_at: at,
        expires_at: at + 15 * MINUTE,
        attempts: 0,
        consumed_at: None,
    };
    assert_eq!(s.reset_code(&user.id, 0).await.unwrap(), None);
    assert_eq!(s.add_reset_attempt(&user.id).await.unwrap(), 0);
    let start = now_millis();
    assert_eq!(s.put_reset_code(code("h1", start), start - MINUTE).await.unwrap(), ResetCodeOutcome::Stored);
    // A second code within a minute is refused; the first stays.
    let soon = start + 30_000;
    assert_eq!(s.put_reset_code(code("h2", soon), soon - MINUTE).await.unwrap(), ResetCodeOutcome::Throttled);
    assert_eq!(s.reset_code(&user.id, soon).await.unwrap().unwrap().code_hash, "h1");
    // After a minute a new code replaces it.
    let later = start + 2 * MINUTE;
    assert_eq!(s.put_reset_code(code("h3", later), later - MINUTE).await.unwrap(), ResetCodeOutcome::Stored);
    let current = s.reset_code(&user.id, later).await.unwrap().unwrap();
    assert_eq!((current.code_hash.as_str(), current.attempts), ("h3", 0));

    assert!(!s.consume_reset_code(&user.id, "h1", later, 5).await.unwrap(), "replaced code");
    assert_eq!(s.add_reset_attempt(&user.id).await.unwrap(), 1);
    assert_eq!(s.add_reset_attempt(&user.id).await.unwrap(), 2);
    assert!(!s.consume_reset_code(&user.id, "h3", later, 1).await.unwrap(), "too many attempts");
    assert!(s.consume_reset_code(&user.id, "h3", later, 5).await.unwrap());
    assert!(!s.consume_reset_code(&user.id, "h3", later, 5).await.unwrap(), "consumed once only");
    assert_eq!(s.reset_code(&user.id, later).await.unwrap().unwrap().consumed_at, Some(later));

    let fresh = later + 5 * MINUTE;
    s.put_reset_code(code("h4", fresh), fresh - MINUTE).await.unwrap();
    let expired = fresh + 15 * MINUTE;
    assert_eq!(s.reset_code(&user.id, expired).await.unwrap(), None, "expiry honoured on read");
    assert!(!s.consume_reset_code(&user.id, "h4", expired, 5).await.unwrap());
    b.finish().await;
}

// ---- history ----

async fn pagination_has_no_gaps_or_repeats_while_entries_arrive(b: Backend) {
    let s = &b.store;
    let user = s.create_user(new_user("p@example.com", "pager")).await.unwrap();
    // 45 entries; every three share a timestamp, so ties are broken by id.
    let mut expected = Vec::new();
    for i in 0..45 {
        let entry = prompt(&user.id, 1_000 + (i / 3) * 10, PromptKind::Generate, "phi-2", &format!("entry {i}"));
        expected.push(entry.id.clone());
        s.record_prompt(entry).await.unwrap();
    }
    expected.sort_by_key(|id| std::cmp::Reverse(id.clone()));

    let mut seen = Vec::new();
    let mut before = None;
    let mut arrivals = 0;
    loop {
        let query = HistoryQuery { limit: 7, before: before.clone(), ..HistoryQuery::default() };
        let page = s.list_history(&user.id, &query).await.unwrap();
        assert!(page.entries.len() <= 7);
        seen.extend(page.entries.iter().map(|item| item.event.id.clone()));
        // New entries keep arriving between pages.
        arrivals += 1;
        s.record_prompt(prompt(&user.id, 1_000_000 + arrivals, PromptKind::Explain, "gemma", "new")).await.unwrap();
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    let expected_order: Vec<_> = {
        // Newest first: by time, then by id, descending.
        let mut all = Vec::new();
        for item in s.list_history(&user.id, &HistoryQuery { limit: 500, ..Default::default() }).await.unwrap().entries
        {
            if item.event.kind == EventKind::Generate {
                all.push(item.event.id);
            }
        }
        all
    };
    assert_eq!(seen, expected_order);
    assert_eq!(seen.len(), 45);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 45, "no repeats");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), expected.into_iter().collect::<HashSet<_>>());

    assert!(matches!(
        s.list_history(&user.id, &HistoryQuery { before: Some("garbage".into()), ..Default::default() }).await,
        Err(StoreError::Invalid(_))
    ));
    b.finish().await;
}

async fn filters_and_search(b: Backend) {
    let s = &b.store;
    let user = s.create_user(new_user("f@example.com", "filter")).await.unwrap();
    let mut a = prompt(&user.id, 10, PromptKind::Generate, "phi-2", "Sort a LIST in Rust");
    a.output = "fn sort(v: &mut Vec<i32>) { v.sort() }".into();
    let mut bq = prompt(&user.id, 20, PromptKind::Explain, "gemma", "explain a.b()");
    bq.output = "Calls method b on a.".into();
    let c = prompt(&user.id, 30, PromptKind::Generate, "gemma", "parse json");
    for entry in [&a, &bq, &c] {
        s.record_prompt(entry.clone()).await.unwrap();
    }
    let mut login = HistoryEvent::new(&user.id, EventKind::Login, 40);
    login.detail = Some("from the CLI".into());
    s.record_event(login.clone()).await.unwrap();

    let ids = |page: HistoryPage| page.entries.into_iter().map(|i| i.event.id).collect::<Vec<_>>();
    let q = |f: fn(&mut HistoryQuery)| {
        let mut query = HistoryQuery::default();
        f(&mut query);
        query
    };
    let all = s.list_history(&user.id, &HistoryQuery::default()).await.unwrap();
    assert_eq!(ids(all.clone()), [login.id.as_str(), c.id.as_str(), bq.id.as_str(), a.id.as_str()]);
    assert_eq!(all.entries[0].prompt, None);
    assert_eq!(all.entries[0].event.detail.as_deref(), Some("from the CLI"));
    assert_eq!(all.entries[1].prompt.as_ref(), Some(&c));
    assert_eq!(all.entries[1].event.prompt_id.as_ref(), Some(&c.id));

    let by_kind = s.list_history(&user.id, &q(|q| q.kind = Some(EventKind::Generate))).await.unwrap();
    assert_eq!(ids(by_kind), [c.id.as_str(), a.id.as_str()]);
    let by_login = s.list_history(&user.id, &q(|q| q.kind = Some(EventKind::Login))).await.unwrap();
    assert_eq!(ids(by_login), [login.id.as_str()]);
    let by_model = s.list_history(&user.id, &q(|q| q.model = Some("gemma".into()))).await.unwrap();
    assert_eq!(ids(by_model), [c.id.as_str(), bq.id.as_str()]);
    let both =
        s.list_history(&user.id, &q(|q| (q.model, q.kind) = (Some("gemma".into()), Some(EventKind::Explain)))).await;
    assert_eq!(ids(both.unwrap()), [bq.id.as_str()]);

    // Search: case-insensitive, in the prompt or the output, taken literally.
    let search = |text: &'static str| {
        let s = s.clone();
        let user = user.id.clone();
        async move {
            let query = HistoryQuery { search: Some(text.into()), ..Default::default() };
            ids(s.list_history(&user, &query).await.unwrap())
        }
    };
    assert_eq!(search("list").await, [a.id.as_str()]);
    assert_eq!(search("MUT VEC").await, [a.id.as_str()]);
    assert_eq!(search("a.b(").await, [bq.id.as_str()]);
    assert_eq!(search("a.").await, [bq.id.as_str()]);
    assert_eq!(search("%").await, Vec::<String>::new());
    assert_eq!(search("zzz").await, Vec::<String>::new());
    assert_eq!(search("   ").await.len(), 4, "blank search is no filter");
    let search_and_kind = HistoryQuery {
        search: Some("s".into()),
        kind: Some(EventKind::Generate),
        model: Some("gemma".into()),
        ..Default::default()
    };
    assert_eq!(ids(s.list_history(&user.id, &search_and_kind).await.unwrap()), [c.id.as_str()]);
    let search_login = HistoryQuery { search: Some("cli".into()), kind: Some(EventKind::Login), ..Default::default() };
    assert!(s.list_history(&user.id, &search_login).await.unwrap().entries.is_empty());
    // Search pages like everything else.
    let first = s
        .list_history(&user.id, &HistoryQuery { search: Some("a".into()), limit: 1, ..Default::default() })
        .await
        .unwrap();
    let rest = s
        .list_history(
            &user.id,
            &HistoryQuery { search: Some("a".into()), before: first.next.clone(), limit: 5, ..Default::default() },
        )
        .await
        .unwrap();
    let mut paged = ids(first);
    paged.extend(ids(rest));
    assert_eq!(paged, [c.id.as_str(), bq.id.as_str(), a.id.as_str()]);

    let item = s.history_item(&user.id, &bq.id).await.unwrap();
    assert_eq!(item.prompt, Some(bq.clone()));
    b.finish().await;
}

async fn users_cannot_see_each_others_history(b: Backend) {
    let s = &b.store;
    let alice = s.create_user(new_user("alice@example.com", "alice")).await.unwrap();
    let bob = s.create_user(new_user("bob@example.com", "bob")).await.unwrap();
    let secret = prompt(&alice.id, 10, PromptKind::Generate, "phi-2", "alice's secret prompt");
    s.record_prompt(secret.clone()).await.unwrap();
    s.record_prompt(prompt(&bob.id, 20, PromptKind::Explain, "phi-2", "bob's prompt")).await.unwrap();

    let bobs = s.list_history(&bob.id, &HistoryQuery::default()).await.unwrap();
    assert_eq!(bobs.entries.len(), 1);
    assert!(bobs.entries.iter().all(|i| i.event.user_id == bob.id));
    let query = HistoryQuery { search: Some("secret".into()), ..Default::default() };
    assert!(s.list_history(&bob.id, &query).await.unwrap().entries.is_empty());
    assert_eq!(s.history_item(&bob.id, &secret.id).await, Err(StoreError::NotFound));
    assert_eq!(s.delete_history_item(&bob.id, &secret.id).await, Err(StoreError::NotFound));
    assert_eq!(s.clear_history(&bob.id).await.unwrap(), 1);
    assert_eq!(s.usage(&bob.id).await.unwrap(), []);

    let still = s.history_item(&alice.id, &secret.id).await.unwrap();
    assert_eq!(still.prompt, Some(secret));
    assert_eq!(s.usage(&alice.id).await.unwrap().len(), 1);
    b.finish().await;
}

async fn usage_counts_per_model_and_kind(b: Backend) {
    let s = &b.store;
    let user = s.create_user(new_user("u@example.com", "usage")).await.unwrap();
    let plan =
        [("phi-2", PromptKind::Generate, 3), ("phi-2", PromptKind::Explain, 1), ("gemma", PromptKind::Explain, 2)];
    let mut at = 0;
    for (model, kind, n) in plan {
        for _ in 0..n {
            at += 1;
            s.record_prompt(prompt(&user.id, at, kind, model, "x")).await.unwrap();
        }
    }
    s.record_event(HistoryEvent::new(&user.id, EventKind::Login, at + 1)).await.unwrap();
    let usage = s.usage(&user.id).await.unwrap();
    let expected = vec![
        Usage { model: "gemma".into(), kind: PromptKind::Explain, count: 2 },
        Usage { model: "phi-2".into(), kind: PromptKind::Generate, count: 3 },
        Usage { model: "phi-2".into(), kind: PromptKind::Explain, count: 1 },
    ];
    assert_eq!(usage, expected);
    b.finish().await;
}

async fn writes_are_idempotent_by_id(b: Backend) {
    let s = &b.store;
    let user = s.create_user(new_user("i@example.com", "idem")).await.unwrap();
    let entry = prompt(&user.id, 5, PromptKind::Generate, "phi-2", "once");
    let event = HistoryEvent::new(&user.id, EventKind::Logout, 6);
    for _ in 0..3 {
        s.record_prompt(entry.clone()).await.unwrap();
        s.record_event(event.clone()).await.unwrap();
    }
    let page = s.list_history(&user.id, &HistoryQuery::default()).await.unwrap();
    assert_eq!(page.entries.len(), 2);
    assert_eq!(s.usage(&user.id).await.unwrap()[0].count, 1);
    b.finish().await;
}

async fn deletes_cascade(b: Backend) {
    let s = &b.store;
    let gone = s.create_user(new_user("gone@example.com", "gone")).await.unwrap();
    let kept = s.create_user(new_user("kept@example.com", "kept")).await.unwrap();
    let t0 = now_millis();
    for user in [&gone, &kept] {
        s.create_session(session(&format!("tok-{}", user.id), &user.id, t0, t0 + MINUTE)).await.unwrap();
        let code = ResetCode {
            user_id: user.id.clone(),
            code_hash: "c".into(),
            created_at: t0,
            expires_at: t0 + MINUTE,
            attempts: 0,
            consumed_at: None,
        };
        s.put_reset_code(code, t0 - MINUTE).await.unwrap();
        for at in 1..=3 {
            s.record_prompt(prompt(&user.id, at, PromptKind::Generate, "phi-2", "p")).await.unwrap();
        }
        s.record_event(HistoryEvent::new(&user.id, EventKind::Signup, 0)).await.unwrap();
    }

    // One entry: the event and its prompt entry go.
    let first = s.list_history(&kept.id, &HistoryQuery::default()).await.unwrap().entries[0].clone();
    s.delete_history_item(&kept.id, &first.event.id).await.unwrap();
    assert_eq!(s.history_item(&kept.id, &first.event.id).await, Err(StoreError::NotFound));
    assert_eq!(s.usage(&kept.id).await.unwrap()[0].count, 2);
    assert_eq!(s.delete_history_item(&kept.id, &first.event.id).await, Err(StoreError::NotFound));

    // The whole user: sessions, reset code, prompts and history go.
    s.delete_user(&gone.id).await.unwrap();
    assert_eq!(s.user_by_id(&gone.id).await.unwrap(), None);
    assert_eq!(s.user_by_email("gone@example.com").await.unwrap(), None);
    assert_eq!(s.session(&format!("tok-{}", gone.id), t0).await.unwrap(), None);
    assert_eq!(s.reset_code(&gone.id, t0).await.unwrap(), None);
    assert!(s.list_history(&gone.id, &HistoryQuery::default()).await.unwrap().entries.is_empty());
    assert_eq!(s.usage(&gone.id).await.unwrap(), []);
    assert_eq!(s.delete_user(&gone.id).await, Err(StoreError::NotFound));
    // The email can be registered again.
    s.create_user(new_user("gone@example.com", "gone")).await.unwrap();

    // The other user is untouched; clearing their history leaves the account.
    assert!(s.session(&format!("tok-{}", kept.id), t0).await.unwrap().is_some());
    assert!(s.reset_code(&kept.id, t0).await.unwrap().is_some());
    assert_eq!(s.clear_history(&kept.id).await.unwrap(), 3);
    assert!(s.list_history(&kept.id, &HistoryQuery::default()).await.unwrap().entries.is_empty());
    assert_eq!(s.usage(&kept.id).await.unwrap(), []);
    assert!(s.user_by_id(&kept.id).await.unwrap().is_some());
    b.finish().await;
}

// ---- rate limits ----

async fn rate_counters_count_atomically_per_key_and_window(b: Backend) {
    let s = &b.store;
    let t0: Millis = 1_700_000_080_000; // 40 s into a minute
    // 40 hits at once on one key: each gets its own count.
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let store = s.clone();
            tokio::spawn(async move { store.hit("login:k1", MINUTE, t0).await.unwrap() })
        })
        .collect();
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.unwrap());
    }
    counts.sort();
    assert_eq!(counts, (1..=40).collect::<Vec<u32>>());
    // Another key counts apart; the next window starts again at 1.
    assert_eq!(s.hit("login:k2", MINUTE, t0).await.unwrap(), 1);
    assert_eq!(s.hit("login:k1", MINUTE, t0 + 19_999).await.unwrap(), 41);
    assert_eq!(s.hit("login:k1", MINUTE, t0 + 20_000).await.unwrap(), 1);
    assert_eq!(s.hit("login:k1", MINUTE, t0 + 20_001).await.unwrap(), 2);
    b.finish().await;
}

conformance! {
    rate_counters_count_atomically_per_key_and_window,
    concurrent_signups_with_one_email_register_once,
    users_are_found_ignoring_case_and_track_logins,
    sessions_expire_on_read_and_revoke,
    reset_codes_throttle_expire_and_consume_once,
    pagination_has_no_gaps_or_repeats_while_entries_arrive,
    filters_and_search,
    users_cannot_see_each_others_history,
    usage_counts_per_model_and_kind,
    writes_are_idempotent_by_id,
    deletes_cascade,
}
