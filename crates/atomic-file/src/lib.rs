//! Durable atomic file replacement: the one implementation in the workspace.
//!
//! [`write`] replaces a file so that a reader, or a crash, sees the old content or the
//! new, never a torn mix, and so that the new content survives a power loss once the
//! call returns:
//!
//! 1. create a temporary file in the target's directory (the same filesystem, so the
//!    rename is atomic), create-only (`O_EXCL`: never a file someone else made), with
//!    the permissions of the file it replaces;
//! 2. write the content and fsync the file;
//! 3. rename it over the target;
//! 4. fsync the directory, which makes the rename itself durable.
//!
//! Any error before the rename removes the temporary file and leaves the old file as it
//! was. Used by `secrets sync`, the Loki spool's cursor and compaction, drift metrics and
//! `audit ship --metrics`.

use std::ffi::OsString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The step of [`write`] that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Creating the temporary file beside the target (or giving it the target's mode).
    CreateTemp,
    /// Writing the content into the temporary file.
    Write,
    /// Fsyncing the temporary file.
    SyncFile,
    /// Renaming the temporary file over the target.
    Rename,
    /// Fsyncing the directory after the rename: the new content is already in place.
    SyncDir,
}

/// A failed [`write`]. Its message names the file, the step and the OS error; the OS
/// error is part of the message rather than a separate `source`, so one-line logs keep it.
#[derive(Debug, thiserror::Error)]
pub struct WriteError {
    pub path: PathBuf,
    pub step: Step,
    pub error: io::Error,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, error) = (self.path.display(), &self.error);
        let what = match self.step {
            Step::CreateTemp => "cannot create a temporary file in its directory",
            Step::Write => "cannot write the temporary file",
            Step::SyncFile => "cannot fsync the temporary file",
            Step::Rename => "cannot rename the temporary file over it",
            Step::SyncDir => {
                return write!(
                    f,
                    "{path} was replaced, but fsyncing its directory failed ({error}): the \
                     replacement may not survive a crash"
                );
            }
        };
        write!(f, "cannot write {path}: {what} ({error}); the previous file, if any, is unchanged")
    }
}

impl From<WriteError> for io::Error {
    /// Keeps the OS error's kind; the message is the whole [`WriteError`].
    fn from(e: WriteError) -> io::Error {
        io::Error::new(e.error.kind(), e)
    }
}

/// Replace `path` with `bytes`, atomically and durably (see the crate docs).
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_with(path, |file| file.write_all(bytes))
}

/// [`write`] with the content produced by `fill`, which writes into the temporary file
/// (for content too large to build in memory). An error from `fill` is a failed write:
/// the temporary file is removed and the old file stays as it was.
pub fn write_with<F>(path: &Path, fill: F) -> Result<(), WriteError>
where
    F: FnOnce(&mut File) -> io::Result<()>,
{
    let fail = |step| move |error| WriteError { path: path.to_owned(), step, error };
    let (tmp, mut file) = create_temp(path).map_err(fail(Step::CreateTemp))?;
    let written = (|| {
        // The replacement keeps who may read the file (a textfile collector, a group).
        match std::fs::metadata(path) {
            Ok(old) => file.set_permissions(old.permissions()).map_err(fail(Step::CreateTemp))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(Step::CreateTemp)(e)),
        }
        fill(&mut file).map_err(fail(Step::Write))?;
        file.sync_all().map_err(fail(Step::SyncFile))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(fail(Step::Rename))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_parent_dir(path).map_err(fail(Step::SyncDir))
}

/// Fsync the directory holding `path`, so that a file created or renamed there survives
/// a crash. Filesystems that cannot fsync a directory (EINVAL) count as done: there is
/// nothing more a program can do on them.
pub fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let dir = parent_dir(path);
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
        other => other,
    }
}

fn parent_dir(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Distinguishes the temporary files of one process (the pid distinguishes processes).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `.<name>.tmp-<pid>-<n>` beside `path`, created exclusively; a name left behind by a
/// crashed process with the same pid is skipped, never opened.
fn create_temp(path: &Path) -> io::Result<(PathBuf, File)> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file")
    })?;
    let dir = parent_dir(path);
    for _ in 0..64 {
        let mut tmp_name = OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(
            ".tmp-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = dir.join(tmp_name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "64 temporary file names are taken; remove the stale .*.tmp-* files",
    ))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_the_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("metrics.prom");
        write(&path, b"first\n").expect("create");
        write(&path, b"second\n").expect("replace");
        assert_eq!(std::fs::read(&path).expect("read"), b"second\n");
        assert_eq!(names(dir.path()), ["metrics.prom"]);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_intact() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("cursor.json");
        write(&path, b"{\"offset\":42}").expect("old");
        // Half the new content is on disk when the write fails (as with ENOSPC).
        let err = write_with(&path, |f| {
            f.write_all(b"{\"offs")?;
            Err(io::Error::new(io::ErrorKind::StorageFull, "no space left on device"))
        })
        .expect_err("the write fails");
        assert_eq!(err.step, Step::Write);
        assert_eq!(err.error.kind(), io::ErrorKind::StorageFull);
        let msg = err.to_string();
        assert!(
            msg.contains("cursor.json")
                && msg.contains("no space left")
                && msg.contains("unchanged"),
            "{msg}"
        );
        assert_eq!(std::fs::read(&path).expect("read"), b"{\"offset\":42}", "old content kept");
        assert_eq!(names(dir.path()), ["cursor.json"], "the temporary file is removed");
    }

    #[test]
    fn a_failed_rename_removes_the_temporary_file() {
        let dir = tempfile::tempdir().expect("tmp");
        // A directory in the way: the rename fails after the temp file was written and fsynced.
        let path = dir.path().join("report.json");
        std::fs::create_dir(&path).expect("mkdir");
        std::fs::write(path.join("keep"), b"x").expect("write");
        let err = write(&path, b"new").expect_err("cannot replace a directory");
        assert_eq!(err.step, Step::Rename);
        assert_eq!(names(dir.path()), ["report.json"]);
        assert_eq!(std::fs::read(path.join("keep")).expect("read"), b"x");
    }

    #[test]
    fn a_missing_directory_is_named_and_nothing_is_created() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("absent/x.yaml");
        let err = write(&path, b"x").expect_err("no directory");
        assert_eq!(err.step, Step::CreateTemp);
        assert_eq!(err.error.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("absent/x.yaml"), "{err}");
        assert!(names(dir.path()).is_empty());
        let as_io: io::Error = err.into();
        assert_eq!(as_io.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn the_replacement_keeps_the_old_permissions() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("drift.prom");
        write(&path, b"a").expect("create");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        write(&path, b"b").expect("replace");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn a_path_without_a_file_name_is_refused() {
        let err = write(Path::new("/"), b"x").expect_err("no file name");
        assert_eq!(err.step, Step::CreateTemp);
        assert_eq!(err.error.kind(), io::ErrorKind::InvalidInput);
    }
}
