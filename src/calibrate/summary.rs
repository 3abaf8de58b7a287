//! The summary of a permutation null: mean, median, spread, p-value, threshold and the
//! calibrated score.

use alloc::vec::Vec;

/// A score against its permutation null.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// The observed score (for a sweep: the maximum over layer pairs).
    pub raw: f64,
    /// Mean of the null samples.
    pub null_mean: f64,
    /// Median of the null samples.
    pub null_median: f64,
    /// Standard deviation of the null samples (P - 1 denominator).
    pub null_std: f64,
    /// `(raw - null_mean) / null_std` (infinite when the null has no spread).
    pub z: f64,
    /// `(#{null >= raw} + 1) / (P + 1)`: never 0, at least 1 / (P + 1).
    pub p_value: f64,
    /// The (1 - alpha) quantile of the null with the observed value included: the smallest
    /// of the P + 1 values with at least (1 - alpha)(P + 1) of them at or below it.
    pub tau: f64,
    /// 0 when `raw <= tau`, else `(raw - tau) / (max - tau)` with `max` the metric's largest
    /// possible value (k for lcs_knn, 1 for every other metric).
    pub calibrated: f64,
    /// The null samples, in sample order.
    pub null: Vec<f64>,
}

/// The statistics of `null` against the observed `raw`, at level `alpha`, for a metric whose
/// largest value is `max`. `sorted` is a buffer with room for P + 1 values, allocated
/// before the null samples were drawn.
pub(crate) fn summarise(raw: f64, null: Vec<f64>, mut sorted: Vec<f64>, alpha: f64, max: f64) -> Calibration {
    let p = null.len() as f64;
    let mean = null.iter().sum::<f64>() / p;
    let var = if null.len() > 1 { null.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (p - 1.0) } else { 0.0 };
    let std = libm::sqrt(var);
    sorted.clear();
    sorted.extend_from_slice(&null);
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 };
    let at_least = null.iter().filter(|&&x| x >= raw).count();
    let p_value = (at_least as f64 + 1.0) / (p + 1.0);
    let mut with_raw = sorted;
    with_raw.push(raw);
    with_raw.sort_by(f64::total_cmp);
    let rank = libm::ceil((1.0 - alpha) * with_raw.len() as f64) as usize;
    let tau = with_raw[rank.clamp(1, with_raw.len()) - 1];
    let z = if std > 0.0 {
        (raw - mean) / std
    } else if raw == mean {
        0.0
    } else {
        (raw - mean) * f64::INFINITY
    };
    let calibrated = if raw <= tau || max <= tau { 0.0 } else { ((raw - tau) / (max - tau)).min(1.0) };
    Calibration { raw, null_mean: mean, null_median: median, null_std: std, z, p_value, tau, calibrated, null }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn summary_statistics() {
        let c = summarise(0.9, vec![0.1, 0.2, 0.3, 0.4], Vec::new(), 0.2, 1.0);
        assert!((c.null_mean - 0.25).abs() < 1e-12);
        assert!((c.null_median - 0.25).abs() < 1e-12);
        assert_eq!(c.p_value, 1.0 / 5.0);
        // Five values 0.1..0.4, 0.9: the 0.8 quantile is the 4th smallest, 0.4.
        assert_eq!(c.tau, 0.4);
        assert!((c.calibrated - 0.5 / 0.6).abs() < 1e-12);
        let c = summarise(0.2, vec![0.1, 0.2, 0.3, 0.4], Vec::new(), 0.2, 1.0);
        assert_eq!(c.p_value, 4.0 / 5.0);
        assert_eq!(c.calibrated, 0.0);
    }
}
