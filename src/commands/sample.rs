//! `pingyi sample-size` and `pingyi sample`: plan a sample and draw it
//! reproducibly. The algorithm and the seed → RNG mapping are specified in
//! `pingyi_analysis::sampling::draw`; this module only reads files and prints.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use pingyi_analysis::sampling::{
    draw, sample_size, Allocation, Draw, DrawOptions, SampleSize, SampleSizeSpec, SizeSpec,
};

/// A proportion given as `0.95` or as a percentage `95%`.
fn proportion(text: &str) -> Result<f64, String> {
    let (number, scale) = match text.trim().strip_suffix('%') {
        Some(pct) => (pct, 100.0),
        None => (text.trim(), 1.0),
    };
    number
        .trim()
        .parse::<f64>()
        .map(|v| v / scale)
        .map_err(|_| format!("'{text}' is not a number; write e.g. 0.95 or 95%"))
}

#[derive(Args, Debug)]
pub struct SampleSizeArgs {
    /// Margin of error: 0.03 or 3% for ±3 percentage points.
    #[arg(long, value_parser = proportion)]
    pub moe: f64,
    /// Confidence level: 0.95 or 95%.
    #[arg(long, value_parser = proportion)]
    pub confidence: f64,
    /// Anticipated proportion (0.5 is the safe choice).
    #[arg(long, default_value_t = 0.5, value_parser = proportion)]
    pub p: f64,
    /// Population size N, for the finite-population correction.
    #[arg(long)]
    pub population: Option<u64>,
    /// Design effect.
    #[arg(long, default_value_t = 1.0)]
    pub deff: f64,
    /// Expected response rate: 0.6 or 60%.
    #[arg(long, default_value_t = 1.0, value_parser = proportion)]
    pub response_rate: f64,
}

impl SampleSizeArgs {
    pub fn compute(&self) -> anyhow::Result<SampleSize> {
        let spec = SampleSizeSpec {
            moe: self.moe,
            confidence: self.confidence,
            p: self.p,
            population: self.population,
            deff: self.deff,
            response_rate: self.response_rate,
        };
        Ok(sample_size(&spec)?)
    }
}

/// Prints n on stdout; the working (z, n0, corrected n) goes to stderr.
pub fn run_sample_size(args: SampleSizeArgs) -> anyhow::Result<()> {
    let s = args.compute()?;
    eprintln!(
        "z = {:.4}, n0 = {:.2}, after fpc = {:.2}, after deff and response rate = {:.2}",
        s.z, s.n0, s.n_fpc, s.n_exact
    );
    if s.capped {
        eprintln!(
            "note: capped at the population; the formula asked for {:.0}",
            s.n_exact.ceil()
        );
    }
    println!("{}", s.n);
    Ok(())
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocationArg {
    Proportional,
    Neyman,
    Equal,
    /// The evaluation rules' requirement: at least 30% of each stratum (ceil(0.3 N_h), at least 1).
    ThirtyPercent,
}

impl From<AllocationArg> for Allocation {
    fn from(a: AllocationArg) -> Self {
        match a {
            AllocationArg::Proportional => Allocation::Proportional,
            AllocationArg::Neyman => Allocation::Neyman,
            AllocationArg::Equal => Allocation::Equal,
            AllocationArg::ThirtyPercent => Allocation::ThirtyPercent,
        }
    }
}

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// The sampling frame: UTF-8 CSV with a header row.
    #[arg(long, value_name = "FILE.csv")]
    pub frame: PathBuf,
    /// Column with a unique id per row.
    #[arg(long, value_name = "COL")]
    pub id: String,
    /// Column whose values define the strata.
    #[arg(long, value_name = "COL")]
    pub strata: Option<String>,
    /// Total sample size.
    #[arg(long, value_name = "N", conflicts_with = "fraction")]
    pub size: Option<u64>,
    /// Sampling fraction in (0, 1]; n = ceil(F·N).
    #[arg(long, value_name = "F", value_parser = proportion)]
    pub fraction: Option<f64>,
    #[arg(long, value_enum, default_value_t = AllocationArg::Proportional)]
    pub allocation: AllocationArg,
    /// Column with each stratum's standard deviation (Neyman allocation).
    #[arg(long, value_name = "COL")]
    pub sd: Option<String>,
    /// Minimum sample per stratum (never more than the stratum has).
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub min_per_stratum: u64,
    /// Draw with probability proportional to this size column (systematic PPS).
    #[arg(long, value_name = "COL")]
    pub pps_size: Option<String>,
    /// The published seed; any text (its UTF-8 bytes are hashed with SHA-256).
    #[arg(long, value_name = "S")]
    pub seed: String,
    /// Where to write the sample CSV (default: stdout).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl SampleArgs {
    pub fn options(&self) -> DrawOptions {
        let size = match (self.size, self.fraction) {
            (Some(n), _) => Some(SizeSpec::Total(n)),
            (None, Some(f)) => Some(SizeSpec::Fraction(f)),
            (None, None) => None,
        };
        DrawOptions {
            id_column: self.id.clone(),
            strata_column: self.strata.clone(),
            size,
            allocation: self.allocation.into(),
            sd_column: self.sd.clone(),
            min_per_stratum: self.min_per_stratum,
            pps_size_column: self.pps_size.clone(),
        }
    }

    /// Reads the frame and draws, without writing anything.
    pub fn draw(&self) -> anyhow::Result<Draw> {
        let frame = std::fs::read(&self.frame)
            .with_context(|| format!("cannot read the frame {}", self.frame.display()))?;
        draw(&frame, &self.options(), &self.seed)
            .with_context(|| format!("cannot draw from {}", self.frame.display()))
    }
}

/// Writes the sample (to --output or stdout) and the draw record to stderr.
pub fn run_sample(args: SampleArgs) -> anyhow::Result<()> {
    let d = args.draw()?;
    match &args.output {
        Some(path) => {
            // Write beside the target and rename, so a failed run leaves no half file.
            let tmp = path.with_extension("partial");
            std::fs::write(&tmp, &d.output)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&d.output)
                .and_then(|_| out.flush())
                .context("cannot write the sample to stdout")?;
        }
    }
    eprint!("{}", record_text(&d));
    Ok(())
}

/// The draw record as text: everything needed to re-run and check the draw.
pub fn record_text(d: &Draw) -> String {
    let mut s = format!(
        "drew {} of {} rows\nframe_sha256={}\nseed={}\nresult_sha256={}\n{}\n",
        d.sample_size, d.population, d.frame_sha256, d.seed, d.result_sha256, d.options
    );
    for st in &d.strata {
        s.push_str(&format!(
            "stratum {:?}: {} of {}{}\n",
            st.key,
            st.sample,
            st.population,
            if st.certainty > 0 {
                format!(" ({} with certainty)", st.certainty)
            } else {
                String::new()
            }
        ));
    }
    s
}
