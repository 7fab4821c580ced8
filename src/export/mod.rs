//! The export service: an evaluation's anonymous responses and its satisfaction tables as
//! CSV, XLSX, Parquet and JSON, one encoder per format behind [`Encoder`].
//!
//! Responses: `responses.csv`, `responses.xlsx` (a `responses` sheet and a `codebook` sheet),
//! `responses.parquet` (one row group per 65,536 responses) and `responses.json` (a streamed
//! JSON array, one object per line). Every format has the same rows (withdrawn upload batches
//! excluded) and the same columns: the fixed [`EXPORT_COLUMNS`], the response's scores
//! (`index_score`, `satisfied`, then `index_score__<dimension>` and `satisfied__<dimension>`
//! per dimension), then one
//! column per question code of the registered questionnaires. Every header is unique.
//!
//! The pipeline of a responses export keeps memory bounded: one streaming query sends pages of
//! 5,000 rows over a small channel to one blocking encoder thread, which writes into
//! [`ChunkWriter`]; that sends 256 KiB chunks over another small channel to the caller (the
//! route streams them as the response body).
//! XLSX cannot be written front to back (a zip's directory comes last), so the workbook is built
//! with rust_xlsxwriter's constant-memory worksheet in a temporary file and then streamed.
//!
//! Satisfaction tables (`satisfaction.csv|xlsx|parquet|json`) are the rows of
//! `GET /api/v1/evaluations/{id}/satisfaction` with the same parameters, flattened: the `by`
//! columns, the item column (`dimension` or `question` when asked for), `n`, the satisfaction
//! index (`estimate`, `se`, `ci_low`, `ci_high`, as the API's top-level fields), `n_eff`,
//! `suppressed` and the satisfaction rate (`rate_estimate`, `rate_se`, `rate_ci_low`,
//! `rate_ci_high`); with `compare=YEAR` also the [`crate::scoring::COMPARE_COLUMNS`] (that year's estimate
//! and se, change, change_se, df, p_value, for the index and the rate; see
//! [`crate::scoring::compare`]). They are small and built in memory.
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
//! Scores: the columns the service's analysis estimates from, computed by the same functions
//! ([`crate::questionnaire::score`]): `index_score` is the response's satisfaction index
//! (0–100, the mean choice score of its answered likert items, "don't know" left out; empty
//! without one), `satisfied` 1/0 (the index reaches the questionnaire's satisfied threshold;
//! empty where the index is), `index_score__<dimension>` and `satisfied__<dimension>` the
//! same over a dimension's items. The weighted mean of `index_score` under the design columns is the pages' index,
//! of `satisfied` their rate: `pingyi analyze --value index_score` (or `--value satisfied
//! --satisfied 1`) `--weight design_weight --strata design_stratum --fpc design_fpc
//! --lonely-psu adjust` on the CSV gives the satisfaction API's numbers.
//!
//! Cells: a likert answer is its code 1–5, "don't know" the question's don't-know code
//! (0 unless the questionnaire sets another number; empty if its code is not a number), so
//! likert columns hold numbers only (give `--missing 0` to `pingyi analyze`); a single choice
//! its code, multiple choices their codes joined by `;`, numbers as numbers, text as text. XLSX
//! and JSON write likert codes and numbers as numbers; Parquet and CSV answer columns are text
//! (score columns are Float64 in Parquet). Only CSV prefixes formula-like text with `'` (the
//! others never evaluate a cell). A question whose code is also a fixed or score column name
//! (e.g. `district`) is named `q_<code>` in CSV, XLSX and Parquet ([`answer_column`]); JSON
//! nests answers under `answers` by their code.

mod columns;
mod csv;
mod json;
mod parquet;
mod stream;
mod table;
mod xlsx;

use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio::sync::mpsc;

pub use columns::{
    answer_column, cell_text, dimension_codes, dont_know_cell, question_codes, score_cells,
    Columns, Decoded, Questionnaires, ANSWER_PREFIX, DIMENSION_PREFIX, DIMENSION_SATISFIED_PREFIX,
    EXPORT_COLUMNS, INDEX_SCORE, SATISFIED,
};
pub use csv::CsvEncoder;
pub use json::{json_row, JsonEncoder};
pub use parquet::{parquet_answer_column, ParquetEncoder, PARQUET_ROW_GROUP};
pub use stream::{encoder, run_encoder, Chunk, ChunkWriter, Encoder};
pub use table::{encode_table, flatten, SatCell, SatTable};
pub use xlsx::{codebook_rows, XlsxEncoder, CODEBOOK_HEADER, XLSX_MAX_ROWS};

use crate::analytics::design::DesignTable;
use crate::analytics::AnalyticsError;
use crate::scoring::SatisfactionParams;
use crate::startup::AppState;
use crate::store::{AnalysisRow, Evaluation, StoreError};

/// Rows per page read from the store.
const PAGE_ROWS: usize = 5_000;

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

/// The download name of an export: `{what}-{series}-{year}.{extension}`.
pub fn file_name(ev: &Evaluation, what: &str, format: ExportFormat) -> String {
    format!(
        "{what}-{}-{}.{}",
        ev.series.replace(['"', '\\', '/'], "_"),
        ev.year,
        format.extension()
    )
}

/// Why an export did not start.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Analytics(#[from] AnalyticsError),
    #[error(
        "the evaluation has {0} responses; an XLSX worksheet holds at most {XLSX_MAX_ROWS}: \
         use responses.parquet, responses.csv or responses.json"
    )]
    TooManyRows(i64),
    #[error("encoding the export failed: {0}")]
    Encode(String),
}

/// A responses export under way: the evaluation (for the file name) and its body, sent in
/// chunks; an `Err` chunk means the export failed part way (never a silent truncation).
pub struct ResponsesExport {
    pub evaluation: Evaluation,
    pub body: mpsc::Receiver<Chunk>,
}

/// Starts the export of an evaluation's anonymous responses in `format`: one streaming read
/// of the store feeds one blocking encoder thread; memory stays bounded whatever the size.
pub async fn responses(
    state: &AppState,
    id: i64,
    format: ExportFormat,
) -> Result<ResponsesExport, ExportError> {
    let ev = state.store.get_evaluation(id).await?;
    if format == ExportFormat::Xlsx {
        let n = state.store.export_row_count(ev.id).await?;
        if n > XLSX_MAX_ROWS {
            return Err(ExportError::TooManyRows(n));
        }
    }
    let design = DesignTable::new(&state.store.design_strata(ev.id).await?);
    let cols = Arc::new(Columns::new(state.questionnaires.all(), design));
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
            read_failed.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        drop(keep);
    });
    let (body_tx, body_rx) = mpsc::channel::<Chunk>(4);
    tokio::task::spawn_blocking(move || {
        let out = ChunkWriter::new(body_tx.clone());
        let r = encoder(format, &cols, out)
            .and_then(|enc| run_encoder(enc, &cols, &mut page_rx, &failed));
        if let Err(e) = r {
            let gone = e
                .downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe);
            if !gone {
                tracing::error!(error = %e, evaluation = ev_id, ?format, "responses export failed");
                let _ = body_tx.blocking_send(Err(io::Error::other("export failed")));
            }
        }
    });
    Ok(ResponsesExport {
        evaluation: ev,
        body: body_rx,
    })
}

/// The satisfaction table a request asks for, encoded in `format` (in memory: tables are
/// small); with the evaluation of the requested year, for the file name.
pub async fn satisfaction(
    state: &AppState,
    id: i64,
    params: &SatisfactionParams,
    format: ExportFormat,
) -> Result<(Evaluation, Vec<u8>), ExportError> {
    let t = crate::scoring::satisfaction_table(state, id, params).await?;
    let table = SatTable::of(&t);
    let bytes = tokio::task::spawn_blocking(move || encode_table(&table, format))
        .await
        .map_err(|e| ExportError::Encode(e.to_string()))?
        .map_err(|e| ExportError::Encode(format!("{e:#}")))?;
    Ok((t.evaluation, bytes))
}
