//! The SQLite database of embedded mode: one connection behind a mutex, used from blocking
//! threads. Table and attribute names follow the DynamoDB layout of `infra/README_infra.md`
//! where they have a counterpart (`status`, `expires_at`, `job_state`), so both modes store the
//! same shape.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use rusqlite::Connection;

use super::private_files;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS images (
    user_id TEXT NOT NULL,
    image_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    content_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    orientation INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    completed_ms INTEGER,
    expires_at INTEGER NOT NULL,
    concise TEXT,
    concise_confidence REAL,
    creative TEXT,
    creative_confidence REAL,
    model TEXT,
    provider TEXT,
    latency_ms INTEGER,
    -- JSON array of {name, confidence}, most confident first.
    labels TEXT,
    failure_reason TEXT,
    concise_edited TEXT,
    creative_edited TEXT,
    edited_ms INTEGER,
    PRIMARY KEY (user_id, image_id),
    UNIQUE (user_id, sha256)
);
CREATE INDEX IF NOT EXISTS images_by_expiry ON images (expires_at);
CREATE INDEX IF NOT EXISTS images_by_status ON images (status, image_id);

CREATE TABLE IF NOT EXISTS jobs (
    user_id TEXT NOT NULL,
    image_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    job_state TEXT NOT NULL CHECK (job_state IN ('queued', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    visible_at_ms INTEGER NOT NULL,
    receipt TEXT,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, image_id)
);
CREATE INDEX IF NOT EXISTS jobs_by_visibility ON jobs (job_state, visible_at_ms);

CREATE TABLE IF NOT EXISTS rate_limits (
    user_id TEXT NOT NULL,
    bucket TEXT NOT NULL,
    tokens REAL NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, bucket)
);

CREATE TABLE IF NOT EXISTS api_tokens (
    token_sha256 TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    admin INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS user_deletions (
    user_id TEXT PRIMARY KEY,
    started_ms INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS accounts (
    user_id TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    admin INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS sessions (
    id_sha256 TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    admin INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id);
-- Each sign-in removes the expired sessions (`embedded::sessions::REMOVE_EXPIRED_SESSIONS`):
-- found through these, not by reading every session.
CREATE INDEX IF NOT EXISTS sessions_by_last_seen ON sessions (last_seen_ms);
CREATE INDEX IF NOT EXISTS sessions_by_created ON sessions (created_ms);

-- Failed local-account sign-ins in the current window, by `account:<sha256 of the name>` or
-- `ip:<address>`.
CREATE TABLE IF NOT EXISTS sign_in_failures (
    subject TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_start_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sign_in_failures_by_window ON sign_in_failures (window_start_ms);

-- Single-use sign-up invite codes, by the SHA-256 of the code (`embedded::sign_up`).
CREATE TABLE IF NOT EXISTS invites (
    code_sha256 TEXT PRIMARY KEY,
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    used_by TEXT,
    used_ms INTEGER
);
";

/// The caption search (`CaptionRepo::search`): an FTS5 index of what each image shows — the
/// concise and creative caption (the user's correction where there is one, else the model's)
/// and the label names — kept in step with `images` by triggers, so every write that changes a
/// record (upload, caption, edit, regeneration, deletion, user deletion, retention) changes the
/// index in the same statement. `image_search_keys` gives each image a stable integer id, the
/// index's rowid: `images` has no INTEGER PRIMARY KEY, so its own rowids may change on VACUUM.
/// `unicode61` without diacritic removal splits words exactly as `core::search::words_of` does.
/// Labels count only while the record has captions (regeneration keeps the old labels until the
/// new result replaces them, but they are not shown meanwhile).
const SEARCH_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS image_search_keys (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    image_id TEXT NOT NULL,
    UNIQUE (user_id, image_id)
);
CREATE VIRTUAL TABLE IF NOT EXISTS image_search USING fts5(
    concise, creative, labels,
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER IF NOT EXISTS images_search_insert AFTER INSERT ON images BEGIN
    INSERT INTO image_search_keys (user_id, image_id) VALUES (NEW.user_id, NEW.image_id);
    INSERT INTO image_search (rowid, concise, creative, labels) VALUES (
        (SELECT id FROM image_search_keys WHERE user_id = NEW.user_id AND image_id = NEW.image_id),
        COALESCE(NEW.concise_edited, NEW.concise),
        COALESCE(NEW.creative_edited, NEW.creative),
        CASE WHEN NEW.concise IS NOT NULL AND NEW.creative IS NOT NULL THEN
            (SELECT group_concat(value ->> 'name', ', ') FROM json_each(NEW.labels)) END
    );
END;
CREATE TRIGGER IF NOT EXISTS images_search_update
AFTER UPDATE OF concise, creative, labels, concise_edited, creative_edited ON images BEGIN
    UPDATE image_search SET
        concise = COALESCE(NEW.concise_edited, NEW.concise),
        creative = COALESCE(NEW.creative_edited, NEW.creative),
        labels = CASE WHEN NEW.concise IS NOT NULL AND NEW.creative IS NOT NULL THEN
            (SELECT group_concat(value ->> 'name', ', ') FROM json_each(NEW.labels)) END
    WHERE rowid = (
        SELECT id FROM image_search_keys WHERE user_id = NEW.user_id AND image_id = NEW.image_id
    );
END;
CREATE TRIGGER IF NOT EXISTS images_search_delete AFTER DELETE ON images BEGIN
    DELETE FROM image_search WHERE rowid = (
        SELECT id FROM image_search_keys WHERE user_id = OLD.user_id AND image_id = OLD.image_id
    );
    DELETE FROM image_search_keys WHERE user_id = OLD.user_id AND image_id = OLD.image_id;
END;
";

/// Fills the (empty) search index from `images`.
const SEARCH_BACKFILL: &str = "
INSERT INTO image_search_keys (user_id, image_id) SELECT user_id, image_id FROM images;
INSERT INTO image_search (rowid, concise, creative, labels)
SELECT k.id, COALESCE(i.concise_edited, i.concise), COALESCE(i.creative_edited, i.creative),
    CASE WHEN i.concise IS NOT NULL AND i.creative IS NOT NULL THEN
            (SELECT group_concat(value ->> 'name', ', ') FROM json_each(i.labels)) END
FROM images i JOIN image_search_keys k ON k.user_id = i.user_id AND k.image_id = i.image_id;
";

/// The version of the search index's definition: its tables, its triggers and what they put in
/// it, kept in the database as `PRAGMA user_version`. Bump it with any change to them: a
/// database built by another definition (an older binary, or one from before the search) gets
/// this binary's triggers and its index rebuilt when opened, since `IF NOT EXISTS` would keep
/// the old triggers.
const SEARCH_INDEX_VERSION: i64 = 1;

/// What a rebuild removes before `SEARCH_SCHEMA` creates it anew.
const SEARCH_DROP: &str = "
DROP TRIGGER IF EXISTS images_search_insert;
DROP TRIGGER IF EXISTS images_search_update;
DROP TRIGGER IF EXISTS images_search_delete;
DROP TABLE IF EXISTS image_search;
DROP TABLE IF EXISTS image_search_keys;
";

/// Creates the search index and its triggers; builds them anew and fills the index, in one
/// transaction, when the database has none or one of another definition.
fn create_search_index(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let exists: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE name = 'image_search_keys'",
        [],
        |row| row.get(0),
    )?;
    if exists && version == SEARCH_INDEX_VERSION {
        tx.execute_batch(SEARCH_SCHEMA)?;
    } else {
        tx.execute_batch(SEARCH_DROP)?;
        tx.execute_batch(SEARCH_SCHEMA)?;
        tx.execute_batch(SEARCH_BACKFILL)?;
        tx.pragma_update(None, "user_version", SEARCH_INDEX_VERSION)?;
    }
    tx.commit()
}

/// Columns added after the first release of a table: `(table, column, type)`. Databases created
/// before them get them on open.
const ADDED_COLUMNS: [(&str, &str, &str); 7] = [
    ("images", "concise_edited", "TEXT"),
    ("images", "creative_edited", "TEXT"),
    ("images", "edited_ms", "INTEGER"),
    // 1 while the job waits for a captioner (`JobQueue::defer`).
    ("jobs", "waiting", "INTEGER NOT NULL DEFAULT 0"),
    // NULL: the token never expires (tokens made before `api_tokens.lifetime_days`, or with 0).
    ("api_tokens", "expires_ms", "INTEGER"),
    // JSON of `core::provenance::Provenance`; NULL: none kept yet.
    ("images", "provenance", "TEXT"),
    // `CaptionJob::traceparent`; NULL: none.
    ("jobs", "traceparent", "TEXT"),
];

fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    for (table, column, kind) in ADDED_COLUMNS {
        let present: bool = conn.query_row(
            &format!("SELECT COUNT(*) > 0 FROM pragma_table_info('{table}') WHERE name = ?1"),
            [column],
            |row| row.get(0),
        )?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating if needed) the database and its schema.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(parent) = path.parent() {
            private_files::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        private_files::touch(path)
            .with_context(|| format!("cannot create the database {}", path.display()))?;
        let mut conn = Connection::open(path)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)
            .and_then(|()| add_missing_columns(&conn))
            .and_then(|()| create_search_index(&mut conn))
            .context("cannot create the database schema")?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    pub async fn call<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| anyhow::anyhow!("the database lock is poisoned"))?;
            f(&mut guard).map_err(anyhow::Error::from)
        })
        .await
        .context("a database task was interrupted")?
    }
}
