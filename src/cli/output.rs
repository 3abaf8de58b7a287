//! What the commands print and write: JSON objects (keys in a fixed order), aligned
//! key/value tables, CSV matrices, and `.npy` outputs (through `npyz`).

use std::prelude::rust_2024::*;
use std::{format, println};

use std::fmt::Display;
use std::io::{BufWriter, Write};

use npyz::WriterBuilder;
use serde_json::{Map, Value};

/// A JSON object being built, keys in insertion order.
pub(crate) type Object = Map<String, Value>;

/// A finite number, or `null`.
pub(crate) fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Prints one JSON value (an object) on one line.
pub(crate) fn print_json(value: impl Into<Value>) {
    println!("{}", value.into());
}

/// Prints `key  value` lines with the values aligned.
pub(crate) fn print_table(rows: &[(&str, String)]) {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in rows {
        println!("{key:width$}  {value}");
    }
}

/// Prints a matrix as CSV: one line per row, no header.
pub(crate) fn print_csv<T: Display>(values: &[T], cols: usize) -> Result<(), String> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    for row in values.chunks(cols.max(1)) {
        let line: Vec<String> = row.iter().map(ToString::to_string).collect();
        writeln!(out, "{}", line.join(",")).map_err(|e| format!("cannot write to stdout: {e}"))?;
    }
    out.flush().map_err(|e| format!("cannot write to stdout: {e}"))
}

/// Writes a C-order `.npy` array of int32 (`<i4`) or float32 (`<f4`) values.
pub(crate) fn write_npy<T: npyz::AutoSerialize + Copy>(
    path: &str,
    shape: &[usize],
    values: &[T],
) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{path}: cannot write: {e}");
    let file = std::fs::File::create(path).map_err(fail)?;
    let shape: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(BufWriter::new(file))
        .begin_nd()
        .map_err(fail)?;
    w.extend(values.iter().copied()).map_err(fail)?;
    w.finish().map_err(fail)
}
