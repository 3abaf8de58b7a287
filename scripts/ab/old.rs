#[path = "../../common.rs"]
mod common;
use repalign::{AnyMatrix, Matrix, knn::{self, KnnOptions}, metrics::KnnMetric, sweep::{self, Metric}};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (which, reps) = (a[1].as_str(), a[2].parse().unwrap());
    let o = KnnOptions::default();
    match which {
        "g4096" => { let x = common::data(4096 * 4096, 1); let m = Matrix::new(&x, 4096, 4096).unwrap(); common::time(reps, || { std::hint::black_box(knn::graph(m, 10, &o).unwrap()); }) }
        "g1024" => { let x = common::data(1024 * 768, 2); let m = Matrix::new(&x, 1024, 768).unwrap(); common::time(reps, || { std::hint::black_box(knn::graph(m, 10, &o).unwrap()); }) }
        "sweep" => {
            let x = common::data(13 * 1024 * 768, 3); let y = common::data(13 * 1024 * 768, 4);
            let la: Vec<AnyMatrix> = (0..13).map(|l| Matrix::new(&x[l * 1024 * 768..(l + 1) * 1024 * 768], 1024, 768).unwrap().into()).collect();
            let lb: Vec<AnyMatrix> = (0..13).map(|l| Matrix::new(&y[l * 1024 * 768..(l + 1) * 1024 * 768], 1024, 768).unwrap().into()).collect();
            let m = Metric::Knn { metric: KnnMetric::Mutual, k: 10 };
            common::time(reps, || { std::hint::black_box(sweep::sweep(&la, &lb, m, &o).unwrap()); })
        }
        _ => panic!(),
    }
}
