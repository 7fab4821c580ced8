//! Estimation engine benchmark (not a test). Two modes:
//!
//! * `cargo bench -p pingyi-analysis --bench estimate` — 10,000,000 synthetic responses
//!   (60 units × 6 respondent types × 16 strata × 40 PSUs each, 10 likert items, weights):
//!   the full unit × respondent type × item table (rate + index, SE, xlogit / t intervals,
//!   deff, n_eff, suppression) plus the five-in-one composite per unit. Set ROWS to change n.
//! * `... --bench estimate -- side-by-side 1000000 DIR` — writes DIR/bench.csv (unless it
//!   exists), reads it, runs the domain means of `sat` by unit × rtype and writes
//!   DIR/ours.csv for benches/estimate_side_by_side.R to compare with R's `svyby`. Prints
//!   the CSV read and the estimate (+ table) times separately.
//! * `... --bench estimate -- running 1000000` — the tables pages use (one PSU per response,
//!   strata, weights; 10 items as rate and score, and a per-response index) by unit ×
//!   respondent type: the engine, a running table built from all rows, and the running table
//!   brought forward by one new response and one withdrawn (the cost of a new answer).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use pingyi_analysis::estimate::{
    engine::estimate, io, satisfaction_table, table::domain_table, CiMethod, Composite, DesignSpec,
    Measure, TableSpec, Variable,
};
use polars::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn synth(n: usize, items: usize) -> DataFrame {
    let mut rng = ChaCha8Rng::seed_from_u64(20261128);
    let mut unit = Vec::with_capacity(n);
    let mut rtype = Vec::with_capacity(n);
    let mut stratum = Vec::with_capacity(n);
    let mut psu = Vec::with_capacity(n);
    let mut weight = Vec::with_capacity(n);
    for _ in 0..n {
        let u: i32 = rng.gen_range(0..60);
        let s: i32 = rng.gen_range(0..16);
        unit.push(u);
        rtype.push(rng.gen_range(0..6i32));
        stratum.push(s);
        psu.push(s * 40 + rng.gen_range(0..40));
        weight.push(rng.gen_range(0.5..4.0));
    }
    // items one at a time (own seed each) so generation peaks at one item's buffer
    let mut cols = Vec::new();
    for k in 0..items {
        let mut rng = ChaCha8Rng::seed_from_u64(7_000 + k as u64);
        let item: Int32Chunked = unit
            .iter()
            .map(|&u| {
                let base = 3.4 + (u % 7) as f64 * 0.1;
                let r: f64 = rng.gen();
                if r < 0.03 {
                    None
                } else if r < 0.08 {
                    Some(9)
                } else {
                    Some((base + rng.gen_range(-2.0..2.0f64)).round().clamp(1.0, 5.0) as i32)
                }
            })
            .collect();
        cols.push(
            item.with_name(format!("q{}", k + 1).as_str().into())
                .into_column(),
        );
    }
    let mut all = vec![
        Column::new("unit".into(), unit),
        Column::new("rtype".into(), rtype),
        Column::new("stratum".into(), stratum),
        Column::new("psu".into(), psu),
        Column::new("weight".into(), weight),
    ];
    all.extend(cols);
    DataFrame::new_infer_height(all).unwrap_or_else(|e| panic!("{e}"))
}

/// CPU seconds (user + system) used by this process so far, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the command name in parentheses; utime and stime are the 14th and 15th
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn design() -> DesignSpec {
    DesignSpec {
        weight: Some("weight".into()),
        strata: Some("stratum".into()),
        clusters: vec!["psu".into()],
        ..DesignSpec::default()
    }
}

/// The running-table mode (see the module docs).
fn running(n: usize) {
    use pingyi_analysis::estimate::Running;
    let mut df = synth(n, 10);
    // a per-response index: the mean of the answered items' scores
    let index: Float64Chunked = (0..n)
        .map(|i| {
            let (mut s, mut k) = (0.0, 0.0);
            for q in 1..=10 {
                if let Some(v) = df.column(&format!("q{q}")).ok()?.i32().ok()?.get(i) {
                    if v <= 5 {
                        s += f64::from(v - 1) * 25.0;
                        k += 1.0;
                    }
                }
            }
            (k > 0.0).then(|| s / k)
        })
        .collect();
    df.with_column(index.with_name("index".into()).into_column())
        .unwrap_or_else(|e| panic!("{e}"));
    let d = DesignSpec {
        weight: Some("weight".into()),
        strata: Some("stratum".into()),
        ..DesignSpec::default()
    };
    let mut vars = Vec::new();
    for q in 1..=10 {
        let c = format!("q{q}");
        vars.push(
            Variable::new(
                &format!("{c}:rate"),
                &c,
                Measure::Proportion(vec![4.0, 5.0]),
            )
            .with_missing(&[9.0]),
        );
        vars.push(Variable::new(
            &format!("{c}:score"),
            &c,
            Measure::Score(
                (1..=5)
                    .map(|k| (f64::from(k), f64::from(k - 1) * 25.0))
                    .collect(),
            ),
        ));
    }
    vars.push(Variable::new("index", "index", Measure::Mean));
    let vars: Vec<Variable> = vars.into_iter().map(Variable::without_influence).collect();
    let by = vec!["unit".to_string(), "rtype".to_string()];
    let t = Instant::now();
    let eng = estimate(df.clone().lazy(), &d, None, &by, &vars).unwrap_or_else(|e| panic!("{e}"));
    let eng_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut run = Running::new(&d, &by, &vars).unwrap_or_else(|e| panic!("{e}"));
    run.add(&df, false).unwrap_or_else(|e| panic!("{e}"));
    let build_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let est = run.estimates(&vars).unwrap_or_else(|e| panic!("{e}"));
    let est_s = t.elapsed().as_secs_f64();
    let worst = eng
        .cells
        .iter()
        .zip(&est.cells)
        .map(|(a, b)| {
            ((a.estimate - b.estimate).abs() / a.estimate.abs().max(1.0))
                .max((a.se() - b.se()).abs() / a.se().max(1e-12))
        })
        .filter(|x| x.is_finite())
        .fold(0.0, f64::max);
    // one answer arrives and one is withdrawn: the sums move by two rows, then the table
    let mut times = Vec::new();
    for i in 0..50 {
        let t = Instant::now();
        let mut next = run.clone();
        next.add(&df.slice(i, 1), false)
            .unwrap_or_else(|e| panic!("{e}"));
        next.add(&df.slice(i + 1, 1), true)
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = next.estimates(&vars).unwrap_or_else(|e| panic!("{e}"));
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "running rows={n} domains={} variables={}: engine {eng_s:.3} s; running build {build_s:.3} s, \
         table from the sums {:.1} ms; one answer in and one out, then the table: median {:.1} ms, \
         max {:.1} ms; largest difference from the engine {worst:.1e} (relative)",
        est.domains.len(),
        vars.len(),
        est_s * 1000.0,
        times[times.len() / 2],
        times[times.len() - 1]
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "running") {
        running(
            args.get(i + 1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(1_000_000),
        );
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "side-by-side") {
        let n: usize = args
            .get(i + 1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        let dir = std::path::PathBuf::from(args.get(i + 2).cloned().unwrap_or("/tmp".into()));
        // the data file is written once per directory (R reads the same file)
        if !dir.join("bench.csv").exists() {
            let mut df = synth(n, 1);
            let mut f =
                std::fs::File::create(dir.join("bench.csv")).unwrap_or_else(|e| panic!("{e}"));
            CsvWriter::new(&mut f)
                .finish(&mut df)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let t = Instant::now();
        let data = LazyCsvReader::new(PlRefPath::new(
            dir.join("bench.csv").to_string_lossy().as_ref(),
        ))
        .with_has_header(true)
        .finish()
        .and_then(|lf| lf.collect())
        .unwrap_or_else(|e| panic!("{e}"));
        let read = t.elapsed().as_secs_f64();
        let var =
            Variable::new("sat", "q1", Measure::Proportion(vec![4.0, 5.0])).with_missing(&[9.0]);
        let t = Instant::now();
        let est = estimate(
            data.lazy(),
            &design(),
            None,
            &["unit".into(), "rtype".into()],
            &[var],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let table =
            domain_table(&est, 0, CiMethod::Mean, 0.95, 0, None).unwrap_or_else(|e| panic!("{e}"));
        let est_s = t.elapsed().as_secs_f64();
        std::fs::write(
            dir.join("ours.csv"),
            io::to_csv(&table).unwrap_or_else(|e| panic!("{e}")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        println!(
            "side-by-side rows={n} domains={} ours_read_s={read:.3} ours_estimate_s={est_s:.3} ours_total_s={:.3}",
            est.domains.len(),
            read + est_s
        );
        return;
    }
    let n: usize = std::env::var("ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let t = Instant::now();
    let df = synth(n, 10);
    let size = df.estimated_size();
    println!(
        "generated {n} rows in {:.2} s; in-memory data {:.1} MB",
        t.elapsed().as_secs_f64(),
        size as f64 / 1e6
    );
    let spec = TableSpec {
        by: vec!["unit".into(), "rtype".into()],
        items: (1..=10).map(|k| format!("q{k}")).collect(),
        design: design(),
        composite: Some(Composite {
            column: "rtype".into(),
            // five-in-one style fixed weights over the respondent types
            weights: (0..5)
                .map(|k| (k.to_string(), [0.3, 0.2, 0.2, 0.15, 0.15][k]))
                .collect(),
            label: "composite".into(),
        }),
        ..TableSpec::default()
    };
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut times = Vec::new();
    for run in 0..runs {
        let t = Instant::now();
        let c = cpu_seconds();
        let table = satisfaction_table(df.clone().lazy(), &spec).unwrap_or_else(|e| panic!("{e}"));
        let secs = t.elapsed().as_secs_f64();
        times.push(secs);
        println!(
            "run {run}: table {} rows × {} columns in {secs:.3} s (CPU {:.2} s)",
            table.height(),
            table.width(),
            cpu_seconds() - c
        );
    }
    times.sort_by(f64::total_cmp);
    println!("median {:.3} s over {runs} runs", times[runs / 2]);
}
