//! What the commands print and write: JSON objects (keys in a fixed order), aligned
//! key/value tables, CSV matrices, and `.npy` outputs (through `npyz`).
//!
//! Guarantees, so that no output is a panic, a destroyed input or a half-written file:
//! - Standard output goes through [`to_stdout`], whose errors are values. A reader that went
//!   away (`repalign ... | head`, a broken pipe) is recorded, [`stdout_closed`], and the
//!   command then ends quietly with status 0; any other error (a full disk) is the message
//!   "cannot write to stdout: ..." and status 1.
//! - [`check_output`] runs before any input is read: an output that is one of the inputs
//!   (any path to the same file) is a bad command line; one that cannot be created (a
//!   missing or unwritable directory, a directory in its place) is an error naming it.
//! - Files are written by [`write_atomic`]: into a temporary file in the target's directory,
//!   flushed, synced, then renamed over the target; on failure the temporary is removed. A
//!   target is either as it was or complete, never truncated.

use std::prelude::rust_2024::*;
use std::{format, vec};

use std::fmt::Display;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use npyz::WriterBuilder;
use serde_json::{Map, Value};

use super::args::Fail;

/// A JSON object being built, keys in insertion order.
pub(crate) type Object = Map<String, Value>;

/// A finite number, or `null`.
pub(crate) fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Set when a write to stdout found its reader gone.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether stdout's reader went away (a broken pipe): the command's error is then not one.
pub(crate) fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Runs `write` on buffered stdout and flushes it: the one way the commands print.
pub(crate) fn to_stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), String> {
    let mut out = BufWriter::new(io::stdout().lock());
    let result = write(&mut out).and_then(|()| out.flush());
    result.map_err(|e| {
        // Drop what is still buffered instead of retrying it when `out` is dropped.
        let _ = out.into_parts();
        if e.kind() == io::ErrorKind::BrokenPipe {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
        format!("cannot write to stdout: {e}")
    })
}

/// Prints `text` as it is.
pub(crate) fn print(text: &str) -> Result<(), String> {
    to_stdout(|w| w.write_all(text.as_bytes()))
}

/// Prints one JSON value (an object) on one line.
pub(crate) fn print_json(value: impl Into<Value>) -> Result<(), String> {
    print(&format!("{}\n", value.into()))
}

/// `key  value` lines with the values aligned.
pub(crate) fn table(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter().map(|(key, value)| format!("{key:width$}  {value}\n")).collect()
}

/// Prints `key  value` lines with the values aligned.
pub(crate) fn print_table(rows: &[(&str, String)]) -> Result<(), String> {
    print(&table(rows))
}

/// Prints a matrix as CSV: one line per row, no header.
pub(crate) fn print_csv<T: Display>(values: &[T], cols: usize) -> Result<(), String> {
    to_stdout(|w| {
        for row in values.chunks(cols.max(1)) {
            let line: Vec<String> = row.iter().map(ToString::to_string).collect();
            writeln!(w, "{}", line.join(","))?;
        }
        Ok(())
    })
}

/// Checks, before any work, that the output `path` given by `flag` is none of the `inputs`
/// (`.safetensors:NAME` specs by their file; a usage error naming both) and can be created
/// (an error naming it).
pub(crate) fn check_output(flag: &str, path: &str, inputs: &[String]) -> Result<(), Fail> {
    for spec in inputs {
        if input_files(spec).iter().any(|file| same_file(Path::new(path), Path::new(file))) {
            return Err(Fail::Usage(format!(
                "{flag} {path} is the input {spec}: an output never replaces an input (choose another path)"
            )));
        }
    }
    Ok(check_writable(Path::new(path))?)
}

/// Checks that `path` can be created or replaced: not a directory, an existing file open
/// for writing (a read-only file stays protected, although a rename could replace it), in
/// a directory where a file can be created (one is created and removed).
pub(crate) fn check_writable(path: &Path) -> Result<(), String> {
    let fail = |e: &dyn Display| format!("{}: cannot write: {e}", path.display());
    if path.is_dir() {
        return Err(fail(&"it is a directory"));
    }
    let target = target_of(path);
    if target.exists() {
        OpenOptions::new().write(true).open(&target).map_err(|e| fail(&e))?;
    }
    let (probe, file) = create_temp(&target).map_err(|e| fail(&e))?;
    drop(file);
    fs::remove_file(&probe).map_err(|e| fail(&e))
}

/// The files an input spec may name: the spec itself, and for `FILE.safetensors:NAME` the
/// file part (which of the two `input` reads depends on which exists).
fn input_files(spec: &str) -> Vec<&str> {
    let mut files = vec![spec];
    files.extend(super::input::safetensors_parts(spec).map(|(file, _)| file));
    files
}

/// Whether `a` and `b` both exist and are the same file (through any links or spelling).
fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (fs::metadata(a), fs::metadata(b)) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (ma.dev(), ma.ino()) == (mb.dev(), mb.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = (ma, mb);
        matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(ca), Ok(cb)) if ca == cb)
    }
}

/// The file a write to `path` replaces: a symbolic link's target (the link stays a link).
fn target_of(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// A new, empty temporary file next to `target` (same directory, so that a rename replaces
/// the target in one step), and its path.
fn create_temp(target: &Path) -> io::Result<(PathBuf, File)> {
    let dir = dir_of(target);
    let name = target.file_name().map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    let mut attempt = 0;
    loop {
        let temp = dir.join(format!(".{name}.{}-{attempt}.repalign-tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            opened => return opened.map(|file| (temp, file)),
        }
    }
}

/// Writes `path` atomically: `write` fills a temporary file next to it, which is flushed,
/// synced and renamed over `path` (keeping an existing file's permissions); on any failure
/// the temporary is removed and `path` is left as it was.
pub(crate) fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let target = target_of(path);
    let (temp, file) = create_temp(&target)?;
    let result = (|| {
        let mut w = BufWriter::new(&file);
        write(&mut w)?;
        w.flush()?;
        drop(w);
        file.sync_all()?;
        if let Ok(m) = fs::metadata(&target) {
            fs::set_permissions(&temp, m.permissions())?;
        }
        fs::rename(&temp, &target)
    })();
    drop(file);
    match result {
        // The rename is durable once the directory is synced; where a directory cannot be
        // opened (not unix), the file itself is already synced.
        Ok(()) => {
            let _ = File::open(dir_of(&target)).and_then(|d| d.sync_all());
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Writes a C-order `.npy` array of int32 (`<i4`) or float32 (`<f4`) values, atomically.
pub(crate) fn write_npy<T: npyz::AutoSerialize + Copy>(
    path: &str,
    shape: &[usize],
    values: &[T],
) -> Result<(), String> {
    let shape: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
    write_atomic(Path::new(path), |w| {
        let mut w = npyz::WriteOptions::new().default_dtype().shape(&shape).writer(w).begin_nd()?;
        w.extend(values.iter().copied())?;
        w.finish()
    })
    .map_err(|e| format!("{path}: cannot write: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("repalign-output-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
        fn names(&self) -> Vec<String> {
            let mut v: Vec<String> =
                fs::read_dir(&self.0).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            v.sort();
            v
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_failed_atomic_write_keeps_the_old_file_and_no_temporary() {
        let dir = Scratch::new("atomic");
        let path = dir.0.join("out.npy");
        fs::write(&path, b"old").unwrap();
        let e = write_atomic(&path, |w| {
            w.write_all(&[7; 100_000])?;
            Err(io::Error::other("injected"))
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "injected");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(dir.names(), ["out.npy"]);

        write_atomic(&path, |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(dir.names(), ["out.npy"]);
    }

    #[cfg(unix)]
    #[test]
    fn an_atomic_write_through_a_link_replaces_its_target() {
        let dir = Scratch::new("link");
        let (file, link) = (dir.0.join("file.npy"), dir.0.join("link.npy"));
        fs::write(&file, b"old").unwrap();
        std::os::unix::fs::symlink(&file, &link).unwrap();
        write_atomic(&link, |w| w.write_all(b"new")).unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(&file).unwrap(), b"new");
        assert_eq!(dir.names(), ["file.npy", "link.npy"]);
    }

    #[test]
    fn outputs_are_checked_against_inputs_and_their_directory() {
        let dir = Scratch::new("check");
        let input = dir.0.join("m.safetensors");
        fs::write(&input, b"x").unwrap();
        let input = input.to_str().unwrap().to_string();
        let specs = [format!("{input}:layers.{{}}")];
        let usage = |f: Fail| if let Fail::Usage(e) = f { Some(e) } else { None };
        let e = check_output("--out", &input, &specs).err().and_then(usage).expect("a usage error");
        assert!(e.contains(&specs[0]), "{e}");
        let fine = dir.0.join("out.npy");
        assert!(check_output("--out", fine.to_str().unwrap(), &specs).is_ok());
        let missing = dir.0.join("no/such/dir/out.npy");
        let e = check_writable(&missing).unwrap_err();
        assert!(e.contains("no/such/dir/out.npy"), "{e}");
        assert_eq!(dir.names(), ["m.safetensors"]);
    }
}
