//! Sessions this process has validated, kept in memory so that work for a
//! logged-in user (generate, explain) does not read the database on every
//! request, and goes on while the database is unreachable.
//!
//! An entry holds the user and the session's expiry, keyed by the token's
//! hash. [`Accounts::session_user`](super::Accounts::session_user) trusts an
//! entry younger than [`RECHECK`]; an older one is still trusted (until the
//! session expires) while a background task checks it against the store,
//! which replaces it, or removes it when the session is gone. Logout, reset,
//! a password change and account deletion remove entries at once.
//!
//! "At once" holds in this process only: the cache is not shared. Another
//! process that revokes a session (a `codegenie logout` or `reset` from
//! the command line, another editor, another machine on the same MongoDB)
//! reaches this one through the saved login (same data directory: a
//! cleared or replaced login file is seen on the next request) or else
//! through the background check, so such a session may serve requests for
//! up to [`RECHECK`] more, and for as long as the database stays
//! unreachable.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::{Millis, User};

/// How old a cached entry may be before it is checked again.
pub const RECHECK: Millis = 60_000;

struct Entry {
    user: User,
    expires_at: Millis,
    checked_at: Millis,
    /// Whether a background check is under way.
    checking: bool,
}

/// What the cache knows of a session.
pub(crate) enum Cached {
    /// Checked less than [`RECHECK`] ago.
    Fresh(User),
    /// Older: usable, and a check should start (`true` for the one caller
    /// that should start it).
    Stale(User, bool),
}

#[derive(Default)]
pub(crate) struct SessionCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Counts removals, so a check that started before one does not put
    /// back what was removed meanwhile.
    epoch: u64,
}

impl SessionCache {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached session with this token hash, unless absent or expired
    /// at `now`.
    pub(crate) fn get(&self, token_hash: &str, now: Millis) -> Option<Cached> {
        let mut inner = self.inner();
        let entry = inner.entries.get_mut(token_hash)?;
        if entry.expires_at <= now {
            inner.entries.remove(token_hash);
            return None;
        }
        if now - entry.checked_at < RECHECK {
            return Some(Cached::Fresh(entry.user.clone()));
        }
        let start = !entry.checking;
        entry.checking = true;
        Some(Cached::Stale(entry.user.clone(), start))
    }

    /// The cached user of a session, as is (no check is started).
    pub(crate) fn peek(&self, token_hash: &str) -> Option<User> {
        self.inner().entries.get(token_hash).map(|e| e.user.clone())
    }

    /// A token to pass to [`Self::put`] from a check starting now.
    pub(crate) fn epoch(&self) -> u64 {
        self.inner().epoch
    }

    /// Caches a session checked at `now`, unless something was removed
    /// since `epoch`.
    pub(crate) fn put(&self, token_hash: &str, user: &User, expires_at: Millis, now: Millis, epoch: u64) {
        let mut inner = self.inner();
        if inner.epoch != epoch {
            if let Some(entry) = inner.entries.get_mut(token_hash) {
                entry.checking = false;
            }
            return;
        }
        let entry = Entry { user: user.clone(), expires_at, checked_at: now, checking: false };
        inner.entries.insert(token_hash.to_owned(), entry);
    }

    /// A background check could not reach the store: the entry stays, and
    /// the next request starts another check.
    pub(crate) fn check_failed(&self, token_hash: &str) {
        if let Some(entry) = self.inner().entries.get_mut(token_hash) {
            entry.checking = false;
        }
    }

    pub(crate) fn remove(&self, token_hash: &str) {
        let mut inner = self.inner();
        inner.epoch += 1;
        inner.entries.remove(token_hash);
    }

    /// Removes every session of the user but `keep` (a token hash).
    pub(crate) fn remove_user(&self, user_id: &str, keep: Option<&str>) {
        let mut inner = self.inner();
        inner.epoch += 1;
        inner.entries.retain(|hash, entry| entry.user.id != user_id || Some(hash.as_str()) == keep);
    }
}
