//! Storing a firm's file: the one part of uploads that touches the store. The API, the firm
//! page and `pingyi import` all call [`ingest`] and show its outcome their own way.
//!
//! The file is validated on a blocking thread that streams valid rows through a bounded
//! channel into one transaction; the batch commits only when the whole file is valid, so a
//! file is stored completely or not at all. A file identical to one already stored (same
//! SHA-256 for the evaluation) is not stored again.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Receipt, UploadContext, UploadOptions, UploadReport};
use crate::questionnaire::{Questionnaire, Questionnaires};
use crate::store::{CollectionMethod, FirmRow, NewBatch, Store, StoreError, UploadedRow};

/// The fieldwork method (方式) given by code, Chinese name or English name.
pub fn parse_method(s: &str) -> Result<CollectionMethod, IngestError> {
    CollectionMethod::parse_loose(s).ok_or_else(|| IngestError::UnknownMethod(s.trim().to_owned()))
}

/// The questionnaire named `id` or `id@version` (or `id` with `version` given apart; both only
/// when they agree); without a version its newest.
pub fn find_questionnaire(
    qs: &Questionnaires,
    spec: &str,
    version: Option<i64>,
) -> Result<Arc<Questionnaire>, IngestError> {
    let r = crate::questionnaire::QuestionnaireRef::parse_with(spec, version)
        .map_err(|e| IngestError::BadQuestionnaire(e.to_string()))?;
    let v = r.pick(qs.keys().filter(|(qid, _)| *qid == r.id).map(|(_, v)| *v));
    v.and_then(|v| qs.get(&(r.id.clone(), v)).cloned())
        .ok_or_else(|| IngestError::UnknownQuestionnaire(r.to_string()))
}

/// Metadata and content of one uploaded file.
pub struct UploadInput {
    pub questionnaire: String,
    pub version: Option<i64>,
    pub wave: String,
    pub method: String,
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// What became of a file.
#[derive(Debug)]
pub enum Ingested {
    /// Committed as a new batch: its receipt.
    Stored(serde_json::Value),
    /// The same file was stored before: the first receipt; nothing was stored again.
    Duplicate(serde_json::Value),
    /// Not stored: what is wrong with the file.
    Rejected(Rejection),
}

/// Why a file was not stored, row by row.
#[derive(Debug)]
pub enum Rejection {
    /// The file has no bytes at all.
    EmptyFile,
    /// The file was read and has errors (all of them, up to the report's limit).
    Invalid(UploadReport),
}

impl Rejection {
    const EMPTY_EN: &'static str =
        "the file is empty: export the sheet with its header row and one row per interview";
    const EMPTY_ZH: &'static str = "文件为空";

    /// One sentence saying that nothing was stored and why.
    pub fn message(&self) -> String {
        match self {
            Rejection::EmptyFile => Self::EMPTY_EN.to_owned(),
            Rejection::Invalid(report) => format!(
                "the file was not stored: {} error(s){}; fix them and upload the whole file again",
                report.errors.len() as u64 + report.more_errors,
                if report.more_errors > 0 {
                    format!(" ({} listed)", report.errors.len())
                } else {
                    String::new()
                }
            ),
        }
    }

    /// The errors as the API returns them (`details` of the 422 answer).
    pub fn details(&self, evaluation_id: i64) -> serde_json::Value {
        match self {
            Rejection::EmptyFile => serde_json::json!({ "errors": [{
                "row": null, "column": "", "value": "",
                "reason": Self::EMPTY_EN, "reason_zh": Self::EMPTY_ZH,
            }] }),
            Rejection::Invalid(report) => {
                let errors: Vec<serde_json::Value> = report
                    .errors
                    .iter()
                    .map(|e| serde_json::json!({ "row": e.row, "column": e.column, "value": e.value, "reason": e.reason, "reason_zh": e.reason_zh, "kind": e.kind }))
                    .collect();
                serde_json::json!({
                    "errors": errors,
                    "more_errors": report.more_errors,
                    "rows": report.rows,
                    "sha256": report.sha256,
                    // The same list as CSV for Excel: POST the file to this address to download it.
                    "error_report_csv": format!("/api/v1/evaluations/{evaluation_id}/uploads?report=csv"),
                    "error_report": report.errors_to_csv(),
                })
            }
        }
    }

    /// (row, column, value, reason in English, reason in Chinese) of each listed error.
    pub fn errors(&self) -> Vec<(Option<u64>, &str, &str, &str, &str)> {
        match self {
            Rejection::EmptyFile => vec![(None, "", "", Self::EMPTY_EN, Self::EMPTY_ZH)],
            Rejection::Invalid(report) => report
                .errors
                .iter()
                .map(|e| {
                    (
                        e.row,
                        e.column.as_str(),
                        e.value.as_str(),
                        e.reason.as_str(),
                        e.reason_zh.as_str(),
                    )
                })
                .collect(),
        }
    }

    /// The downloadable CSV error report (empty for an empty file).
    pub fn error_report_csv(&self) -> String {
        match self {
            Rejection::EmptyFile => String::new(),
            Rejection::Invalid(report) => report.errors_to_csv(),
        }
    }
}

/// Why a file could not be taken at all (before its rows were looked at, or the store).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("firm {firm:?} is not contracted for evaluation {evaluation} (wave {wave:?})")]
    NotContracted {
        firm: String,
        evaluation: i64,
        wave: String,
    },
    #[error("unknown fieldwork method {0:?}; use one of door_to_door (入户), phone (电话), online (网络), intercept (拦截), focus_group (座谈会)")]
    UnknownMethod(String),
    #[error("questionnaire {0:?} not found; see GET /api/v1/questionnaires")]
    UnknownQuestionnaire(String),
    /// A questionnaire name that is not `id` or `id@version`.
    #[error("{0}")]
    BadQuestionnaire(String),
    #[error("the same file is being uploaded right now; try again")]
    InProgress,
    /// The evaluation does not collect answers now (draft, closed or published).
    #[error("{0}")]
    NotCollecting(String),
    #[error("the file check ended without a report")]
    NoReport,
    /// The same bytes are stored for this evaluation by another firm, or for another
    /// questionnaire, method or wave: nothing of that batch is told.
    #[error("a file with exactly these contents is already stored for this evaluation with other details (questionnaire, method or wave, or by another account); nothing was stored — check that you chose the right questionnaire, method and wave")]
    SameFileElsewhere,
}

/// Whether stored batch `b` is the same upload (firm, questionnaire, method, wave) as `new`:
/// only then is an identical file answered with its receipt.
fn same_upload(b: &crate::store::BatchRow, new: &NewBatch) -> bool {
    b.firm_id == new.firm_id
        && b.questionnaire_id == new.questionnaire_id
        && b.questionnaire_version == new.questionnaire_version
        && b.method == new.method
        && b.wave == new.wave
}

fn receipt_of(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_default()
}

/// Validates and stores one file of `firm` for an evaluation.
pub async fn ingest(
    store: &Store,
    questionnaires: &Questionnaires,
    firm: &FirmRow,
    evaluation_id: i64,
    mut input: UploadInput,
) -> Result<Ingested, IngestError> {
    let evaluation = store.get_evaluation(evaluation_id).await?;
    if !store
        .firm_in_scope(firm.id, evaluation.id, &input.wave)
        .await?
    {
        return Err(IngestError::NotContracted {
            firm: firm.name.clone(),
            evaluation: evaluation.id,
            wave: input.wave,
        });
    }
    if let Err(e) = crate::evaluations::lifecycle::ensure_accepts_uploads(&evaluation) {
        return Err(IngestError::NotCollecting(e.to_string()));
    }
    let method = parse_method(&input.method)?;
    let q = find_questionnaire(questionnaires, &input.questionnaire, input.version)?;
    if input.bytes.is_empty() {
        return Ok(Ingested::Rejected(Rejection::EmptyFile));
    }
    // Hashing hundreds of megabytes takes seconds: not on the thread that serves requests.
    let bytes = std::mem::take(&mut input.bytes);
    let (sha, bytes) = tokio::task::spawn_blocking(move || {
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        (sha, bytes)
    })
    .await
    .map_err(|e| StoreError::Internal(format!("hashing the upload: {e}")))?;
    input.bytes = bytes;
    let scope = NewBatch {
        evaluation_id: evaluation.id,
        firm_id: firm.id,
        questionnaire_id: q.id.clone(),
        questionnaire_version: i64::from(q.version),
        respondent_type: q.respondent_type.as_str().to_owned(),
        wave: input.wave.clone(),
        method,
        file_sha256: sha.clone(),
        file_name: input.file_name.clone(),
    };
    if let Some(b) = store.batch_by_hash(evaluation.id, &sha).await? {
        if !same_upload(&b, &scope) {
            return Err(IngestError::SameFileElsewhere);
        }
        return Ok(Ingested::Duplicate(receipt_of(&b.receipt)));
    }
    let units: HashMap<String, i64> = store
        .evaluation_units(evaluation.id)
        .await?
        .into_iter()
        .map(|u| (u.code, u.id))
        .collect();
    let ctx = UploadContext {
        units,
        wave: store.fieldwork(evaluation.id).await?,
    };

    // Validate on a blocking thread, streaming valid rows to the transaction through a
    // bounded channel; the report arrives before the channel closes.
    let (chunk_tx, chunk_rx) = tokio::sync::mpsc::channel::<Vec<UploadedRow>>(4);
    let (report_tx, report_rx) = std::sync::mpsc::channel::<UploadReport>();
    let bytes = input.bytes;
    let qv = q.clone();
    let validator = tokio::task::spawn_blocking(move || {
        let report = super::validate_upload(&bytes, &qv, &ctx, &UploadOptions::default(), |rows| {
            let rows = rows
                .into_iter()
                .map(|r| UploadedRow {
                    unit_id: r.unit_id,
                    respondent_type: r.respondent_type.as_str().to_owned(),
                    interview_date: r.interview_date,
                    district: r.district,
                    gender: r.gender,
                    age_group: r.age_group,
                    duration_seconds: r.duration_seconds,
                    weight: r.weight,
                    answers: r.answers_json,
                    flags: r.flags.names().join(","),
                    row_hash: r.content_hash,
                })
                .collect();
            chunk_tx.blocking_send(rows).map_err(|_| ())
        });
        if let Ok(r) = report {
            let _ = report_tx.send(r);
        }
        drop(chunk_tx);
    });
    let rx = Arc::new(tokio::sync::Mutex::new(chunk_rx));
    let batch = scope;
    // The report is sent before the chunk channel closes, so it is there once the rows are.
    let report_slot: std::sync::Mutex<Option<UploadReport>> = std::sync::Mutex::new(None);
    let stored = store
        .store_batch(
            &batch,
            || {
                let rx = rx.clone();
                async move { Ok::<_, StoreError>(rx.lock().await.recv().await) }
            },
            || {
                let report = report_rx.recv().ok();
                let valid = report.as_ref().is_some_and(UploadReport::is_valid);
                if let Ok(mut slot) = report_slot.lock() {
                    *slot = report;
                }
                valid
            },
            |batch_id, cross| {
                let slot = report_slot.lock().ok();
                match slot.as_ref().and_then(|s| s.as_ref()) {
                    Some(report) => {
                        let receipt = Receipt::new(batch_id, &batch, report, cross, &q);
                        serde_json::to_string(&receipt).unwrap_or_else(|_| String::from("{}"))
                    }
                    None => String::from("{}"),
                }
            },
        )
        .await;
    let _ = validator.await;
    match stored {
        Ok(Some((batch_id, _, _))) => {
            let b = store.get_batch(batch_id).await?;
            Ok(Ingested::Stored(receipt_of(&b.receipt)))
        }
        Ok(None) => {
            let report = report_slot
                .into_inner()
                .ok()
                .flatten()
                .ok_or(IngestError::NoReport)?;
            Ok(Ingested::Rejected(Rejection::Invalid(report)))
        }
        // A concurrent upload of the same file won the race: answer with its receipt.
        Err(StoreError::Conflict(_)) => match store.batch_by_hash(evaluation.id, &sha).await? {
            Some(b) if !same_upload(&b, &batch) => Err(IngestError::SameFileElsewhere),
            Some(b) => Ok(Ingested::Duplicate(receipt_of(&b.receipt))),
            None => Err(IngestError::InProgress),
        },
        Err(e) => Err(e.into()),
    }
}
