#[path = "../../common.rs"]
#[allow(dead_code)] // its `time` is old.rs and new.rs's; this file times each call itself
mod common;
use common::data;
use repalign::{AnyMatrix, Exec, Matrix, Metric, knn::{self, Prefilter, Similarity}, metrics::KnnMetric, sweep};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (n, d, k, t, reps): (usize, usize, usize, usize, usize) = (a[1].parse().unwrap(), a[2].parse().unwrap(), a[3].parse().unwrap(), a[4].parse().unwrap(), a[a.len() - 1].parse().unwrap());
    let mode = if a.len() > 6 { a[5].as_str() } else { "graph" };
    let o = Exec::new().with_threads(t).with_prefilter(Prefilter::Off);
    let x = data(n * d, 2); let m = Matrix::new(&x, n, d).unwrap();
    let y = data(n * d, 3); let m2 = Matrix::new(&y, n, d).unwrap();
    let mut check = 0u64;
    if mode == "sweep" {
        let x = data(13 * n * d, 3); let y = data(13 * n * d, 4);
        let la: Vec<AnyMatrix> = (0..13).map(|l| Matrix::new(&x[l * n * d..(l + 1) * n * d], n, d).unwrap().into()).collect();
        let lb: Vec<AnyMatrix> = (0..13).map(|l| Matrix::new(&y[l * n * d..(l + 1) * n * d], n, d).unwrap().into()).collect();
        let mm = Metric::Knn { metric: KnnMetric::Mutual, k, similarity: Similarity::InnerProduct };
        for _ in 0..reps {
            let s = std::time::Instant::now();
            let r = std::hint::black_box(sweep::sweep(&la, &lb, &mm, &o).unwrap());
            println!("{:.6}", s.elapsed().as_secs_f64());
            check = check.wrapping_mul(31).wrapping_add(format!("{r:?}").len() as u64);
        }
        eprintln!("check {check:x}");
        return;
    }
    for _ in 0..reps {
        let s = std::time::Instant::now();
        let gs = match mode {
            "graph" => vec![knn::graph(m, k, Similarity::InnerProduct, &o).unwrap()],
            "cosine" => vec![knn::graph(m, k, Similarity::Cosine, &o).unwrap()],
            "search" => vec![knn::search(m, m2, k, Similarity::InnerProduct, &o).unwrap()],
            "both" => { let (g, h) = knn::search_both(m, m2, k, Similarity::InnerProduct, &o).unwrap(); vec![g, h] }
            _ => panic!(),
        };
        println!("{:.6}", s.elapsed().as_secs_f64());
        for g in std::hint::black_box(gs) {
            check = g.indices().iter().fold(check, |h, &i| h.wrapping_mul(31).wrapping_add(i as u64));
            check = g.scores().iter().fold(check, |h, &s| h.wrapping_mul(31).wrapping_add(s.to_bits() as u64));
        }
    }
    eprintln!("check {check:x}");
}
