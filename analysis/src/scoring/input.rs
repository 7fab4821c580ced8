//! CSV inputs for scoring (formats documented in `surveys/frameworks/README.md`).
//!
//! - scores: `unit,indicator,period,score[,note]` (period empty when not periodic);
//!   deduction items go in the same file with the points deducted as `score`.
//! - events: a separate file `unit,event[,note]`.
//! - survey results: either `unit,binding,value` (value on 0–100), or the output
//!   of `pingyi analyze --by unit,respondent_type` (`estimate` column), read as
//!   the measure the caller names.
//!
//! Columns are found by header name (any order, case-insensitive); a UTF-8 BOM
//! is ignored; blank lines are skipped.

use std::collections::BTreeMap;
use std::fmt;

use super::compute::{Event, ObjectiveScore, SurveyValues};
use super::framework::{SurveyBinding, SurveyMeasure};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct InputError {
    pub file: String,
    /// 1-based line; 0 when not tied to a line.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

struct Table {
    header: Vec<String>,
    /// (line, fields)
    rows: Vec<(usize, Vec<String>)>,
}

impl Table {
    fn col(&self, names: &[&str]) -> Option<usize> {
        self.header
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    }
}

fn read_table(text: &str, file: &str) -> Result<Table, InputError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| InputError {
            file: file.to_string(),
            line: e
                .position()
                .map(|p| line_at(text, p.byte() as usize))
                .unwrap_or(0),
            message: format!("not valid CSV: {e}"),
        })?;
        // csv's own line counter skips blank lines; count newlines up to the
        // record's byte offset instead so messages point at the real line.
        let line = rec
            .position()
            .map(|p| line_at(text, p.byte() as usize))
            .unwrap_or(0);
        let fields: Vec<String> = rec.iter().map(|f| f.trim().to_string()).collect();
        if fields.iter().all(String::is_empty) {
            continue;
        }
        match &header {
            None => header = Some(fields),
            Some(h) => {
                if fields.len() > h.len() {
                    return Err(InputError {
                        file: file.to_string(),
                        line,
                        message: format!(
                            "{} fields but the header has {} (quote fields containing commas)",
                            fields.len(),
                            h.len()
                        ),
                    });
                }
                rows.push((line, fields));
            }
        }
    }
    let header = header.ok_or_else(|| InputError {
        file: file.to_string(),
        line: 0,
        message: "the file is empty; it needs a header line".to_string(),
    })?;
    Ok(Table { header, rows })
}

fn line_at(text: &str, byte: usize) -> usize {
    // A record never starts with a line break; step over the blank lines the
    // reader skipped before it.
    let bytes = text.as_bytes();
    let mut end = byte.min(text.len());
    while end < bytes.len() && (bytes[end] == b'\n' || bytes[end] == b'\r') {
        end += 1;
    }
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn need(t: &Table, file: &str, names: &[&str], expected: &str) -> Result<usize, InputError> {
    t.col(names).ok_or_else(|| InputError {
        file: file.to_string(),
        line: 1,
        message: format!(
            "missing column `{}`; the header must be `{expected}` (found `{}`)",
            names[0],
            t.header.join(",")
        ),
    })
}

fn field(fields: &[String], k: usize) -> &str {
    fields.get(k).map(String::as_str).unwrap_or("")
}

fn opt(fields: &[String], k: Option<usize>) -> Option<String> {
    k.map(|k| field(fields, k))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn number(file: &str, line: usize, what: &str, s: &str) -> Result<f64, InputError> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(InputError {
            file: file.to_string(),
            line,
            message: format!("{what} `{s}` is not a number"),
        }),
    }
}

fn required<'a>(
    file: &str,
    line: usize,
    fields: &'a [String],
    k: usize,
    what: &str,
) -> Result<&'a str, InputError> {
    let v = field(fields, k);
    if v.is_empty() {
        return Err(InputError {
            file: file.to_string(),
            line,
            message: format!("`{what}` is empty"),
        });
    }
    Ok(v)
}

/// Reads `unit,indicator,period,score[,note]`.
pub fn parse_scores_csv(text: &str, file: &str) -> Result<Vec<ObjectiveScore>, InputError> {
    const HEADER: &str = "unit,indicator,period,score[,note]";
    let t = read_table(text, file)?;
    let unit = need(&t, file, &["unit"], HEADER)?;
    let ind = need(&t, file, &["indicator"], HEADER)?;
    let period = need(&t, file, &["period"], HEADER)?;
    let score = need(&t, file, &["score"], HEADER)?;
    let note = t.col(&["note"]);
    let mut out = Vec::with_capacity(t.rows.len());
    for (line, f) in &t.rows {
        out.push(ObjectiveScore {
            unit: required(file, *line, f, unit, "unit")?.to_string(),
            indicator: required(file, *line, f, ind, "indicator")?.to_string(),
            period: opt(f, Some(period)),
            score: number(
                file,
                *line,
                "score",
                required(file, *line, f, score, "score")?,
            )?,
            note: opt(f, note),
            line: Some(*line),
        });
    }
    Ok(out)
}

/// Reads `unit,event[,note]`.
pub fn parse_events_csv(text: &str, file: &str) -> Result<Vec<Event>, InputError> {
    const HEADER: &str = "unit,event[,note]";
    let t = read_table(text, file)?;
    let unit = need(&t, file, &["unit"], HEADER)?;
    let event = need(&t, file, &["event"], HEADER)?;
    let note = t.col(&["note"]);
    let mut out = Vec::with_capacity(t.rows.len());
    for (line, f) in &t.rows {
        out.push(Event {
            unit: required(file, *line, f, unit, "unit")?.to_string(),
            kind: required(file, *line, f, event, "event")?.to_string(),
            note: opt(f, note),
            line: Some(*line),
        });
    }
    Ok(out)
}

/// Reads survey results into (unit, binding key) → value on 0–100.
///
/// - `unit,binding,value`: bindings as in framework files
///   (`satisfaction_index:service_user+resident`, `composite:five_in_one`).
/// - `pingyi analyze` output grouped by `unit` and `respondent_type` (or `rtype`):
///   each row fills `<measure>:<respondent type>`; `measure` says what the
///   estimates are. A satisfaction rate estimate is a proportion (0–1) and is
///   multiplied by 100. Rows with `suppressed` = true are skipped (a framework
///   that needs them then reports the value missing).
pub fn parse_survey_csv(
    text: &str,
    file: &str,
    measure: SurveyMeasure,
) -> Result<SurveyValues, InputError> {
    let t = read_table(text, file)?;
    let unit = need(
        &t,
        file,
        &["unit"],
        "unit,binding,value or pingyi analyze output with unit,respondent_type,…,estimate",
    )?;
    let mut out: SurveyValues = BTreeMap::new();
    let mut lines: BTreeMap<(String, String), usize> = BTreeMap::new();
    let long = t.col(&["binding"]).zip(t.col(&["value"]));
    let analyze = t
        .col(&["respondent_type", "rtype"])
        .zip(t.col(&["estimate"]));
    let suppressed = t.col(&["suppressed"]);
    for (line, f) in &t.rows {
        let line = *line;
        let u = required(file, line, f, unit, "unit")?.to_string();
        let (key, value) =
            if let Some((b, v)) = long {
                let binding = SurveyBinding::parse(required(file, line, f, b, "binding")?)
                    .map_err(|m| InputError {
                        file: file.to_string(),
                        line,
                        message: m,
                    })?;
                let value = number(file, line, "value", required(file, line, f, v, "value")?)?;
                (binding.key(), value)
            } else if let Some((r, e)) = analyze {
                if suppressed.is_some_and(|s| field(f, s).eq_ignore_ascii_case("true")) {
                    continue;
                }
                let rtype = required(file, line, f, r, "respondent_type")?;
                let binding = SurveyBinding::parse(&format!("{}:{rtype}", measure.as_str()))
                    .map_err(|m| InputError {
                        file: file.to_string(),
                        line,
                        message: m,
                    })?;
                let est = number(
                    file,
                    line,
                    "estimate",
                    required(file, line, f, e, "estimate")?,
                )?;
                let value = match measure {
                    SurveyMeasure::SatisfactionRate => est * 100.0,
                    SurveyMeasure::SatisfactionIndex => est,
                };
                (binding.key(), value)
            } else {
                return Err(InputError {
                    file: file.to_string(),
                    line: 1,
                    message: format!(
                    "cannot tell the survey format from the header `{}`; use `unit,binding,value` \
                     or `pingyi analyze --by unit,respondent_type` output (with `estimate`)",
                    t.header.join(",")
                ),
                });
            };
        if !(0.0..=100.0).contains(&value) {
            return Err(InputError {
                file: file.to_string(),
                line,
                message: format!("survey value {value} for `{key}` is outside 0–100"),
            });
        }
        if let Some(first) = lines.get(&(u.clone(), key.clone())) {
            return Err(InputError {
                file: file.to_string(),
                line,
                message: format!(
                    "unit `{u}` has `{key}` twice (first on line {first}); group the analysis by \
                     unit and respondent type only"
                ),
            });
        }
        lines.insert((u.clone(), key.clone()), line);
        out.insert((u, key), value);
    }
    Ok(out)
}
