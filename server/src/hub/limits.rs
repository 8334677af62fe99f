//! Rate limits, counted in the store so that they hold across every hub on
//! one database: a fixed one-minute window per rule and subject (an
//! address, an account name, a user id), one atomic increment per request.
//! Subjects are hashed before they reach the store, so the counters hold
//! no email address.

use super::Hub;
use super::error::ApiError;
use crate::accounts::tokens::hash_token;
use crate::store::now_millis;

/// The window every limit counts in.
const WINDOW_MS: i64 = 60_000;

/// At most `per_minute` requests of `scope` for one subject (0: no limit).
pub(crate) struct Rule {
    key: String,
    per_minute: u32,
}

impl Rule {
    pub(crate) fn new(scope: &str, subject: &str, per_minute: u32) -> Self {
        let digest = hash_token(subject);
        Self { key: format!("{scope}:{}", &digest[..32]), per_minute }
    }
}

/// Count one request against each rule; the first rule over its limit
/// answers 429 with the seconds left in the window. When the store cannot
/// count, `fail_open` lets the request through (generation goes on while
/// the database is down) and otherwise the request fails as unavailable.
pub(crate) async fn check(hub: &Hub, rules: &[Rule], fail_open: bool) -> Result<(), ApiError> {
    let now = now_millis();
    for rule in rules.iter().filter(|r| r.per_minute > 0) {
        match hub.accounts.store().hit(&rule.key, WINDOW_MS, now).await {
            Ok(count) if count > rule.per_minute => {
                let left = WINDOW_MS - now.rem_euclid(WINDOW_MS);
                return Err(ApiError::rate_limited((left as u64).div_ceil(1000).max(1)));
            }
            Ok(_) => {}
            Err(e) if fail_open => tracing::warn!("rate limit not counted, request let through: {e}"),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
