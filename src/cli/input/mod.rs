//! Feature files: `.npy` (through `npyz`) and `.safetensors` (through `safetensors`' header
//! type), read into owned buffers of their own element type (f32, f16, bf16: never an f32
//! copy) and lent to the library as borrowed views.
//!
//! An input is named by a spec:
//! - `FILE.npy`: a float32 or float16 array in C order;
//! - `FILE.safetensors`: its only tensor;
//! - `FILE.safetensors:NAME`: the tensor `NAME`;
//! - `FILE.safetensors:PATTERN`, where `PATTERN` holds `{}`: one N x D tensor per layer, the
//!   `{}` standing for a decimal layer index, stacked in increasing index order to N x L x D.
//!
//! Every value is checked on load: a NaN or infinity is reported with its file, row
//! (sample), layer and column.

use std::prelude::rust_2024::*;
use std::{format, vec};

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::prepare::{self, Prepare};
use crate::{AnyLayers, AnyMatrix, Exec, Values};

mod safetensors;

/// The element types a feature file may hold, for error messages.
pub(crate) const ACCEPTED: &str =
    "float32 or float16 in .npy, float32, float16 or bfloat16 (F32, F16, BF16) in .safetensors";

/// A feature tensor read from a file: N x D or N x L x D.
pub(crate) struct Features {
    /// The spec it was read from, for messages (`a.npy`, `m.safetensors:h.{}`).
    pub(crate) source: String,
    /// N x D or N x L x D.
    pub(crate) shape: Vec<usize>,
    pub(crate) values: Values,
    /// The file's own index of each layer (`layers.3.out` is layer 3) for a layer pattern;
    /// `None`: the positions 0, 1, ...
    pub(crate) layer_ids: Option<Vec<usize>>,
}

impl Features {
    /// N, the number of samples (rows).
    pub(crate) fn rows(&self) -> usize {
        self.shape[0]
    }

    /// L: 1 for an N x D tensor.
    pub(crate) fn layers(&self) -> usize {
        if self.shape.len() == 3 { self.shape[1] } else { 1 }
    }

    /// The id of each layer, in order: the file's index for a layer pattern, else 0, 1, ...
    pub(crate) fn layer_ids(&self) -> Vec<usize> {
        self.layer_ids.clone().unwrap_or_else(|| (0..self.layers()).collect())
    }

    /// D, the features per row.
    pub(crate) fn dim(&self) -> usize {
        self.shape[self.shape.len() - 1]
    }

    /// `"f32"`, `"f16"` or `"bf16"`.
    pub(crate) fn dtype(&self) -> &'static str {
        self.values.dtype().name()
    }

    /// Fails unless the tensor is N x D, saying what `command` accepts instead.
    pub(crate) fn require_2d(&self, command: &str) -> Result<(), String> {
        if self.shape.len() == 2 {
            return Ok(());
        }
        Err(format!(
            "{}: shape {:?} ({}-D), but {command} takes a 2-D array (N x D); for N x L x D features use sweep",
            self.source,
            self.shape,
            self.shape.len()
        ))
    }

    /// The N x D tensor as a borrowed matrix (no copy).
    pub(crate) fn matrix(&self) -> Result<AnyMatrix<'_>, String> {
        self.require_2d("this command")?;
        self.values.matrix(self.rows(), self.dim()).map_err(|e| format!("{}: {e}", self.source))
    }

    /// The N x L x D tensor (L = 1 for an N x D one) as a borrowed view (no copy).
    pub(crate) fn tensor(&self) -> Result<AnyLayers<'_>, String> {
        self.values.layers(self.rows(), self.layers(), self.dim()).map_err(|e| format!("{}: {e}", self.source))
    }

    /// Prepares the values with `mode` at quantile `q` where they are: f32 values in place
    /// (no second copy of the tensor), f16 and bf16 ones replaced by their prepared f32
    /// values; `Prepare::None` only checks them for NaN and infinity. Then
    /// [`Features::tensor`] views the prepared values (and [`Features::dtype`] is f32
    /// unless `mode` is `None`).
    pub(crate) fn prepare(&mut self, mode: Prepare, q: f64, exec: &Exec<'_>) -> Result<(), String> {
        let (n, l, d) = (self.rows(), self.layers(), self.dim());
        let done = if mode == Prepare::None {
            // `load` checked every value for NaN and infinity, and nothing changed them since.
            Ok(())
        } else if let Values::F32(v) = &mut self.values {
            prepare::prepare_in_place(v, n, l, d, mode, q, exec).map(|_| ())
        } else {
            let prepared = self.tensor()?.prepare(mode, q, exec);
            prepared.map(|(v, _)| self.values = Values::F32(v))
        };
        done.map_err(|e| format!("{}: {e}", self.source))
    }
}

/// Reads the input named by `spec`; `tensor` is the `--tensor` default for `.safetensors`
/// files named without `:NAME`. A regular file is read in place; anything else (a pipe,
/// `/dev/stdin`) is read whole first, since it cannot seek.
pub(crate) fn load(spec: &str, tensor: Option<&str>) -> Result<Features, String> {
    let (path, name) = split_spec(spec);
    let name = name.or(tensor);
    let meta = std::fs::metadata(path).map_err(|e| open_error(path, &e))?;
    let mut file = File::open(path).map_err(|e| format!("{path}: cannot open: {e}"))?;
    let features = if meta.is_file() {
        read_any(&mut file, meta.len(), &Named { path, spec, name })?
    } else {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| format!("{path}: cannot read: {e}"))?;
        let len = bytes.len() as u64;
        read_any(&mut io::Cursor::new(bytes), len, &Named { path, spec, name })?
    };
    check_shape(&features)?;
    check_finite(&features)?;
    Ok(features)
}

/// `path: file not found`, or the OS's reason (a symlink loop, a permission) it cannot be read.
fn open_error(path: &str, e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::NotFound { format!("{path}: file not found") } else { format!("{path}: {e}") }
}

/// How an input was named: the file, the whole spec (for messages), the tensor name or
/// layer pattern of a `.safetensors` file.
pub(super) struct Named<'a> {
    pub(super) path: &'a str,
    pub(super) spec: &'a str,
    pub(super) name: Option<&'a str>,
}

/// A `.npy` or `.safetensors` file of `len` bytes, told apart by its first bytes.
fn read_any(file: &mut (impl Read + Seek), len: u64, named: &Named<'_>) -> Result<Features, String> {
    let path = named.path;
    let mut magic = [0u8; 9];
    let got = read_up_to(file, &mut magic).map_err(|e| format!("{path}: cannot read: {e}"))?;
    file.seek(SeekFrom::Start(0)).map_err(|e| format!("{path}: {e}"))?;
    if magic[..got].starts_with(b"\x93NUMPY") {
        return read_npy_sized(file, path, Some(len));
    }
    if got < 9 || magic[8] != b'{' {
        return Err(format!("{path}: not a .npy or .safetensors file"));
    }
    safetensors::read(file, len, named)
}

/// `FILE.safetensors:NAME` -> (`FILE.safetensors`, `Some(NAME)`); anything else is a path.
fn split_spec(spec: &str) -> (&str, Option<&str>) {
    match safetensors_parts(spec) {
        Some(parts) if !Path::new(spec).exists() => (parts.0, Some(parts.1)),
        _ => (spec, None),
    }
}

/// `FILE.safetensors:NAME` -> (`FILE.safetensors`, `NAME`), whether or not a file of the
/// whole spec's name exists (the one place that knows how a spec names a tensor).
pub(crate) fn safetensors_parts(spec: &str) -> Option<(&str, &str)> {
    const EXT: &str = ".safetensors:";
    spec.find(EXT).map(|i| (&spec[..i + EXT.len() - 1], &spec[i + EXT.len()..]))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            m => n += m,
        }
    }
    Ok(n)
}

/// Reads a float32 or float16 `.npy` array (2-D or 3-D) from `reader`, e.g. a file or the
/// bytes of an embedded one; `path` names it in messages. Values are not checked here.
pub(crate) fn read_npy_from(reader: impl Read, path: &str) -> Result<Features, String> {
    read_npy_sized(reader, path, None)
}

/// [`read_npy_from`] for a source of `len` bytes when known, so that a truncated file is
/// reported with the bytes its shape needs and the bytes it holds.
fn read_npy_sized(mut reader: impl Read, path: &str, len: Option<u64>) -> Result<Features, String> {
    use npyz::{DType, NpyFile, Order, TypeChar};
    // The header is read here first: a corrupt shape whose size overflows must be reported
    // before npyz multiplies it out.
    let head = npy_header_bytes(&mut reader, path)?;
    let npy = NpyFile::new(BufReader::new(io::Cursor::new(&head).chain(reader)))
        .map_err(|e| format!("{path}: not a valid .npy file: {e}"))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
    let DType::Plain(ty) = npy.dtype() else {
        return Err(format!("{path}: structured dtype {}: features must be {ACCEPTED}", npy.dtype().descr()));
    };
    let width = match (ty.type_char(), ty.size_field()) {
        (TypeChar::Float, 4) => 4,
        (TypeChar::Float, 2) => 2,
        _ => return Err(format!("{path}: dtype {} ({ty}): features must be {ACCEPTED}", numpy_name(&ty))),
    };
    check_rank(path, &shape)?;
    if npy.order() == Order::Fortran && shape.iter().filter(|&&s| s > 1).count() > 1 {
        return Err(format!("{path}: the array is in Fortran order; save it in C order (numpy.ascontiguousarray)"));
    }
    let dtype = numpy_name(&ty);
    let Some(needed) = shape.iter().try_fold(width, |acc: u64, &d| acc.checked_mul(d as u64)) else {
        return Err(format!("{path}: shape {shape:?} of {dtype} overflows the address space (a corrupt header?)"));
    };
    if let Some(held) = len.map(|len| len.saturating_sub(head.len() as u64)).filter(|&held| held < needed) {
        return Err(format!(
            "{path}: the file is truncated: shape {shape:?} of {dtype} needs {needed} data bytes, it holds {held}"
        ));
    }
    let bad = |e: io::Error| match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            format!("{path}: the data end early: shape {shape:?} of {dtype} needs {needed} data bytes")
        }
        _ => format!("{path}: cannot read the data: {e}"),
    };
    // The data are read as bytes straight into the vector (npyz's `into_vec` decodes them
    // one element at a time: 10 ns each, two thirds of a 13 x 13 `sweep` on 80 MB of layers).
    let Ok(count) = usize::try_from(needed / width) else {
        return Err(format!("{path}: shape {shape:?} of {dtype} overflows the address space (a corrupt header?)"));
    };
    let swap = match ty.endianness() {
        npyz::Endianness::Little => cfg!(target_endian = "big"),
        npyz::Endianness::Big => cfg!(target_endian = "little"),
        npyz::Endianness::Irrelevant => false,
    };
    let mut data = npy.into_inner();
    let values = if width == 4 {
        Values::F32(read_elements(&mut data, count, swap).map_err(bad)?)
    } else {
        Values::F16(read_elements(&mut data, count, swap).map_err(bad)?)
    };
    Ok(Features { source: path.to_string(), shape, values, layer_ids: None })
}

/// Reads `count` elements of `T` from `reader` straight into a vector (no intermediate byte
/// buffer, no per-element decoding); `swap`: the data are of the other byte order. The
/// allocation is checked: a size the caller has not bounded by the bytes available fails
/// as an error, not an abort.
fn read_elements<T: bytemuck::Pod>(reader: &mut impl Read, count: usize, swap: bool) -> io::Result<Vec<T>> {
    let mut v = bytemuck::allocation::try_zeroed_vec::<T>(count).map_err(|()| {
        let bytes = count.saturating_mul(size_of::<T>());
        io::Error::new(io::ErrorKind::OutOfMemory, format!("cannot allocate {bytes} bytes for the values"))
    })?;
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut v);
    reader.read_exact(bytes)?;
    if swap {
        bytes.chunks_exact_mut(size_of::<T>()).for_each(<[u8]>::reverse);
    }
    Ok(v)
}

/// The bytes of a `.npy` header (magic, version, length, the dict text), with the dict's
/// shape checked to fit the address space. A header this cannot make sense of is returned
/// as read, for npyz to report.
fn npy_header_bytes(reader: &mut impl Read, path: &str) -> Result<Vec<u8>, String> {
    let mut head = vec![0u8; 10];
    let got = read_up_to(reader, &mut head).map_err(|e| format!("{path}: cannot read: {e}"))?;
    head.truncate(got);
    if got < 10 || !head.starts_with(b"\x93NUMPY") {
        return Ok(head);
    }
    // Version 1: a 2-byte length; versions 2 and 3: 4 bytes.
    let text_len = if head[6] == 1 {
        usize::from(u16::from_le_bytes([head[8], head[9]]))
    } else {
        let mut rest = [0u8; 2];
        let got = read_up_to(reader, &mut rest).map_err(|e| format!("{path}: cannot read: {e}"))?;
        head.extend(&rest[..got]);
        if got < 2 {
            return Ok(head);
        }
        u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize
    };
    let start = head.len();
    head.resize(start + text_len.min(1 << 20), 0);
    let got = read_up_to(reader, &mut head[start..]).map_err(|e| format!("{path}: cannot read: {e}"))?;
    head.truncate(start + got);
    let text = String::from_utf8_lossy(&head[start..]);
    let Some(dims) =
        text.split_once("'shape'").and_then(|(_, t)| t.split_once('(')).and_then(|(_, t)| t.split_once(')'))
    else {
        return Ok(head);
    };
    let dims: Vec<u64> = match dims.0.split(',').map(str::trim).filter(|d| !d.is_empty()).map(str::parse).collect() {
        Ok(dims) => dims,
        Err(_) => return Err(format!("{path}: not a valid .npy file: shape ({}) is not a list of sizes", dims.0)),
    };
    // 8 bytes per element bounds every dtype this reads.
    let bytes = dims.iter().try_fold(8u64, |acc, &d| acc.checked_mul(d));
    if bytes.is_none_or(|b| b > isize::MAX as u64) {
        return Err(format!(
            "{path}: shape {dims:?} overflows the address space: more elements than memory can hold (a corrupt header?)"
        ));
    }
    Ok(head)
}

/// numpy's name of a plain dtype, e.g. `int64` for `<i8`.
fn numpy_name(ty: &npyz::TypeStr) -> String {
    use npyz::TypeChar;
    let bits = ty.size_field() * 8;
    match ty.type_char() {
        TypeChar::Float => format!("float{bits}"),
        TypeChar::Int => format!("int{bits}"),
        TypeChar::Uint => format!("uint{bits}"),
        TypeChar::Bool => "bool".into(),
        TypeChar::Complex => format!("complex{bits}"),
        other => format!("'{}'", other.to_str()),
    }
}

pub(super) fn check_rank(path: &str, shape: &[usize]) -> Result<(), String> {
    match shape.len() {
        2 | 3 => Ok(()),
        r => Err(format!(
            "{path}: shape {shape:?} ({r}-D): features must be 2-D (N x D) or 3-D (N x L x D: samples x layers x features)"
        )),
    }
}

/// Fails when a dimension is 0, naming it: every input needs samples, layers and features.
fn check_shape(f: &Features) -> Result<(), String> {
    let names: &[&str] = if f.shape.len() == 3 {
        &[
            "N = 0: the input has no rows (samples)",
            "L = 0: the input has no layers",
            "D = 0: the rows have no features",
        ]
    } else {
        &["N = 0: the input has no rows (samples)", "D = 0: the rows have no features"]
    };
    match f.shape.iter().position(|&s| s == 0) {
        Some(i) => Err(format!("{}: shape {:?}: {}", f.source, f.shape, names[i])),
        None => Ok(()),
    }
}

/// Fails on the first NaN or infinity, naming the file, row, layer and column.
fn check_finite(f: &Features) -> Result<(), String> {
    // The core names the sample (row) and the position within its L x D values (col).
    let Err(crate::Error::NonFinite { row, col: rest }) = f.tensor()?.scan() else { return Ok(()) };
    let d = f.dim().max(1);
    let at = if f.shape.len() == 3 {
        format!("row {row} (sample), layer {}, column {}", f.layer_ids()[rest / d], rest % d)
    } else {
        format!("row {row}, column {rest}")
    };
    Err(format!("{}: non-finite value (NaN or infinity) at {at}", f.source))
}
