//! The satisfaction table as the exports write it: the rows of
//! `GET …/satisfaction` flattened into typed cells, with what describes the query.

use super::ExportFormat;
use crate::analytics::{Level, ScoreRow};
use crate::scoring::SatisfactionTable;

/// A cell of the satisfaction table.
#[derive(Debug, Clone, PartialEq)]
pub enum SatCell {
    Text(String),
    Int(u64),
    Num(Option<f64>),
    Bool(bool),
}

/// The flattened satisfaction table.
#[derive(Debug, Clone)]
pub struct SatTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<SatCell>>,
    /// (name, value) pairs describing the query, for the XLSX `about` sheet
    pub about: Vec<(String, String)>,
}

/// Flattens rows of a satisfaction table.
pub fn flatten(by: &[String], level: Level, rows: &[ScoreRow]) -> (Vec<String>, Vec<Vec<SatCell>>) {
    let mut columns: Vec<String> = by.to_vec();
    match level {
        Level::Overall => {}
        Level::Dimension => columns.push("dimension".into()),
        Level::Question => columns.push("question".into()),
    }
    for c in [
        "n",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "n_eff",
        "suppressed",
        "rate_estimate",
        "rate_se",
        "rate_ci_low",
        "rate_ci_high",
    ] {
        columns.push(c.into());
    }
    let out = rows
        .iter()
        .map(|r| {
            let mut v: Vec<SatCell> = r.keys.iter().cloned().map(SatCell::Text).collect();
            if level != Level::Overall {
                v.push(SatCell::Text(r.item.clone()));
            }
            v.push(SatCell::Int(r.n));
            v.extend([
                SatCell::Num(r.index.estimate),
                SatCell::Num(r.index.se),
                SatCell::Num(r.index.ci_low),
                SatCell::Num(r.index.ci_high),
                SatCell::Num(r.n_eff),
                SatCell::Bool(r.suppressed),
                SatCell::Num(r.rate.estimate),
                SatCell::Num(r.rate.se),
                SatCell::Num(r.rate.ci_low),
                SatCell::Num(r.rate.ci_high),
            ]);
            v
        })
        .collect();
    (columns, out)
}

impl SatTable {
    /// The flattened table of a satisfaction request, with the `about` pairs.
    pub fn of(t: &SatisfactionTable) -> Self {
        let (ev, q) = (&t.evaluation, &t.query);
        let (columns, rows) = flatten(&q.by, q.level, &t.rows);
        let about = vec![
            ("evaluation_id".into(), ev.id.to_string()),
            ("series".into(), ev.series.clone()),
            ("year".into(), ev.year.to_string()),
            ("wave".into(), ev.wave.clone()),
            ("data_version".into(), t.loaded.version.to_string()),
            ("responses".into(), t.loaded.rows.to_string()),
            ("by".into(), q.by.join(",")),
            ("ci".into(), t.ci_name.clone()),
            ("confidence_level".into(), q.conf.to_string()),
            ("min_cell".into(), q.min_cell.to_string()),
            ("exclude_flagged".into(), t.exclude_flagged.to_string()),
            (
                "estimate".into(),
                "satisfaction index 0–100 (rate_*: satisfaction rate 0–1)".into(),
            ),
        ];
        SatTable {
            columns,
            rows,
            about,
        }
    }
}

/// The table in `format`, in memory.
pub fn encode_table(t: &SatTable, format: ExportFormat) -> anyhow::Result<Vec<u8>> {
    match format {
        ExportFormat::Csv => super::csv::table(t),
        ExportFormat::Json => super::json::table(t),
        ExportFormat::Xlsx => super::xlsx::table(t),
        ExportFormat::Parquet => super::parquet::table(t),
    }
}
