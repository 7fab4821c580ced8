//! `pingyi analyze`: design-based estimates for every group of a response file, with the
//! numbers of R's `survey` package.
//!
//! ```text
//! pingyi analyze --input FILE.csv|FILE.parquet --value COL [--satisfied CODES] [--by COL[,COL…]]
//!                [--weight COL] [--strata COL] [--cluster COL] [--fpc COL]
//!                [--poststratify FILE.csv] [--rake FILE.csv]… [--ci xlogit|beta|wilson|wald]
//!                [--level 0.95] [--min-cell K] [--format csv|json] [--output FILE]
//! ```
//! Output: one row per group: the `--by` columns, `n`, `estimate`, `se`, `ci_low`,
//! `ci_high`, `deff`, `n_eff`, `suppressed` (estimate columns empty when suppressed).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use pingyi_analysis::estimate::{
    domain_table, estimate, io, Calibration, CiMethod, DesignSpec, LonelyPsu, Measure, PostStrata,
    RakeMargin, Variable,
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
    /// Interval for proportions: xlogit (default), beta, wilson or wald.
    #[arg(long, default_value = "xlogit")]
    pub ci: String,
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
    /// Codes that are not answers (e.g. 9 for "don't know"), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub missing: Vec<f64>,
}

/// Produce the output text for `args` (what `run` prints or writes).
pub fn render(args: &AnalyzeArgs) -> anyhow::Result<String> {
    if !(args.level > 0.0 && args.level < 1.0) {
        bail!("--level must be between 0 and 1 (got {})", args.level);
    }
    let method: CiMethod = args.ci.parse()?;
    if !matches!(
        method,
        CiMethod::Xlogit | CiMethod::Beta | CiMethod::Wilson | CiMethod::Wald
    ) {
        bail!("--ci `{}`: use xlogit, beta, wilson or wald", args.ci);
    }
    if args.format != "csv" && args.format != "json" {
        bail!("--format `{}`: use csv or json", args.format);
    }
    let lonely: LonelyPsu = args.lonely_psu.parse()?;
    let frame = io::scan(&args.input)?;
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
    let (measure, method) = match &args.satisfied {
        Some(codes) => (Measure::Proportion(codes.clone()), method),
        None => (Measure::Mean, CiMethod::Mean),
    };
    let var = Variable::new(&args.value, &args.value, measure).with_missing(&args.missing);
    let est = estimate(frame, &design, calibration.as_ref(), &args.by, &[var])?;
    let table = domain_table(&est, 0, method, args.level, args.min_cell)?;
    Ok(if args.format == "json" {
        io::to_json(&table)?
    } else {
        io::to_csv(&table)?
    })
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
