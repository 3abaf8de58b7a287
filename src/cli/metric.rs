//! `--metric` and its options to the library's [`Metric`] (names, defaults and k ranges are
//! the core's), and how a metric is shown in JSON and in text.

use std::format;
use std::prelude::rust_2024::*;

use crate::Metric;
use crate::metrics::{Kernel, MetricParams, Param, ParamError};

use super::args::{Args, Fail};
use super::output::{Object, number};

/// The metric named by `--metric` with its options (`--cosine` for the kNN graphs), as the
/// sweep computes it. The core's [`MetricParams`] decides; this only spells its refusals
/// as flags.
pub(crate) fn metric_of(a: &Args) -> Result<(String, Metric), Fail> {
    let name = a.metric.clone().unwrap_or_else(|| "mutual_knn".into());
    let params = MetricParams {
        k: a.k,
        kernel: a.kernel.as_deref(),
        sigma: a.sigma,
        unbiased: a.unbiased,
        cca_dim: a.cca_dim,
        cosine: a.cosine.then_some(true),
        rdm: a.rdm.as_deref(),
        corr: a.corr.as_deref(),
    };
    let metric = params.metric(&name).map_err(|e| {
        Fail::Usage(match e {
            ParamError::UnknownMetric(_) => format!("--metric: {e}"),
            ParamError::UnknownKernel(other) => format!("--kernel: unknown '{other}' (ip or rbf)"),
            ParamError::UnknownRdm(other) => format!("--rdm: unknown '{other}' (euclidean or cosine)"),
            ParamError::UnknownCorr(other) => format!("--corr: unknown '{other}' (spearman or pearson)"),
            ParamError::DoesNotApply { param: Param::Sigma, .. } => {
                "--sigma applies to --kernel rbf (cka, unbiased_cka) only".into()
            }
            ParamError::DoesNotApply { param, metric } => {
                format!("{} applies to {}, not to {metric}", flag(param), param.applies_to())
            }
            ParamError::KTooSmall { k, min } => {
                format!("--k {k}: {name} needs at least {min} neighbours per row (--k >= {min})")
            }
        })
    })?;
    Ok((name, metric))
}

/// How the command line spells a metric parameter.
fn flag(param: Param) -> &'static str {
    match param {
        Param::K => "--k",
        Param::Kernel => "--kernel",
        Param::Sigma => "--sigma",
        Param::Unbiased => "--unbiased / --biased",
        Param::CcaDim => "--cca-dim",
        Param::Cosine => "--cosine",
        Param::Rdm => "--rdm",
        Param::Corr => "--corr",
    }
}

/// The metric's name and parameters, the first keys of `score` and `sweep` JSON.
pub(crate) fn metric_json(name: &str, metric: Metric) -> Object {
    let mut o = Object::new();
    o.insert("metric".into(), name.into());
    match metric {
        Metric::Knn { k, .. } => {
            o.insert("k".into(), k.into());
        }
        Metric::Cka { kernel, unbiased } => {
            match kernel {
                Kernel::Linear => o.insert("kernel".into(), "ip".into()),
                Kernel::Rbf { sigma } => {
                    o.insert("kernel".into(), "rbf".into());
                    o.insert("sigma".into(), number(sigma))
                }
            };
            o.insert("unbiased".into(), unbiased.into());
        }
        Metric::Cknna { topk, unbiased } => {
            o.insert("k".into(), topk.into());
            o.insert("unbiased".into(), unbiased.into());
        }
        Metric::Svcca { cca_dim } => {
            o.insert("cca_dim".into(), cca_dim.into());
        }
        Metric::Rsa { rdm, corr } => {
            o.insert("rdm".into(), rdm.name().into());
            o.insert("corr".into(), corr.name().into());
        }
        Metric::Procrustes | Metric::Cca | Metric::Pwcca | Metric::RvCoefficient => {}
    }
    o
}

/// A one-line description of the metric for tables and plot titles.
pub(crate) fn metric_text(name: &str, metric: Metric) -> String {
    match metric {
        Metric::Knn { k, .. } => format!("{name} (k = {k})"),
        Metric::Cka { kernel: Kernel::Linear, .. } => name.to_string(),
        Metric::Cka { kernel: Kernel::Rbf { sigma }, .. } => format!("{name} (rbf, sigma = {sigma})"),
        Metric::Cknna { topk, unbiased } => format!("{name} (k = {topk}{})", if unbiased { "" } else { ", biased" }),
        Metric::Svcca { cca_dim } => format!("{name} (cca_dim = {cca_dim})"),
        Metric::Rsa { rdm, corr } => format!("{name} ({}, {})", rdm.name(), corr.name()),
        Metric::Procrustes | Metric::Cca | Metric::Pwcca | Metric::RvCoefficient => name.to_string(),
    }
}

/// k must leave room for the neighbours of N samples (the core's [`Metric::k_range`]).
pub(crate) fn check_k(n: usize, metric: Metric) -> Result<(), Fail> {
    let Some((k, range)) = metric.k_range(n) else { return Ok(()) };
    let (lo, hi) = (*range.start(), *range.end());
    let why = if matches!(metric, Metric::Knn { .. }) { "N - 1: a row is not its own neighbour" } else { "N" };
    if k < lo {
        // Whatever the data: a bad command line (metric_of checks it first).
        return Err(Fail::Usage(format!("--k {k} is too small: it must be at least {lo}")));
    }
    if n == 0 {
        return Err(Fail::Data("the input has no rows (N = 0): no neighbours to find".into()));
    }
    if k > hi {
        return Err(Fail::Data(format!("--k {k} is too large for N = {n} samples: at most {hi} ({why})")));
    }
    Ok(())
}

/// svcca's cca_dim must leave room in every layer: the centred N samples of D features span
/// at most min(N - 1, D) directions.
pub(crate) fn check_cca_dim(n: usize, d_a: usize, d_b: usize, metric: Metric) -> Result<(), Fail> {
    let Metric::Svcca { cca_dim } = metric else { return Ok(()) };
    let most = n.saturating_sub(1).min(d_a).min(d_b);
    if cca_dim > most {
        return Err(Fail::Data(format!(
            "--cca-dim {cca_dim} is too large for these inputs: at most {most} = min(N - 1, D_A, D_B) = min({}, {d_a}, {d_b}) (centred samples span at most N - 1 directions)",
            n.saturating_sub(1)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    // Not core's `panic!`, which the library's `no_std` root also brings into scope.
    use std::panic;
    use std::prelude::rust_2024::*;

    use super::*;
    use crate::knn::Similarity;
    use crate::metrics::{Corr, KnnMetric, Rdm};

    fn metric(args: Args) -> (String, Metric) {
        metric_of(&args).unwrap_or_else(|_| panic!("--metric {:?} rejected", args.metric))
    }

    #[test]
    fn every_listed_metric_name_is_known_and_the_default_is_mutual_knn_at_10() {
        for name in Metric::NAMES {
            assert_eq!(metric(Args { metric: Some(name.into()), ..Args::default() }).0, name);
        }
        let default = metric(Args::default());
        assert_eq!(
            default,
            (
                "mutual_knn".into(),
                Metric::Knn { metric: KnnMetric::Mutual, k: 10, similarity: Similarity::InnerProduct }
            )
        );
        let Err(Fail::Usage(msg)) = metric_of(&Args { metric: Some("mutual".into()), ..Args::default() }) else {
            panic!("an unknown metric must be a usage error");
        };
        assert!(msg.contains("unknown metric 'mutual'") && msg.contains(&Metric::NAMES.join(", ")), "{msg}");
    }

    #[test]
    fn options_override_a_metrics_defaults() {
        let a =
            Args { metric: Some("cka".into()), kernel: Some("rbf".into()), unbiased: Some(true), ..Args::default() };
        let (name, m) = metric(a);
        assert_eq!(m, Metric::Cka { kernel: Kernel::Rbf { sigma: 1.0 }, unbiased: true });
        let keys: Vec<String> = metric_json(&name, m).keys().cloned().collect();
        assert_eq!(keys, ["metric", "kernel", "sigma", "unbiased"]);
        let (_, m) = metric(Args { metric: Some("svcca".into()), cca_dim: Some(4), ..Args::default() });
        assert_eq!(m, Metric::Svcca { cca_dim: 4 });
        let rsa = || Args { metric: Some("rsa".into()), rdm: Some("cosine".into()), ..Args::default() };
        let (name, m) = metric(Args { corr: Some("pearson".into()), ..rsa() });
        assert_eq!(m, Metric::Rsa { rdm: Rdm::Cosine, corr: Corr::Pearson });
        assert_eq!(metric_text(&name, m), "rsa (cosine, pearson)");
        let keys: Vec<String> = metric_json(&name, m).keys().cloned().collect();
        assert_eq!(keys, ["metric", "rdm", "corr"]);
        // Refusals name the flag.
        let usage = |a: Args| match metric_of(&a) {
            Err(Fail::Usage(msg)) => msg,
            _ => panic!("{:?} must be a usage error", a.metric),
        };
        assert_eq!(usage(Args { metric: Some("cka".into()), ..rsa() }), "--rdm applies to rsa, not to cka");
        let msg = usage(Args { corr: Some("kendall".into()), ..rsa() });
        assert_eq!(msg, "--corr: unknown 'kendall' (spearman or pearson)");
    }

    #[test]
    fn k_bounds_follow_the_metric() {
        let knn = |k| Metric::Knn { metric: KnnMetric::Mutual, k, similarity: Similarity::InnerProduct };
        let cknna = |topk| Metric::Cknna { topk, unbiased: true };
        let in_range = |n, m| check_k(n, m).is_ok();
        assert!(in_range(10, knn(1)) && in_range(10, knn(9)) && !in_range(10, knn(0)) && !in_range(10, knn(10)));
        assert!(
            in_range(10, cknna(2)) && in_range(10, cknna(10)) && !in_range(10, cknna(1)) && !in_range(10, cknna(11))
        );
        assert!(in_range(10, Metric::Svcca { cca_dim: 10 }), "k does not bound svcca");
    }
}
