//! Reading inputs (CSV or Parquet) and printing result tables with full precision,
//! for the CLI and the service.

use std::path::Path;

use polars::prelude::*;

use super::AnalysisError;

/// Lazily scan a `.csv` or `.parquet` file. CSV: header row, empty cells are missing.
pub fn scan(path: &Path) -> Result<LazyFrame, AnalysisError> {
    let name = path.to_string_lossy().to_string();
    if !path.exists() {
        return Err(AnalysisError::Invalid(format!(
            "input file `{name}` not found"
        )));
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "parquet" | "pq" => Ok(LazyFrame::scan_parquet(
            PlRefPath::new(name.as_str()),
            ScanArgsParquet::default(),
        )?),
        _ => Ok(LazyCsvReader::new(PlRefPath::new(name.as_str()))
            .with_has_header(true)
            .with_infer_schema_length(None)
            .finish()?),
    }
}

/// A population table read from CSV: the key column names and (key values, population)
/// rows.
pub type Population = (Vec<String>, Vec<(Vec<String>, f64)>);

/// A population table: every column but `population` is a key; returns the key column
/// names and (key values, population) rows. Values are read as text.
pub fn read_population(path: &Path) -> Result<Population, AnalysisError> {
    let name = path.to_string_lossy().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| AnalysisError::Invalid(format!("cannot read `{name}`: {e}")))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .ok_or_else(|| AnalysisError::Invalid(format!("`{name}` is empty")))?
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect();
    let pcol = header
        .iter()
        .position(|h| h == "population")
        .ok_or_else(|| AnalysisError::Invalid(format!("`{name}` has no `population` column")))?;
    let keys: Vec<String> = header
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != pcol)
        .map(|(_, h)| h.clone())
        .collect();
    if keys.is_empty() {
        return Err(AnalysisError::Invalid(format!(
            "`{name}` has no key column besides `population`"
        )));
    }
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let f: Vec<String> = line
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_string())
            .collect();
        if f.len() != header.len() {
            return Err(AnalysisError::Invalid(format!(
                "`{name}` line {}: expected {} fields, found {}",
                i + 2,
                header.len(),
                f.len()
            )));
        }
        let p: f64 = f[pcol].parse().map_err(|_| {
            AnalysisError::Invalid(format!(
                "`{name}` line {}, column `population`: `{}` is not a number",
                i + 2,
                f[pcol]
            ))
        })?;
        // NaN is refused too
        if p.is_nan() || p < 0.0 {
            return Err(AnalysisError::Invalid(format!(
                "`{name}` line {}: population must be >= 0",
                i + 2
            )));
        }
        let k: Vec<String> = f
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != pcol)
            .map(|(_, v)| v.clone())
            .collect();
        rows.push((k, p));
    }
    Ok((keys, rows))
}

/// [`read_population`], with key values normalised to how `frame` stores those columns.
pub fn read_population_for(frame: &LazyFrame, path: &Path) -> Result<Population, AnalysisError> {
    let (cols, rows) = read_population(path)?;
    let schema = frame.clone().collect_schema()?;
    let mut dtypes = Vec::new();
    for c in &cols {
        match schema.get(c.as_str()) {
            Some(dt) => dtypes.push(dt.clone()),
            None => {
                return Err(AnalysisError::Invalid(format!(
                    "column `{c}` of {} not found in the input",
                    path.display()
                )))
            }
        }
    }
    let rows = rows
        .into_iter()
        .map(|(k, p)| {
            (
                k.iter()
                    .zip(&dtypes)
                    .map(|(v, dt)| normalise_key(v, dt))
                    .collect(),
                p,
            )
        })
        .collect();
    Ok((cols, rows))
}

/// Key values as the engine sees them: numbers written by polars' string cast
/// (e.g. `1` for an integer column, `1.0` for a float column).
pub fn normalise_key(value: &str, dtype: &DataType) -> String {
    if dtype.is_float() {
        if let Ok(v) = value.parse::<f64>() {
            return format!("{v:?}");
        }
    }
    if dtype.is_integer() {
        if let Ok(v) = value.parse::<f64>() {
            if v.fract() == 0.0 {
                return format!("{}", v as i64);
            }
        }
    }
    value.to_string()
}

fn cell_text(c: &Column, i: usize) -> Result<Option<String>, AnalysisError> {
    let v = c.get(i)?;
    Ok(match v {
        AnyValue::Null => None,
        AnyValue::Float64(x) => Some(format!("{x}")),
        AnyValue::Float32(x) => Some(format!("{x}")),
        AnyValue::Boolean(b) => Some(b.to_string()),
        AnyValue::String(s) => Some(s.to_string()),
        other => Some(other.to_string().trim_matches('"').to_string()),
    })
}

fn csv_escape(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV with a header; floats in shortest round-trip form (full precision); nulls empty.
pub fn to_csv(df: &DataFrame) -> Result<String, AnalysisError> {
    let cols = df.columns();
    let mut out = String::new();
    let names: Vec<String> = cols.iter().map(|c| csv_escape(c.name())).collect();
    out.push_str(&names.join(","));
    out.push('\n');
    for i in 0..df.height() {
        let mut fields = Vec::with_capacity(cols.len());
        for c in cols {
            fields.push(cell_text(c, i)?.map(|s| csv_escape(&s)).unwrap_or_default());
        }
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    Ok(out)
}

fn json_string(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// JSON array of row objects; numbers at full precision; nulls as null.
pub fn to_json(df: &DataFrame) -> Result<String, AnalysisError> {
    let cols = df.columns();
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let mut fields = Vec::with_capacity(cols.len());
        for c in cols {
            let v = c.get(i)?;
            let text = match v {
                AnyValue::Null => "null".to_string(),
                AnyValue::Float64(x) if x.is_finite() => format!("{x:?}"),
                AnyValue::Float64(_) => "null".to_string(),
                AnyValue::Boolean(b) => b.to_string(),
                AnyValue::String(s) => json_string(s),
                AnyValue::UInt64(x) => x.to_string(),
                AnyValue::Int64(x) => x.to_string(),
                other => json_string(other.to_string().trim_matches('"')),
            };
            fields.push(format!("{}:{}", json_string(c.name()), text));
        }
        rows.push(format!("{{{}}}", fields.join(",")));
    }
    Ok(format!("[{}]\n", rows.join(",\n")))
}
