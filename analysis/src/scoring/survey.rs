//! Composite survey values (`composite:<id>` bindings) from responses or from
//! the values of their parts.
//!
//! A `[[composite]]` section (see [`SurveyComposite`]) weights the values of one
//! measure across respondent types: 工作满意度 = 领导班子 40% + 中层以下 60%, or the
//! five-in-one (五位一体) review. [`composite_estimates`] computes it per unit with
//! the estimation engine: one domain estimate per (unit, respondent type) under
//! the design, then the linear contrast Σ wₜ θₜ with its standard error
//! (covariances included, as R's `svycontrast` on `svyby(..., covmat = TRUE)`).
//! [`fill_composites`] does the same arithmetic (point values only) from values
//! already known per respondent type, e.g. `pingyi analyze --by unit,respondent_type`
//! output given to `pingyi score --survey`.

use std::collections::BTreeMap;

use polars::prelude::{DataFrame, LazyFrame, PolarsError, Series};

use super::compute::SurveyValues;
use super::framework::{Framework, SurveyBinding, SurveyComposite, SurveyMeasure};
use crate::estimate::contrast::contrast;
use crate::estimate::{estimate, AnalysisError, DesignSpec, Measure, Variable};

/// Columns of the response frame [`composite_estimates`] reads.
#[derive(Debug, Clone)]
pub struct SurveyColumns {
    pub unit: String,
    pub respondent_type: String,
    /// per respondent: mean score on 0–100 of the answered likert items
    pub index: String,
    /// per respondent: share (0–1) of the answered likert items that are satisfied
    pub rate: String,
}

impl Default for SurveyColumns {
    /// The service's analysis frame: `unit`, `respondent_type`, `all:index`, `all:rate`.
    fn default() -> Self {
        SurveyColumns {
            unit: "unit".into(),
            respondent_type: "respondent_type".into(),
            index: "all:index".into(),
            rate: "all:rate".into(),
        }
    }
}

/// One composite value of one unit.
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeEstimate {
    /// on 0–100
    pub value: f64,
    /// standard error of `value` under the design (covariances between parts included)
    pub se: f64,
    /// valid answers behind it (sum over the parts)
    pub n: u64,
    /// (respondent type, percent weight, that type's estimate on 0–100, its n)
    pub parts: Vec<(String, f64, f64, u64)>,
}

/// What [`composite_estimates`] found: the values, and per (unit, composite key)
/// the respondent types with no valid answer (those composites have no value).
#[derive(Debug, Clone, Default)]
pub struct CompositeResults {
    pub values: BTreeMap<(String, String), CompositeEstimate>,
    pub incomplete: BTreeMap<(String, String), Vec<String>>,
}

impl CompositeResults {
    /// The values as [`SurveyValues`] entries.
    pub fn survey_values(&self) -> SurveyValues {
        self.values
            .iter()
            .map(|(k, e)| (k.clone(), e.value))
            .collect()
    }
}

/// Every composite the framework declares (used by a binding), for every unit in
/// `frame`. Each measure is estimated once, by (unit, respondent type), with the
/// weights and design in `design`; a composite is the contrast Σ w/100 × θ(unit, type).
/// A unit lacking valid answers of one of the types gets no value (it is listed in
/// `incomplete`), so scoring reports the indicator missing rather than re-weighting.
pub fn composite_estimates(
    frame: LazyFrame,
    design: &DesignSpec,
    fw: &Framework,
    columns: &SurveyColumns,
) -> Result<CompositeResults, AnalysisError> {
    let used: Vec<&SurveyComposite> = fw
        .survey_bindings()
        .iter()
        .filter_map(|b| match b {
            super::SurveyBinding::Composite { name } => fw.composite(name),
            _ => None,
        })
        .collect();
    let mut out = CompositeResults::default();
    if used.is_empty() {
        return Ok(out);
    }
    let mut vars = Vec::new();
    for m in [
        SurveyMeasure::SatisfactionIndex,
        SurveyMeasure::SatisfactionRate,
    ] {
        if used.iter().any(|c| c.measure == m) {
            let column = match m {
                SurveyMeasure::SatisfactionIndex => &columns.index,
                SurveyMeasure::SatisfactionRate => &columns.rate,
            };
            vars.push((m, Variable::new(m.as_str(), column, Measure::Mean)));
        }
    }
    let by = vec![columns.unit.clone(), columns.respondent_type.clone()];
    let variables: Vec<Variable> = vars.iter().map(|(_, v)| v.clone()).collect();
    let est = estimate(frame, design, None, &by, &variables)?;
    let nv = est.variables.len();
    let mut units: Vec<&str> = est.domains.iter().map(|d| d[0].as_str()).collect();
    units.sort_unstable();
    units.dedup();
    for c in used {
        let Some(v) = vars.iter().position(|(m, _)| *m == c.measure) else {
            continue;
        };
        // a rate is a proportion in the engine and a percentage in frameworks
        let scale = match c.measure {
            SurveyMeasure::SatisfactionIndex => 1.0,
            SurveyMeasure::SatisfactionRate => 100.0,
        };
        for u in &units {
            let mut terms = Vec::new();
            let mut parts = Vec::new();
            let mut missing = Vec::new();
            let mut n = 0;
            for (t, w) in &c.weights {
                match est.domain_index(&[u, t.as_str()]) {
                    Some(d) if est.cell(d, v).n > 0 => {
                        let cell = est.cell(d, v);
                        terms.push((d * nv + v, w / 100.0 * scale));
                        parts.push((t.clone(), *w, cell.estimate * scale, cell.n));
                        n += cell.n;
                    }
                    _ => missing.push(t.clone()),
                }
            }
            let key = ((*u).to_string(), c.key());
            if !missing.is_empty() {
                out.incomplete.insert(key, missing);
                continue;
            }
            let k = contrast(&est, &terms)?;
            out.values.insert(
                key,
                CompositeEstimate {
                    // the parts are on 0–100, so is their convex combination; clamp float drift
                    value: k.estimate.clamp(0.0, 100.0),
                    se: k.se,
                    n,
                    parts,
                },
            );
        }
    }
    Ok(out)
}

/// Adds every declared composite a binding uses that `survey` lacks for a unit
/// but whose parts (`<measure>:<type>` for each weighted type) it has:
/// Σ w/100 × value(type). Returns the keys added, as (unit, key).
pub fn fill_composites(fw: &Framework, survey: &mut SurveyValues) -> Vec<(String, String)> {
    let mut added = Vec::new();
    let units: Vec<String> = {
        let mut u: Vec<String> = survey.keys().map(|(u, _)| u.clone()).collect();
        u.dedup();
        u
    };
    for b in fw.survey_bindings() {
        let super::SurveyBinding::Composite { name } = &b else {
            continue;
        };
        let Some(c) = fw.composite(name) else {
            continue;
        };
        for u in &units {
            let key = (u.clone(), c.key());
            if survey.contains_key(&key) {
                continue;
            }
            let parts: Option<Vec<f64>> = c
                .weights
                .iter()
                .map(|(t, w)| {
                    survey
                        .get(&(u.clone(), c.part_key(t)))
                        .map(|v| w / 100.0 * v)
                })
                .collect();
            if let Some(parts) = parts {
                let v: f64 = parts.iter().sum();
                survey.insert(key.clone(), v.clamp(0.0, 100.0));
                added.push(key);
            }
        }
    }
    added
}

/// Values of the framework's `measure:` bindings from responses: per unit, the weighted
/// mean over the pooled respondent types of each respondent's satisfaction index (or share
/// of satisfied answers × 100). `weight` names the weight column (a missing weight counts
/// 1); respondents without a value are left out, and a unit whose weights sum to zero has
/// no value. `composite:` bindings are [`composite_estimates`]'.
pub fn measure_values(
    frame: &DataFrame,
    fw: &Framework,
    columns: &SurveyColumns,
    weight: &str,
) -> Result<SurveyValues, AnalysisError> {
    let bindings: Vec<(String, SurveyMeasure, Vec<String>)> = fw
        .survey_bindings()
        .into_iter()
        .filter_map(|b| match &b {
            SurveyBinding::Measure {
                measure,
                respondent_types,
            } => Some((b.key(), *measure, respondent_types.clone())),
            SurveyBinding::Composite { .. } => None,
        })
        .collect();
    let mut out = SurveyValues::new();
    if bindings.is_empty() || frame.height() == 0 {
        return Ok(out);
    }
    let series = |name: &str| -> Result<Series, AnalysisError> {
        frame
            .column(name)
            .map(|c| c.as_materialized_series().clone())
            .map_err(|_| AnalysisError::MissingColumn(name.to_owned()))
    };
    let (unit_s, rtype_s, weight_s) = (
        series(&columns.unit)?,
        series(&columns.respondent_type)?,
        series(weight)?,
    );
    let (index_s, rate_s) = (series(&columns.index)?, series(&columns.rate)?);
    let e = |e: PolarsError| AnalysisError::Invalid(e.to_string());
    let (unit, rtype, weight) = (
        unit_s.str().map_err(e)?,
        rtype_s.str().map_err(e)?,
        weight_s.f64().map_err(e)?,
    );
    let (index, rate) = (index_s.f64().map_err(e)?, rate_s.f64().map_err(e)?);
    for (key, measure, types) in &bindings {
        let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for i in 0..frame.height() {
            let (Some(u), Some(t)) = (unit.get(i), rtype.get(i)) else {
                continue;
            };
            if !types.iter().any(|x| x == t) {
                continue;
            }
            let v = match measure {
                SurveyMeasure::SatisfactionIndex => index.get(i),
                SurveyMeasure::SatisfactionRate => rate.get(i).map(|r| r * 100.0),
            };
            let (Some(v), w) = (v, weight.get(i).unwrap_or(1.0)) else {
                continue;
            };
            let s = sums.entry(u.to_owned()).or_insert((0.0, 0.0));
            s.0 += w * v;
            s.1 += w;
        }
        for (u, (sw, w)) in sums {
            if w > 0.0 {
                out.insert((u, key.clone()), sw / w);
            }
        }
    }
    Ok(out)
}
