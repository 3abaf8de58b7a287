//! `.safetensors` inputs (through `safetensors`' header type): one tensor by name, the only
//! tensor, or one N x D tensor per layer matched by a `{}` pattern and stacked to N x L x D.

use std::prelude::rust_2024::*;
use std::{format, vec};

use std::io::{self, Read, Seek, SeekFrom};

use super::{ACCEPTED, Features, Named, check_rank};
use crate::Values;

/// The header of a `.safetensors` file and where its data start.
struct Header {
    meta: safetensors::tensor::Metadata,
    data_start: u64,
}

fn read_header(file: &mut (impl Read + Seek), file_len: u64, path: &str) -> Result<Header, String> {
    let bad = |what: String| format!("{path}: not a valid .safetensors file: {what}");
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|e| bad(e.to_string()))?;
    let n = u64::from_le_bytes(len);
    // The format's own limit on the header (100 MB).
    if n > 100_000_000 || 8 + n > file_len {
        return Err(bad(format!("header length {n} does not fit a {file_len}-byte file")));
    }
    let mut text = vec![0u8; n as usize];
    file.read_exact(&mut text).map_err(|e| bad(e.to_string()))?;
    let meta: safetensors::tensor::Metadata = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
    if 8 + n + meta.data_len() as u64 != file_len {
        return Err(bad(format!(
            "the header describes {} data bytes, the file holds {}",
            meta.data_len(),
            file_len - 8 - n
        )));
    }
    Ok(Header { meta, data_start: 8 + n })
}

/// The tensor `named.name` of a `.safetensors` file of `len` bytes (its only tensor when no
/// name is given), or the layers a pattern with `{}` matches, stacked to N x L x D.
pub(super) fn read(file: &mut (impl Read + Seek), len: u64, named: &Named<'_>) -> Result<Features, String> {
    let Named { path, spec, name } = *named;
    let header = read_header(file, len, path)?;
    let names = header.meta.offset_keys();
    let available = || {
        let shown: Vec<&str> = names.iter().take(20).map(String::as_str).collect();
        let more = if names.len() > 20 { format!(", ... ({} in all)", names.len()) } else { String::new() };
        format!("available: {}{more}", shown.join(", "))
    };
    let source = match name {
        Some(name) => format!("{path}:{name}"),
        None => spec.to_string(),
    };
    match name {
        None if names.len() == 1 => {
            let mut f = read_tensor(file, &header, path, &names[0])?;
            f.source = source;
            Ok(f)
        }
        None if names.is_empty() => Err(format!("{path}: the file holds no tensor")),
        None => Err(format!(
            "{path} holds {} tensors: name one as {path}:NAME, or a layer pattern as {path}:PREFIX{{}}SUFFIX ({})",
            names.len(),
            available()
        )),
        Some(pattern) if pattern.contains("{}") => {
            let layers = match_layers(pattern, &names).map_err(|e| format!("{path}: {e}"))?;
            if layers.is_empty() {
                return Err(format!("{path}: no tensor matches the layer pattern '{pattern}' ({})", available()));
            }
            let names: Vec<&str> = layers.iter().map(|&(_, name)| name).collect();
            let mut f = stack_layers(file, &header, path, &names)?;
            f.source = source;
            f.layer_ids = Some(layers.iter().map(|&(id, _)| id).collect());
            Ok(f)
        }
        Some(name) => {
            if header.meta.info(name).is_none() {
                return Err(format!("{path}: no tensor named '{name}' ({})", available()));
            }
            let mut f = read_tensor(file, &header, path, name)?;
            f.source = source;
            Ok(f)
        }
    }
}

/// The tensors matching `prefix{}suffix` and their layer indices, in increasing index order.
/// The `{}` stands for one name component: a middle holding `.` or `/` belongs to another
/// tensor (`h.0.attn` for `h.{}`); any other middle must be a decimal index that fits a
/// `usize`, or the pattern is refused rather than the tensor silently dropped.
fn match_layers<'a>(pattern: &str, names: &'a [String]) -> Result<Vec<(usize, &'a str)>, String> {
    let (prefix, suffix) = pattern.split_once("{}").expect("checked by the caller");
    if suffix.contains("{}") {
        return Err(format!("the layer pattern '{pattern}' holds more than one {{}}"));
    }
    let mut found = Vec::new();
    for name in names {
        let Some(index) = name.strip_prefix(prefix).and_then(|rest| rest.strip_suffix(suffix)) else { continue };
        if index.is_empty() || index.contains(['.', '/']) {
            continue;
        }
        if !index.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "tensor '{name}' matches the layer pattern '{pattern}' but '{index}' is not a layer index (a decimal number)"
            ));
        }
        let id = index
            .parse()
            .map_err(|_| format!("tensor '{name}': layer index {index} is too large (at most {})", usize::MAX))?;
        found.push((id, name.as_str()));
    }
    found.sort();
    if let Some(w) = found.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!("tensors '{}' and '{}' give the same layer index", w[0].1, w[1].1));
    }
    Ok(found)
}

/// Checks a tensor's dtype and returns (its element width in bytes, its info).
fn tensor_info<'h>(header: &'h Header, path: &str, name: &str) -> Result<&'h safetensors::tensor::TensorInfo, String> {
    use safetensors::Dtype;
    let info = header.meta.info(name).expect("the name comes from the header");
    match info.dtype {
        Dtype::F32 | Dtype::F16 | Dtype::BF16 => Ok(info),
        other => Err(format!("{path}: tensor '{name}' has dtype {other:?}: features must be {ACCEPTED}")),
    }
}

/// Reads the values of `info` straight into a vector of `T` (the format is little-endian).
fn read_elements<T: bytemuck::Pod>(
    file: &mut (impl Read + Seek),
    header: &Header,
    info: &safetensors::tensor::TensorInfo,
) -> io::Result<Vec<T>> {
    let (start, end) = info.data_offsets;
    file.seek(SeekFrom::Start(header.data_start + start as u64))?;
    super::read_elements(file, (end - start) / size_of::<T>(), cfg!(target_endian = "big"))
}

fn read_values(
    file: &mut (impl Read + Seek),
    header: &Header,
    info: &safetensors::tensor::TensorInfo,
) -> io::Result<Values> {
    use safetensors::Dtype;
    Ok(match info.dtype {
        Dtype::F32 => Values::F32(read_elements(file, header, info)?),
        Dtype::F16 => Values::F16(read_elements(file, header, info)?),
        Dtype::BF16 => Values::Bf16(read_elements(file, header, info)?),
        _ => unreachable!("checked by tensor_info"),
    })
}

fn read_tensor(file: &mut (impl Read + Seek), header: &Header, path: &str, name: &str) -> Result<Features, String> {
    let info = tensor_info(header, path, name)?;
    check_rank(&format!("{path}:{name}"), &info.shape)?;
    let values = read_values(file, header, info).map_err(|e| format!("{path}: cannot read tensor '{name}': {e}"))?;
    Ok(Features { source: format!("{path}:{name}"), shape: info.shape.clone(), values, layer_ids: None })
}

/// Reads one N x D tensor per layer into one N x L x D tensor of their element type.
fn stack_layers(
    file: &mut (impl Read + Seek),
    header: &Header,
    path: &str,
    names: &[&str],
) -> Result<Features, String> {
    let first = tensor_info(header, path, names[0])?;
    if first.shape.len() != 2 {
        return Err(format!(
            "{path}: layer tensor '{}' has shape {:?}: each layer must be a 2-D tensor (N x D)",
            names[0], first.shape
        ));
    }
    for name in &names[1..] {
        let info = tensor_info(header, path, name)?;
        if info.shape != first.shape || info.dtype != first.dtype {
            return Err(format!(
                "{path}: layer tensors differ: '{}' is {:?} {:?}, '{name}' is {:?} {:?}",
                names[0], first.dtype, first.shape, info.dtype, info.shape
            ));
        }
    }
    let (n, d, layers) = (first.shape[0], first.shape[1], names.len());
    fn stack<T: Copy + Default>(
        n: usize,
        d: usize,
        parts: impl Iterator<Item = io::Result<Vec<T>>>,
        layers: usize,
    ) -> io::Result<Vec<T>> {
        let mut out = vec![T::default(); n * layers * d];
        for (l, part) in parts.enumerate() {
            let part = part?;
            for (i, row) in part.chunks_exact(d.max(1)).enumerate().take(n) {
                out[(i * layers + l) * d..][..d].copy_from_slice(row);
            }
        }
        Ok(out)
    }
    let infos: Vec<_> = names.iter().map(|name| header.meta.info(name).expect("from the header")).collect();
    let err = |e: io::Error| format!("{path}: cannot read the layer tensors: {e}");
    use safetensors::Dtype;
    let values = match first.dtype {
        Dtype::F32 => {
            Values::F32(stack(n, d, infos.iter().map(|i| read_elements(file, header, i)), layers).map_err(err)?)
        }
        Dtype::F16 => {
            Values::F16(stack(n, d, infos.iter().map(|i| read_elements(file, header, i)), layers).map_err(err)?)
        }
        _ => Values::Bf16(stack(n, d, infos.iter().map(|i| read_elements(file, header, i)), layers).map_err(err)?),
    };
    Ok(Features { source: String::new(), shape: vec![n, layers, d], values, layer_ids: None })
}
