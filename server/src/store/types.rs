//! The plain data both backends store and return.
//!
//! Times are milliseconds since the Unix epoch (UTC) in an `i64`, so both
//! backends agree to the millisecond and callers can pass "now" explicitly,
//! which keeps expiry decisions testable.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// The current time in [`Millis`].
pub fn now_millis() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new sortable identifier in the ULID text form: 26 Crockford base-32
/// characters, the first ten the creation time in milliseconds, the rest 80
/// random bits. Identifiers made later sort after earlier ones (to the
/// millisecond), whichever backend stores them.
pub fn new_id() -> String {
    new_id_at(now_millis())
}

/// Like [`new_id`], with the time part taken from `at`.
pub fn new_id_at(at: Millis) -> String {
    let time = u128::from(u64::try_from(at).unwrap_or(0) & 0xFFFF_FFFF_FFFF);
    let random: u128 = rand::rng().random::<u128>() & ((1u128 << 80) - 1);
    let value = (time << 80) | random;
    (0..26).rev().map(|i| char::from(CROCKFORD[((value >> (i * 5)) & 0x1F) as usize])).collect()
}

/// Lower-case form of an email address or username, used for uniqueness and
/// look-ups so `Ada@Example.com` and `ada@example.com` are the same account.
pub fn normalise(key: &str) -> String {
    key.trim().to_lowercase()
}

/// A user to be created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    pub email: String,
    pub username: String,
    /// An argon2id PHC string.
    pub password_hash: String,
    pub created_at: Millis,
}

/// A stored account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    /// Normalised (lower case).
    pub email: String,
    /// As the user typed it; uniqueness ignores case.
    pub username: String,
    pub password_hash: String,
    pub created_at: Millis,
    pub last_login_at: Option<Millis>,
    /// Consecutive failed logins since the last success or lock-out.
    pub failed_logins: u32,
    pub locked_until: Option<Millis>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("created_at", &self.created_at)
            .field("last_login_at", &self.last_login_at)
            .field("failed_logins", &self.failed_logins)
            .field("locked_until", &self.locked_until)
            .finish_non_exhaustive()
    }
}

/// A login session; only the hash of its token is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub token_hash: String,
    pub user_id: String,
    pub created_at: Millis,
    pub last_seen_at: Millis,
    pub expires_at: Millis,
}

/// A one-time password-reset code, stored as a hash. A user has at most one:
/// a new code replaces the previous one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetCode {
    pub user_id: String,
    pub code_hash: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub attempts: u32,
    pub consumed_at: Option<Millis>,
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("unknown {} {other:?}", stringify!($name))),
                }
            }
        }
    };
}

string_enum! {
    /// What a prompt entry asked for.
    PromptKind { Generate = "generate", Explain = "explain" }
}

string_enum! {
    /// How a prompt entry ended.
    PromptStatus { Ok = "ok", Failed = "failed", Cancelled = "cancelled" }
}

string_enum! {
    /// The kinds of history event.
    EventKind {
        Signup = "signup",
        Login = "login",
        Logout = "logout",
        PasswordResetRequested = "password_reset_requested",
        PasswordReset = "password_reset",
        PasswordChanged = "password_changed",
        Generate = "generate",
        Explain = "explain",
    }
}

impl From<PromptKind> for EventKind {
    fn from(kind: PromptKind) -> Self {
        match kind {
            PromptKind::Generate => EventKind::Generate,
            PromptKind::Explain => EventKind::Explain,
        }
    }
}

/// One generation or explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptEntry {
    pub id: String,
    pub user_id: String,
    pub kind: PromptKind,
    pub model: String,
    pub language: String,
    /// The comment prompt (generate) or the selection (explain).
    pub input: String,
    pub output: String,
    pub status: PromptStatus,
    pub latency_ms: u64,
    pub created_at: Millis,
}

/// One interaction in a user's history. Events of kind `generate` and
/// `explain` are written by [`Store::record_prompt`](super::Store::record_prompt)
/// with the same id as their prompt entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEvent {
    pub id: String,
    pub user_id: String,
    pub kind: EventKind,
    /// The prompt entry this event is about, if any.
    pub prompt_id: Option<String>,
    /// The model used, for events about a prompt entry.
    pub model: Option<String>,
    /// A short, secret-free note for a person ("from the CLI").
    pub detail: Option<String>,
    pub created_at: Millis,
}

impl HistoryEvent {
    /// A new event not about a prompt entry, with a fresh id.
    pub fn new(user_id: &str, kind: EventKind, at: Millis) -> Self {
        Self {
            id: new_id_at(at),
            user_id: user_id.to_owned(),
            kind,
            prompt_id: None,
            model: None,
            detail: None,
            created_at: at,
        }
    }

    /// The event that records `entry`.
    pub fn for_prompt(entry: &PromptEntry) -> Self {
        Self {
            id: entry.id.clone(),
            user_id: entry.user_id.clone(),
            kind: entry.kind.into(),
            prompt_id: Some(entry.id.clone()),
            model: Some(entry.model.clone()),
            detail: None,
            created_at: entry.created_at,
        }
    }
}

/// A history event with its prompt entry, if it has one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub event: HistoryEvent,
    pub prompt: Option<PromptEntry>,
}

/// What [`Store::list_history`](super::Store::list_history) returns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryQuery {
    /// At most this many entries (clamped to 1..=[`HistoryQuery::MAX_LIMIT`]).
    pub limit: u32,
    /// The `next` cursor of the previous page.
    pub before: Option<String>,
    pub kind: Option<EventKind>,
    pub model: Option<String>,
    /// Case-insensitive text to find in the prompt or the output; only
    /// events about a prompt entry match.
    pub search: Option<String>,
}

impl HistoryQuery {
    pub const DEFAULT_LIMIT: u32 = 20;
    pub const MAX_LIMIT: u32 = 500;

    /// The limit actually applied.
    pub fn effective_limit(&self) -> u32 {
        if self.limit == 0 { Self::DEFAULT_LIMIT } else { self.limit.min(Self::MAX_LIMIT) }
    }

    /// The search text, if it is not blank.
    pub fn search_text(&self) -> Option<&str> {
        self.search.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
}

/// One page of history, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub entries: Vec<HistoryItem>,
    /// Pass as [`HistoryQuery::before`] for the next page; `None` on the last.
    pub next: Option<String>,
}

/// Position in a newest-first listing: entries strictly older than this
/// `(created_at, id)` pair come next. Encoded as `"<created_at>.<id>"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: Millis,
    pub id: String,
}

impl Cursor {
    pub fn after(event: &HistoryEvent) -> Self {
        Self { created_at: event.created_at, id: event.id.clone() }
    }

    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at, self.id)
    }

    pub fn decode(text: &str) -> Result<Self, super::StoreError> {
        let bad = || super::StoreError::Invalid(format!("{text:?} is not a history cursor"));
        let (at, id) = text.split_once('.').ok_or_else(bad)?;
        let created_at = at.parse().map_err(|_| bad())?;
        if id.is_empty() {
            return Err(bad());
        }
        Ok(Self { created_at, id: id.to_owned() })
    }
}

/// How many prompt entries a user has for one model and kind.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Usage {
    pub model: String,
    pub kind: PromptKind,
    pub count: u64,
}

/// Whether a new reset code was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetCodeOutcome {
    Stored,
    /// The previous code is newer than the throttle allows.
    Throttled,
}

/// Trims the page to `limit` and computes its `next` cursor from `limit + 1`
/// fetched entries.
pub(crate) fn page(mut entries: Vec<HistoryItem>, limit: u32) -> HistoryPage {
    let limit = limit as usize;
    let next = if entries.len() > limit {
        entries.truncate(limit);
        entries.last().map(|item| Cursor::after(&item.event).encode())
    } else {
        None
    };
    HistoryPage { entries, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_are_unique() {
        let a = new_id_at(1_700_000_000_000);
        let b = new_id_at(1_700_000_000_001);
        assert_eq!(a.len(), 26);
        assert!(a < b, "{a} < {b}");
        assert_ne!(new_id_at(5), new_id_at(5));
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor { created_at: 42, id: "01ABC".into() };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("nope").is_err());
        assert!(Cursor::decode("12.").is_err());
    }

    #[test]
    fn enums_round_trip_through_text() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), *kind);
        }
        assert!("bogus".parse::<PromptStatus>().is_err());
    }
}
