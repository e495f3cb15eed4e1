//! Stored files: the files the app serves (lesson downloads, worksheet spreadsheets) live in the
//! database, in pieces of [`CHUNK`] bytes, under a key `"<program folder>/<path>"`. Every instance
//! on one database sees the same files, and a database backup holds them.
//!
//! A content import copies a program's files in (unchanged ones are skipped by their SHA-256), the
//! studio's uploads are written here, downloads stream from here piece by piece (byte ranges read
//! only the pieces they cover), and a content export writes them back out.

pub mod store;

use std::path::Path;

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::response::Response;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::db::{Db, Tx};
use crate::web::files::{FileHeaders, FileMeta};

pub use store::StoredFile;

/// The size of one stored piece of a file.
pub const CHUNK: usize = 256 * 1024;

/// The key of a program's file: its files folder and the path inside it.
pub fn key(folder: &str, file: &str) -> String {
    format!("{folder}/{file}")
}

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn content_type(key: &str) -> String {
    mime_guess::from_path(key)
        .first_or_octet_stream()
        .essence_str()
        .to_owned()
}

async fn write_content(tx: &mut Tx, id: i64, data: &[u8]) -> sqlx::Result<()> {
    for (seq, piece) in data.chunks(CHUNK).enumerate() {
        store::insert_chunk(tx, id, seq as i64, piece).await?;
    }
    Ok(())
}

/// Stores `data` under `key`, replacing what was there. Returns false when the same content (by
/// SHA-256) was already stored: importing the same files again writes nothing.
pub async fn put(tx: &mut Tx, key: &str, data: &[u8], now: OffsetDateTime) -> sqlx::Result<bool> {
    let sha = sha256_hex(data);
    if let Some(existing) = store::find_in(tx, key).await? {
        if existing.sha256 == sha {
            return Ok(false);
        }
        store::delete(tx, existing.id).await?;
    }
    let id = store::insert_new(tx, key, &content_type(key), data.len() as i64, &sha, now)
        .await?
        .ok_or_else(|| sqlx::Error::Protocol(format!("stored file {key} was added meanwhile")))?;
    write_content(tx, id, data).await?;
    Ok(true)
}

/// Stores an upload as `<folder>/downloads/<name>`, or `name-2`, `-3`... when that is taken (a
/// stored file is never overwritten by an upload). Returns the path inside the folder.
pub async fn put_new(tx: &mut Tx, folder: &str, name: &str, data: &[u8], now: OffsetDateTime) -> sqlx::Result<String> {
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let sha = sha256_hex(data);
    for n in 1..1000 {
        let candidate = if n == 1 {
            name.to_owned()
        } else {
            format!("{stem}-{n}.{ext}")
        };
        let rel = format!("downloads/{candidate}");
        let key = key(folder, &rel);
        if let Some(id) = store::insert_new(tx, &key, &content_type(&key), data.len() as i64, &sha, now).await? {
            write_content(tx, id, data).await?;
            return Ok(rel);
        }
    }
    Err(sqlx::Error::Protocol("too many files with that name".into()))
}

/// A whole stored file (for an export), or `None` when there is none under `key`.
pub async fn read_all(db: &Db, key: &str) -> sqlx::Result<Option<Vec<u8>>> {
    let Some(file) = store::find(db, key).await? else {
        return Ok(None);
    };
    let mut data = Vec::with_capacity(usize::try_from(file.bytes).unwrap_or_default());
    let mut seq = 0;
    while (data.len() as i64) < file.bytes {
        match store::chunk(db, file.id, seq).await? {
            Some(piece) if !piece.is_empty() => data.extend_from_slice(&piece),
            _ => return Ok(None),
        }
        seq += 1;
    }
    Ok(Some(data))
}

/// Serves the stored file `key` (200, 206 for one byte range, 416); `None` when there is none.
pub async fn serve(
    db: &Db,
    request: &HeaderMap,
    key: &str,
    headers: FileHeaders<'_>,
) -> sqlx::Result<Option<Response>> {
    let Some(file) = store::find(db, key).await? else {
        return Ok(None);
    };
    let meta = FileMeta {
        len: file.bytes as u64,
        // The content's hash: the same file on every instance has the same strong ETag.
        etag: format!("\"{}\"", &file.sha256[..file.sha256.len().min(32)]),
        last_modified: httpdate_of(file.created_at),
    };
    let db = db.clone();
    let id = file.id;
    Ok(Some(crate::web::files::respond(
        request,
        &meta,
        headers,
        move |start, len| stream(db, id, start, len),
    )))
}

fn httpdate_of(t: OffsetDateTime) -> Option<String> {
    let secs = u64::try_from(t.unix_timestamp()).ok()?;
    Some(httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
    ))
}

/// The bytes `start .. start + len` of file `id`, read one piece at a time as the client takes them.
fn stream(db: Db, id: i64, start: u64, len: u64) -> Body {
    let chunk = CHUNK as u64;
    let state = (db, (start / chunk) as i64, (start % chunk) as usize, len);
    let pieces = futures_util::stream::unfold(state, move |(db, seq, skip, remaining)| async move {
        if remaining == 0 {
            return None;
        }
        let failed = |why: String| Some((Err(std::io::Error::other(why)), (db.clone(), seq, 0, 0)));
        match store::chunk(&db, id, seq).await {
            Ok(Some(data)) if data.len() > skip => {
                let data = Bytes::from(data).slice(skip..);
                let take = data.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
                let piece = data.slice(..take);
                Some((Ok(piece), (db, seq + 1, 0, remaining - take as u64)))
            }
            Ok(_) => failed(format!("stored file {id} changed while it was sent")),
            Err(e) => failed(format!("reading stored file {id}: {e}")),
        }
    });
    Body::from_stream(pieces)
}

/// Copies the files the programs refer to that are on disk (`CONTENT_DIR/<folder>/<path>`) but not
/// in the database yet: uploads made by a Learnwell that kept them on disk. Returns how many.
pub async fn adopt_from_disk(db: &Db, content_dir: &Path, now: OffsetDateTime) -> anyhow::Result<usize> {
    let (lessons, pages) = store::referenced(db).await?;
    let mut wanted: Vec<(String, String)> = Vec::new();
    for (folder, json) in lessons {
        let downloads: Vec<crate::content::Download> = crate::db::json_column(&json, "lessons.downloads")?;
        wanted.extend(downloads.into_iter().map(|d| (folder.clone(), d.file)));
    }
    wanted.extend(pages);
    let have: std::collections::HashSet<String> = store::keys(db).await?.into_iter().collect();
    let mut adopted = 0;
    for (folder, file) in wanted {
        let key = key(&folder, &file);
        if have.contains(&key) {
            continue;
        }
        let root = content_dir.join(&folder);
        let path = match (root.canonicalize(), root.join(&file).canonicalize()) {
            (Ok(root), Ok(path)) if path.starts_with(&root) && path.is_file() => path,
            _ => continue,
        };
        let data = tokio::fs::read(&path).await?;
        let mut tx = db.begin().await?;
        if put(&mut tx, &key, &data, now).await? {
            adopted += 1;
        }
        tx.commit().await?;
    }
    Ok(adopted)
}
