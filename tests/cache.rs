//! Stored layer states and the on-disk cache: a state read back equals the one computed,
//! bit for bit, for every metric; malformed bytes are errors, never panics; a cached zoo
//! equals the uncached one and its second run computes no graph; corrupt, truncated,
//! misnamed and foreign entries are rejected and replaced; concurrent writers leave valid
//! entries; temporary files of dead runs are cleaned up; a failed write is counted, not fatal.
#![cfg(feature = "cache")]

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use repalign::cache::StateCache;
use repalign::metrics::{LayerState, MetricParams, pair};
use repalign::zoo::{Pairs, ZooResult, model_states, model_states_with, zoo_states};
use repalign::{AnyMatrix, Exec, Matrix, Metric, Progress, bf16, f16};

const N: usize = 48;

fn data(seed: u64, d: usize) -> Vec<f32> {
    let mut s = 0x2545_F491_4F6C_DD1D ^ seed;
    let signal: Vec<f32> = (0..N).map(|i| ((i * 5) % 11) as f32 / 11.0).collect();
    (0..N * d)
        .map(|e| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            signal[e / d] * ((e % d) % 3) as f32 + 0.4 * ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
        })
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("repalign-cache-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// Every metric, with non-default parameters where they have any.
fn metrics() -> Vec<Metric> {
    // SVCCA keeps at most min(N, D) directions: 4 suits every input here.
    let svcca = |m| if let Metric::Svcca { .. } = m { Metric::Svcca { cca_dim: 4 } } else { m };
    let mut out: Vec<Metric> = Metric::NAMES.iter().map(|name| svcca(Metric::from_name(name, 5).unwrap())).collect();
    let with = |name: &'static str, f: fn(&mut MetricParams<'static>)| {
        let mut p = MetricParams { k: Some(5), ..MetricParams::default() };
        f(&mut p);
        if !name.ends_with("knn") {
            p.k = None;
        }
        p.metric(name).unwrap()
    };
    out.push(with("mutual_knn", |p| p.cosine = Some(true)));
    out.push(with("cka", |p| (p.kernel, p.sigma) = (Some("rbf"), Some(0.7))));
    out.push(with("rsa", |p| (p.corr, p.rdm) = (Some("pearson"), Some("cosine"))));
    out.push(with("svcca", |p| p.cca_dim = Some(3)));
    out
}

#[test]
fn every_state_round_trips_bit_for_bit() {
    let (a, b) = (data(1, 9), data(2, 13));
    let halves: Vec<f16> = b.iter().map(|&x| f16::from_f32(x)).collect();
    let brains: Vec<bf16> = a.iter().map(|&x| bf16::from_f32(x)).collect();
    let inputs: [AnyMatrix<'_>; 3] = [
        Matrix::new(&a, N, 9).unwrap().into(),
        Matrix::new(&halves, N, 13).unwrap().into(),
        Matrix::new(&brains, N, 9).unwrap().into(),
    ];
    let exec = Exec::default();
    for metric in metrics() {
        let states: Vec<LayerState> = inputs.iter().map(|&x| LayerState::new(x, &metric, &exec).unwrap()).collect();
        for s in &states {
            let bytes = s.to_bytes().unwrap();
            let back = LayerState::from_bytes(&bytes, &metric).unwrap();
            assert_eq!(&back, s, "{metric:?}");
            assert_eq!(back.tied_rows(), s.tied_rows());
            assert_eq!(pair(&back, &states[1]).unwrap().to_bits(), pair(s, &states[1]).unwrap().to_bits());
        }
        // Another metric's (or another parameter's) reader refuses them.
        for other in metrics().into_iter().filter(|m| m != &metric) {
            assert!(LayerState::from_bytes(&states[0].to_bytes().unwrap(), &other).is_err(), "{metric:?} as {other:?}");
        }
    }
}

#[test]
fn malformed_bytes_are_errors_never_panics() {
    let a = data(3, 6);
    let x: AnyMatrix<'_> = Matrix::new(&a, 12, 6).unwrap().into();
    for metric in metrics() {
        let metric = match metric {
            Metric::Knn { metric, similarity, .. } => Metric::Knn { metric, k: 3, similarity },
            Metric::Cknna { unbiased, .. } => Metric::Cknna { topk: 3, unbiased },
            m => m,
        };
        let bytes = LayerState::new(x, &metric, &Exec::default()).unwrap().to_bytes().unwrap();
        // Every truncation and extension is refused.
        for len in 0..bytes.len() {
            assert!(LayerState::from_bytes(&bytes[..len], &metric).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(LayerState::from_bytes(&longer, &metric).is_err());
        // Any byte changed: an error or a state (a value byte), never a panic; a graph
        // read back never names a row out of range or itself.
        for at in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xFF] {
                let mut bad = bytes.clone();
                bad[at] ^= flip;
                if let Ok(s) = LayerState::from_bytes(&bad, &metric)
                    && let Some(g) = s.graph()
                {
                    for i in 0..g.rows() {
                        assert!(g.row(i).iter().all(|&j| (j as usize) < g.rows() && j as usize != i));
                    }
                }
            }
        }
    }
}

struct Zoo {
    data: Vec<Vec<Vec<f32>>>,
    dims: Vec<usize>,
}

impl Zoo {
    fn new() -> Self {
        let dims = vec![7, 11, 5];
        let data =
            dims.iter().enumerate().map(|(m, &d)| (0..3).map(|l| data(10 * m as u64 + l, d)).collect()).collect();
        Zoo { data, dims }
    }
    fn layers(&self) -> Vec<Vec<AnyMatrix<'_>>> {
        self.data
            .iter()
            .zip(&self.dims)
            .map(|(m, &d)| m.iter().map(|l| Matrix::new(l, N, d).unwrap().into()).collect())
            .collect()
    }
}

fn same(a: &ZooResult, b: &ZooResult) {
    assert_eq!(a.pairs, b.pairs);
    let bits = |r: &ZooResult| r.matrix.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(a), bits(b));
}

/// The zoo through `cache`, and the number of kNN graphs computed on the way.
fn cached_zoo(zoo: &Zoo, metric: &Metric, cache: &StateCache) -> (ZooResult, usize) {
    let graphs = AtomicUsize::new(0);
    let hook = |p: Progress| {
        if let Progress::Blocks { done, total } = p
            && done == total
        {
            graphs.fetch_add(1, Ordering::Relaxed);
        }
    };
    // One worker: layers one after another, so each graph reports its blocks (side by side,
    // a layer's graph runs silently on its worker).
    let exec = Exec::default().with_threads(1).with_progress(&hook);
    let layers = zoo.layers();
    let refs: Vec<&[AnyMatrix<'_>]> = layers.iter().map(|m| m.as_slice()).collect();
    let states = model_states_with(&refs, metric, &exec, |x, e| cache.state(x, metric, e)).unwrap();
    let r = zoo_states(&states, Pairs::All, None, &Exec::default()).unwrap();
    (r, graphs.into_inner())
}

#[test]
fn a_cached_zoo_equals_the_zoo_and_hits_compute_nothing() {
    let zoo = Zoo::new();
    let layers = zoo.layers();
    let refs: Vec<&[AnyMatrix<'_>]> = layers.iter().map(|m| m.as_slice()).collect();
    for metric in [Metric::from_name("mutual_knn", 5).unwrap(), Metric::from_name("cka", 5).unwrap()] {
        let want =
            zoo_states(&model_states(&refs, &metric, &Exec::default()).unwrap(), Pairs::All, None, &Exec::default())
                .unwrap();
        let dir = scratch("zoo");
        let cache = StateCache::open(&dir).unwrap();
        let (first, computed) = cached_zoo(&zoo, &metric, &cache);
        same(&first, &want);
        let s = cache.stats();
        assert_eq!((s.hits, s.computed, s.rejected, s.unwritten), (0, 9, 0, 0));
        assert!(computed >= 9, "{computed}");
        // A second run, in a new process's view of the directory: all hits, no graph.
        let cache = StateCache::open(&dir).unwrap();
        let (second, computed) = cached_zoo(&zoo, &metric, &cache);
        same(&second, &want);
        assert_eq!(computed, 0);
        let s = cache.stats();
        assert_eq!((s.hits, s.computed, s.rejected), (9, 0, 0));
        // No temporary file is left behind.
        assert!(fs::read_dir(&dir).unwrap().all(|e| e.unwrap().file_name().to_str().unwrap().ends_with(".rpstate")));
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn adding_a_model_computes_only_its_layers() {
    let zoo = Zoo::new();
    let metric = Metric::from_name("mutual_knn", 5).unwrap();
    let dir = scratch("add");
    let cache = StateCache::open(&dir).unwrap();
    let layers = zoo.layers();
    let two: Vec<&[AnyMatrix<'_>]> = layers[..2].iter().map(|m| m.as_slice()).collect();
    model_states_with(&two, &metric, &Exec::default(), |x, e| cache.state(x, &metric, e)).unwrap();
    assert_eq!(cache.stats().computed, 6);
    let (_, graphs) = cached_zoo(&zoo, &metric, &cache);
    let s = cache.stats();
    assert_eq!((s.hits, s.computed), (6, 9));
    assert_eq!(graphs, 3);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_entries_are_rejected_recomputed_and_replaced() {
    let zoo = Zoo::new();
    let metric = Metric::from_name("jaccard_knn", 5).unwrap();
    let dir = scratch("bad");
    let want = cached_zoo(&zoo, &metric, &StateCache::open(&dir).unwrap()).0;
    let mut entries: Vec<PathBuf> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    assert_eq!(entries.len(), 9);
    let original: Vec<Vec<u8>> = entries.iter().map(|p| fs::read(p).unwrap()).collect();
    // A flipped payload bit, a flipped header bit, a truncation, an empty file, another
    // entry's bytes under this name, and garbage.
    let mut flipped = original[0].clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 0x10;
    let mut header = original[1].clone();
    header[20] ^= 1;
    let damage: Vec<(usize, Vec<u8>)> = vec![
        (0, flipped),
        (1, header),
        (2, original[2][..original[2].len() / 2].to_vec()),
        (3, Vec::new()),
        (4, original[5].clone()),
        (6, vec![0xAB; 4096]),
    ];
    for (at, bytes) in &damage {
        fs::write(&entries[*at], bytes).unwrap();
    }
    let cache = StateCache::open(&dir).unwrap();
    let (got, _) = cached_zoo(&zoo, &metric, &cache);
    same(&got, &want);
    let s = cache.stats();
    assert_eq!((s.hits, s.computed, s.rejected), (3, 6, 6));
    // Each damaged entry was replaced by the right bytes.
    for (p, bytes) in entries.iter().zip(&original) {
        assert_eq!(&fs::read(p).unwrap(), bytes);
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn concurrent_writers_leave_valid_entries() {
    let zoo = Zoo::new();
    let metric = Metric::from_name("mutual_knn", 5).unwrap();
    let dir = scratch("race");
    let want = cached_zoo(&zoo, &metric, &StateCache::open(scratch("race-ref")).unwrap()).0;
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| same(&cached_zoo(&zoo, &metric, &StateCache::open(&dir).unwrap()).0, &want));
        }
    });
    let cache = StateCache::open(&dir).unwrap();
    same(&cached_zoo(&zoo, &metric, &cache).0, &want);
    assert_eq!((cache.stats().hits, cache.stats().rejected), (9, 0));
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 9);
    fs::remove_dir_all(&dir).unwrap();
    fs::remove_dir_all(scratch("race-ref")).ok();
}

#[test]
fn abandoned_temporary_files_are_removed_and_fresh_ones_kept() {
    let dir = scratch("temp");
    fs::create_dir_all(&dir).unwrap();
    let (old, fresh) = (dir.join(".tmp-dead-1-0"), dir.join(".tmp-live-2-0"));
    fs::write(&old, b"half").unwrap();
    fs::write(&fresh, b"half").unwrap();
    let f = fs::File::options().write(true).open(&old).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(2 * 24 * 3600)).unwrap();
    drop(f);
    StateCache::open(&dir).unwrap();
    assert!(!old.exists() && fresh.exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_write_is_counted_not_fatal() {
    let zoo = Zoo::new();
    let metric = Metric::from_name("mutual_knn", 5).unwrap();
    let dir = scratch("gone");
    let cache = StateCache::open(&dir).unwrap();
    // The directory disappears after the cache opened it: every write fails.
    fs::remove_dir_all(&dir).unwrap();
    let want = cached_zoo(&zoo, &metric, &StateCache::open(scratch("gone-ref")).unwrap()).0;
    same(&cached_zoo(&zoo, &metric, &cache).0, &want);
    let s = cache.stats();
    assert_eq!((s.computed, s.unwritten), (9, 9));
    assert!(s.first_write_error.unwrap().contains(dir.to_str().unwrap()));
    fs::remove_dir_all(scratch("gone-ref")).ok();
}

#[test]
fn a_file_in_place_of_the_directory_is_an_error() {
    let path = scratch("file");
    fs::write(&path, b"not a directory").unwrap();
    assert!(StateCache::open(&path).is_err());
    fs::remove_file(&path).unwrap();
}
