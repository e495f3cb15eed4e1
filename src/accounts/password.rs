//! argon2id hashing, off the async runtime (it takes tens of milliseconds by design).

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use crate::domain::NewPassword;

/// Each argon2 hash takes about 19 MiB and a core for tens of milliseconds: at most one per core at
/// a time, so a flood of logins queues instead of exhausting memory.
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
});

pub async fn hash(password: &NewPassword) -> anyhow::Result<String> {
    let _permit = HASHING.acquire().await?;
    let password = password.expose().to_owned();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    })
    .await?
}

/// Checks a password against a stored hash. With no stored hash (unknown account) it checks against
/// a fixed one, so the answer takes as long either way.
pub async fn verify(password: &str, stored: Option<String>) -> anyhow::Result<bool> {
    let _permit = HASHING.acquire().await?;
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let found = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok();
        Ok(ok && found)
    })
    .await?
}

/// The hash of a random password nobody knows, with the default parameters (made once).
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let (secret, _) = super::tokens::new_token();
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .unwrap_or_default()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let pw = NewPassword::parse("a long enough secret").unwrap();
        let h = hash(&pw).await.unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("a long enough secret"));
        assert!(verify("a long enough secret", Some(h.clone())).await.unwrap());
        assert!(!verify("a wrong secret....", Some(h)).await.unwrap());
        assert!(!verify("anything at all", None).await.unwrap());
    }

    #[test]
    fn dummy_hash_is_a_real_argon2id_hash() {
        assert!(DUMMY_HASH.starts_with("$argon2id$"), "{}", *DUMMY_HASH);
    }
}
