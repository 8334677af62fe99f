//! The saved login: the session token of the current user, one file per
//! store under the data directory, readable by the owner only (0600), so
//! the command line and every editor share one login.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What is saved: the token and who it belongs to (for display).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedLogin {
    pub token: String,
    pub user_id: String,
    pub username: String,
}

/// The file for a store, named by a short hash of the store's identity so
/// two stores never share a login (and no connection string is on disk).
pub fn path(data_dir: &Path, store_identity: &str) -> PathBuf {
    let digest = super::tokens::hash_token(store_identity);
    data_dir.join(format!("session-{}.json", &digest[..16]))
}

pub fn load(path: &Path) -> Option<SavedLogin> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Write atomically with mode 0600 (a temporary file renamed into place).
pub fn save(path: &Path, login: &SavedLogin) -> std::io::Result<()> {
    write_private(path, serde_json::to_string(login).unwrap_or_default().as_bytes())
}

/// Write `bytes` to `path` whole or not at all (a temporary file renamed
/// into place), readable by the owner only (0600); the directory is made,
/// owner-only (0700), when missing.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_private_via(&path.with_extension(format!("tmp{}", std::process::id())), path, bytes)
}

/// [`write_private`] through the temporary file `staging` (on the same
/// file system), for a folder whose readers must see only whole files.
pub fn write_private_via(staging: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    let tmp = staging;
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(tmp, path)
}

/// Forget the saved login (no error when there is none).
pub fn clear(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// [`load`] on the blocking pool, never on the async workers.
pub(crate) async fn read(path: &Path) -> Option<SavedLogin> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || load(&path)).await.ok().flatten()
}

/// File work on the saved login (a write ends in an fsync) on the blocking
/// pool, never on the async workers; a failure says which file and why.
pub(crate) async fn on_file<F>(path: &Path, work: F) -> Result<(), super::AccountError>
where
    F: FnOnce(&Path) -> std::io::Result<()> + Send + 'static,
{
    let owned = path.to_path_buf();
    let error = |reason: String| super::AccountError::SaveLogin { path: path.display().to_string(), reason };
    tokio::task::spawn_blocking(move || work(&owned))
        .await
        .map_err(|e| error(e.to_string()))?
        .map_err(|e| error(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_with_owner_only_permissions_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "local:/x/codegenie.db");
        assert_ne!(p, path(dir.path(), "mongodb:codegenie@host"));
        assert_eq!(load(&p), None);
        let login = SavedLogin { token: "cgs_x".into(), user_id: "u1".into(), username: "ada".into() };
        save(&p, &login).unwrap();
        assert_eq!(load(&p), Some(login));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
        clear(&p).unwrap();
        clear(&p).unwrap();
        assert_eq!(load(&p), None);
    }
}
