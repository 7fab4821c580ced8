//! The satisfaction table as the exports write it: the rows of
//! `GET …/satisfaction` flattened into typed cells, with what describes the query.

use super::ExportFormat;
use crate::analytics::{Level, SatisfactionRow};
use crate::scoring::{compare_cells, RowChange, SatisfactionTable, COMPARE_COLUMNS};

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

/// Flattens rows of a satisfaction table (with the compare columns when compared).
pub fn flatten(
    by: &[String],
    level: Level,
    rows: &[SatisfactionRow],
    compared: Option<&[RowChange]>,
) -> (Vec<String>, Vec<Vec<SatCell>>) {
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
    if compared.is_some() {
        columns.extend(COMPARE_COLUMNS.iter().map(|c| (*c).to_owned()));
    }
    let out = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
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
            if let Some(c) = compared {
                let cells = c.get(i).map(compare_cells).unwrap_or_default();
                v.extend(cells.into_iter().map(SatCell::Num));
            }
            v
        })
        .collect();
    (columns, out)
}

impl SatTable {
    /// The flattened table of a satisfaction request, with the `about` pairs.
    pub fn of(t: &SatisfactionTable) -> Self {
        let (ev, q) = (&t.evaluation, &t.query);
        let compared = t.compared.as_ref().map(|c| c.rows.as_slice());
        let (columns, rows) = flatten(&q.by, q.level, &t.rows, compared);
        let mut about = vec![
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
        if let Some(c) = &t.compared {
            about.push(("compare_year".into(), c.evaluation.year.to_string()));
            about.push(("compare_evaluation_id".into(), c.evaluation.id.to_string()));
            about.push((
                "compare".into(),
                "change = basis_estimate − compare_estimate (basis_estimate: this year on the \
                 compared items), independent samples, df = degf of both designs summed, \
                 two-sided p_value; empty where either cell is suppressed"
                    .into(),
            ));
            let items = |v: &[crate::analytics::NamedItem]| {
                v.iter()
                    .map(|i| format!("{}:{}", i.respondent_type, i.question))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            about.push((
                "compared_items".into(),
                if c.items.all_same {
                    format!(
                        "all (both years asked the same items): {}",
                        items(&c.named.0)
                    )
                } else {
                    items(&c.named.0)
                },
            ));
            if !c.items.all_same {
                about.push(("items_not_compared".into(), items(&c.named.1)));
            }
        }
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
