// Shared by the old and new A/B binaries: data and timing.
pub fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n).map(|_| { s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5 }).collect()
}
pub fn time(reps: usize, mut f: impl FnMut()) {
    for _ in 0..reps {
        let t = std::time::Instant::now();
        f();
        println!("{:.6}", t.elapsed().as_secs_f64());
    }
}
