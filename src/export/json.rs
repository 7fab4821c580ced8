//! JSON: responses as one array streamed one object per line; tables as an array of flat
//! row objects.

use std::io::Write;
use std::sync::Arc;

use super::columns::{score_cells, Columns, Decoded};
use super::stream::Encoder;
use super::table::{SatCell, SatTable};
use crate::questionnaire::AnswerValue;
use crate::store::AnalysisRow;

/// A JSON array written one object per line: `[`, objects separated by `,\n`, `]`.
pub struct JsonEncoder<W: Write> {
    cols: Arc<Columns>,
    out: W,
    first: bool,
    line: Vec<u8>,
}

impl<W: Write> JsonEncoder<W> {
    pub fn new(cols: Arc<Columns>, out: W) -> Self {
        JsonEncoder {
            cols,
            out,
            first: true,
            line: Vec::with_capacity(1024),
        }
    }
}

fn json_str(buf: &mut Vec<u8>, s: &str) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *buf, s)?;
    Ok(())
}

fn json_opt_str(buf: &mut Vec<u8>, s: Option<&str>) -> anyhow::Result<()> {
    match s {
        Some(s) => json_str(buf, s),
        None => {
            buf.extend_from_slice(b"null");
            Ok(())
        }
    }
}

fn json_f64(buf: &mut Vec<u8>, x: f64) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *buf, &x)?;
    Ok(())
}

fn json_answer(buf: &mut Vec<u8>, v: &AnswerValue) -> anyhow::Result<()> {
    match v {
        AnswerValue::Likert(c) => {
            buf.extend_from_slice(c.to_string().as_bytes());
            Ok(())
        }
        AnswerValue::Number(x) => json_f64(buf, *x),
        // decoded exports carry the don't-know code instead (`columns::dont_know_cell`)
        AnswerValue::DontKnow => {
            buf.extend_from_slice(b"null");
            Ok(())
        }
        AnswerValue::Choice(c) | AnswerValue::Text(c) => json_str(buf, c),
        AnswerValue::Choices(cs) => json_str(buf, &cs.join(";")),
    }
}

/// One response as a JSON object: the fixed and score columns (null where empty), answers
/// nested under `answers` by question code, unanswered ones left out.
pub fn json_row(
    buf: &mut Vec<u8>,
    cols: &Columns,
    r: &AnalysisRow,
    dec: &Decoded,
) -> anyhow::Result<()> {
    let a = &dec.answers;
    let codes = &cols.codes;
    buf.extend_from_slice(b"{\"unit\":");
    json_str(buf, &r.unit_code)?;
    buf.extend_from_slice(b",\"respondent_type\":");
    json_str(buf, &r.respondent_type)?;
    buf.extend_from_slice(b",\"questionnaire\":");
    json_str(buf, &r.questionnaire_id)?;
    buf.extend_from_slice(format!(",\"version\":{}", r.questionnaire_version).as_bytes());
    buf.extend_from_slice(b",\"source\":");
    json_str(buf, &r.source)?;
    buf.extend_from_slice(b",\"submitted_on\":");
    json_str(buf, &r.submitted_on)?;
    buf.extend_from_slice(b",\"district\":");
    json_opt_str(buf, r.district.as_deref())?;
    buf.extend_from_slice(b",\"gender\":");
    json_opt_str(buf, r.gender.as_deref())?;
    buf.extend_from_slice(b",\"age_group\":");
    json_opt_str(buf, r.age_group.as_deref())?;
    buf.extend_from_slice(b",\"weight\":");
    match r.weight {
        Some(w) => json_f64(buf, w)?,
        None => buf.extend_from_slice(b"null"),
    }
    buf.extend_from_slice(b",\"flags\":");
    json_str(buf, &r.flags)?;
    let d = cols.design_of(r);
    buf.extend_from_slice(b",\"design_stratum\":");
    json_str(buf, d.stratum)?;
    buf.extend_from_slice(b",\"design_weight\":");
    json_f64(buf, d.weight)?;
    // JSON has no infinity: no finite-population correction is null
    buf.extend_from_slice(b",\"design_fpc\":");
    if d.fpc.is_finite() {
        json_f64(buf, d.fpc)?;
    } else {
        buf.extend_from_slice(b"null");
    }
    for (name, x) in cols.score_names.iter().zip(score_cells(&dec.scores)) {
        buf.push(b',');
        json_str(buf, name)?;
        buf.push(b':');
        match x {
            Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => {
                buf.extend_from_slice((x as i64).to_string().as_bytes())
            }
            Some(x) => json_f64(buf, x)?,
            None => buf.extend_from_slice(b"null"),
        }
    }
    buf.extend_from_slice(b",\"answers\":{");
    let mut first = true;
    for (code, v) in codes.iter().zip(a) {
        let Some(v) = v else { continue };
        if !first {
            buf.push(b',');
        }
        first = false;
        json_str(buf, code)?;
        buf.push(b':');
        json_answer(buf, v)?;
    }
    buf.extend_from_slice(b"}}");
    Ok(())
}

impl<W: Write> Encoder for JsonEncoder<W> {
    fn page(&mut self, rows: &[AnalysisRow], decoded: &[Decoded]) -> anyhow::Result<()> {
        for (r, a) in rows.iter().zip(decoded) {
            self.line.clear();
            self.line
                .extend_from_slice(if self.first { b"[\n" } else { b",\n" });
            self.first = false;
            json_row(&mut self.line, &self.cols, r, a)?;
            self.out.write_all(&self.line)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.out
            .write_all(if self.first { b"[]\n" } else { b"\n]\n" })?;
        self.out.flush()?;
        Ok(())
    }
}

/// A satisfaction table as a JSON array of flat row objects.
pub fn table(t: &SatTable) -> anyhow::Result<Vec<u8>> {
    let rows: Vec<serde_json::Value> = t
        .rows
        .iter()
        .map(|r| {
            let o: serde_json::Map<String, serde_json::Value> = t
                .columns
                .iter()
                .zip(r)
                .map(|(c, v)| {
                    let v = match v {
                        SatCell::Text(s) => s.clone().into(),
                        SatCell::Int(n) => (*n).into(),
                        SatCell::Num(x) => (*x).into(),
                        SatCell::Bool(b) => (*b).into(),
                    };
                    (c.clone(), v)
                })
                .collect();
            serde_json::Value::Object(o)
        })
        .collect();
    let mut out = serde_json::to_vec(&rows)?;
    out.push(b'\n');
    Ok(out)
}
