//! The demo's inputs: the colour names, the single-word subset and the five representations'
//! features, from the copy embedded in the binary or from a directory.

use std::format;
use std::prelude::rust_2024::*;

use std::path::{Path, PathBuf};

use crate::Values;
use crate::cli::input;

use super::REPRESENTATIONS;

/// The embedded copy of `data/color-demo/` (about 2.4 MB): `names.json` and the float16
/// features in the order of [`REPRESENTATIONS`].
fn shipped_files() -> (&'static [u8], [&'static [u8]; 5]) {
    macro_rules! shipped {
        ($file:literal) => {
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/color-demo/", $file)).as_slice()
        };
    }
    (
        shipped!("names.json"),
        [
            shipped!("lab_kernel.f16.npy"),
            shipped!("glove.f16.npy"),
            shipped!("e5.f16.npy"),
            shipped!("minilm.f16.npy"),
            shipped!("random.f16.npy"),
        ],
    )
}

/// Feature rows of one representation, as stored.
pub(crate) struct Features {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) values: Values,
}

impl Features {
    /// Reads a 2-D float32 or float16 `.npy` array (the CLI's reader).
    fn parse(bytes: &[u8], what: &str) -> Result<Self, String> {
        let f = input::read_npy_from(bytes, what)?;
        let [rows, cols] = f.shape[..] else {
            return Err(format!("{what}: expected a 2-D array (N x D), got shape {:?}", f.shape));
        };
        Ok(Features { rows, cols, values: f.values })
    }

    /// The rows `idx`, in that order.
    pub(super) fn subset(&self, idx: &[usize]) -> Features {
        Features { rows: idx.len(), cols: self.cols, values: self.values.gather(self.cols, idx) }
    }
}

/// The demo's inputs: row i of every feature matrix is `names[i]`.
pub struct DemoData {
    pub names: Vec<String>,
    /// Indices of the names that are a single word.
    pub single_word: Vec<usize>,
    /// In the order of [`REPRESENTATIONS`].
    pub(crate) features: Vec<Features>,
    /// Where the data came from, for the report.
    pub source: String,
}

impl DemoData {
    /// The embedded float16 features.
    pub fn embedded() -> Result<Self, String> {
        let (names, files) = shipped_files();
        let features = REPRESENTATIONS
            .iter()
            .zip(files)
            .map(|(r, bytes)| Features::parse(bytes, &format!("embedded {}", r.key)))
            .collect::<Result<_, _>>()?;
        Self::assemble(names, features, "embedded data/color-demo (float16)".into())
    }

    /// Reads `names.json` and one `.npy` file per representation from `dir`; `dtype` is
    /// `f16`, `f32` or `None` (f16 when present, else f32).
    pub fn from_dir(dir: &Path, dtype: Option<&str>) -> Result<Self, String> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let names = read(&dir.join("names.json"))?;
        let dtypes: &[&str] = match dtype {
            Some(d) => &[if d == "f32" { "f32" } else { "f16" }],
            None => &["f16", "f32"],
        };
        let mut features = Vec::new();
        let mut used = Vec::new();
        for r in &REPRESENTATIONS {
            let candidates: Vec<PathBuf> =
                dtypes.iter().flat_map(|d| r.stems.iter().map(move |s| dir.join(format!("{s}.{d}.npy")))).collect();
            let path = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
                let tried: Vec<_> = candidates.iter().map(|p| p.display().to_string()).collect();
                format!("no features for {} in {}: tried {}", r.key, dir.display(), tried.join(", "))
            })?;
            features.push(Features::parse(&read(path)?, &path.display().to_string())?);
            used.push(path.file_name().map_or(String::new(), |f| f.to_string_lossy().into_owned()));
        }
        Self::assemble(&names, features, format!("{} ({})", dir.display(), used.join(", ")))
    }

    fn assemble(names_json: &[u8], features: Vec<Features>, source: String) -> Result<Self, String> {
        let doc: serde_json::Value =
            serde_json::from_slice(names_json).map_err(|e| format!("names.json is not valid JSON: {e}"))?;
        let names: Vec<String> = doc["names"]
            .as_array()
            .and_then(|a| a.iter().map(|v| v.as_str().map(String::from)).collect())
            .ok_or("names.json: \"names\" must be a list of strings")?;
        let single_word: Vec<usize> = doc["single_word"]
            .as_array()
            .and_then(|a| a.iter().map(|v| v.as_u64().map(|i| i as usize)).collect())
            .ok_or("names.json: \"single_word\" must be a list of row indices")?;
        let n = names.len();
        if let Some(&bad) = single_word.iter().find(|&&i| i >= n) {
            return Err(format!("names.json: single_word index {bad} is out of range ({n} names)"));
        }
        for (r, f) in REPRESENTATIONS.iter().zip(&features) {
            if f.rows != n {
                return Err(format!("{}: {} rows, but names.json lists {n} names", r.key, f.rows));
            }
        }
        Ok(DemoData { names, single_word, features, source })
    }
}
