//! The data directory is private to the app's user: directories `0700`, files `0600`. It holds
//! the SQLite database (password hashes, sessions, token digests), every user's images and the
//! generated secrets, so on a shared machine no other account may read it. New directories and
//! files are created with those modes (not left to the umask), and on start [`tighten`] takes
//! group and other permissions off what an earlier version created (`0755` / `0644`).

use std::io;
use std::path::Path;

use anyhow::Context;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// `create_dir_all` with every directory it creates private.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(DIR_MODE);
    builder.create(path)
}

/// The async [`create_dir_all`].
pub async fn create_dir_all_async(path: &Path) -> io::Result<()> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(DIR_MODE);
    builder.create(path).await
}

/// Creates (or truncates) a private file for writing.
pub async fn create_file(path: &Path) -> io::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(FILE_MODE);
    options.open(path).await
}

/// Creates `path` empty and private unless it exists, so that a database SQLite then creates in
/// it keeps the mode (SQLite gives its `-wal` and `-shm` files the database file's mode).
pub fn touch(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options.open(path).map(drop)
}

/// Takes group and other permissions off `dir` and everything under it (symbolic links are
/// neither followed nor changed); creates `dir` when missing.
pub fn tighten(dir: &Path) -> anyhow::Result<()> {
    create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    walk(dir).with_context(|| format!("cannot restrict the permissions under {}", dir.display()))
}

#[cfg(unix)]
fn walk(path: &Path) -> io::Result<()> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        // Removed meanwhile (another command of the app working on the same directory).
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    let file_type = metadata.file_type();
    if file_type.is_symlink() {
        return Ok(());
    }
    let mode = metadata.permissions().mode();
    let wanted = match file_type.is_dir() {
        true => DIR_MODE,
        false => FILE_MODE,
    };
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & wanted))?;
    }
    if file_type.is_dir() {
        for entry in std::fs::read_dir(path)? {
            walk(&entry?.path())?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn walk(_: &Path) -> io::Result<()> {
    Ok(())
}
