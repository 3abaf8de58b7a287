//! # repalign
//!
//! Exact, SIMD kNN kernels and the representation-alignment metrics of *The Platonic
//! Representation Hypothesis* (Huh, Cheung, Wang, Isola, ICML 2024), for Rust, C and the
//! command line.
//!
//! ```
//! use repalign::{Exec, Matrix, Metric, knn::{self, Similarity}, metrics::{self, KnnMetric}};
//!
//! // Two representations of the same 4 samples (rows), with different dimensions.
//! let a = [1.0f32, 0.0, 0.9, 0.1, 0.0, 1.0, 0.1, 0.9];
//! let b = [1.0f32, 0.0, 0.0, 0.8, 0.2, 0.0, 0.0, 1.0, 0.0, 0.1, 0.9, 0.0];
//! let a = Matrix::new(&a, 4, 2)?;
//! let b = Matrix::new(&b, 4, 3)?;
//! let exec = Exec::default(); // all cores, the best ISA: how, never what
//!
//! let graph = knn::graph(a, 1, Similarity::Cosine, &exec)?;
//! assert_eq!(graph.row(0), &[1]);
//! let score = metrics::score(a, b, &Metric::Knn { metric: KnnMetric::Mutual, k: 1, similarity: Similarity::Cosine }, &exec)?;
//! assert_eq!(score, 1.0);
//! # Ok::<(), repalign::Error>(())
//! ```
//!
//! ## Crate features
//! - `std` (default): threads, runtime CPU detection for f16 conversion.
//! - `alloc`: the kNN engine, graphs and metrics without `std` (single-threaded).
//! - `x86-v4` (default): AVX-512 kernels. `cli`: the `repalign` binary.
//!
//! Without `alloc`, the crate still offers matrix views, [`topk::TopK`] and ISA detection.

#![no_std]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "cache")]
pub mod cache;
#[cfg(feature = "alloc")]
pub mod calibrate;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
#[cfg(feature = "alloc")]
mod dispatch;
pub mod element;
mod error;
#[cfg(feature = "alloc")]
pub mod exec;
pub mod isa;
#[cfg(feature = "alloc")]
mod kernels;
#[cfg(feature = "alloc")]
#[doc(hidden)]
pub use kernels::bench_tile;
#[cfg(feature = "alloc")]
pub mod knn;
#[cfg(feature = "alloc")]
pub mod layers;
pub mod matrix;
#[cfg(feature = "alloc")]
pub mod metrics;
#[cfg(feature = "alloc")]
mod pool;
#[cfg(feature = "alloc")]
pub mod prepare;
#[cfg(feature = "alloc")]
pub mod sweep;
pub mod topk;
#[cfg(feature = "alloc")]
pub mod zoo;

pub use element::{Dtype, Element};
pub use error::{Error, ErrorKind, Result};
#[cfg(feature = "alloc")]
pub use exec::{Exec, Progress};
pub use half::{bf16, f16};
pub use isa::Isa;
#[cfg(feature = "alloc")]
pub use layers::{AnyLayers, Layers, Values};
pub use matrix::{AnyMatrix, Matrix};
#[cfg(feature = "alloc")]
pub use metrics::Metric;

/// The crate version, e.g. `"0.1.0"`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

// The README's Rust example is compiled and run as a doc-test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
