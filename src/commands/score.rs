//! `pingyi score`: composite scores, grades, ranks and advanced selection for
//! a framework file and a CSV of objective scores (plus optional events and
//! survey results). Formats: `surveys/frameworks/README.md`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use pingyi_analysis::scoring::{
    compute, fill_composites, parse_events_csv, parse_scores_csv, parse_survey_csv, Framework,
    Outcome, SurveyMeasure, SurveyValues,
};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScoreFormat {
    /// One row per unit: indicator points, deductions, total, grades, rank, advanced.
    Csv,
    /// Everything, including per-period points, deductions and rules applied.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SurveyMeasureArg {
    /// Estimates are satisfaction indices on 0–100.
    Index,
    /// Estimates are satisfaction rates (proportions 0–1, multiplied by 100).
    Rate,
}

#[derive(clap::Args, Debug)]
pub struct ScoreArgs {
    /// Framework file (surveys/frameworks/*.toml).
    #[arg(long, value_name = "FILE")]
    pub framework: PathBuf,
    /// Objective scores and deductions: `unit,indicator,period,score[,note]`.
    #[arg(long, value_name = "FILE.csv")]
    pub scores: PathBuf,
    /// Events that trigger rules: `unit,event[,note]` (e.g. `violation`).
    #[arg(long, value_name = "FILE.csv")]
    pub events: Option<PathBuf>,
    /// Survey results: `unit,binding,value`, or `pingyi analyze --by unit,respondent_type` output.
    #[arg(long, value_name = "RESULTS.csv")]
    pub survey: Option<PathBuf>,
    /// What the `estimate` column of `pingyi analyze` output measures.
    #[arg(long, value_enum, default_value = "index")]
    pub survey_measure: SurveyMeasureArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ScoreFormat,
}

pub fn run(args: ScoreArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let out = render(&args)?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .context("writing to standard output")?;
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Computes and formats the result (what `run` prints).
pub fn render(args: &ScoreArgs) -> anyhow::Result<String> {
    let fw = Framework::load_path(&args.framework)?;
    let scores_name = args.scores.display().to_string();
    let scores = parse_scores_csv(&read(&args.scores)?, &scores_name)?;
    let events = match &args.events {
        Some(p) => parse_events_csv(&read(p)?, &p.display().to_string())?,
        None => Vec::new(),
    };
    let measure = match args.survey_measure {
        SurveyMeasureArg::Index => SurveyMeasure::SatisfactionIndex,
        SurveyMeasureArg::Rate => SurveyMeasure::SatisfactionRate,
    };
    let mut survey: SurveyValues = match &args.survey {
        Some(p) => parse_survey_csv(&read(p)?, &p.display().to_string(), measure)?,
        None => SurveyValues::new(),
    };
    // `composite:` bindings not given directly: Σ weight × value of each respondent type
    fill_composites(&fw, &mut survey);
    let outcome = compute(&fw, &scores, &events, &survey)?;
    match args.format {
        ScoreFormat::Csv => to_csv(&fw, &outcome),
        ScoreFormat::Json => to_json(&fw, &outcome),
    }
}

/// Wide CSV, one row per unit in rank order.
fn to_csv(fw: &Framework, o: &Outcome) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = vec!["unit".into(), "rank".into()];
    header.extend(fw.indicators.iter().map(|i| i.id.clone()));
    header.push("gross".into());
    header.extend(fw.deductions.iter().map(|d| d.id.clone()));
    header.extend(
        [
            "deductions",
            "total",
            "grade_before",
            "grade",
            "advanced",
            "rectification",
        ]
        .map(String::from),
    );
    w.write_record(&header)?;
    for u in &o.units {
        let mut row: Vec<String> = vec![u.unit.clone(), u.rank.to_string()];
        row.extend(u.indicators.iter().map(|i| i.points.to_string()));
        row.push(u.gross.to_string());
        row.extend(u.deductions.iter().map(|d| d.applied.to_string()));
        row.push(u.deduction_total.to_string());
        row.push(u.total.to_string());
        row.push(u.grade_before.clone());
        row.push(u.grade.clone());
        row.push(u.advanced.to_string());
        row.push(u.rectification.to_string());
        w.write_record(&row)?;
    }
    let bytes = w.into_inner().context("writing CSV")?;
    Ok(String::from_utf8(bytes)?)
}

#[derive(Serialize)]
struct JsonIndicator<'a> {
    id: &'a str,
    name: &'a str,
    parent: Option<&'a str>,
    max_points: f64,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    name: &'a str,
    file: &'a str,
    indicators: Vec<JsonIndicator<'a>>,
    #[serde(flatten)]
    outcome: &'a Outcome,
}

fn to_json(fw: &Framework, o: &Outcome) -> anyhow::Result<String> {
    // `framework` (the id) and `max_total` come from the flattened outcome.
    let out = JsonOut {
        name: &fw.name,
        file: &fw.file,
        indicators: fw
            .indicators
            .iter()
            .map(|i| JsonIndicator {
                id: &i.id,
                name: &i.name,
                parent: i.parent.map(|p| fw.indicators[p].id.as_str()),
                max_points: pingyi_analysis::scoring::round9(i.max_points),
            })
            .collect(),
        outcome: o,
    };
    let mut s = serde_json::to_string_pretty(&out)?;
    s.push('\n');
    Ok(s)
}
