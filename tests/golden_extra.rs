//! Golden values of the follow-up literature's metrics (`tests/data/golden-extra/`:
//! rsa and its cosine / Pearson variants, procrustes, rv_coefficient, cca, pwcca), computed
//! in float64 from the stored float32 inputs. Checked from the float32 inputs and from
//! float16 copies of them (against f64 oracles of the same formulas on the f16-rounded
//! values, see `f16_copies_match_the_definitions_on_the_rounded_values`).

mod common;

use repalign::metrics::{self, MetricParams};
use repalign::{AnyMatrix, Exec, Matrix, Metric, f16};
use serde_json::Value;

const EXEC: Exec<'static> = Exec::new();

/// The golden manifest's keys, as metric names and parameters.
const KEYS: [&str; 7] = ["rsa", "rsa_cosine", "rsa_pearson", "procrustes", "rv_coefficient", "cca", "pwcca"];

fn metric(key: &str) -> Metric {
    let none = MetricParams::default();
    let (name, params) = match key {
        "rsa_cosine" => ("rsa", MetricParams { rdm: Some("cosine"), ..none }),
        "rsa_pearson" => ("rsa", MetricParams { corr: Some("pearson"), ..none }),
        other => (other, none),
    };
    params.metric(name).unwrap()
}

struct Case {
    id: String,
    n: usize,
    a: (usize, Vec<f32>),
    b: (usize, Vec<f32>),
    values: Value,
    tolerance: Value,
}

/// Reads a gzipped float32 `.npy` (C order, 2-d) with npyz: (columns, values).
fn read(file: &str) -> (usize, usize, Vec<f32>) {
    let path = common::data(&format!("golden-extra/{file}.gz"));
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("tests/data/golden-extra is missing"));
    let npy = npyz::NpyFile::new(std::io::BufReader::new(gz)).unwrap();
    assert_eq!(npy.order(), npyz::Order::C);
    let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
    assert_eq!(shape.len(), 2, "{file}");
    (shape[0], shape[1], npy.into_vec::<f32>().unwrap())
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(common::data("golden-extra/manifest.json")).unwrap();
    let m: Value = serde_json::from_str(&text).unwrap();
    m["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let (na, da, a) = read(c["A"].as_str().unwrap());
            let (nb, db, b) = read(c["B"].as_str().unwrap());
            assert_eq!((na, nb), (c["n"].as_u64().unwrap() as usize, na));
            Case {
                id: c["id"].as_str().unwrap().into(),
                n: na,
                a: (da, a),
                b: (db, b),
                values: c["values"].clone(),
                tolerance: c["tolerance"].clone(),
            }
        })
        .collect()
}

/// The case's tolerance for `key` at `expected`: cca_pwcca_abs for cca and pwcca, else
/// default_abs; relative above 1.
fn tolerance(case: &Case, key: &str, expected: f64) -> f64 {
    let t = &case.tolerance;
    let abs = t[if matches!(key, "cca" | "pwcca") { "cca_pwcca_abs" } else { "default_abs" }].as_f64().unwrap();
    if expected.abs() > 1.0 { t["relative_when_abs_above_1"].as_f64().unwrap() * expected.abs() } else { abs }
}

fn score(a: AnyMatrix<'_>, b: AnyMatrix<'_>, key: &str) -> f64 {
    metrics::score(a, b, &metric(key), &EXEC).unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// Every value of every case, from the float32 inputs.
#[test]
fn f32_inputs_match_the_golden_values() {
    let mut worst = [0.0f64; KEYS.len()];
    for case in cases() {
        let a = Matrix::new(&case.a.1, case.n, case.a.0).unwrap();
        let b = Matrix::new(&case.b.1, case.n, case.b.0).unwrap();
        for (w, key) in worst.iter_mut().zip(KEYS) {
            let expected = case.values[key].as_f64().unwrap();
            if key == "rsa_cosine" && case.id.starts_with("ties_") {
                continue; // see ties_rsa_cosine_is_the_exact_value
            }
            let got = score(a.into(), b.into(), key);
            let tol = tolerance(&case, key, expected);
            *w = w.max((got - expected).abs());
            assert!((got - expected).abs() <= tol, "{} {key}: {got} vs {expected} (tol {tol})", case.id);
        }
    }
    for (key, w) in KEYS.iter().zip(worst) {
        println!("f32 {key}: max |ours - golden| = {w:.3e}");
    }
}

// ---- f64 oracles of the definitions, for the f16 copies -------------------------------

fn rows64(v: &[f32], n: usize, d: usize) -> Vec<Vec<f64>> {
    (0..n).map(|i| v[i * d..(i + 1) * d].iter().map(|&x| f64::from(x)).collect()).collect()
}

fn centred(x: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let (n, d) = (x.len(), x[0].len());
    let mean: Vec<f64> = (0..d).map(|c| x.iter().map(|r| r[c]).sum::<f64>() / n as f64).collect();
    x.iter().map(|r| r.iter().zip(&mean).map(|(v, m)| v - m).collect()).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let m = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ma, mb) = (m(a), m(b));
    let (ca, cb): (Vec<f64>, Vec<f64>) = (a.iter().map(|x| x - ma).collect(), b.iter().map(|x| x - mb).collect());
    dot(&ca, &cb) / (dot(&ca, &ca) * dot(&cb, &cb)).sqrt()
}

fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].partial_cmp(&v[b]).unwrap());
    let mut r = vec![0.0; v.len()];
    let mut s = 0;
    while s < idx.len() {
        let e = s + idx[s..].iter().take_while(|&&k| v[k] == v[idx[s]]).count();
        idx[s..e].iter().for_each(|&k| r[k] = (s + 1 + e) as f64 / 2.0);
        s = e;
    }
    r
}

/// RSA by the definition: condensed distances straight from the rows, in f64.
fn rsa_oracle(x: &[Vec<f64>], y: &[Vec<f64>], cosine: bool, spearman: bool) -> f64 {
    let dist = |x: &[Vec<f64>]| {
        let mut d = Vec::new();
        for i in 0..x.len() {
            for j in i + 1..x.len() {
                d.push(if cosine {
                    1.0 - dot(&x[i], &x[j]) / (dot(&x[i], &x[i]) * dot(&x[j], &x[j])).sqrt()
                } else {
                    x[i].iter().zip(&x[j]).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt()
                });
            }
        }
        d
    };
    let (dx, dy) = (dist(x), dist(y));
    if spearman { pearson(&ranks(&dx), &ranks(&dy)) } else { pearson(&dx, &dy) }
}

/// The RV coefficient by the definition, with the N x N Gram matrices of the centred rows.
fn rv_oracle(x: &[Vec<f64>], y: &[Vec<f64>]) -> f64 {
    let gram = |x: &[Vec<f64>]| {
        let c = centred(x);
        c.iter().flat_map(|a| c.iter().map(|b| dot(a, b)).collect::<Vec<_>>()).collect::<Vec<f64>>()
    };
    let (gx, gy) = (gram(x), gram(y));
    dot(&gx, &gy) / ((dot(&gx, &gx) * dot(&gy, &gy)).sqrt() + 1e-8)
}

/// Every value from float16 copies of the inputs: rsa and rv_coefficient against f64
/// oracles of their definitions on the f16-rounded values (1e-6, as the f32 goldens);
/// procrustes, cca and pwcca, scalar f64 code after widening, must equal the float32 path
/// on the same (exactly widened) values to 1e-12, and that path is the one checked against
/// the golden f64 values above. The f16 rounding itself moves the values by up to the
/// printed |f16 - golden|, which is not a tolerance of anything.
#[test]
fn f16_copies_match_the_definitions_on_the_rounded_values() {
    let mut worst = [0.0f64; KEYS.len()];
    let mut moved = [0.0f64; KEYS.len()];
    for case in cases() {
        let (ha, hb): (Vec<f16>, Vec<f16>) = (
            case.a.1.iter().map(|&v| f16::from_f32(v)).collect(),
            case.b.1.iter().map(|&v| f16::from_f32(v)).collect(),
        );
        let (wa, wb): (Vec<f32>, Vec<f32>) =
            (ha.iter().map(|v| v.to_f32()).collect(), hb.iter().map(|v| v.to_f32()).collect());
        let (n, da, db) = (case.n, case.a.0, case.b.0);
        let (a16, b16) = (Matrix::new(&ha, n, da).unwrap(), Matrix::new(&hb, n, db).unwrap());
        let (a32, b32) = (Matrix::new(&wa, n, da).unwrap(), Matrix::new(&wb, n, db).unwrap());
        let (x, y) = (rows64(&wa, n, da), rows64(&wb, n, db));
        for (i, key) in KEYS.iter().enumerate() {
            let got = score(a16.into(), b16.into(), key);
            let (expected, tol) = match *key {
                "rsa" => (rsa_oracle(&x, &y, false, true), 1e-6),
                "rsa_cosine" if case.id.starts_with("ties_") => (rsa_cosine_exact(&x, &y), 1e-12),
                "rsa_cosine" => (rsa_oracle(&x, &y, true, true), 1e-6),
                "rsa_pearson" => (rsa_oracle(&x, &y, false, false), 1e-6),
                "rv_coefficient" => (rv_oracle(&x, &y), 1e-6),
                _ => (score(a32.into(), b32.into(), key), 1e-12),
            };
            worst[i] = worst[i].max((got - expected).abs());
            moved[i] = moved[i].max((got - case.values[key].as_f64().unwrap()).abs());
            assert!((got - expected).abs() <= tol, "{} {key} (f16): {got} vs {expected} (tol {tol})", case.id);
        }
    }
    for (i, key) in KEYS.iter().enumerate() {
        println!("f16 {key}: max |ours - oracle| = {:.3e}, |f16 - f32 golden| up to {:.3e}", worst[i], moved[i]);
    }
}

/// Spearman RSA with cosine distances on integer inputs, ranked exactly: cos = sign(g)
/// sqrt(g² / p) compared as rationals (i128 cross products), so equal cosines tie.
fn rsa_cosine_exact(x: &[Vec<f64>], y: &[Vec<f64>]) -> f64 {
    let ranks = |x: &[Vec<f64>]| {
        let mut k: Vec<(i128, i128)> = Vec::new();
        for i in 0..x.len() {
            for j in i + 1..x.len() {
                k.push((dot(&x[i], &x[j]) as i128, (dot(&x[i], &x[i]) * dot(&x[j], &x[j])) as i128));
            }
        }
        // Ascending distance = descending cosine.
        let cmp = |a: &(i128, i128), b: &(i128, i128)| {
            (b.0.signum() * b.0 * b.0 * a.1).cmp(&(a.0.signum() * a.0 * a.0 * b.1))
        };
        let mut idx: Vec<usize> = (0..k.len()).collect();
        idx.sort_by(|&a, &b| cmp(&k[a], &k[b]));
        let mut r = vec![0.0; k.len()];
        let mut s = 0;
        while s < idx.len() {
            let e = s + idx[s..].iter().take_while(|&&t| cmp(&k[t], &k[idx[s]]).is_eq()).count();
            idx[s..e].iter().for_each(|&t| r[t] = (s + 1 + e) as f64 / 2.0);
            s = e;
        }
        r
    };
    pearson(&ranks(x), &ranks(y))
}

/// The ties case's rsa_cosine golden value breaks exact ties by rounding: it is Spearman of
/// `1 - g / (sqrt(|x|²) sqrt(|y|²))` in f64 (scipy's formula), where two roundings make
/// some equal cosines differ by an ulp. repalign ranks equal cosines as ties (one correctly
/// rounded division, see `metrics::rsa`), which is the exact value: checked here against a
/// rational oracle, and the golden value against the rounding formula, so both stay pinned.
#[test]
fn ties_rsa_cosine_is_the_exact_value() {
    let c = cases().into_iter().find(|c| c.id.starts_with("ties_")).unwrap();
    assert!(c.a.1.iter().chain(&c.b.1).all(|v| v.fract() == 0.0), "the ties case has integer inputs");
    let (x, y) = (rows64(&c.a.1, c.n, c.a.0), rows64(&c.b.1, c.n, c.b.0));
    let a = Matrix::new(&c.a.1, c.n, c.a.0).unwrap();
    let b = Matrix::new(&c.b.1, c.n, c.b.0).unwrap();
    let got = score(a.into(), b.into(), "rsa_cosine");
    let exact = rsa_cosine_exact(&x, &y);
    assert!((got - exact).abs() <= 1e-12, "{got} vs exact {exact}");
    let twice_rounded = |x: &[Vec<f64>]| {
        let mut d = Vec::new();
        for i in 0..x.len() {
            for j in i + 1..x.len() {
                d.push(1.0 - dot(&x[i], &x[j]) / (dot(&x[i], &x[i]).sqrt() * dot(&x[j], &x[j]).sqrt()));
            }
        }
        ranks(&d)
    };
    let golden = c.values["rsa_cosine"].as_f64().unwrap();
    let scipy = pearson(&twice_rounded(&x), &twice_rounded(&y));
    assert!((golden - scipy).abs() <= 1e-12, "golden {golden} vs the twice-rounded formula {scipy}");
    println!(
        "ties rsa_cosine: ours = exact {exact}, golden {golden} (|diff| {:.2e}, tie-breaking)",
        (golden - exact).abs()
    );
}
