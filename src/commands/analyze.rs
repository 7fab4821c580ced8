//! `pingyi analyze`: design-based estimates for every group of a response file, with the
//! numbers of R's `survey` package.
//!
//! ```text
//! pingyi analyze --input FILE.csv|FILE.parquet --value COL [--satisfied CODES] [--by COL[,COL…]]
//!                [--weight COL] [--strata COL] [--cluster COL] [--fpc COL]
//!                [--poststratify FILE.csv] [--rake FILE.csv]… [--ci METHOD] [--missing V[,V…]]
//!                [--level 0.95] [--min-cell K] [--format csv|json] [--output FILE]
//! ```
//! Output: one row per group: the `--by` columns, `n`, `estimate`, `se`, `ci_low`,
//! `ci_high`, `deff`, `n_eff`, `suppressed` (estimate columns empty when suppressed).
//! Each group's interval uses its own df, `degf(design[group, ])` of the valid answers, as
//! `svyby(..., svyciprop)` in R.
//!
//! A CSV is read without a pass to infer types: the value, weight and fpc columns as
//! numbers, every other column as text, and only the columns the analysis needs.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use pingyi_analysis::estimate::{
    domain_table, estimate, io, AnalysisError, Calibration, CiMethod, DesignSpec, LonelyPsu,
    Measure, PostStrata, RakeMargin, Variable,
};

#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// Response file, one row per response (.csv or .parquet).
    #[arg(long)]
    pub input: PathBuf,
    /// Column to estimate.
    #[arg(long)]
    pub value: String,
    /// Codes counted as satisfied (e.g. 3,4,5): estimate the share of valid answers in
    /// this set; without it, the mean of the value column.
    #[arg(long, value_delimiter = ',')]
    pub satisfied: Option<Vec<f64>>,
    /// Grouping columns, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub by: Vec<String>,
    /// Sampling weight column (default: all 1).
    #[arg(long)]
    pub weight: Option<String>,
    /// Stratum column.
    #[arg(long)]
    pub strata: Option<String>,
    /// Cluster (PSU) column; without it each row is its own PSU.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Finite population correction column: population size or sampling fraction.
    #[arg(long)]
    pub fpc: Option<String>,
    /// Post-stratification table: post-stratum column(s) and `population`.
    #[arg(long)]
    pub poststratify: Option<PathBuf>,
    /// Raking margin (repeatable): one margin column and `population`.
    #[arg(long)]
    pub rake: Vec<PathBuf>,
    /// Interval for proportions, as R's svyciprop: xlogit (default), logit, likelihood,
    /// beta (Korn–Graubard), wald (svyciprop's "mean") or asin; or wilson. Means always
    /// get the t interval.
    #[arg(long, default_value = "xlogit")]
    pub ci: String,
    /// The value is a mean on 0–SCALE (e.g. 100 for the satisfaction index): its interval
    /// is --ci applied to value / SCALE, as the service's index intervals (xlogit on 0–1).
    #[arg(long)]
    pub scale: Option<f64>,
    /// Confidence level.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// Suppress groups with fewer valid answers than this (and a complementary group).
    #[arg(long, default_value_t = 5)]
    pub min_cell: u64,
    /// Output format: csv or json.
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// Output file (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Strata with one PSU: fail (default), remove, adjust, average.
    #[arg(long, default_value = "fail")]
    pub lonely_psu: String,
    /// Values of the value column that are not answers, comma-separated: codes (e.g. 9)
    /// or any text in the file (e.g. 不了解 for "don't know").
    #[arg(long, value_delimiter = ',')]
    pub missing: Vec<String>,
}

/// Produce the output text for `args` (what `run` prints or writes).
pub fn render(args: &AnalyzeArgs) -> anyhow::Result<String> {
    if !(args.level > 0.0 && args.level < 1.0) {
        bail!("--level must be between 0 and 1 (got {})", args.level);
    }
    let method: CiMethod = args.ci.parse()?;
    if args.format != "csv" && args.format != "json" {
        bail!("--format `{}`: use csv or json", args.format);
    }
    let lonely: LonelyPsu = args.lonely_psu.parse()?;
    // --missing: numbers are codes; any other text is read as an empty cell
    let mut codes: Vec<f64> = Vec::new();
    let mut cols = io::CsvColumns::default();
    for m in &args.missing {
        match m.trim().parse::<f64>() {
            Ok(c) if c.is_finite() => codes.push(c),
            _ => cols.missing_text.push((args.value.clone(), m.clone())),
        }
    }
    cols.numeric.push(args.value.clone());
    cols.numeric.extend(args.weight.iter().cloned());
    cols.numeric.extend(args.fpc.iter().cloned());
    let frame = io::scan_for(&args.input, &cols)?;
    let design = DesignSpec {
        weight: args.weight.clone(),
        strata: args.strata.clone(),
        clusters: args.cluster.iter().cloned().collect(),
        fpc: args.fpc.iter().cloned().collect(),
        lonely_psu: lonely,
    };
    let mut calibration = None;
    if args.poststratify.is_some() || !args.rake.is_empty() {
        let mut cal = Calibration::default();
        if let Some(p) = &args.poststratify {
            let (columns, population) = io::read_population_for(&frame, p)?;
            cal.post_strata = Some(PostStrata {
                columns,
                population,
            });
        }
        for r in &args.rake {
            let (columns, population) = io::read_population_for(&frame, r)?;
            if columns.len() != 1 {
                bail!(
                    "raking margin {} must have one margin column and `population` (found {})",
                    r.display(),
                    columns.join(", ")
                );
            }
            cal.rake.push(RakeMargin {
                column: columns[0].clone(),
                population: population
                    .into_iter()
                    .map(|(k, p)| (k[0].clone(), p))
                    .collect(),
            });
        }
        calibration = Some(cal);
    }
    let (measure, method) = match (&args.satisfied, args.scale) {
        (Some(_), Some(_)) => bail!("--scale is for means: leave out --satisfied"),
        (Some(codes), None) => (Measure::Proportion(codes.clone()), method),
        (None, Some(s)) if s > 0.0 && s.is_finite() => {
            if method == CiMethod::Likelihood {
                bail!("--ci likelihood needs yes/no answers (--satisfied), not a mean");
            }
            (Measure::Mean, method)
        }
        (None, Some(s)) => bail!("--scale must be a positive number (got {s})"),
        (None, None) => (Measure::Mean, CiMethod::Mean),
    };
    let mut var = Variable::new(&args.value, &args.value, measure).with_missing(&codes);
    if method == CiMethod::Likelihood {
        var = var.with_profile();
    }
    let vars = [var];
    let est = match estimate(frame, &design, calibration.as_ref(), &args.by, &vars) {
        Ok(e) => e,
        // a value the typed read could not take: read the columns as text, so the engine
        // names the column, row and value
        Err(AnalysisError::Polars(_)) if args.input.extension().is_some_and(|e| e == "csv") => {
            let text = io::scan_text(&args.input, &cols)?;
            estimate(text, &design, calibration.as_ref(), &args.by, &vars).map_err(hint)?
        }
        Err(e) => return Err(hint(e)),
    };
    let table = domain_table(&est, 0, method, args.level, args.min_cell, args.scale)?;
    Ok(if args.format == "json" {
        io::to_json(&table)?
    } else {
        io::to_csv(&table)?
    })
}

/// A value that is not a number may be a "don't know" text: say how to pass it.
fn hint(e: AnalysisError) -> anyhow::Error {
    match &e {
        AnalysisError::BadValue { msg, .. } if msg.contains("not a number") => {
            anyhow::anyhow!("{e} (if it marks a missing answer, give it to --missing)")
        }
        _ => e.into(),
    }
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    let text = render(&args)?;
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(())
}
