//! Known and unknown accounts get one answer, in one time: login (a locked
//! account included), forgot and reset. One test, alone in its binary, so
//! that no other test weighs on one side of a comparison.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use codegenie::accounts::{self, LoginName};

mod accounts_support;
use accounts_support::*;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

/// Measure with `measure` (the times of a known and of an unknown
/// account) until the medians are within 20 % of each other, at most three
/// times: a busy moment of the machine may upset one measurement, a real
/// difference shows in every one.
async fn assert_same_time(what: &str, mut measure: impl AsyncFnMut() -> (Vec<Duration>, Vec<Duration>)) {
    let mut medians = Vec::new();
    for _ in 0..3 {
        let (known, unknown) = measure().await;
        let (k, u) = (median(known), median(unknown));
        let ratio = k.max(u).as_secs_f64() / k.min(u).as_secs_f64();
        eprintln!("{what}: median {k:?} for a known account, {u:?} for an unknown one (ratio {ratio:.2})");
        if ratio <= 1.2 {
            return;
        }
        medians.push((k, u));
    }
    panic!("{what}: the medians (known, unknown) differ by more than 20 % every time: {medians:?}");
}

/// How long `work` took.
async fn timed(work: impl Future<Output = ()>) -> Duration {
    let started = Instant::now();
    work.await;
    started.elapsed()
}

/// Times of `known` and `unknown`, run in turns (which goes first
/// alternates), so that whatever else the machine does weighs on both
/// alike; `settle` runs after each, untimed. A few turns first warm up
/// (threads of the blocking pool, the store's caches) and are not counted.
async fn in_turns<K, U, S>(
    turns: usize,
    mut known: impl FnMut(usize) -> K,
    mut unknown: impl FnMut(usize) -> U,
    mut settle: impl FnMut() -> S,
) -> (Vec<Duration>, Vec<Duration>)
where
    K: Future<Output = ()>,
    U: Future<Output = ()>,
    S: Future<Output = ()>,
{
    const WARM_UP: usize = 4;
    let (mut k, mut u) = (Vec::new(), Vec::new());
    for n in 0..WARM_UP + turns {
        for is_known in [n % 2 == 0, n % 2 == 1] {
            if is_known {
                k.push(timed(known(n)).await);
            } else {
                u.push(timed(unknown(n)).await);
            }
            settle().await;
        }
    }
    (k.split_off(WARM_UP), u.split_off(WARM_UP))
}

/// Login: a wrong password, a locked account, no account.
async fn login() {
    let dir = tempfile::tempdir().unwrap();
    let acc = service(dir.path(), None).await;
    let address = email("known");
    acc.signup(&address, "knownlogin", PW).await.unwrap();
    acc.logout().await.unwrap();
    let (known, unknown) = (LoginName::Email(address), LoginName::Email(email("unknown")));
    let answer = |r: accounts::service::Result<accounts::UserView>| r.unwrap_err().to_string();
    let wrong = answer(acc.login(&known, "wrong password").await);
    assert_eq!(wrong, answer(acc.login(&unknown, "wrong password").await));
    for _ in 0..4 {
        acc.login(&known, "wrong password").await.unwrap_err();
    }
    // Locked now: the right password, a wrong one and no account at all
    // get one answer, in one time.
    assert_eq!(answer(acc.login(&known, PW).await), wrong);
    assert_eq!(answer(acc.login(&known, "wrong password").await), wrong);
    assert_eq!(answer(acc.login(&unknown, PW).await), wrong);
    let password = |n: usize| if n % 4 < 2 { PW } else { "wrong password" };
    let (acc, known, unknown) = (&acc, &known, &unknown);
    assert_same_time("login", async || {
        in_turns(
            50,
            |n| async move { assert!(acc.login(known, password(n)).await.is_err()) },
            |n| async move { assert!(acc.login(unknown, password(n)).await.is_err()) },
            || async {},
        )
        .await
    })
    .await;
}

/// Forgot: a code made and mailed, or nothing to mail.
async fn forgot() {
    let dir = tempfile::tempdir().unwrap();
    let (now, c) = clock();
    let acc = service(dir.path(), None).await.with_clock(c);
    let (known, unknown) = (email("known"), email("unknown"));
    acc.signup(&known, "knownforgot", PW).await.unwrap();
    acc.logout().await.unwrap();
    assert_eq!(acc.forgot(&known).await.unwrap(), acc.forgot(&unknown).await.unwrap());
    acc.wait_for_mail().await;
    now.fetch_add(61_000, Ordering::SeqCst);
    assert_same_time("forgot", async || {
        in_turns(
            50,
            |_| async { _ = acc.forgot(&known).await.unwrap() },
            |_| async { _ = acc.forgot(&unknown).await.unwrap() },
            || {
                // Past the one-code-a-minute throttle: every request makes a code.
                now.fetch_add(61_000, Ordering::SeqCst);
                async {
                    // The mail leaves before the next request; the same short
                    // pause after every request, mail or not, leaves the
                    // machine in the same state for the next one.
                    acc.wait_for_mail().await;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            },
        )
        .await
    })
    .await;
}

/// Reset with a wrong code: a pending code, or none.
async fn reset() {
    let dir = tempfile::tempdir().unwrap();
    let acc = service(dir.path(), None).await;
    let (known, unknown) = (email("known"), email("unknown"));
    acc.signup(&known, "knownreset", PW).await.unwrap();
    acc.logout().await.unwrap();
    acc.forgot(&known).await.unwrap();
    acc.wait_for_mail().await;
    // A new password that is the account's email, a short one, a good one:
    // with a wrong code, every answer is the one for no account at all.
    for new_password in [known.as_str(), "short", NEW_PW] {
        let k = acc.reset(&known, "ZZZZZ-ZZZZZ", new_password).await.unwrap_err().to_string();
        let new_password = if new_password == known { unknown.as_str() } else { new_password };
        let u = acc.reset(&unknown, "ZZZZZ-ZZZZZ", new_password).await.unwrap_err().to_string();
        assert_eq!(k, u, "new password {new_password:?}");
    }
    assert_same_time("reset", async || {
        in_turns(
            50,
            |_| async { _ = acc.reset(&known, "ZZZZZ-ZZZZZ", NEW_PW).await.unwrap_err() },
            |_| async { _ = acc.reset(&unknown, "ZZZZZ-ZZZZZ", NEW_PW).await.unwrap_err() },
            || async {},
        )
        .await
    })
    .await;
}

// On one thread: a mail handed over runs when the test waits for it, not
// while the next request is timed.
#[tokio::test]
async fn known_and_unknown_accounts_get_one_answer_in_one_time() {
    login().await;
    forgot().await;
    reset().await;
}
