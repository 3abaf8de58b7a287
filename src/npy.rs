//! Minimal reader and writer for NumPy `.npy` files (format versions 1-3): little-endian
//! `f4`, `f2` and `i4` arrays in C order. Enough for features and kNN graphs; no pickles.

use std::format;
use std::io::{self, Read, Write};
use std::path::Path;
use std::string::String;
use std::vec::Vec;

use half::f16;

/// The data of an `.npy` array.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// `<f4`
    F32(Vec<f32>),
    /// `<f2`
    F16(Vec<f16>),
    /// `<i4`
    I32(Vec<i32>),
}

/// An array read from an `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct Npy {
    /// The shape, outermost axis first.
    pub shape: Vec<usize>,
    /// The elements in C order.
    pub data: NpyData,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Reads an `.npy` file.
pub fn read(path: impl AsRef<Path>) -> io::Result<Npy> {
    let path = path.as_ref();
    let bytes = std::fs::read(path)?;
    parse(&bytes).map_err(|e| invalid(format!("{}: {e}", path.display())))
}

/// Parses the bytes of an `.npy` file.
pub fn parse(bytes: &[u8]) -> io::Result<Npy> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(invalid("not an .npy file (bad magic)".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10usize),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(invalid(format!("unsupported .npy version {v}"))),
    };
    let end = start.checked_add(header_len).filter(|&e| e <= bytes.len());
    let end = end.ok_or_else(|| invalid("truncated header".into()))?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| invalid("header is not text".into()))?;
    let descr = dict_value(header, "descr").ok_or_else(|| invalid("header has no 'descr'".into()))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = dict_value(header, "fortran_order").ok_or_else(|| invalid("header has no 'fortran_order'".into()))?;
    if fortran != "False" {
        return Err(invalid("Fortran-order arrays are not supported; save with C order".into()));
    }
    let shape_text = dict_value(header, "shape").ok_or_else(|| invalid("header has no 'shape'".into()))?;
    let shape = shape_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| invalid(format!("bad shape {shape_text}"))))
        .collect::<io::Result<Vec<usize>>>()?;
    let count =
        shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| invalid("shape overflows".into()))?;
    let body = &bytes[end..];
    let take = |size: usize| -> io::Result<&[u8]> {
        let needed = count.checked_mul(size).ok_or_else(|| invalid("shape overflows".into()))?;
        body.get(..needed)
            .ok_or_else(|| invalid(format!("data truncated: {needed} bytes needed, {} present", body.len())))
    };
    let data = match descr {
        "<f4" => NpyData::F32(take(4)?.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
        "<f2" => {
            NpyData::F16(take(2)?.chunks_exact(2).map(|c| f16::from_bits(u16::from_le_bytes([c[0], c[1]]))).collect())
        }
        "<i4" => NpyData::I32(take(4)?.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
        other => {
            return Err(invalid(format!("unsupported dtype {other}: expected <f4 (float32), <f2 (float16) or <i4")));
        }
    };
    Ok(Npy { shape, data })
}

/// The text of `'key': value` in a header dict (value up to the next top-level comma).
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = header[at + key.len() + 2..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') { rest.find(')')? + 1 } else { rest.find([',', '}'])? };
    Some(rest[..end].trim())
}

/// Writes a 2-D `<i4` array (e.g. a kNN graph) as `.npy` version 1.0.
pub fn write_i32(path: impl AsRef<Path>, rows: usize, cols: usize, data: &[i32]) -> io::Result<()> {
    write(path, "<i4", &[rows, cols], data.len(), |out| {
        data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()))
    })
}

/// Writes a `<f4` array of any shape (e.g. prepared features) as `.npy` version 1.0.
pub fn write_f32(path: impl AsRef<Path>, shape: &[usize], data: &[f32]) -> io::Result<()> {
    write(path, "<f4", shape, data.len(), |out| data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())))
}

fn write(
    path: impl AsRef<Path>,
    descr: &str,
    shape: &[usize],
    len: usize,
    body: impl FnOnce(&mut Vec<u8>),
) -> io::Result<()> {
    if shape.iter().product::<usize>() != len {
        return Err(invalid(format!("{len} elements for shape {shape:?}")));
    }
    let dims: Vec<String> = shape.iter().map(|d| format!("{d}")).collect();
    let tuple = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple}, }}");
    // Magic + version + length + header + '\n' is padded to a multiple of 64 bytes.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + len * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    body(&mut out);
    std::fs::File::create(path)?.write_all(&out)
}

/// Reads all of `r` and parses it as `.npy` (e.g. from standard input).
pub fn read_from(mut r: impl Read) -> io::Result<Npy> {
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)?;
    parse(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_i32() {
        let dir = std::env::temp_dir().join(format!("repalign-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.npy");
        write_i32(&path, 2, 3, &[1, 2, 3, 4, 5, -6]).unwrap();
        let got = read(&path).unwrap();
        assert_eq!(got.shape, [2, 3]);
        assert_eq!(got.data, NpyData::I32(std::vec![1, 2, 3, 4, 5, -6]));
        write_f32(&path, &[1, 2, 2], &[0.5, -1.0, 2.0, 3.0]).unwrap();
        let got = read(&path).unwrap();
        assert_eq!((got.shape, got.data), (std::vec![1, 2, 2], NpyData::F32(std::vec![0.5, -1.0, 2.0, 3.0])));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn rejects_bad_files() {
        assert!(parse(b"hello world").is_err());
        let mut f = b"\x93NUMPY\x01\x00".to_vec();
        let h = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }\n";
        f.extend_from_slice(&(h.len() as u16).to_le_bytes());
        f.extend_from_slice(h.as_bytes());
        f.extend_from_slice(&[0; 8]);
        let e = std::string::ToString::to_string(&parse(&f).unwrap_err());
        assert!(e.contains("<f8"), "{e}");
    }
}
