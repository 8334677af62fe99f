//! Passwords: the policy, and argon2id hashing in PHC strings.
//!
//! Hashing and verifying cost tens of milliseconds of CPU by design, so they
//! run on the blocking pool, never on the async workers. A stored hash made
//! with other parameters than the configured ones verifies as usual and is
//! flagged for re-hashing.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::Argon2Settings;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 128;

/// Why a password is refused. Messages never contain the password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("the password is too short: use at least {MIN_LEN} characters")]
    TooShort,
    #[error("the password is too long: use at most {MAX_LEN} characters")]
    TooLong,
    #[error("the password must not be your email address or username")]
    SameAsIdentity,
}

/// Check a new password. Length counts characters, and is checked before
/// any hashing so an over-long password costs nothing.
pub fn check_policy(password: &str, email: &str, username: &str) -> Result<(), PolicyError> {
    check_length(password)?;
    let p = password.trim().to_lowercase();
    if p == email.trim().to_lowercase() || p == username.trim().to_lowercase() {
        return Err(PolicyError::SameAsIdentity);
    }
    Ok(())
}

/// The part of the policy that needs no account: the length.
pub fn check_length(password: &str) -> Result<(), PolicyError> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(PolicyError::TooShort);
    }
    if len > MAX_LEN {
        return Err(PolicyError::TooLong);
    }
    Ok(())
}

/// The outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The hash was made with other parameters: store a new one.
    pub needs_rehash: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("the password hashing parameters are invalid ({0}); check [accounts.argon2] in the config file")]
    Params(String),
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// argon2id with configured parameters.
#[derive(Clone, Debug)]
pub struct Hasher {
    params: Params,
    /// A hash of a random password, verified against for unknown accounts so
    /// that they take as long as known ones.
    dummy: Arc<OnceLock<String>>,
}

impl Hasher {
    pub fn new(settings: Argon2Settings) -> Result<Self, HashError> {
        let params = Params::new(settings.memory_kib, settings.iterations, settings.parallelism, None)
            .map_err(|e| HashError::Params(e.to_string()))?;
        Ok(Self { params, dummy: Arc::new(OnceLock::new()) })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hash now, on this thread (for use inside `spawn_blocking`).
    pub fn hash_blocking(&self, password: &str) -> Result<String, HashError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| HashError::Hash(e.to_string()))?;
        let salt = SaltString::encode_b64(&bytes).map_err(|e| HashError::Hash(e.to_string()))?;
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError::Hash(e.to_string()))
    }

    /// Verify now, on this thread. An unreadable stored hash never matches.
    pub fn verify_blocking(&self, password: &str, phc: &str) -> Verified {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return Verified { ok: false, needs_rehash: false };
        };
        let ok = self.argon2().verify_password(password.as_bytes(), &parsed).is_ok();
        let current = parsed.algorithm.as_str() == "argon2id"
            && parsed.version == Some(Version::V0x13.into())
            && Params::try_from(&parsed).is_ok_and(|p| {
                p.m_cost() == self.params.m_cost()
                    && p.t_cost() == self.params.t_cost()
                    && p.p_cost() == self.params.p_cost()
            });
        Verified { ok, needs_rehash: ok && !current }
    }

    /// Hash on the blocking pool.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let me = self.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || me.hash_blocking(&password))
            .await
            .map_err(|e| HashError::Hash(e.to_string()))?
    }

    /// Verify on the blocking pool; `None` for the stored hash means an
    /// unknown account, verified against the dummy hash all the same.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> Verified {
        let me = self.clone();
        let password = password.to_owned();
        let phc = phc.map(str::to_owned);
        tokio::task::spawn_blocking(move || match phc {
            Some(phc) => me.verify_blocking(&password, &phc),
            None => {
                let dummy = me.dummy.get_or_init(|| me.hash_blocking("dummy password for timing").unwrap_or_default());
                me.verify_blocking(&password, dummy);
                Verified { ok: false, needs_rehash: false }
            }
        })
        .await
        .unwrap_or(Verified { ok: false, needs_rehash: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Hasher {
        Hasher::new(Argon2Settings { memory_kib: 1024, iterations: 1, parallelism: 1 }).unwrap()
    }

    #[test]
    fn policy() {
        assert_eq!(check_policy("short", "a@b.c", "ada"), Err(PolicyError::TooShort));
        assert_eq!(check_policy(&"x".repeat(129), "a@b.c", "ada"), Err(PolicyError::TooLong));
        assert_eq!(check_policy(&"é".repeat(128), "a@b.c", "ada"), Ok(()));
        assert_eq!(check_policy("Ada@Example.com", "ada@example.com", "ada"), Err(PolicyError::SameAsIdentity));
        assert_eq!(check_policy("lovelace", "a@b.c", "Lovelace"), Err(PolicyError::SameAsIdentity));
        assert_eq!(check_policy("correct horse", "a@b.c", "ada"), Ok(()));
        assert!(!PolicyError::TooShort.to_string().contains("short1"));
    }

    #[test]
    fn hashes_are_argon2id_phc_with_the_configured_parameters() {
        let h = Hasher::new(Argon2Settings::default()).unwrap();
        let phc = h.hash_blocking("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert_eq!(h.verify_blocking("correct horse battery", &phc), Verified { ok: true, needs_rehash: false });
        assert_eq!(h.verify_blocking("wrong horse battery", &phc), Verified { ok: false, needs_rehash: false });
    }

    #[test]
    fn old_parameters_ask_for_a_rehash() {
        let old = cheap().hash_blocking("pa55word!").unwrap();
        let current = Hasher::new(Argon2Settings::default()).unwrap();
        assert_eq!(current.verify_blocking("pa55word!", &old), Verified { ok: true, needs_rehash: true });
        assert_eq!(current.verify_blocking("nope nope", &old), Verified { ok: false, needs_rehash: false });
        assert_eq!(current.verify_blocking("pa55word!", "not a hash"), Verified { ok: false, needs_rehash: false });
    }

    #[tokio::test]
    async fn unknown_accounts_verify_against_a_dummy() {
        let h = cheap();
        assert_eq!(h.verify("anything", None).await, Verified { ok: false, needs_rehash: false });
        assert!(h.dummy.get().is_some());
        let phc = h.hash("pa55word!").await.unwrap();
        assert!(h.verify("pa55word!", Some(&phc)).await.ok);
    }

    #[test]
    fn bad_parameters_are_reported() {
        let err = Hasher::new(Argon2Settings { memory_kib: 1, iterations: 0, parallelism: 1 }).unwrap_err();
        assert!(err.to_string().contains("[accounts.argon2]"), "{err}");
    }
}
