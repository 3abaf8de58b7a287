//! `repalign demo`: the colour study of the Platonic Representation Hypothesis, offline.
//!
//! 913 XKCD colour names in five representations (`data/color-demo/`, shipped in float16 and
//! embedded in the binary): `lab`, Gaussian-kernel features of CIELAB whose cosine neighbours
//! are the perceptual ΔE neighbours; `glove`, `e5`, `minilm`, three language models'
//! embeddings of "the color {name}"; `random`, a Gaussian control. For every comparison
//! (Lab against each model, the models against each other, the control), on all names and on
//! the 230 single-word names, and for k = 5, 10, 20 it computes mutual kNN on cosine
//! similarity (the reference L2-normalises rows) and its permutation null.
//!
//! Each representation's kNN graph is computed once per subset at the largest k and its
//! prefixes serve the smaller k (a top-k list is a prefix of a longer one); each null costs
//! O(N k) per permutation. Results depend on the seed only, never on the thread count.
//! Neighbours are ranked as the reference ranks them, in f64 (see `compute`), so float32
//! features reproduce `scores.json` exactly.
//!
//! `data` holds the features and names (embedded or read from a directory), `compute` the
//! graphs and the scores against their nulls, `report` the table, the finding, the JSON and
//! the heatmap; the command line is `cli::commands::demo`.

mod compute;
mod data;
pub(crate) mod report;

pub use compute::{Results, Row, compute};
pub use data::DemoData;

/// A representation: its key in the output and the stems its files may have.
struct Representation {
    key: &'static str,
    stems: &'static [&'static str],
}

const REPRESENTATIONS: [Representation; 5] = [
    // Not `lab`: raw L*a*b* under cosine measures angles seen from black, not ΔE.
    Representation { key: "lab", stems: &["lab_kernel"] },
    Representation { key: "glove", stems: &["glove", "glove_thecolor"] },
    Representation { key: "e5", stems: &["e5", "e5_thecolor"] },
    Representation { key: "minilm", stems: &["minilm", "minilm_thecolor"] },
    Representation { key: "random", stems: &["random", "random_gauss384"] },
];

/// The comparisons, as indices into [`REPRESENTATIONS`]: Lab against each model, the models
/// against each other, then the negative controls.
const COMPARISONS: [(usize, usize); 8] = [(0, 1), (0, 2), (0, 3), (2, 3), (1, 3), (1, 2), (0, 4), (3, 4)];
const KS: [usize; 3] = [5, 10, 20];
const SUBSETS: [&str; 2] = ["all", "single_word"];
/// The k of the representation x representation heatmap.
const MATRIX_K: usize = 10;
