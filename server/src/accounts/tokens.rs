//! Session tokens and password reset codes: random, shown once, stored only
//! as SHA-256 hashes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Reset-code alphabet without look-alikes (no 0/O, 1/I/L, 5/S, 8/B, 2/Z).
const CODE_ALPHABET: &[u8] = b"ACDEFGHJKMNPQRTUVWXY3467912";
/// Characters in a reset code (~47 bits).
pub const CODE_LEN: usize = 10;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random source");
    buf
}

/// A new session token: 256 random bits, URL-safe, prefixed for recognition
/// by secret scanners.
pub fn new_session_token() -> String {
    format!("cgs_{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// A new reset code, `XXXXX-XXXXX`, from an alphabet without look-alikes.
pub fn new_reset_code() -> String {
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - (256 % CODE_ALPHABET.len());
    let mut out = String::with_capacity(CODE_LEN + 1);
    while out.len() < CODE_LEN + 1 {
        for b in random_bytes::<32>() {
            if (b as usize) < limit && out.len() < CODE_LEN + 1 {
                if out.len() == CODE_LEN / 2 {
                    out.push('-');
                }
                out.push(CODE_ALPHABET[b as usize % CODE_ALPHABET.len()] as char);
            }
        }
    }
    out
}

/// A code as typed: case, spaces and dashes do not matter.
pub fn normalise_code(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

/// Hex SHA-256 of a token (what the store keeps).
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Hex SHA-256 of a reset code, bound to the account it was made for.
pub fn hash_code(user_id: &str, code: &str) -> String {
    let mut h = Sha256::new();
    h.update(user_id.as_bytes());
    h.update([0]);
    h.update(normalise_code(code).as_bytes());
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens_are_long_and_distinct() {
        let a = new_session_token();
        let b = new_session_token();
        assert_ne!(a, b);
        assert!(a.starts_with("cgs_"));
        assert_eq!(URL_SAFE_NO_PAD.decode(&a[4..]).unwrap().len(), 32);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[test]
    fn reset_codes_use_the_unambiguous_alphabet() {
        for _ in 0..200 {
            let code = new_reset_code();
            assert_eq!(code.len(), CODE_LEN + 1, "{code}");
            assert_eq!(&code[5..6], "-");
            assert!(normalise_code(&code).bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
        }
    }

    #[test]
    fn codes_hash_the_same_however_typed_and_differ_per_user() {
        let code = "ACDEF-GHJKM";
        assert_eq!(hash_code("u1", code), hash_code("u1", " acdef ghjkm "));
        assert_ne!(hash_code("u1", code), hash_code("u2", code));
    }
}
