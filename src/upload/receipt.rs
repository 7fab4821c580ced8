//! The receipt of a stored batch: what the API answers an upload with, stored with the batch
//! (JSON text) and shown again by the batch list and the receipt route.

use serde::Serialize;
use utoipa::ToSchema;

use super::{FileFormat, FlagCounts, UploadReport};
use crate::questionnaire::Questionnaire;
use crate::store::{CollectionMethod, NewBatch};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Receipt {
    pub batch_id: i64,
    pub evaluation_id: i64,
    pub questionnaire: ReceiptQuestionnaire,
    pub wave: String,
    pub method: CollectionMethod,
    pub file_name: String,
    /// rows stored
    pub rows: u64,
    /// hex SHA-256 of the file as uploaded
    pub sha256: String,
    /// how the file was read: `{"type": "csv", "encoding", "delimiter"}` or `{"type": "xlsx"}`
    #[schema(value_type = Option<Object>)]
    pub format: Option<FileFormat>,
    pub warnings: ReceiptWarnings,
}

/// The questionnaire version the rows answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReceiptQuestionnaire {
    pub id: String,
    pub version: u32,
}

/// Rows flagged (kept, and left out by `exclude_flagged` analyses).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReceiptWarnings {
    pub speeders: u64,
    pub straight_lining: u64,
    pub duplicates_within_file: u64,
    pub duplicates_of_other_batches: u64,
    pub outside_wave: u64,
    /// rows with at least one flag
    pub flagged_rows: u64,
}

impl Receipt {
    /// The receipt of batch `batch_id`; `cross` rows duplicate rows of other batches.
    pub fn new(
        batch_id: i64,
        b: &NewBatch,
        r: &UploadReport,
        cross: u64,
        q: &Questionnaire,
    ) -> Self {
        let FlagCounts {
            speeder,
            straight_lining,
            duplicate,
            outside_wave,
            flagged_rows,
        } = r.flags;
        Receipt {
            batch_id,
            evaluation_id: b.evaluation_id,
            questionnaire: ReceiptQuestionnaire {
                id: q.id.clone(),
                version: q.version,
            },
            wave: b.wave.clone(),
            method: b.method,
            file_name: b.file_name.clone(),
            rows: r.valid_rows,
            sha256: r.sha256.clone(),
            format: r.format,
            warnings: ReceiptWarnings {
                speeders: speeder,
                straight_lining,
                duplicates_within_file: duplicate,
                duplicates_of_other_batches: cross,
                outside_wave,
                flagged_rows,
            },
        }
    }
}
