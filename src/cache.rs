//! An on-disk cache of layer states (feature `cache`): a layer's kNN graph, kernel or
//! basis is computed once per content, then read back by every later run that asks for
//! the same layer under the same metric. Adding a model to a zoo then costs only its own
//! layers (and its new pairs).
//!
//! **Key.** An entry is named by the BLAKE3 hash of everything the state depends on: the
//! layer's dtype, shape and values (after any preparation: prepared features are what is
//! hashed), the metric with every parameter, the SIMD backend that would compute it, the
//! crate version and the state format. A change in any of them is another name, so a stale
//! entry is never found rather than detected.
//!
//! **Trust.** An entry is a header (magic, key, payload length, BLAKE3 of the payload)
//! and the state's bytes ([`LayerState::to_bytes`]). A read that finds a wrong magic, key,
//! length or checksum, or bytes the state reader refuses, counts the entry as rejected:
//! the state is recomputed and the entry replaced. Nothing from a file is used unchecked.
//!
//! **Writes.** Each entry is written to a temporary file in the cache directory, synced,
//! then renamed over its name: a reader (another process sharing the directory, or a run
//! after a Ctrl-C or a crash) sees a whole entry or none. Two runs that write one entry
//! write the same bytes; the last rename wins. A temporary file left by a killed process
//! is removed by a later [`StateCache::open`] once it is a day old. A write that fails
//! (disk full, read-only directory) does not fail the computation: it is counted in
//! [`CacheStats::unwritten`] with the first error's text.

use std::format;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::prelude::rust_2024::*;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use crate::error::Result;
use crate::exec::Exec;
use crate::matrix::{AnyMatrix, Matrix};
use crate::metrics::{LayerState, Metric, metric_id};

/// Entry files end with this; temporary files start with [`TEMP`].
const EXTENSION: &str = "rpstate";
const TEMP: &str = ".tmp-";
const MAGIC: &[u8; 8] = b"RPCACHE1";
/// Magic, key, payload length, payload hash.
const HEADER: usize = 8 + 32 + 8 + 32;
/// Temporary files older than this belong to a run that died.
const ABANDONED: Duration = Duration::from_secs(24 * 3600);

/// Counts of what a cache did, since it was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// States read from an entry.
    pub hits: usize,
    /// States computed (no entry, or a rejected one).
    pub computed: usize,
    /// Entries found but refused (corrupt, truncated, or not what their name promises).
    pub rejected: usize,
    /// Computed states that could not be written.
    pub unwritten: usize,
    /// The first write failure, for a warning.
    pub first_write_error: Option<String>,
}

/// A directory of layer states. Shared by threads (`&self`) and by processes.
#[derive(Debug)]
pub struct StateCache {
    dir: PathBuf,
    hits: AtomicUsize,
    computed: AtomicUsize,
    rejected: AtomicUsize,
    unwritten: AtomicUsize,
    first_write_error: Mutex<Option<String>>,
}

/// Distinct temporary names within one process.
static TEMP_SERIAL: AtomicU64 = AtomicU64::new(0);

impl StateCache {
    /// The cache in `dir`, created if missing (with its parents). Removes temporary files
    /// of runs that died a day or more ago.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        if !fs::metadata(&dir)?.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, "the cache path is not a directory"));
        }
        let now = SystemTime::now();
        for entry in fs::read_dir(&dir)?.flatten() {
            let abandoned = entry.file_name().to_str().is_some_and(|n| n.starts_with(TEMP))
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > ABANDONED));
            if abandoned {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(Self {
            dir,
            hits: AtomicUsize::new(0),
            computed: AtomicUsize::new(0),
            rejected: AtomicUsize::new(0),
            unwritten: AtomicUsize::new(0),
            first_write_error: Mutex::new(None),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the cache did so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            computed: self.computed.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            unwritten: self.unwritten.load(Ordering::Relaxed),
            first_write_error: self.first_write_error.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    /// The state of layer `x` for `metric`: read from its entry when one is there and
    /// checks out, else computed by [`LayerState::new`] and written. Equal, bit for bit, to
    /// what [`LayerState::new`] gives for `x` on this machine. Errors are the computation's.
    pub fn state(&self, x: AnyMatrix<'_>, metric: &Metric, exec: &Exec<'_>) -> Result<LayerState> {
        let key = key(x, metric, exec)?;
        let path = self.path(&key);
        match fs::read(&path) {
            Ok(bytes) => match payload(&bytes, &key).and_then(|p| LayerState::from_bytes(p, metric).ok()) {
                Some(state) if state.samples() == x.rows() => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(state);
                }
                _ => {
                    self.rejected.fetch_add(1, Ordering::Relaxed);
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // Unreadable (permissions, I/O error): as good as corrupt, recompute and replace.
            Err(_) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
            }
        }
        let state = LayerState::new(x, metric, exec)?;
        self.computed.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = state.to_bytes().map_err(|e| io::Error::other(e.to_string())).and_then(|b| self.write(&key, &b))
        {
            self.unwritten.fetch_add(1, Ordering::Relaxed);
            let mut first = self.first_write_error.lock().unwrap_or_else(|e| e.into_inner());
            first.get_or_insert_with(|| format!("{}: {e}", path.display()));
        }
        Ok(state)
    }

    fn path(&self, key: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{}.{EXTENSION}", hex(key)))
    }

    /// Writes entry `key` atomically: a temporary file, synced, renamed over the name.
    fn write(&self, key: &[u8; 32], payload: &[u8]) -> io::Result<()> {
        let serial = TEMP_SERIAL.fetch_add(1, Ordering::Relaxed);
        let temp = self.dir.join(format!("{TEMP}{}-{}-{serial}", hex(&key[..8]), std::process::id()));
        let written = (|| {
            let mut f = fs::File::create_new(&temp)?;
            f.write_all(MAGIC)?;
            f.write_all(key)?;
            f.write_all(&(payload.len() as u64).to_le_bytes())?;
            f.write_all(blake3::hash(payload).as_bytes())?;
            f.write_all(payload)?;
            f.sync_all()?;
            fs::rename(&temp, self.path(key))
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }
}

/// The payload of an entry's bytes, if its header matches `key` and its checksum holds.
fn payload<'a>(bytes: &'a [u8], key: &[u8; 32]) -> Option<&'a [u8]> {
    let (head, body) = bytes.split_at_checked(HEADER)?;
    let len = u64::from_le_bytes(head[40..48].try_into().ok()?);
    let ok = &head[..8] == MAGIC
        && &head[8..40] == key
        && u64::try_from(body.len()).is_ok_and(|b| b == len)
        && head[48..80] == *blake3::hash(body).as_bytes();
    ok.then_some(body)
}

/// The entry name of layer `x` under `metric` with `exec`'s backend.
fn key(x: AnyMatrix<'_>, metric: &Metric, exec: &Exec<'_>) -> Result<[u8; 32]> {
    let isa = exec.resolve_isa()?;
    let mut h = blake3::Hasher::new();
    let field = |h: &mut blake3::Hasher, s: &str| {
        h.update(&(s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    field(&mut h, "repalign layer state");
    field(&mut h, env!("CARGO_PKG_VERSION"));
    field(&mut h, if cfg!(target_endian = "little") { "le" } else { "be" });
    field(&mut h, &metric_id(metric));
    field(&mut h, isa.name());
    field(&mut h, &format!("{:?} {} x {}", x.dtype(), x.rows(), x.cols()));
    match x {
        AnyMatrix::F32(m) => values(&mut h, m),
        AnyMatrix::F16(m) => values(&mut h, m),
        AnyMatrix::Bf16(m) => values(&mut h, m),
    }
    Ok(*h.finalize().as_bytes())
}

/// Hashes the values of `m`, row-major: a dense matrix as one run, so that BLAKE3 hashes
/// many 1 KiB chunks side by side (row by row, a 3 KiB row would keep it to three).
fn values<T: crate::Element>(h: &mut blake3::Hasher, m: Matrix<'_, T>) {
    match m.dense() {
        Some(all) => {
            h.update(bytemuck::cast_slice(all));
        }
        None => (0..m.rows()).for_each(|i| {
            h.update(bytemuck::cast_slice(m.row(i)));
        }),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
