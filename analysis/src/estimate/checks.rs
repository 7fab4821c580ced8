//! The input checks of [`super::engine::estimate`]: every needed column exists, and design
//! and value columns hold what the estimator can use, each problem named by column and row.

use polars::prelude::*;

use super::design::DesignSpec;
use super::engine::Variable;
use super::AnalysisError;

/// Check that every needed column exists; return the first missing one.
pub(super) fn check_columns(
    frame: &LazyFrame,
    design: &DesignSpec,
    cal_cols: &[String],
    by: &[String],
    vars: &[Variable],
) -> Result<Vec<String>, AnalysisError> {
    let schema = frame.clone().collect_schema()?;
    let mut needed: Vec<&String> = Vec::new();
    needed.extend(design.weight.iter());
    needed.extend(design.strata.iter());
    needed.extend(design.clusters.iter());
    needed.extend(design.fpc.iter());
    needed.extend(cal_cols.iter());
    needed.extend(by.iter());
    needed.extend(vars.iter().map(|v| &v.column));
    let mut out: Vec<String> = Vec::new();
    for c in &needed {
        if schema.get(c.as_str()).is_none() {
            return Err(AnalysisError::MissingColumn((*c).clone()));
        }
        if !out.contains(c) {
            out.push((*c).clone());
        }
    }
    Ok(out)
}

/// Check that design and value columns are usable; return the first problem naming
/// column and row (rows count from 1; a CSV's line is row + 1). In order: values that are
/// present but not numbers, missing or negative weights, empty design or calibration keys.
pub(super) fn check_values(
    df: &DataFrame,
    design: &DesignSpec,
    cal_cols: &[String],
    vars: &[Variable],
) -> Result<(), AnalysisError> {
    let mut numeric: Vec<&String> = vars.iter().map(|v| &v.column).collect();
    numeric.extend(design.weight.iter());
    numeric.extend(design.fpc.iter());
    numeric.sort();
    numeric.dedup();
    // columns already numeric cannot hold text
    for c in numeric {
        let s = df.column(c)?.as_materialized_series();
        if s.dtype().is_primitive_numeric() {
            continue;
        }
        let f = s.cast(&DataType::Float64)?;
        let bad = s
            .is_not_null()
            .iter()
            .zip(f.f64()?.iter())
            .position(|(present, v)| present == Some(true) && v.is_none_or(f64::is_nan));
        if let Some(i) = bad {
            let value = s.get(i).map(|v| v.to_string()).unwrap_or_default();
            return Err(AnalysisError::BadValue {
                column: c.clone(),
                row: i + 1,
                msg: format!("{value} is not a number"),
            });
        }
    }
    if let Some(w) = &design.weight {
        let f = df
            .column(w)?
            .as_materialized_series()
            .cast(&DataType::Float64)?;
        let ca = f.f64()?;
        let bad = if ca.null_count() == 0 {
            let mut off = 0;
            let mut hit = None;
            for arr in ca.downcast_iter() {
                if let Some(i) = arr.values().iter().position(|&x| x < 0.0) {
                    hit = Some(off + i);
                    break;
                }
                off += arr.len();
            }
            hit
        } else {
            ca.iter().position(|v| v.is_none_or(|x| x < 0.0))
        };
        if let Some(i) = bad {
            return Err(AnalysisError::BadValue {
                column: w.clone(),
                row: i + 1,
                msg: "weight is missing or negative".into(),
            });
        }
    }
    let mut ids: Vec<&String> = Vec::new();
    ids.extend(design.strata.iter());
    ids.extend(design.clusters.iter());
    ids.extend(design.fpc.iter());
    ids.extend(cal_cols.iter());
    for c in ids {
        let s = df.column(c)?.as_materialized_series();
        if s.null_count() == 0 {
            continue;
        }
        if let Some(i) = s.is_null().iter().position(|b| b == Some(true)) {
            return Err(AnalysisError::BadValue {
                column: c.clone(),
                row: i + 1,
                msg: "empty design or calibration value".into(),
            });
        }
    }
    Ok(())
}
