//! CSV: responses streamed row by row (formula-like text prefixed with `'`, so spreadsheet
//! programs never evaluate it); tables in memory.

use std::io::Write;
use std::sync::Arc;

use super::columns::{cell_text, score_cells, Columns, Decoded};
use super::stream::Encoder;
use super::table::{SatCell, SatTable};
use crate::questionnaire::AnswerValue;
use crate::store::AnalysisRow;

/// A cell as the CSV export writes it: [`cell_text`], with formula-like text prefixed with
/// `'` so spreadsheet programs never evaluate it.
fn cell(v: &AnswerValue) -> String {
    match v {
        AnswerValue::Text(t) if t.starts_with(['=', '+', '-', '@']) => format!("'{t}"),
        other => cell_text(other),
    }
}

/// Responses as CSV: the header line, then one line per response.
pub struct CsvEncoder<W: Write> {
    cols: Arc<Columns>,
    w: csv::Writer<W>,
    header: bool,
    rec: Vec<String>,
}

impl<W: Write> CsvEncoder<W> {
    pub fn new(cols: Arc<Columns>, out: W) -> Self {
        let rec = Vec::with_capacity(cols.header().len());
        CsvEncoder {
            cols,
            w: csv::Writer::from_writer(out),
            header: false,
            rec,
        }
    }

    fn write_header(&mut self) -> anyhow::Result<()> {
        if !self.header {
            self.w.write_record(self.cols.header())?;
            self.header = true;
        }
        Ok(())
    }
}

impl<W: Write> Encoder for CsvEncoder<W> {
    fn page(&mut self, rows: &[AnalysisRow], decoded: &[Decoded]) -> anyhow::Result<()> {
        self.write_header()?;
        for (r, dec) in rows.iter().zip(decoded) {
            let rec = &mut self.rec;
            rec.clear();
            rec.push(r.unit_code.clone());
            rec.push(r.respondent_type.clone());
            rec.push(r.questionnaire_id.clone());
            rec.push(r.questionnaire_version.to_string());
            rec.push(r.source.clone());
            rec.push(r.submitted_on.clone());
            rec.push(r.district.clone().unwrap_or_default());
            rec.push(r.gender.clone().unwrap_or_default());
            rec.push(r.age_group.clone().unwrap_or_default());
            rec.push(r.weight.map(|x| x.to_string()).unwrap_or_default());
            rec.push(r.flags.clone());
            let d = self.cols.design_of(r);
            rec.push(d.stratum.to_owned());
            rec.push(d.weight.to_string());
            rec.push(d.fpc.to_string());
            for x in score_cells(&dec.scores) {
                rec.push(x.map(|x| x.to_string()).unwrap_or_default());
            }
            for v in &dec.answers {
                rec.push(v.as_ref().map(cell).unwrap_or_default());
            }
            self.w.write_record(&*rec)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        // an evaluation without responses still gets its header line
        self.write_header()?;
        self.w.flush()?;
        Ok(())
    }
}

fn text(c: &SatCell) -> String {
    match c {
        SatCell::Text(s) => s.clone(),
        SatCell::Int(n) => n.to_string(),
        SatCell::Num(Some(x)) => x.to_string(),
        SatCell::Num(None) => String::new(),
        SatCell::Bool(b) => b.to_string(),
    }
}

/// A satisfaction table as CSV (empty cells for suppressed values).
pub fn table(t: &SatTable) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&t.columns)?;
    for r in &t.rows {
        w.write_record(r.iter().map(text))?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// A table cell as text (also Parquet's text columns).
pub(super) fn table_text(c: &SatCell) -> String {
    text(c)
}
