//! Post-stratification, raking (iterative proportional fitting) and weight trimming,
//! done on the table of calibration cells (the cross-classification of all calibration
//! variables), so the row-level work is a single join of one factor per cell.
//!
//! The steps are recorded so the variance can remove the calibration residuals exactly as
//! `survey::svyrecvar` does for `postStratify` and `rake` designs.

use super::AnalysisError;

/// Population counts for post-stratification: one row per post-stratum.
#[derive(Debug, Clone)]
pub struct PostStrata {
    /// post-stratum columns
    pub columns: Vec<String>,
    /// (values of `columns`, population count)
    pub population: Vec<(Vec<String>, f64)>,
}

/// One raking margin: a column and its population counts by value.
#[derive(Debug, Clone)]
pub struct RakeMargin {
    pub column: String,
    pub population: Vec<(String, f64)>,
}

/// Weight calibration. Post-stratification is applied first, then raking.
#[derive(Debug, Clone)]
pub struct Calibration {
    pub post_strata: Option<PostStrata>,
    pub rake: Vec<RakeMargin>,
    /// Raking convergence: largest change of any cell's weighted count between two passes;
    /// below 1 it is relative to the total weight (as R's `rake(control = list(epsilon))`).
    pub epsilon: f64,
    /// Raking pass cap (R's `maxit`).
    pub max_iter: usize,
    /// Optional trimming of the calibrated weights to [lower, upper], the trimmed amount
    /// spread evenly over the untrimmed rows (R's `trimWeights`, non-strict).
    pub trim: Option<(f64, f64)>,
}

impl Default for Calibration {
    fn default() -> Self {
        Self {
            post_strata: None,
            rake: Vec::new(),
            epsilon: 1e-10,
            max_iter: 100,
            trim: None,
        }
    }
}

impl Calibration {
    /// All columns the calibration cells are built from, in order.
    pub fn columns(&self) -> Vec<String> {
        let mut cols: Vec<String> = Vec::new();
        if let Some(ps) = &self.post_strata {
            cols.extend(ps.columns.iter().cloned());
        }
        for m in &self.rake {
            cols.push(m.column.clone());
        }
        let mut seen = std::collections::HashSet::new();
        cols.retain(|c| seen.insert(c.clone()));
        cols
    }
}

/// What the calibration did.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationReport {
    /// raking passes (0 without raking)
    pub iterations: usize,
    /// max over margins / post-strata of |weighted count - population| / population
    pub max_rel_error: f64,
    pub converged: bool,
}

/// One recorded calibration step on the cells.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// level of each cell in this step's grouping
    pub level: Vec<usize>,
    pub n_levels: usize,
    /// cumulative cell factor before and after the step
    pub before: Vec<f64>,
    pub after: Vec<f64>,
}

#[derive(Debug, Clone)]
pub(crate) enum Block {
    Post(Step),
    /// the margins of the last raking pass
    Rake(Vec<Step>),
}

/// Calibration result on the cells.
#[derive(Debug, Clone)]
pub(crate) struct Fitted {
    pub factor: Vec<f64>,
    pub blocks: Vec<Block>,
    pub report: CalibrationReport,
}

/// Cells: key values (one per calibration column), pre-calibration weight sum, row count.
pub(crate) struct Cells<'a> {
    pub keys: &'a [Vec<String>],
    pub columns: &'a [String],
    pub w0: &'a [f64],
}

fn levels_for(
    cells: &Cells,
    cols: &[String],
) -> Result<(Vec<usize>, Vec<Vec<String>>), AnalysisError> {
    let idx: Vec<usize> = cols
        .iter()
        .map(|c| {
            cells
                .columns
                .iter()
                .position(|x| x == c)
                .ok_or_else(|| AnalysisError::MissingColumn(c.clone()))
        })
        .collect::<Result<_, _>>()?;
    let mut names: Vec<Vec<String>> = Vec::new();
    let mut map = std::collections::HashMap::new();
    let mut level = Vec::with_capacity(cells.keys.len());
    for k in cells.keys {
        let key: Vec<String> = idx.iter().map(|&i| k[i].clone()).collect();
        let n = names.len();
        let l = *map.entry(key.clone()).or_insert_with(|| {
            names.push(key);
            n
        });
        level.push(l);
    }
    Ok((level, names))
}

/// Post-stratify the current cell factors to `population` (R's `postStratify`).
fn post_step(
    cells: &Cells,
    factor: &mut [f64],
    cols: &[String],
    population: &[(Vec<String>, f64)],
) -> Result<(Step, f64), AnalysisError> {
    let (level, names) = levels_for(cells, cols)?;
    let mut pop = vec![f64::NAN; names.len()];
    for (key, p) in population {
        if let Some(l) = names.iter().position(|n| n == key) {
            pop[l] = *p;
        } else if *p > 0.0 {
            return Err(AnalysisError::EmptyPostStratum {
                cell: format!("{}={}", cols.join(","), key.join(",")),
            });
        }
    }
    let mut sample = vec![0.0; names.len()];
    for (c, &l) in level.iter().enumerate() {
        sample[l] += cells.w0[c] * factor[c];
    }
    for (l, name) in names.iter().enumerate() {
        if pop[l].is_nan() {
            return Err(AnalysisError::Invalid(format!(
                "post-stratum {}={} is in the sample but not in the population table",
                cols.join(","),
                name.join(",")
            )));
        }
        if sample[l] <= 0.0 && pop[l] > 0.0 {
            return Err(AnalysisError::EmptyPostStratum {
                cell: format!("{}={}", cols.join(","), name.join(",")),
            });
        }
    }
    let before = factor.to_vec();
    for (c, &l) in level.iter().enumerate() {
        if sample[l] > 0.0 {
            factor[c] *= pop[l] / sample[l];
        }
    }
    let mut err: f64 = 0.0;
    let mut after_sum = vec![0.0; names.len()];
    for (c, &l) in level.iter().enumerate() {
        after_sum[l] += cells.w0[c] * factor[c];
    }
    for l in 0..names.len() {
        if pop[l] > 0.0 {
            err = err.max((after_sum[l] - pop[l]).abs() / pop[l]);
        }
    }
    Ok((
        Step {
            level,
            n_levels: names.len(),
            before,
            after: factor.to_vec(),
        },
        err,
    ))
}

fn margin_error(cells: &Cells, factor: &[f64], cal: &Calibration) -> Result<f64, AnalysisError> {
    let mut err: f64 = 0.0;
    for m in &cal.rake {
        let cols = [m.column.clone()];
        let (level, names) = levels_for(cells, &cols)?;
        let mut s = vec![0.0; names.len()];
        for (c, &l) in level.iter().enumerate() {
            s[l] += cells.w0[c] * factor[c];
        }
        for (value, p) in &m.population {
            if let Some(l) = names.iter().position(|n| n[0] == *value) {
                if *p > 0.0 {
                    err = err.max((s[l] - p).abs() / p);
                }
            }
        }
    }
    Ok(err)
}

/// Fit post-stratification and/or raking on the cells (R's `postStratify` then `rake`).
pub(crate) fn fit(cells: &Cells, cal: &Calibration) -> Result<Fitted, AnalysisError> {
    let mut factor = vec![1.0; cells.w0.len()];
    let mut blocks = Vec::new();
    let mut max_rel_error: f64 = 0.0;
    if let Some(ps) = &cal.post_strata {
        let pop: Vec<(Vec<String>, f64)> = ps.population.clone();
        let (step, err) = post_step(cells, &mut factor, &ps.columns, &pop)?;
        max_rel_error = max_rel_error.max(err);
        blocks.push(Block::Post(step));
    }
    let mut iterations = 0;
    let mut converged = true;
    if !cal.rake.is_empty() {
        let total: f64 = cells.w0.iter().zip(&factor).map(|(w, f)| w * f).sum();
        let eps = if cal.epsilon < 1.0 {
            cal.epsilon * total
        } else {
            cal.epsilon
        };
        converged = false;
        let mut old: Vec<f64> = cells.w0.iter().zip(&factor).map(|(w, f)| w * f).collect();
        let mut last = Vec::new();
        // R's loop: `iter` counts passes that did not converge.
        while iterations < cal.max_iter {
            last.clear();
            for m in &cal.rake {
                let pop: Vec<(Vec<String>, f64)> = m
                    .population
                    .iter()
                    .map(|(v, p)| (vec![v.clone()], *p))
                    .collect();
                let (step, _) =
                    post_step(cells, &mut factor, std::slice::from_ref(&m.column), &pop)?;
                last.push(step);
            }
            let new: Vec<f64> = cells.w0.iter().zip(&factor).map(|(w, f)| w * f).collect();
            let delta = old
                .iter()
                .zip(&new)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            old = new;
            if delta < eps {
                converged = true;
                break;
            }
            iterations += 1;
        }
        iterations = (iterations + 1).min(cal.max_iter);
        max_rel_error = max_rel_error.max(margin_error(cells, &factor, cal)?);
        blocks.push(Block::Rake(last));
    }
    Ok(Fitted {
        factor,
        blocks,
        report: CalibrationReport {
            iterations,
            max_rel_error,
            converged,
        },
    })
}

/// Remove the calibration residuals from a domain's influence, in cell space.
///
/// Inputs per cell: `x0` = sum of the influence values, `u0` = sum of influence / w0
/// (w0: pre-calibration weight), `w0` = sum of w0 over the whole sample, `cnt` = rows.
/// Returns B(c) such that each row's calibrated influence is `x0_j - w0_j * B(c)`.
pub(crate) fn residual_coefficients(
    blocks: &[Block],
    x0: &[f64],
    u0: &[f64],
    w0: &[f64],
    cnt: &[f64],
) -> Vec<f64> {
    let nc = x0.len();
    let mut b = vec![0.0; nc];
    for block in blocks {
        match block {
            Block::Post(step) => {
                // psmeans_l = sum(x * oldw/psw) / sum(oldw) over the post-stratum
                let mut num = vec![0.0; step.n_levels];
                let mut den = vec![0.0; step.n_levels];
                for c in 0..nc {
                    let l = step.level[c];
                    let ratio = step.before[c] / step.after[c];
                    num[l] += (x0[c] - w0[c] * b[c]) * ratio;
                    den[l] += w0[c] * step.before[c];
                }
                for ((bc, &l), &after) in b.iter_mut().zip(&step.level).zip(&step.after) {
                    if den[l] != 0.0 {
                        *bc += after * num[l] / den[l];
                    }
                }
            }
            Block::Rake(steps) => {
                // survey::svyrecvar: 10 backfitting sweeps, x <- x - psw * ave(x / psw, margin)
                for _ in 0..10 {
                    for step in steps {
                        let mut num = vec![0.0; step.n_levels];
                        let mut den = vec![0.0; step.n_levels];
                        for c in 0..nc {
                            let l = step.level[c];
                            num[l] += (u0[c] - cnt[c] * b[c]) / step.after[c];
                            den[l] += cnt[c];
                        }
                        for ((bc, &l), &after) in b.iter_mut().zip(&step.level).zip(&step.after) {
                            if den[l] != 0.0 {
                                *bc += after * num[l] / den[l];
                            }
                        }
                    }
                }
            }
        }
    }
    b
}
