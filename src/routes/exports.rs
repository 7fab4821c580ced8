//! Exports of an evaluation's anonymous responses and of its satisfaction table.
//!
//! Responses: `responses.xlsx` (a `responses` sheet and a `codebook` sheet), `responses.parquet`
//! (one row group per 65,536 responses) and `responses.json` (a streamed JSON array, one object
//! per line). `responses.csv` lives in `results.rs`; every format has the same rows (withdrawn
//! upload batches excluded) and the same columns: the fixed [`EXPORT_COLUMNS`] and then one
//! column per question code of the registered questionnaires.
//!
//! The pipeline of a responses export keeps memory bounded: one streaming query sends pages of
//! 5,000 rows over a small channel to one blocking encoder thread, which writes into
//! [`ChunkWriter`]; that sends 256 KiB chunks over another small channel to the response body.
//! XLSX cannot be written front to back (a zip's directory comes last), so the workbook is built
//! with rust_xlsxwriter's constant-memory worksheet in a temporary file and then streamed.
//!
//! Satisfaction tables (`satisfaction.csv|xlsx|parquet|json`) are the rows of
//! `GET /api/v1/evaluations/{id}/satisfaction` with the same parameters, flattened: the `by`
//! columns, the item column (`dimension` or `question` when asked for), `n`, the satisfaction
//! index (`estimate`, `se`, `ci_low`, `ci_high`, as the API's top-level fields), `n_eff`,
//! `suppressed` and the satisfaction rate (`rate_estimate`, `rate_se`, `rate_ci_low`,
//! `rate_ci_high`). They are small and built in memory.
//!
//! The design columns `design_stratum`, `design_weight` and `design_fpc` are the design the
//! service's analysis uses for each response (`analytics::design`): a token response of a
//! recorded draw carries its draw stratum, weight `N_h / n_h` (times any uploaded weight) and
//! population size `N_h`; every other response the stratum `other`, its uploaded weight or 1,
//! and no finite-population correction, written `inf` in CSV and Parquet and left empty in
//! XLSX and JSON (null), which have no infinity. `pingyi analyze --weight design_weight
//! --strata design_stratum --fpc design_fpc --lonely-psu adjust` on the CSV gives the pages'
//! numbers.
//!
//! Cells: a likert answer is its code 1–5 ("不了解" for "don't know"), a single choice its code,
//! multiple choices their codes joined by `;`, numbers as numbers, text as text. XLSX and JSON
//! write likert codes and numbers as numbers; Parquet and CSV answer columns are text. Only CSV
//! prefixes formula-like text with `'` (the others never evaluate a cell). A question whose code
//! is also a fixed column name (e.g. `district`) is named `q_<code>` in Parquet, which needs
//! unique column names.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Seek, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use polars::prelude::{
    Column, DataFrame, IntoColumn, NamedFrom, ParquetCompression, ParquetWriter, PlSmallStr,
    Series, StringChunkedBuilder,
};
use tokio::sync::mpsc;

use crate::analytics::design::{DesignTable, RowDesign};
use crate::analytics::{Level, ScoreRow};
use crate::auth::Evaluator;
use crate::error::ApiError;
use crate::questionnaire::{AnswerValue, Answers, QuestionKind, Questionnaire, DONT_KNOW_ZH};
use crate::routes::results::EXPORT_COLUMNS;
use crate::startup::AppState;
use crate::store::{AnalysisRow, Evaluation};

/// The registered questionnaires by (id, version), as in [`AppState`].
pub type Questionnaires = BTreeMap<(String, i64), Arc<Questionnaire>>;

/// Rows per page read from the store.
const PAGE_ROWS: usize = 5_000;
/// Rows per Parquet row group (the encoder holds at most one group).
pub const PARQUET_ROW_GROUP: usize = 65_536;
/// Bytes per body chunk.
const CHUNK_BYTES: usize = 256 * 1024;
/// Data rows an XLSX worksheet can hold (1,048,576 rows less the header).
pub const XLSX_MAX_ROWS: i64 = 1_048_575;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v1/evaluations/{id}/responses.xlsx",
        web::get().to(responses_xlsx),
    )
    .route(
        "/api/v1/evaluations/{id}/responses.parquet",
        web::get().to(responses_parquet),
    )
    .route(
        "/api/v1/evaluations/{id}/responses.json",
        web::get().to(responses_json),
    )
    .route(
        "/api/v1/evaluations/{id}/satisfaction.csv",
        web::get().to(satisfaction_csv),
    )
    .route(
        "/api/v1/evaluations/{id}/satisfaction.xlsx",
        web::get().to(satisfaction_xlsx),
    )
    .route(
        "/api/v1/evaluations/{id}/satisfaction.parquet",
        web::get().to(satisfaction_parquet),
    )
    .route(
        "/api/v1/evaluations/{id}/satisfaction.json",
        web::get().to(satisfaction_json),
    );
}

/// A file format of the exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Xlsx,
    Parquet,
    Json,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
            ExportFormat::Parquet => "parquet",
            ExportFormat::Json => "json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            ExportFormat::Parquet => "application/vnd.apache.parquet",
            ExportFormat::Json => "application/json",
        }
    }
}

fn attachment(ev: &Evaluation, what: &str, f: ExportFormat) -> (&'static str, String) {
    (
        "Content-Disposition",
        format!(
            "attachment; filename=\"{what}-{}-{}.{}\"",
            ev.series.replace(['"', '\\', '/'], "_"),
            ev.year,
            f.extension()
        ),
    )
}

// ----- columns and cells -----

/// Question codes of every registered questionnaire, in first-seen order (the CSV's order).
pub fn question_codes(qs: &Questionnaires) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for q in qs.values() {
        for question in &q.questions {
            if !out.contains(&question.code) {
                out.push(question.code.clone());
            }
        }
    }
    out
}

/// What every encoder needs: the questionnaires and the answer columns.
pub struct Columns {
    pub qs: Arc<Questionnaires>,
    pub codes: Vec<String>,
    index: HashMap<String, usize>,
    /// the evaluation's draw strata, for the `design_*` columns
    pub design: DesignTable,
}

impl Columns {
    pub fn new(qs: Arc<Questionnaires>, design: DesignTable) -> Self {
        let codes = question_codes(&qs);
        let index = codes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        Columns {
            qs,
            codes,
            index,
            design,
        }
    }

    /// The design of a response as analysis uses it.
    pub fn design_of<'a>(&'a self, r: &AnalysisRow) -> RowDesign<'a> {
        self.design
            .row(r.design_draw_id, r.design_stratum.as_deref(), r.weight)
    }

    /// Answers of one response, one slot per answer column.
    pub fn decode(&self, r: &AnalysisRow) -> anyhow::Result<Vec<Option<AnswerValue>>> {
        let q = self
            .qs
            .get(&(r.questionnaire_id.clone(), r.questionnaire_version))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "questionnaire {:?} version {} is not registered",
                    r.questionnaire_id,
                    r.questionnaire_version
                )
            })?;
        let a = Answers::from_json(q, &r.answers)?;
        let mut out = vec![None; self.codes.len()];
        for (code, v) in a.iter() {
            if let Some(&i) = self.index.get(code) {
                out[i] = Some(v.clone());
            }
        }
        Ok(out)
    }
}

/// A cell as text (CSV without the formula guard, Parquet).
pub fn cell_text(v: &AnswerValue) -> String {
    match v {
        AnswerValue::Likert(c) => c.to_string(),
        AnswerValue::DontKnow => DONT_KNOW_ZH.to_owned(),
        AnswerValue::Choice(c) => c.clone(),
        AnswerValue::Choices(cs) => cs.join(";"),
        AnswerValue::Number(x) => x.to_string(),
        AnswerValue::Text(t) => t.clone(),
    }
}

// ----- the streamed body -----

type Chunk = Result<Bytes, io::Error>;

/// `Write` that hands the response body 256 KiB chunks (blocking; call off the runtime).
pub struct ChunkWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<Chunk>,
}

impl ChunkWriter {
    pub fn new(tx: mpsc::Sender<Chunk>) -> Self {
        ChunkWriter {
            buf: Vec::with_capacity(CHUNK_BYTES + 4096),
            tx,
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 4096));
        self.tx
            .blocking_send(Ok(Bytes::from(full)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Drop for ChunkWriter {
    /// Sends what is left (writers that cannot be taken back, like Parquet's, end this way).
    fn drop(&mut self) {
        let _ = self.send();
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// One encoder of the responses export: pages in, bytes out.
pub trait Encoder {
    fn page(
        &mut self,
        rows: &[AnalysisRow],
        answers: &[Vec<Option<AnswerValue>>],
    ) -> anyhow::Result<()>;
    fn finish(self: Box<Self>) -> anyhow::Result<()>;
}

/// The encoder of `format` writing into `out`.
pub fn encoder<W: Write + Send + 'static>(
    format: ExportFormat,
    cols: &Arc<Columns>,
    out: W,
) -> anyhow::Result<Box<dyn Encoder>> {
    Ok(match format {
        ExportFormat::Json => Box::new(JsonEncoder::new(cols.clone(), out)),
        ExportFormat::Parquet => Box::new(ParquetEncoder::new(cols.clone(), out)?),
        ExportFormat::Xlsx => Box::new(XlsxEncoder::new(cols.clone(), out)?),
        ExportFormat::Csv => anyhow::bail!("responses.csv is written by routes::results"),
    })
}

/// Runs an encoder over pages from `pages` until the sender side closes; `failed` tells a
/// complete read from one that stopped on an error (then the export fails, never truncates).
/// The answers of the next page are decoded on a second thread while this one encodes.
pub fn run_encoder(
    mut enc: Box<dyn Encoder>,
    cols: &Columns,
    pages: &mut mpsc::Receiver<Vec<AnalysisRow>>,
    failed: &AtomicBool,
) -> anyhow::Result<()> {
    type Decoded = anyhow::Result<(Vec<AnalysisRow>, Vec<Vec<Option<AnswerValue>>>)>;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Decoded>(2);
    std::thread::scope(|s| {
        s.spawn(move || {
            while let Some(page) = pages.blocking_recv() {
                let answers = page
                    .iter()
                    .map(|r| cols.decode(r))
                    .collect::<anyhow::Result<Vec<_>>>();
                let stop = answers.is_err();
                // the encoder has stopped (error or client gone) or a row did not decode
                if tx.send(answers.map(|a| (page, a))).is_err() || stop {
                    break;
                }
            }
        });
        for item in rx {
            let (page, answers) = item?;
            enc.page(&page, &answers)?;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    if failed.load(Ordering::SeqCst) {
        anyhow::bail!("reading the responses from the database failed");
    }
    enc.finish()
}

async fn responses_export(
    state: &AppState,
    id: i64,
    format: ExportFormat,
) -> Result<HttpResponse, ApiError> {
    let ev = state.store.get_evaluation(id).await?;
    if format == ExportFormat::Xlsx {
        let n = state.store.export_row_count(ev.id).await?;
        if n > XLSX_MAX_ROWS {
            return Err(ApiError::BadRequest(format!(
                "the evaluation has {n} responses; an XLSX worksheet holds at most \
                 {XLSX_MAX_ROWS}: use responses.parquet, responses.csv or responses.json"
            )));
        }
    }
    let design = DesignTable::new(&state.store.design_strata(ev.id).await?);
    let cols = Arc::new(Columns::new(Arc::new(state.questionnaires.clone()), design));
    let (page_tx, mut page_rx) = mpsc::channel::<Vec<AnalysisRow>>(2);
    let failed = Arc::new(AtomicBool::new(false));
    let store = state.store.clone();
    let read_failed = failed.clone();
    let ev_id = ev.id;
    tokio::spawn(async move {
        // `keep` outlives the query, so the encoder sees the end only after `failed` is set
        let keep = page_tx.clone();
        if let Err(e) = store.stream_analysis_rows(ev_id, PAGE_ROWS, page_tx).await {
            tracing::error!(error = %e, evaluation = ev_id, "responses export: read failed");
            read_failed.store(true, Ordering::SeqCst);
        }
        drop(keep);
    });
    let (body_tx, mut body_rx) = mpsc::channel::<Chunk>(4);
    tokio::task::spawn_blocking(move || {
        let out = ChunkWriter::new(body_tx.clone());
        let r = encoder(format, &cols, out)
            .and_then(|enc| run_encoder(enc, &cols, &mut page_rx, &failed));
        if let Err(e) = r {
            let gone = e
                .downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe);
            if !gone {
                tracing::error!(error = %e, evaluation = id, ?format, "responses export failed");
                let _ = body_tx.blocking_send(Err(io::Error::other("export failed")));
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| body_rx.poll_recv(cx));
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(attachment(&ev, "responses", format))
        .streaming(stream))
}

// ----- JSON -----

/// A JSON array written one object per line: `[`, objects separated by `,\n`, `]`.
struct JsonEncoder<W: Write> {
    cols: Arc<Columns>,
    out: W,
    first: bool,
    line: Vec<u8>,
}

impl<W: Write> JsonEncoder<W> {
    fn new(cols: Arc<Columns>, out: W) -> Self {
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
        AnswerValue::DontKnow => json_str(buf, DONT_KNOW_ZH),
        AnswerValue::Choice(c) | AnswerValue::Text(c) => json_str(buf, c),
        AnswerValue::Choices(cs) => json_str(buf, &cs.join(";")),
    }
}

/// One response as a JSON object (answers nested under `answers`, unanswered ones left out).
pub fn json_row(
    buf: &mut Vec<u8>,
    cols: &Columns,
    r: &AnalysisRow,
    a: &[Option<AnswerValue>],
) -> anyhow::Result<()> {
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
    fn page(
        &mut self,
        rows: &[AnalysisRow],
        answers: &[Vec<Option<AnswerValue>>],
    ) -> anyhow::Result<()> {
        for (r, a) in rows.iter().zip(answers) {
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

// ----- Parquet -----

/// Name of an answer column in Parquet, where names must be unique: a question code that is
/// also a fixed column (e.g. a `district` question) becomes `q_district`. CSV and XLSX keep
/// the code (their header may repeat it); JSON nests answers under `answers`.
pub fn parquet_answer_column(code: &str) -> String {
    if EXPORT_COLUMNS.contains(&code) {
        format!("q_{code}")
    } else {
        code.to_owned()
    }
}

/// Column builders of one row group.
struct Group {
    text: Vec<StringChunkedBuilder>,
    version: Vec<i64>,
    weight: Vec<Option<f64>>,
    design_weight: Vec<f64>,
    design_fpc: Vec<f64>,
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
    fn new(codes: &[String]) -> Self {
        let text = PARQUET_TEXT
            .iter()
            .map(|s| s.to_string())
            .chain(codes.iter().map(|c| parquet_answer_column(c)))
            .map(|n| StringChunkedBuilder::new(PlSmallStr::from(n), PARQUET_ROW_GROUP))
            .collect();
        Group {
            text,
            version: Vec::with_capacity(PARQUET_ROW_GROUP),
            weight: Vec::with_capacity(PARQUET_ROW_GROUP),
            design_weight: Vec::with_capacity(PARQUET_ROW_GROUP),
            design_fpc: Vec::with_capacity(PARQUET_ROW_GROUP),
            rows: 0,
        }
    }

    fn push(&mut self, r: &AnalysisRow, d: RowDesign<'_>, a: &[Option<AnswerValue>]) {
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
        self.rows += 1;
    }

    /// The group as a frame with the export's column order.
    fn frame(self) -> anyhow::Result<DataFrame> {
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
        cols.extend(text);
        Ok(DataFrame::new(height, cols)?)
    }
}

struct ParquetEncoder<W: Write> {
    cols: Arc<Columns>,
    writer: polars::io::parquet::write::BatchedWriter<W>,
    group: Group,
}

impl<W: Write + Send> ParquetEncoder<W> {
    fn new(cols: Arc<Columns>, out: W) -> anyhow::Result<Self> {
        let schema = Group::new(&cols.codes).frame()?.schema().as_ref().clone();
        let writer = ParquetWriter::new(out)
            .with_compression(ParquetCompression::Snappy)
            .with_row_group_size(Some(PARQUET_ROW_GROUP))
            .batched(&schema)?;
        let group = Group::new(&cols.codes);
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
        let g = std::mem::replace(&mut self.group, Group::new(&self.cols.codes));
        self.writer.write_batch(&g.frame()?)?;
        Ok(())
    }
}

impl<W: Write + Send> Encoder for ParquetEncoder<W> {
    fn page(
        &mut self,
        rows: &[AnalysisRow],
        answers: &[Vec<Option<AnswerValue>>],
    ) -> anyhow::Result<()> {
        for (r, a) in rows.iter().zip(answers) {
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

// ----- XLSX -----

/// The codebook: one row per answer option of each question of each questionnaire (one row
/// for questions without options), after one row per fixed column.
pub const CODEBOOK_HEADER: [&str; 13] = [
    "column",
    "questionnaire",
    "version",
    "respondent_type",
    "dimension",
    "kind",
    "text_zh",
    "text_en",
    "answer_code",
    "label_zh",
    "label_en",
    "score",
    "satisfied",
];

/// Meaning of the fixed columns (zh, en).
const FIXED_MEANING: [(&str, &str, &str); 11] = [
    ("unit", "被评估单位代码", "evaluated unit (code)"),
    ("respondent_type", "评议主体类型", "respondent type"),
    ("questionnaire", "问卷编号", "questionnaire id"),
    ("version", "问卷版本", "questionnaire version"),
    (
        "source",
        "来源（link 链接 / token 邀请 / upload 第三方上传）",
        "source: link, token or upload",
    ),
    (
        "submitted_on",
        "提交日期",
        "date submitted (no time of day)",
    ),
    ("district", "区县", "district"),
    ("gender", "性别", "gender"),
    ("age_group", "年龄段", "age group"),
    ("weight", "权重（空 = 1）", "weight (empty = 1)"),
    ("flags", "质量标记（; 分隔）", "quality flags (;-separated)"),
];

/// Codebook rows as text cells ("score" and "satisfied" empty unless likert).
pub fn codebook_rows(qs: &Questionnaires) -> Vec<[String; 13]> {
    let mut out = Vec::new();
    for (col, zh, en) in FIXED_MEANING {
        let mut r: [String; 13] = Default::default();
        r[0] = col.into();
        r[5] = "fixed".into();
        r[6] = zh.into();
        r[7] = en.into();
        out.push(r);
    }
    for q in qs.values() {
        for question in &q.questions {
            let base = |r: &mut [String; 13]| {
                r[0] = question.code.clone();
                r[1] = q.id.clone();
                r[2] = q.version.to_string();
                r[3] = q.respondent_type.as_str().into();
                r[4] = question.dimension.clone().unwrap_or_default();
                r[5] = question.kind.name().into();
                r[6] = question.text.zh.clone();
                r[7] = question.text.en.clone();
            };
            match &question.kind {
                QuestionKind::Likert5(l) => {
                    for c in &l.choices {
                        let mut r: [String; 13] = Default::default();
                        base(&mut r);
                        r[8] = c.code.to_string();
                        r[9] = c.label.zh.clone();
                        r[10] = c.label.en.clone();
                        r[11] = c.score.to_string();
                        r[12] = c.satisfied.to_string();
                        out.push(r);
                    }
                    if let Some(d) = &l.dont_know {
                        let mut r: [String; 13] = Default::default();
                        base(&mut r);
                        // the export writes "不了解" for it, whatever the form's code is
                        r[8] = DONT_KNOW_ZH.into();
                        r[9] = d.label.zh.clone();
                        r[10] = d.label.en.clone();
                        out.push(r);
                    }
                }
                _ => {
                    let opts = question.options();
                    if opts.is_empty() {
                        let mut r: [String; 13] = Default::default();
                        base(&mut r);
                        out.push(r);
                    }
                    for (code, label) in opts {
                        let mut r: [String; 13] = Default::default();
                        base(&mut r);
                        r[8] = code;
                        r[9] = label.zh;
                        r[10] = label.en;
                        out.push(r);
                    }
                }
            }
        }
    }
    out
}

fn write_codebook(ws: &mut rust_xlsxwriter::Worksheet, qs: &Questionnaires) -> anyhow::Result<()> {
    let bold = rust_xlsxwriter::Format::new().set_bold();
    ws.set_name("codebook")?;
    for (c, h) in CODEBOOK_HEADER.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, r) in codebook_rows(qs).iter().enumerate() {
        let row = i as u32 + 1;
        for (c, v) in r.iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            match (c, v.parse::<f64>()) {
                (2 | 11, Ok(x)) => ws.write_number(row, c as u16, x)?,
                _ => ws.write_string(row, c as u16, v)?,
            };
        }
    }
    Ok(())
}

/// Writes the `responses` sheet row by row (constant memory) and, at the end, the codebook;
/// the workbook is saved to a temporary file and copied to `out`.
struct XlsxEncoder<W: Write> {
    cols: Arc<Columns>,
    wb: rust_xlsxwriter::Workbook,
    row: u32,
    out: W,
}

impl<W: Write> XlsxEncoder<W> {
    fn new(cols: Arc<Columns>, out: W) -> anyhow::Result<Self> {
        let mut wb = rust_xlsxwriter::Workbook::new();
        // level 1: about half the save time of the default for a ~1.5× larger file
        wb.set_zip_compression_level(1);
        wb.use_zip_large_file(true);
        let bold = rust_xlsxwriter::Format::new().set_bold();
        let ws = wb.add_worksheet_with_constant_memory()?;
        ws.set_name("responses")?;
        for (c, h) in EXPORT_COLUMNS
            .iter()
            .copied()
            .chain(cols.codes.iter().map(String::as_str))
            .enumerate()
        {
            ws.write_string_with_format(0, c as u16, h, &bold)?;
        }
        ws.set_freeze_panes(1, 0)?;
        Ok(XlsxEncoder {
            cols,
            wb,
            row: 1,
            out,
        })
    }
}

impl<W: Write> Encoder for XlsxEncoder<W> {
    fn page(
        &mut self,
        rows: &[AnalysisRow],
        answers: &[Vec<Option<AnswerValue>>],
    ) -> anyhow::Result<()> {
        let ws = self.wb.worksheet_from_index(0)?;
        for (r, a) in rows.iter().zip(answers) {
            let row = self.row;
            if i64::from(row) > XLSX_MAX_ROWS {
                anyhow::bail!("more than {XLSX_MAX_ROWS} responses do not fit a worksheet");
            }
            ws.write_string(row, 0, &r.unit_code)?;
            ws.write_string(row, 1, &r.respondent_type)?;
            ws.write_string(row, 2, &r.questionnaire_id)?;
            ws.write_number(row, 3, r.questionnaire_version as f64)?;
            ws.write_string(row, 4, &r.source)?;
            ws.write_string(row, 5, &r.submitted_on)?;
            for (c, v) in [(6u16, &r.district), (7, &r.gender), (8, &r.age_group)] {
                if let Some(v) = v {
                    ws.write_string(row, c, v)?;
                }
            }
            if let Some(w) = r.weight {
                ws.write_number(row, 9, w)?;
            }
            if !r.flags.is_empty() {
                ws.write_string(row, 10, &r.flags)?;
            }
            let d = self.cols.design_of(r);
            ws.write_string(row, 11, d.stratum)?;
            ws.write_number(row, 12, d.weight)?;
            // a worksheet has no infinity: no finite-population correction stays empty
            if d.fpc.is_finite() {
                ws.write_number(row, 13, d.fpc)?;
            }
            let first = EXPORT_COLUMNS.len() as u16;
            for (i, v) in a.iter().enumerate() {
                let c = first + i as u16;
                match v {
                    None => {}
                    Some(AnswerValue::Likert(x)) => {
                        ws.write_number(row, c, f64::from(*x))?;
                    }
                    Some(AnswerValue::Number(x)) => {
                        ws.write_number(row, c, *x)?;
                    }
                    Some(v) => {
                        ws.write_string(row, c, cell_text(v))?;
                    }
                }
            }
            self.row += 1;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        let ws = self.wb.add_worksheet();
        write_codebook(ws, &self.cols.qs)?;
        let mut file = tempfile::tempfile()?;
        self.wb.save_to_writer(&mut file)?;
        file.seek(io::SeekFrom::Start(0))?;
        io::copy(&mut file, &mut self.out)?;
        self.out.flush()?;
        Ok(())
    }
}

// ----- satisfaction tables -----

/// Parameters of the satisfaction exports: those of `GET …/satisfaction`.
pub type SatisfactionExportParams = crate::scoring::SatisfactionParams;

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

async fn satisfaction_table(
    state: &AppState,
    id: i64,
    p: &SatisfactionExportParams,
) -> Result<(Evaluation, SatTable), ApiError> {
    let t = crate::scoring::satisfaction_table(state, id, p).await?;
    let (ev, l, rows) = (t.evaluation, t.loaded, t.rows);
    let (by, level, conf, min_cell) = (t.query.by, t.query.level, t.query.conf, t.query.min_cell);
    let ci_name = t.ci_name.as_str();
    let flagged = t.exclude_flagged;
    let (columns, rows) = flatten(&by, level, &rows);
    let about = vec![
        ("evaluation_id".into(), ev.id.to_string()),
        ("series".into(), ev.series.clone()),
        ("year".into(), ev.year.to_string()),
        ("wave".into(), ev.wave.clone()),
        ("data_version".into(), l.version.to_string()),
        ("responses".into(), l.rows.to_string()),
        ("by".into(), by.join(",")),
        ("ci".into(), ci_name.to_owned()),
        ("confidence_level".into(), conf.to_string()),
        ("min_cell".into(), min_cell.to_string()),
        ("exclude_flagged".into(), flagged.to_string()),
        (
            "estimate".into(),
            "satisfaction index 0–100 (rate_*: satisfaction rate 0–1)".into(),
        ),
    ];
    Ok((
        ev,
        SatTable {
            columns,
            rows,
            about,
        },
    ))
}

fn sat_text(c: &SatCell) -> String {
    match c {
        SatCell::Text(s) => s.clone(),
        SatCell::Int(n) => n.to_string(),
        SatCell::Num(Some(x)) => x.to_string(),
        SatCell::Num(None) => String::new(),
        SatCell::Bool(b) => b.to_string(),
    }
}

/// The table in `format`, in memory.
pub fn encode_table(t: &SatTable, format: ExportFormat) -> anyhow::Result<Vec<u8>> {
    Ok(match format {
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(&t.columns)?;
            for r in &t.rows {
                w.write_record(r.iter().map(sat_text))?;
            }
            w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?
        }
        ExportFormat::Json => {
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
            out
        }
        ExportFormat::Xlsx => {
            let mut wb = rust_xlsxwriter::Workbook::new();
            let bold = rust_xlsxwriter::Format::new().set_bold();
            let ws = wb.add_worksheet();
            ws.set_name("satisfaction")?;
            for (c, h) in t.columns.iter().enumerate() {
                ws.write_string_with_format(0, c as u16, h, &bold)?;
            }
            for (i, r) in t.rows.iter().enumerate() {
                let row = i as u32 + 1;
                for (c, v) in r.iter().enumerate() {
                    let c = c as u16;
                    match v {
                        SatCell::Text(s) => {
                            ws.write_string(row, c, s)?;
                        }
                        SatCell::Int(n) => {
                            ws.write_number(row, c, *n as f64)?;
                        }
                        SatCell::Num(Some(x)) => {
                            ws.write_number(row, c, *x)?;
                        }
                        SatCell::Num(None) => {}
                        SatCell::Bool(b) => {
                            ws.write_boolean(row, c, *b)?;
                        }
                    }
                }
            }
            ws.set_freeze_panes(1, 0)?;
            let about = wb.add_worksheet();
            about.set_name("about")?;
            for (i, (k, v)) in t.about.iter().enumerate() {
                about.write_string(i as u32, 0, k)?;
                about.write_string(i as u32, 1, v)?;
            }
            wb.save_to_buffer()?
        }
        ExportFormat::Parquet => {
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
                    _ => Series::new(name, cells.map(sat_text).collect::<Vec<String>>()),
                };
                cols.push(s.into_column());
            }
            let mut df = DataFrame::new(t.rows.len(), cols)?;
            let mut out = Vec::new();
            ParquetWriter::new(&mut out)
                .with_compression(ParquetCompression::Snappy)
                .finish(&mut df)?;
            out
        }
    })
}

async fn satisfaction_export(
    state: &AppState,
    id: i64,
    p: &SatisfactionExportParams,
    format: ExportFormat,
) -> Result<HttpResponse, ApiError> {
    let (ev, t) = satisfaction_table(state, id, p).await?;
    let bytes = web::block(move || encode_table(&t, format))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?
        .map_err(ApiError::Internal)?;
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(attachment(&ev, "satisfaction", format))
        .body(bytes))
}

// ----- handlers -----

/// Anonymous responses as an XLSX workbook: sheet `responses` (one row per response) and
/// sheet `codebook` (question code, questionnaire, dimension, kind, text zh/en, answer codes
/// with labels zh/en, likert scores and satisfied flags). At most 1,048,575 responses.
#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/responses.xlsx",
    tag = "exports",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "XLSX workbook (responses and codebook sheets)",
         content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 400, description = "more responses than a worksheet holds", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not an admin or evaluator", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such evaluation", body = crate::openapi::ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn responses_xlsx(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    responses_export(&state, path.into_inner(), ExportFormat::Xlsx).await
}

/// Anonymous responses as Parquet (Snappy; row groups of 65,536 responses; answer columns
/// are text in the CSV's encoding, `version` is Int64 and `weight` Float64).
#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/responses.parquet",
    tag = "exports",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "Parquet file, streamed", content_type = "application/vnd.apache.parquet"),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not an admin or evaluator", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such evaluation", body = crate::openapi::ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn responses_parquet(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    responses_export(&state, path.into_inner(), ExportFormat::Parquet).await
}

/// Anonymous responses as one JSON array streamed one object per line: `[`, then
/// `{"unit":…,"respondent_type":…,"questionnaire":…,"version":…,"source":…,"submitted_on":…,
/// "district":…,"gender":…,"age_group":…,"weight":…,"flags":…,"answers":{code: value}}` lines
/// separated by `,`, then `]`. Likert answers are numbers, "don't know" is "不了解".
#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/responses.json",
    tag = "exports",
    params(("id" = i64, Path, description = "evaluation id")),
    responses(
        (status = 200, description = "JSON array of responses, streamed", body = [crate::openapi::ResponseRecord]),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not an admin or evaluator", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such evaluation", body = crate::openapi::ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn responses_json(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    responses_export(&state, path.into_inner(), ExportFormat::Json).await
}

/// The satisfaction table as CSV (parameters as `GET …/satisfaction`).
#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/satisfaction.csv",
    tag = "exports",
    params(("id" = i64, Path, description = "evaluation id"), crate::openapi::SatisfactionQuery),
    responses(
        (status = 200, description = "CSV table", content_type = "text/csv"),
        (status = 400, description = "bad parameters", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not an admin or evaluator", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such evaluation (or year)", body = crate::openapi::ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn satisfaction_csv(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    q: web::Query<SatisfactionExportParams>,
) -> Result<HttpResponse, ApiError> {
    satisfaction_export(&state, path.into_inner(), &q, ExportFormat::Csv).await
}

/// The satisfaction table as XLSX (sheets `satisfaction` and `about`).
#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/satisfaction.xlsx",
    tag = "exports",
    params(("id" = i64, Path, description = "evaluation id"), crate::openapi::SatisfactionQuery),
    responses(
        (status = 200, description = "XLSX workbook",
         content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 400, description = "bad parameters", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not an admin or evaluator", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such evaluation (or year)", body = crate::openapi::ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn satisfaction_xlsx(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    q: web::Query<SatisfactionExportParams>,
) -> Result<HttpResponse, ApiError> {
    satisfaction_export(&state, path.into_inner(), &q, ExportFormat::Xlsx).await
}

/// The satisfaction table as Parquet.
#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/satisfaction.parquet",
    tag = "exports",
    params(("id" = i64, Path, description = "evaluation id"), crate::openapi::SatisfactionQuery),
    responses(
        (status = 200, description = "Parquet table", content_type = "application/vnd.apache.parquet"),
        (status = 400, description = "bad parameters", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not an admin or evaluator", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such evaluation (or year)", body = crate::openapi::ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn satisfaction_parquet(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    q: web::Query<SatisfactionExportParams>,
) -> Result<HttpResponse, ApiError> {
    satisfaction_export(&state, path.into_inner(), &q, ExportFormat::Parquet).await
}

/// The satisfaction table as a JSON array of flat row objects.
#[utoipa::path(
    get,
    path = "/api/v1/evaluations/{id}/satisfaction.json",
    tag = "exports",
    params(("id" = i64, Path, description = "evaluation id"), crate::openapi::SatisfactionQuery),
    responses(
        (status = 200, description = "JSON array of rows", body = [crate::openapi::SatisfactionFlatRow]),
        (status = 400, description = "bad parameters", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "not an admin or evaluator", body = crate::openapi::ErrorBody),
        (status = 404, description = "no such evaluation (or year)", body = crate::openapi::ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn satisfaction_json(
    Evaluator(_u): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    q: web::Query<SatisfactionExportParams>,
) -> Result<HttpResponse, ApiError> {
    satisfaction_export(&state, path.into_inner(), &q, ExportFormat::Json).await
}
