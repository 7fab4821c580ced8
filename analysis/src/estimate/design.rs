//! Sampling design: specification, the structure of strata and clusters read from
//! the data, and the Taylor-linearisation variance of R's `survey::svyrecvar`.

use super::AnalysisError;

/// What to do with a stratum that has a single PSU (R's `options(survey.lonely.psu)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LonelyPsu {
    /// Stop with an error naming the stratum (R's default).
    #[default]
    Fail,
    /// The stratum contributes nothing to the variance.
    Remove,
    /// The lonely PSU is centred at the grand mean instead of the stratum mean.
    Adjust,
    /// The stratum gets the average variance of the other strata.
    Average,
    /// As `remove` (the PSU is treated as sampled with certainty).
    Certainty,
}

impl std::str::FromStr for LonelyPsu {
    type Err = AnalysisError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fail" => Ok(Self::Fail),
            "remove" => Ok(Self::Remove),
            "adjust" => Ok(Self::Adjust),
            "average" => Ok(Self::Average),
            "certainty" => Ok(Self::Certainty),
            other => Err(AnalysisError::Invalid(format!(
                "lonely-PSU option `{other}`: use fail, remove, adjust, average or certainty"
            ))),
        }
    }
}

/// The sampling design, by column names.
///
/// Mirrors `svydesign(ids = ~c1 + c2, strata = ~s, weights = ~w, fpc = ~f1 + f2, nest = TRUE)`:
/// * `weight`: sampling weight (1 when absent); negative or missing weights are errors.
/// * `strata`: first-stage strata (one stratum when absent).
/// * `clusters`: PSU column, optionally a second-stage column (each row is its own PSU when
///   empty). PSU ids are taken within strata (R's `nest = TRUE`).
/// * `fpc`: one column per stage, either population sizes (all values > 1) or sampling
///   fractions (all values <= 1); absent means sampling with replacement. As in R, the
///   second stage contributes to the variance only when an fpc is given for the first stage
///   (otherwise the ultimate-cluster, with-replacement estimator of the first stage is used).
#[derive(Debug, Clone, Default)]
pub struct DesignSpec {
    pub weight: Option<String>,
    pub strata: Option<String>,
    pub clusters: Vec<String>,
    pub fpc: Vec<String>,
    pub lonely_psu: LonelyPsu,
}

impl DesignSpec {
    /// A simple random sample with replacement, optionally weighted.
    pub fn srs(weight: Option<&str>) -> Self {
        Self {
            weight: weight.map(str::to_string),
            ..Self::default()
        }
    }
    pub(crate) fn validate(&self) -> Result<(), AnalysisError> {
        if self.clusters.len() > 2 {
            return Err(AnalysisError::Invalid(
                "at most two cluster stages are supported (e.g. PSU and school)".into(),
            ));
        }
        if self.fpc.len() > 1 && self.fpc.len() != self.clusters.len() {
            return Err(AnalysisError::Invalid(
                "give one fpc column per cluster stage".into(),
            ));
        }
        Ok(())
    }
    /// Whether the second stage enters the variance (R: `!is.null(fpc) && ncol(ids) > 1`).
    pub(crate) fn two_stage(&self) -> bool {
        self.clusters.len() == 2 && self.fpc.len() == 2
    }
}

/// Stratum at stage 1.
#[derive(Debug, Clone)]
pub(crate) struct Stratum {
    pub name: String,
    pub n_psu: usize,
    /// Population number of PSUs (None: with replacement).
    pub popsize: Option<f64>,
}

/// First-stage PSU.
#[derive(Debug, Clone)]
pub(crate) struct Psu {
    pub stratum: usize,
    pub name: String,
    /// Number of sampled second-stage units and their population size (two-stage only).
    pub n_ssu: usize,
    pub popsize2: Option<f64>,
}

/// A leaf is the finest cluster the variance needs: a PSU, or an SSU for two stages,
/// or a row when there are no clusters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Leaf {
    pub psu: usize,
}

/// The design structure read from the full sample.
#[derive(Debug, Clone)]
pub(crate) struct Structure {
    pub strata: Vec<Stratum>,
    pub psus: Vec<Psu>,
    pub leaves: Vec<Leaf>,
    pub two_stage: bool,
    pub lonely: LonelyPsu,
    pub degf: f64,
    pub nrow: usize,
}

fn scale_of(n: usize, popsize: Option<f64>) -> (f64, f64) {
    // returns (f, scale) as in survey:::onestrat
    let f = match popsize {
        None => 1.0,
        Some(p) if p.is_infinite() => 1.0,
        Some(p) => (p - n as f64) / p,
    };
    let scale = if n > 1 {
        f * n as f64 / (n as f64 - 1.0)
    } else {
        f
    };
    (f, scale)
}

/// Variance of one stratum's cluster totals (`survey:::onestrat`), `totals` holding the
/// clusters present in the domain; the other `n - totals.len()` clusters have total 0.
/// Returns None for a lonely stratum under `average` (R's NA).
fn onestrat(
    totals: &[f64],
    n: usize,
    popsize: Option<f64>,
    lonely: LonelyPsu,
    stratum: &dyn Fn() -> String,
    stage: usize,
) -> Result<Option<f64>, AnalysisError> {
    let (f, scale) = scale_of(n, popsize);
    if f < 1e-7 {
        return Ok(Some(0.0));
    }
    let nsubset = totals.len();
    let n_all = n.max(nsubset);
    let centre = centre(totals.iter().sum::<f64>(), nsubset, n, lonely);
    let mut ss: f64 = totals.iter().map(|t| (t - centre) * (t - centre)).sum();
    ss += (n_all - nsubset) as f64 * centre * centre;
    scaled(ss, scale, n, lonely, stratum, stage)
}

/// The centre of a stratum's cluster totals (sum `s1` over the `nsubset` present): their
/// mean over the stratum's `n` clusters, or 0 for a lonely cluster under `adjust` (R's
/// grand mean of the influence values, which is 0).
fn centre(s1: f64, nsubset: usize, n: usize, lonely: LonelyPsu) -> f64 {
    if lonely != LonelyPsu::Adjust || nsubset > 1 || n > 1 {
        s1 / n.max(nsubset) as f64
    } else {
        0.0
    }
}

/// A stratum's sum of squares scaled, or what the lonely-PSU rule makes of a stratum of one.
fn scaled(
    ss: f64,
    scale: f64,
    n: usize,
    lonely: LonelyPsu,
    stratum: &dyn Fn() -> String,
    stage: usize,
) -> Result<Option<f64>, AnalysisError> {
    if n > 1 {
        return Ok(Some(ss * scale));
    }
    match lonely {
        LonelyPsu::Fail => Err(AnalysisError::LonelyPsu {
            stratum: stratum(),
            stage,
        }),
        LonelyPsu::Average => Ok(None),
        _ => Ok(Some(ss * scale)),
    }
}

/// The variance over strata from the strata's variances: their sum, with `average`'s
/// lonely strata (None) given the mean of the others (R's `survey:::svyrecvar`); 0 without
/// strata, NaN when every stratum is lonely under `average`.
pub(crate) fn over_strata(total: f64, ok: usize, nstrat: usize) -> f64 {
    if ok == 0 {
        if nstrat == 0 {
            0.0
        } else {
            f64::NAN
        }
    } else {
        total * nstrat as f64 / ok as f64
    }
}

/// R's design effect of a mean: the design variance over the SRS without-replacement
/// variance `svyvar · (N̂ − n)/(N̂ n)` (svyvar with n/(n − 1)); None when N̂ < n (R: NA).
/// `wyy`, `wy`, `wx`: Σwy², Σwy, Σw of the valid answers; `np` those with a weight.
pub(crate) fn deff(variance: f64, r: f64, wyy: f64, wy: f64, wx: f64, np: f64) -> Option<f64> {
    if np > 1.0 && wx >= np {
        let svyvar = (wyy - r * wy) / wx * np / (np - 1.0);
        let vsrs = svyvar * (wx - np) / (wx * np);
        Some(variance / vsrs)
    } else {
        None
    }
}

/// [`onestrat`] from sums instead of the totals themselves: `s1 = Σ t` and `s2 = Σ t²` over
/// the `nsubset` clusters of the domain in the stratum (the running tables keep only these).
/// `Σ (t − c)² + (n − nsubset) c²` with `c = s1 / n` is `s2 − c s1`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn onestrat_sums(
    s1: f64,
    s2: f64,
    nsubset: usize,
    n: usize,
    popsize: Option<f64>,
    lonely: LonelyPsu,
    stratum: &dyn Fn() -> String,
    stage: usize,
) -> Result<Option<f64>, AnalysisError> {
    let (f, scale) = scale_of(n, popsize);
    if f < 1e-7 {
        return Ok(Some(0.0));
    }
    let centre = centre(s1, nsubset, n, lonely);
    // Σt² − (Σt)²/n loses the digits the two share: a result within rounding of Σt² (all
    // totals equal, e.g. a stratum of one PSU) is the zero the centred sum gives; NaN stays
    // NaN, as the engine's sums of NaN totals do
    let ss = s2 - centre * s1;
    let ss = if ss <= 64.0 * f64::EPSILON * s2.abs() {
        0.0
    } else {
        ss
    };
    scaled(ss, scale, n, lonely, stratum, stage)
}

impl Structure {
    /// Design variance of a linear statistic given its influence totals per leaf
    /// (`(leaf, total)`, sorted by leaf, leaves absent are zero and outside the domain).
    /// `all_strata`: every stratum counts as present (calibrated designs keep all rows).
    pub fn variance(&self, infl: &[(u32, f64)], all_strata: bool) -> Result<f64, AnalysisError> {
        // PSU totals and, for two stages, SSU totals within PSU.
        let mut psu_tot: Vec<(usize, f64)> = Vec::new();
        let mut ssu_by_psu: Vec<(usize, Vec<f64>)> = Vec::new();
        for &(leaf, t) in infl {
            let l = self.leaves[leaf as usize];
            match psu_tot.last_mut() {
                Some((p, acc)) if *p == l.psu => *acc += t,
                _ => psu_tot.push((l.psu, t)),
            }
            if self.two_stage {
                match ssu_by_psu.last_mut() {
                    Some((p, v)) if *p == l.psu => v.push(t),
                    _ => ssu_by_psu.push((l.psu, vec![t])),
                }
            }
        }
        // Leaves are ordered by stratum then PSU, so PSU totals arrive grouped by stratum
        // only if sorted; sort to be safe.
        psu_tot.sort_by_key(|(p, _)| (self.psus[*p].stratum, *p));
        let mut per_stratum: Vec<(usize, Vec<f64>)> = Vec::new();
        for (p, t) in psu_tot {
            let h = self.psus[p].stratum;
            match per_stratum.last_mut() {
                Some((hh, v)) if *hh == h => v.push(t),
                _ => per_stratum.push((h, vec![t])),
            }
        }
        if all_strata {
            let present: Vec<usize> = per_stratum.iter().map(|(h, _)| *h).collect();
            for h in 0..self.strata.len() {
                if present.binary_search(&h).is_err() {
                    per_stratum.push((h, Vec::new()));
                }
            }
            per_stratum.sort_by_key(|(h, _)| *h);
        }
        let mut total = 0.0;
        let mut ok = 0usize;
        let nstrat = per_stratum.len();
        for (h, totals) in &per_stratum {
            let s = &self.strata[*h];
            let name = || s.name.clone();
            if let Some(v) = onestrat(totals, s.n_psu, s.popsize, self.lonely, &name, 1)? {
                total += v;
                ok += 1;
            }
        }
        let mut v = over_strata(total, ok, nstrat);
        if self.two_stage {
            for (p, totals) in &ssu_by_psu {
                let psu = &self.psus[*p];
                let s = &self.strata[psu.stratum];
                let name = || format!("{}/{}", s.name, psu.name);
                let sub = onestrat(totals, psu.n_ssu, psu.popsize2, self.lonely, &name, 2)?
                    .unwrap_or(f64::NAN);
                if let Some(pop) = s.popsize {
                    v += sub * s.n_psu as f64 / pop;
                }
            }
        }
        Ok(v)
    }
}
