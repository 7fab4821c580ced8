//! Parquet: responses in row groups of [`PARQUET_ROW_GROUP`] (answer columns as text, the
//! numeric fixed columns and the score columns typed); tables in memory.

use std::io::Write;
use std::sync::Arc;

use polars::prelude::{
    Column, DataFrame, IntoColumn, NamedFrom, ParquetCompression, ParquetWriter, PlSmallStr,
    Series, StringChunkedBuilder,
};

use super::columns::{cell_text, score_cells, Columns, Decoded, EXPORT_COLUMNS};
use super::csv::table_text;
use super::stream::Encoder;
use super::table::{SatCell, SatTable};
use crate::analytics::design::RowDesign;
use crate::store::AnalysisRow;

/// Rows per Parquet row group (the encoder holds at most one group).
pub const PARQUET_ROW_GROUP: usize = 65_536;

/// Name of an answer column in Parquet: as in every flat format ([`super::answer_column`]).
pub fn parquet_answer_column(code: &str) -> String {
    super::columns::answer_column(code)
}

/// Column builders of one row group.
struct Group {
    text: Vec<StringChunkedBuilder>,
    version: Vec<i64>,
    weight: Vec<Option<f64>>,
    design_weight: Vec<f64>,
    design_fpc: Vec<f64>,
    /// one column per score column (Float64, null where empty)
    scores: Vec<Vec<Option<f64>>>,
    rows: usize,
}

/// Text columns among the fixed ones (all but the numeric `version`, `weight`,
/// `design_weight` and `design_fpc`), in order.
const PARQUET_TEXT: [&str; 10] = [
    "unit",
    "respondent_type",
    "questionnaire",
    "source",
    "submitted_on",
    "district",
    "gender",
    "age_group",
    "flags",
    "design_stratum",
];

impl Group {
    fn new(cols: &Columns) -> Self {
        let text = PARQUET_TEXT
            .iter()
            .map(|s| s.to_string())
            .chain(cols.answer_names.iter().cloned())
            .map(|n| StringChunkedBuilder::new(PlSmallStr::from(n), PARQUET_ROW_GROUP))
            .collect();
        Group {
            text,
            version: Vec::with_capacity(PARQUET_ROW_GROUP),
            weight: Vec::with_capacity(PARQUET_ROW_GROUP),
            design_weight: Vec::with_capacity(PARQUET_ROW_GROUP),
            design_fpc: Vec::with_capacity(PARQUET_ROW_GROUP),
            scores: vec![Vec::with_capacity(PARQUET_ROW_GROUP); cols.score_names.len()],
            rows: 0,
        }
    }

    fn push(&mut self, r: &AnalysisRow, d: RowDesign<'_>, dec: &Decoded) {
        let a = &dec.answers;
        let t = &mut self.text;
        t[0].append_value(&r.unit_code);
        t[1].append_value(&r.respondent_type);
        t[2].append_value(&r.questionnaire_id);
        t[3].append_value(&r.source);
        t[4].append_value(&r.submitted_on);
        t[5].append_option(r.district.as_deref());
        t[6].append_option(r.gender.as_deref());
        t[7].append_option(r.age_group.as_deref());
        t[8].append_value(&r.flags);
        t[9].append_value(d.stratum);
        for (b, v) in t[PARQUET_TEXT.len()..].iter_mut().zip(a) {
            match v {
                Some(v) => b.append_value(cell_text(v)),
                None => b.append_null(),
            }
        }
        self.version.push(r.questionnaire_version);
        self.weight.push(r.weight);
        self.design_weight.push(d.weight);
        self.design_fpc.push(d.fpc);
        for (col, x) in self.scores.iter_mut().zip(score_cells(&dec.scores)) {
            col.push(x);
        }
        self.rows += 1;
    }

    /// The group as a frame with the export's column order.
    fn frame(self, names: &[String]) -> anyhow::Result<DataFrame> {
        let height = self.rows;
        let mut text = self.text.into_iter().map(|b| b.finish().into_column());
        let mut cols: Vec<Column> = Vec::with_capacity(EXPORT_COLUMNS.len() + 64);
        for name in EXPORT_COLUMNS {
            let c = match name {
                "version" => Series::new("version".into(), self.version.as_slice()).into_column(),
                "weight" => Series::new("weight".into(), self.weight.as_slice()).into_column(),
                "design_weight" => {
                    Series::new("design_weight".into(), self.design_weight.as_slice()).into_column()
                }
                "design_fpc" => {
                    Series::new("design_fpc".into(), self.design_fpc.as_slice()).into_column()
                }
                _ => text
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("parquet column {name} missing"))?,
            };
            cols.push(c);
        }
        for (name, v) in names.iter().zip(&self.scores) {
            cols.push(Series::new(PlSmallStr::from(name.as_str()), v.as_slice()).into_column());
        }
        cols.extend(text);
        Ok(DataFrame::new(height, cols)?)
    }
}

pub struct ParquetEncoder<W: Write> {
    cols: Arc<Columns>,
    writer: polars::io::parquet::write::BatchedWriter<W>,
    group: Group,
}

impl<W: Write + Send> ParquetEncoder<W> {
    pub fn new(cols: Arc<Columns>, out: W) -> anyhow::Result<Self> {
        let schema = Group::new(&cols)
            .frame(&cols.score_names)?
            .schema()
            .as_ref()
            .clone();
        let writer = ParquetWriter::new(out)
            .with_compression(ParquetCompression::Snappy)
            .with_row_group_size(Some(PARQUET_ROW_GROUP))
            .batched(&schema)?;
        let group = Group::new(&cols);
        Ok(ParquetEncoder {
            cols,
            writer,
            group,
        })
    }

    fn flush_group(&mut self) -> anyhow::Result<()> {
        if self.group.rows == 0 {
            return Ok(());
        }
        let g = std::mem::replace(&mut self.group, Group::new(&self.cols));
        self.writer.write_batch(&g.frame(&self.cols.score_names)?)?;
        Ok(())
    }
}

impl<W: Write + Send> Encoder for ParquetEncoder<W> {
    fn page(&mut self, rows: &[AnalysisRow], decoded: &[Decoded]) -> anyhow::Result<()> {
        for (r, a) in rows.iter().zip(decoded) {
            let d = self.cols.design_of(r);
            self.group.push(r, d, a);
            if self.group.rows == PARQUET_ROW_GROUP {
                self.flush_group()?;
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.flush_group()?;
        self.writer.finish()?;
        // the writer cannot be taken back out; dropping it flushes a ChunkWriter's last chunk
        drop(self);
        Ok(())
    }
}

/// A satisfaction table as Parquet (Snappy): counts as UInt64, estimates as Float64 (null
/// when suppressed), flags as Boolean, keys as text.
pub fn table(t: &SatTable) -> anyhow::Result<Vec<u8>> {
    let mut cols: Vec<Column> = Vec::with_capacity(t.columns.len());
    for (j, name) in t.columns.iter().enumerate() {
        let name = PlSmallStr::from(name.as_str());
        let cells = t.rows.iter().map(|r| &r[j]);
        let s = match t.rows.first().map(|r| &r[j]) {
            Some(SatCell::Int(_)) => Series::new(
                name,
                cells
                    .map(|c| match c {
                        SatCell::Int(n) => *n,
                        _ => 0,
                    })
                    .collect::<Vec<u64>>(),
            ),
            Some(SatCell::Num(_)) => Series::new(
                name,
                cells
                    .map(|c| match c {
                        SatCell::Num(x) => *x,
                        _ => None,
                    })
                    .collect::<Vec<Option<f64>>>(),
            ),
            Some(SatCell::Bool(_)) => Series::new(
                name,
                cells
                    .map(|c| matches!(c, SatCell::Bool(true)))
                    .collect::<Vec<bool>>(),
            ),
            _ => Series::new(name, cells.map(table_text).collect::<Vec<String>>()),
        };
        cols.push(s.into_column());
    }
    let mut df = DataFrame::new(t.rows.len(), cols)?;
    let mut out = Vec::new();
    ParquetWriter::new(&mut out)
        .with_compression(ParquetCompression::Snappy)
        .finish(&mut df)?;
    Ok(out)
}
