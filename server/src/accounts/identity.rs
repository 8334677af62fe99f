//! Email addresses and usernames: validation and the normal forms the
//! store keys on.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("`{0}` is not a valid email address")]
    BadEmail(String),
    #[error("usernames are 3 to 32 letters, digits, `-` or `_`")]
    BadUsername,
}

/// Validate an email address and return its normal form (trimmed, lower case).
pub fn normalise_email(email: &str) -> Result<String, IdentityError> {
    let e = email.trim().to_lowercase();
    let bad = || IdentityError::BadEmail(email.trim().chars().take(80).collect());
    if e.len() > 254 || e.parse::<lettre::Address>().is_err() {
        return Err(bad());
    }
    let (local, domain) = e.rsplit_once('@').ok_or_else(bad)?;
    // A deliverable address: a dotted domain without empty labels.
    if local.is_empty() || local.len() > 64 || !domain.contains('.') || domain.split('.').any(str::is_empty) {
        return Err(bad());
    }
    Ok(e)
}

/// Validate a username; returns it as typed (for display) and its key
/// (lower case, for uniqueness).
pub fn check_username(username: &str) -> Result<(String, String), IdentityError> {
    let u = username.trim();
    let len = u.chars().count();
    if !(3..=32).contains(&len) || !u.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(IdentityError::BadUsername);
    }
    Ok((u.to_owned(), u.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(normalise_email("  Ada.Lovelace@Example.COM ").unwrap(), "ada.lovelace@example.com");
        assert_eq!(normalise_email("a+tag@mail.example.org").unwrap(), "a+tag@mail.example.org");
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@@example.com",
            "a b@example.com",
            "ada@example..com",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames() {
        assert_eq!(check_username(" Ada_L-1 ").unwrap(), ("Ada_L-1".to_owned(), "ada_l-1".to_owned()));
        for bad in ["ab", &"x".repeat(33), "ada lovelace", "adä", "ada!"] {
            assert_eq!(check_username(bad), Err(IdentityError::BadUsername), "{bad}");
        }
    }
}
