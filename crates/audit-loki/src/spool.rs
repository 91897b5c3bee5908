//! The on-disk spool and delivery cursors.
//!
//! A spool is a directory holding `spool.jsonl` (audit events, one JSON object
//! per line, the same format as the audit log) and `cursor.json` (how far
//! Loki has acknowledged). Any JSON Lines file can be shipped with its own
//! cursor file (`platctl audit ship --from FILE`).
//!
//! A cursor names the file by (device, inode) and a byte offset just after the
//! last delivered line. It is written atomically (`platctl_atomic_file`: temp
//! file, fsync, rename, fsync of the directory) and only after Loki answered 2xx, so a crash at any
//! point re-sends at most the batch in flight, never skips one. When the file
//! behind a path changes (rotation, spool compaction), the cursor no longer
//! matches and delivery restarts at offset 0 of the new file.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use platctl_audit::AuditEvent;
use serde::{Deserialize, Serialize};

use crate::LokiError;
use crate::push::Entry;

fn io(path: &Path, source: std::io::Error) -> LokiError {
    LokiError::Io { path: path.to_owned(), source }
}

/// Delivery progress through one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Cursor {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
}

pub fn read_cursor(path: &Path) -> Result<Option<Cursor>, LokiError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            LokiError::Config(format!("cursor file {} is corrupt ({e}); delete it to re-send from the start (Loki drops exact duplicates)", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path, e)),
    }
}

/// Atomically replace the cursor file and make the change durable.
pub fn write_cursor(path: &Path, cursor: &Cursor) -> Result<(), LokiError> {
    let body = serde_json::to_vec(cursor).map_err(|e| LokiError::Config(e.to_string()))?;
    Ok(platctl_atomic_file::write(path, &body)?)
}

/// What to do with a line that is not an audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidLines {
    /// Skip and count it (the spool: only a crash can leave a torn line).
    Skip,
    /// Stop with an error naming the line (a file given by the operator).
    Fail,
}

/// A bounded batch read from a file.
#[derive(Debug, Default)]
pub struct Batch {
    pub entries: Vec<Entry>,
    /// Bytes of log lines in `entries`.
    pub bytes: usize,
    /// Offset just after the last line consumed (valid or skipped).
    pub end_offset: u64,
    pub skipped_invalid: u64,
}

/// Streams complete lines of a file from an offset: memory is one batch.
pub struct Reader {
    path: PathBuf,
    reader: BufReader<File>,
    pub dev: u64,
    pub ino: u64,
    offset: u64,
    line: Vec<u8>,
}

impl Reader {
    /// Open `path` and position it at the cursor if the cursor names this
    /// file, else at 0. `Ok(None)` when the file does not exist.
    pub fn open(path: &Path, cursor: Option<Cursor>) -> Result<Option<Reader>, LokiError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(path, e)),
        };
        let meta = file.metadata().map_err(|e| io(path, e))?;
        let offset = match cursor {
            Some(c) if c.dev == meta.dev() && c.ino == meta.ino() && c.offset <= meta.len() => {
                c.offset
            }
            _ => 0,
        };
        let mut reader = BufReader::with_capacity(256 << 10, file);
        reader.seek(SeekFrom::Start(offset)).map_err(|e| io(path, e))?;
        Ok(Some(Reader {
            path: path.to_owned(),
            reader,
            dev: meta.dev(),
            ino: meta.ino(),
            offset,
            line: Vec::new(),
        }))
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn cursor(&self) -> Cursor {
        Cursor { dev: self.dev, ino: self.ino, offset: self.offset }
    }

    /// Read up to `max_events` events / `max_bytes` bytes of complete lines.
    /// An incomplete last line (a writer mid-append) is left for later.
    pub fn next_batch(
        &mut self,
        max_events: usize,
        max_bytes: usize,
        invalid: InvalidLines,
    ) -> Result<Batch, LokiError> {
        let mut batch = Batch { end_offset: self.offset, ..Batch::default() };
        while batch.entries.len() < max_events && batch.bytes < max_bytes {
            self.line.clear();
            let n = self.reader.read_until(b'\n', &mut self.line).map_err(|e| io(&self.path, e))?;
            if n == 0 {
                break;
            }
            if self.line.last() != Some(&b'\n') {
                // Incomplete: rewind so the next read sees the whole line.
                self.reader.seek(SeekFrom::Start(self.offset)).map_err(|e| io(&self.path, e))?;
                break;
            }
            let line_start = self.offset;
            self.offset += n as u64;
            let text = &self.line[..n - 1];
            if text.iter().all(u8::is_ascii_whitespace) {
                batch.end_offset = self.offset;
                continue;
            }
            match serde_json::from_slice::<AuditEvent>(text) {
                Ok(ev) => {
                    let entry = Entry::from_event(&ev);
                    batch.bytes += entry.line.len();
                    batch.entries.push(entry);
                }
                Err(e) => match invalid {
                    InvalidLines::Skip => {
                        tracing::warn!(file = %self.path.display(), offset = line_start, error = %e, "skipping a line that is not an audit event (torn by a crash?)");
                        batch.skipped_invalid += 1;
                    }
                    InvalidLines::Fail => {
                        self.offset = line_start;
                        return Err(LokiError::InvalidLine {
                            path: self.path.clone(),
                            offset: line_start,
                            reason: e.to_string(),
                        });
                    }
                },
            }
            batch.end_offset = self.offset;
        }
        Ok(batch)
    }
}

/// Number of complete lines in `path` after the cursor (events not yet delivered).
pub fn pending_lines(path: &Path, cursor: Option<Cursor>) -> Result<u64, LokiError> {
    let Some(mut r) = Reader::open(path, cursor)? else { return Ok(0) };
    let mut buf = vec![0u8; 256 << 10];
    let mut count = 0u64;
    loop {
        let n = r.reader.read(&mut buf).map_err(|e| io(path, e))?;
        if n == 0 {
            return Ok(count);
        }
        count += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
    }
}

/// The spool directory of a Loki sink.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    file: PathBuf,
    cursor: PathBuf,
    append: Mutex<()>,
}

impl Spool {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Spool {
            file: dir.join("spool.jsonl"),
            cursor: dir.join("cursor.json"),
            dir,
            append: Mutex::new(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn cursor_path(&self) -> &Path {
        &self.cursor
    }

    /// Append one event and fsync it. Safe across threads and processes
    /// (exclusive `flock`); survives a concurrent compaction (reopens if the
    /// path was renamed over while waiting for the lock); a torn tail left by
    /// a crashed writer is terminated first so it cannot swallow this line.
    pub fn append(&self, event: &AuditEvent) -> Result<(), LokiError> {
        let mut line = serde_json::to_vec(event).map_err(|e| LokiError::Config(e.to_string()))?;
        line.push(b'\n');
        let _guard =
            self.append.lock().map_err(|_| LokiError::Config("spool lock poisoned".into()))?;
        std::fs::create_dir_all(&self.dir).map_err(|e| io(&self.dir, e))?;
        loop {
            let mut f = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&self.file)
                .map_err(|e| io(&self.file, e))?;
            f.lock().map_err(|e| io(&self.file, e))?;
            let fd_meta = f.metadata().map_err(|e| io(&self.file, e))?;
            match std::fs::metadata(&self.file) {
                Ok(m) if m.dev() == fd_meta.dev() && m.ino() == fd_meta.ino() => {}
                _ => continue, // compacted while we waited: the lock drops with `f`
            }
            let len = fd_meta.len();
            let mut torn = false;
            if len > 0 {
                let mut last = [0u8; 1];
                f.seek(SeekFrom::Start(len - 1))
                    .and_then(|_| f.read_exact(&mut last))
                    .map_err(|e| io(&self.file, e))?;
                torn = last[0] != b'\n';
            }
            let result = (|| {
                if torn {
                    f.write_all(b"\n")?;
                }
                f.write_all(&line)?;
                f.sync_data()
            })();
            result.map_err(|e| io(&self.file, e))?;
            if len == 0 {
                // A new spool file: its directory entry must survive a crash too.
                platctl_atomic_file::sync_parent_dir(&self.file).map_err(|e| io(&self.dir, e))?;
            }
            return Ok(());
        }
    }

    /// Events spooled and not yet acknowledged by Loki.
    pub fn pending(&self) -> Result<u64, LokiError> {
        pending_lines(&self.file, read_cursor(&self.cursor)?)
    }

    /// With the shipper lock held: when everything is delivered, replace the
    /// spool by an empty file (new inode) so it does not grow forever.
    /// Returns true if it compacted.
    pub fn compact_if_drained(&self) -> Result<bool, LokiError> {
        let Some(cursor) = read_cursor(&self.cursor)? else { return Ok(false) };
        let f = match OpenOptions::new().read(true).append(true).open(&self.file) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io(&self.file, e)),
        };
        f.lock().map_err(|e| io(&self.file, e))?;
        let meta = f.metadata().map_err(|e| io(&self.file, e))?;
        if meta.dev() != cursor.dev
            || meta.ino() != cursor.ino
            || meta.len() != cursor.offset
            || meta.len() == 0
        {
            return Ok(false);
        }
        platctl_atomic_file::write(&self.file, b"")?;
        // Appenders that open the new file keep its inode, and only the holder of the
        // shipper lock replaces it: this is the file just written.
        let fresh_meta = std::fs::metadata(&self.file).map_err(|e| io(&self.file, e))?;
        // A crash here leaves a cursor naming the old inode: the reader then
        // starts the new (empty or freshly appended) file at 0, which is right.
        write_cursor(
            &self.cursor,
            &Cursor { dev: fresh_meta.dev(), ino: fresh_meta.ino(), offset: 0 },
        )?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use platctl_audit::{Action, Outcome};

    fn ev(i: u64) -> AuditEvent {
        AuditEvent::new(Action::StateWrite, Outcome::Success, "alice").env("staging").serial(i)
    }

    #[test]
    fn reader_streams_batches_and_leaves_incomplete_tail() {
        let dir = tempfile::tempdir().expect("tmp");
        let spool = Spool::new(dir.path().join("s"));
        for i in 0..25 {
            spool.append(&ev(i)).expect("append");
        }
        // A writer mid-append: no newline yet.
        let mut f = OpenOptions::new().append(true).open(spool.file()).expect("open");
        f.write_all(b"{\"schema\":1,").expect("write");
        let mut r = Reader::open(spool.file(), None).expect("open").expect("exists");
        let b1 = r.next_batch(10, usize::MAX, InvalidLines::Fail).expect("b1");
        assert_eq!(b1.entries.len(), 10);
        let b2 = r.next_batch(100, usize::MAX, InvalidLines::Fail).expect("b2");
        assert_eq!(b2.entries.len(), 15, "the incomplete tail is not read");
        let b3 = r.next_batch(100, usize::MAX, InvalidLines::Fail).expect("b3");
        assert!(b3.entries.is_empty());
        assert_eq!(b3.end_offset, r.offset());
        // The next append terminates the torn tail; the torn fragment is skipped, not merged.
        spool.append(&ev(99)).expect("append");
        let mut r = Reader::open(spool.file(), Some(r.cursor())).expect("open").expect("exists");
        let b4 = r.next_batch(100, usize::MAX, InvalidLines::Skip).expect("b4");
        assert_eq!(b4.skipped_invalid, 1);
        assert_eq!(b4.entries.len(), 1);
        assert!(b4.entries[0].line.contains("\"serial\":99"));
    }

    #[test]
    fn cursor_resumes_and_compaction_restarts_at_zero() {
        let dir = tempfile::tempdir().expect("tmp");
        let spool = Spool::new(dir.path());
        for i in 0..5 {
            spool.append(&ev(i)).expect("append");
        }
        assert_eq!(spool.pending().expect("pending"), 5);
        let mut r = Reader::open(spool.file(), None).expect("open").expect("exists");
        let b = r.next_batch(3, usize::MAX, InvalidLines::Skip).expect("batch");
        write_cursor(spool.cursor_path(), &Cursor { offset: b.end_offset, ..r.cursor() })
            .expect("cursor");
        assert_eq!(spool.pending().expect("pending"), 2);
        assert!(!spool.compact_if_drained().expect("compact"), "not drained yet");
        let b = r.next_batch(100, usize::MAX, InvalidLines::Skip).expect("batch");
        assert_eq!(b.entries.len(), 2);
        write_cursor(spool.cursor_path(), &r.cursor()).expect("cursor");
        assert_eq!(spool.pending().expect("pending"), 0);
        assert!(spool.compact_if_drained().expect("compact"));
        assert_eq!(std::fs::metadata(spool.file()).expect("meta").len(), 0);
        spool.append(&ev(7)).expect("append");
        assert_eq!(spool.pending().expect("pending"), 1, "a fresh spool file is read from 0");
        // A cursor for another inode is ignored (rotation).
        let stale = Cursor { dev: 1, ino: 1, offset: 10_000 };
        assert_eq!(pending_lines(spool.file(), Some(stale)).expect("pending"), 1);
    }

    #[test]
    fn invalid_line_in_operator_file_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("a.jsonl");
        let good = serde_json::to_string(&ev(1)).expect("json");
        std::fs::write(&path, format!("{good}\nnot json\n")).expect("write");
        let mut r = Reader::open(&path, None).expect("open").expect("exists");
        let err = r.next_batch(100, usize::MAX, InvalidLines::Fail).expect_err("invalid");
        let msg = err.to_string();
        assert!(
            msg.contains("a.jsonl") && msg.contains(&format!("offset {}", good.len() + 1)),
            "{msg}"
        );
    }

    #[test]
    fn only_one_shipper_at_a_time() {
        let dir = tempfile::tempdir().expect("tmp");
        let spool = Spool::new(dir.path());
        let target = crate::spool_target(&spool);
        let held = crate::try_lock_target(&target).expect("lock").expect("first gets it");
        // flock is per open file description: a second open (another process) is refused.
        assert!(crate::try_lock_target(&target).expect("lock").is_none());
        drop(held);
        assert!(crate::try_lock_target(&target).expect("lock").is_some());
    }
}
