//! Reading inputs (CSV or Parquet) and printing result tables with full precision,
//! for the CLI and the service.

use std::path::Path;
use std::sync::Arc;

use polars::prelude::*;

use super::AnalysisError;

/// Lazily scan a `.csv` or `.parquet` file. CSV: header row, empty cells are missing,
/// column types inferred from the first 100 rows (polars' default); [`scan_for`] reads
/// only what an analysis needs with the types it needs, without inference.
pub fn scan(path: &Path) -> Result<LazyFrame, AnalysisError> {
    scan_with(path, None)
}

/// How [`scan_for`] reads a CSV: these columns as numbers, every other column as text
/// (keys), and per column the text that marks a missing value (e.g. `不了解`).
#[derive(Debug, Clone, Default)]
pub struct CsvColumns {
    pub numeric: Vec<String>,
    pub missing_text: Vec<(String, String)>,
}

/// Lazily scan a file for an analysis: a CSV is typed from its header alone (no pass over
/// the file to infer types): the `numeric` columns as f64, the others as text, the
/// `missing_text` values as empty. A Parquet file keeps its own types. A value that is not
/// a number fails the read; [`scan_text`] reads the same file as text so the engine can
/// name the row.
pub fn scan_for(path: &Path, cols: &CsvColumns) -> Result<LazyFrame, AnalysisError> {
    scan_with(path, Some((cols, true)))
}

/// As [`scan_for`] with every CSV column as text (the missing values still empty).
pub fn scan_text(path: &Path, cols: &CsvColumns) -> Result<LazyFrame, AnalysisError> {
    scan_with(path, Some((cols, false)))
}

fn scan_with(path: &Path, typed: Option<(&CsvColumns, bool)>) -> Result<LazyFrame, AnalysisError> {
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
    let lf = if matches!(ext.as_str(), "parquet" | "pq") {
        LazyFrame::scan_parquet(PlRefPath::new(name.as_str()), ScanArgsParquet::default())?
    } else {
        let reader = LazyCsvReader::new(PlRefPath::new(name.as_str())).with_has_header(true);
        let Some((cols, numeric)) = typed else {
            return Ok(reader.finish()?);
        };
        let header = csv_header(path)?;
        let mut schema = Schema::with_capacity(header.len());
        for h in &header {
            // a column with missing texts is read as text and cleared below
            let is_num = numeric
                && cols.numeric.contains(h)
                && !cols.missing_text.iter().any(|(c, _)| c == h);
            schema.with_column(
                h.as_str().into(),
                if is_num {
                    DataType::Float64
                } else {
                    DataType::String
                },
            );
        }
        reader.with_schema(Some(Arc::new(schema))).finish()?
    };
    let Some((cols, _)) = typed else {
        return Ok(lf);
    };
    if cols.missing_text.is_empty() {
        return Ok(lf);
    }
    // missing texts become empty cells (text columns only; numbers cannot hold them)
    let schema = lf.clone().collect_schema()?;
    let mut by_col: Vec<(&str, Vec<&str>)> = Vec::new();
    for (c, v) in &cols.missing_text {
        if !schema.get(c.as_str()).is_some_and(|t| t.is_string()) {
            continue;
        }
        match by_col.iter_mut().find(|(k, _)| k == c) {
            Some((_, vs)) => vs.push(v.as_str()),
            None => by_col.push((c.as_str(), vec![v.as_str()])),
        }
    }
    let fixes: Vec<Expr> = by_col
        .into_iter()
        .map(|(c, vs)| {
            let hit = vs
                .iter()
                .map(|v| col(c).eq(lit(*v)))
                .reduce(|a, b| a.or(b))
                .unwrap_or(lit(false));
            when(hit)
                .then(lit(NULL).cast(DataType::String))
                .otherwise(col(c))
                .alias(c)
        })
        .collect();
    Ok(lf.with_columns(fixes))
}

/// The column names of a CSV file (its first record).
fn csv_header(path: &Path) -> Result<Vec<String>, AnalysisError> {
    let name = path.display();
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .map_err(|e| AnalysisError::Invalid(format!("cannot read `{name}`: {e}")))?;
    let mut rec = csv::StringRecord::new();
    let got = r
        .read_record(&mut rec)
        .map_err(|e| AnalysisError::Invalid(format!("`{name}`: {e}")))?;
    if !got {
        return Err(AnalysisError::Invalid(format!("`{name}` is empty")));
    }
    Ok(rec
        .iter()
        .enumerate()
        .map(|(i, h)| {
            // a UTF-8 byte-order mark is not part of the first name
            if i == 0 {
                h.trim_start_matches('\u{feff}').to_string()
            } else {
                h.to_string()
            }
        })
        .collect())
}

/// A population table read from CSV: the key column names and (key values, population)
/// rows.
pub type Population = (Vec<String>, Vec<(Vec<String>, f64)>);

/// A population table: every column but `population` is a key; returns the key column
/// names and (key values, population) rows. Values are read as text (quoted fields may
/// hold commas and quotes); blank lines are skipped.
pub fn read_population(path: &Path) -> Result<Population, AnalysisError> {
    let name = path.to_string_lossy().to_string();
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| AnalysisError::Invalid(format!("cannot read `{name}`: {e}")))?;
    let mut records = r.records();
    let bad = |e: csv::Error| AnalysisError::Invalid(format!("`{name}`: {e}"));
    let header: Vec<String> = records
        .next()
        .ok_or_else(|| AnalysisError::Invalid(format!("`{name}` is empty")))?
        .map_err(bad)?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if i == 0 {
                h.trim_start_matches('\u{feff}').to_string()
            } else {
                h.to_string()
            }
        })
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
    for rec in records {
        let rec = rec.map_err(bad)?;
        let line = rec.position().map_or(0, |p| p.line());
        if rec.iter().all(str::is_empty) {
            continue;
        }
        if rec.len() != header.len() {
            return Err(AnalysisError::Invalid(format!(
                "`{name}` line {line}: expected {} fields, found {}",
                header.len(),
                rec.len()
            )));
        }
        let p: f64 = rec[pcol].parse().map_err(|_| {
            AnalysisError::Invalid(format!(
                "`{name}` line {line}, column `population`: `{}` is not a number",
                &rec[pcol]
            ))
        })?;
        // NaN is refused too
        if p.is_nan() || p < 0.0 {
            return Err(AnalysisError::Invalid(format!(
                "`{name}` line {line}: population must be >= 0"
            )));
        }
        let k: Vec<String> = rec
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != pcol)
            .map(|(_, v)| v.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn population_names_may_hold_commas_and_quotes() {
        let dir = std::env::temp_dir().join(format!("pingyi-pop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pop.csv");
        std::fs::write(
            &f,
            "\u{feff}district,population\n\"Haidian, North\",1200\n\"the \"\"old\"\" town\",30\n\nX , 5\n",
        )
        .unwrap();
        let (keys, rows) = read_population(&f).unwrap();
        assert_eq!(keys, vec!["district"]);
        assert_eq!(
            rows,
            vec![
                (vec!["Haidian, North".to_string()], 1200.0),
                (vec!["the \"old\" town".to_string()], 30.0),
                (vec!["X".to_string()], 5.0),
            ]
        );
        std::fs::write(&f, "district,population\na,1\nb,many\n").unwrap();
        let e = read_population(&f).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("`many`"), "{e}");
    }
}
