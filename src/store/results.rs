//! Reads for analysis, exports and the evaluators' overview. Responses of withdrawn upload
//! batches are never returned: a withdrawal removes them from every number.

use serde::{Deserialize, Serialize};

use super::*;

/// Declares a row type read by both backends from one column list: the struct (sqlx reads
/// PostgreSQL rows by column name), `COLUMNS` (the select list, in field order) and the
/// bulk SQLite mapper (rusqlite reads by position, in the same field order). The SQL
/// expression of each field is written next to it, so the list and the mappers cannot drift.
macro_rules! evaluation_row {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty = $sql:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(sqlx::FromRow)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $name {
            /// The select list, in field order (each expression yields its field's name).
            pub(crate) const COLUMNS: &'static [&'static str] = &[$($sql),*];
        }

        impl super::bulk::BulkRow for $name {
            fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                let mut i = 0usize;
                let mut next = || {
                    i += 1;
                    i - 1
                };
                // struct fields are evaluated in the order written: the order of COLUMNS
                Ok($name { $( $field: r.get(next())?, )* })
            }
        }
    };
}

evaluation_row! {
    /// One response as exports read it (anonymous: no id leaves the service).
    #[derive(Debug, Clone, Serialize)]
    pub struct AnalysisRow {
        pub id: i64 = "r.id",
        pub unit_code: String = "u.code AS unit_code",
        pub respondent_type: String = "r.respondent_type",
        pub questionnaire_id: String = "r.questionnaire_id",
        pub questionnaire_version: i64 = "r.questionnaire_version",
        pub source: String = "r.source",
        pub submitted_on: String = "r.submitted_on",
        pub district: Option<String> = "r.district",
        pub gender: Option<String> = "r.gender",
        pub age_group: Option<String> = "r.age_group",
        pub weight: Option<f64> = "r.weight",
        pub flags: String = "r.flags",
        pub answers: String = "r.answers",
        /// the draw and stratum a token response came through (see `analytics::design`)
        pub design_draw_id: Option<i64> = "r.design_draw_id",
        pub design_stratum: Option<String> = "r.design_stratum",
    }
}

evaluation_row! {
    /// One response as the analysis frame reads it: what estimates need, nothing more.
    #[derive(Debug, Clone)]
    pub struct FrameRow {
        pub id: i64 = "r.id",
        pub unit_code: String = "u.code AS unit_code",
        pub respondent_type: String = "r.respondent_type",
        pub questionnaire_id: String = "r.questionnaire_id",
        pub questionnaire_version: i64 = "r.questionnaire_version",
        pub district: Option<String> = "r.district",
        pub gender: Option<String> = "r.gender",
        pub age_group: Option<String> = "r.age_group",
        pub weight: Option<f64> = "r.weight",
        pub answers: String = "r.answers",
        pub design_draw_id: Option<i64> = "r.design_draw_id",
        pub design_stratum: Option<String> = "r.design_stratum",
        /// the upload batch the row came in (none for answers through a link or token)
        pub batch_id: Option<i64> = "r.batch_id",
    }
}

/// How the responses table is scanned for one evaluation's rows (SQLite only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// through the (evaluation, unit, type) index: best when the evaluation is a small part
    ByIndex,
    /// the whole table in rowid order (`NOT INDEXED`): ~5× faster once the evaluation holds a
    /// quarter of all responses, because the index order is random in the table
    TableOrder,
}

/// The select of an evaluation's active responses (withdrawn batches excluded; flagged rows
/// too when asked), `$1` = the evaluation id.
pub(crate) fn active_rows_sql(columns: &[&str], scan: Scan, exclude_flagged: bool) -> String {
    format!(
        "SELECT {} FROM responses r{} JOIN units u ON u.id = r.unit_id \
         LEFT JOIN upload_batches b ON b.id = r.batch_id \
         WHERE r.evaluation_id = $1 AND (b.id IS NULL OR b.status <> 'withdrawn'){}",
        columns.join(", "),
        if scan == Scan::TableOrder {
            " NOT INDEXED"
        } else {
            ""
        },
        if exclude_flagged {
            " AND r.flags = ''"
        } else {
            ""
        }
    )
}

/// Flagged rows per upload batch (the overview's warnings column).
#[derive(Debug, Clone, sqlx::FromRow, Serialize, Deserialize)]
pub struct BatchFlagCount {
    pub batch_id: i64,
    pub flagged: i64,
}

/// Response ids per statement of [`Store::frame_rows_by_id`].
const FRAME_IDS_CHUNK: usize = 1000;

const ACTIVE: &str = "FROM responses r JOIN units u ON u.id = r.unit_id \
     LEFT JOIN upload_batches b ON b.id = r.batch_id \
     WHERE r.evaluation_id = $1 AND (b.id IS NULL OR b.status <> 'withdrawn')";

impl Store {
    /// One page of an evaluation's active responses in id order, after `after_id`
    /// (keyset pagination, so a million rows stream in constant memory).
    pub async fn analysis_rows_page(
        &self,
        evaluation_id: i64,
        after_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<AnalysisRow>> {
        let sql = format!(
            "{} AND r.id > $2 ORDER BY r.id LIMIT $3",
            active_rows_sql(AnalysisRow::COLUMNS, Scan::ByIndex, false)
        );
        Ok(with_pool!(self, p => sqlx::query_as(&sql)
            .bind(evaluation_id).bind(after_id).bind(limit).fetch_all(p).await?))
    }

    /// Every active response of the evaluation in one query (no ORDER BY: a keyset page
    /// would make SQLite sort the evaluation once per page), sent in chunks of `chunk` rows.
    /// Stops early, without error, when the receiver is dropped.
    pub async fn stream_analysis_rows(
        &self,
        evaluation_id: i64,
        chunk: usize,
        tx: tokio::sync::mpsc::Sender<Vec<AnalysisRow>>,
    ) -> StoreResult<()> {
        self.stream_evaluation_rows(
            |scan| active_rows_sql(AnalysisRow::COLUMNS, scan, false),
            evaluation_id,
            chunk,
            tx,
        )
        .await
    }

    /// Every active response of the evaluation as the analysis frame reads it (flagged rows
    /// left out when asked), in chunks of `chunk` rows; one statement, so one snapshot.
    /// Stops early, without error, when the receiver is dropped.
    pub async fn stream_frame_rows(
        &self,
        evaluation_id: i64,
        exclude_flagged: bool,
        chunk: usize,
        tx: tokio::sync::mpsc::Sender<Vec<FrameRow>>,
    ) -> StoreResult<()> {
        self.stream_evaluation_rows(
            move |scan| active_rows_sql(FrameRow::COLUMNS, scan, exclude_flagged),
            evaluation_id,
            chunk,
            tx,
        )
        .await
    }

    /// The ids of the rows [`Store::stream_frame_rows`] gives (same filters), ascending:
    /// what a frame of the evaluation must hold now. Ids only (they are random and say
    /// nothing about when an answer came).
    pub async fn frame_row_ids(
        &self,
        evaluation_id: i64,
        exclude_flagged: bool,
    ) -> StoreResult<Vec<i64>> {
        let sql = format!(
            "{} ORDER BY r.id",
            active_rows_sql(&["r.id"], Scan::ByIndex, exclude_flagged)
        );
        Ok(with_pool!(self, p => sqlx::query_scalar(&sql)
            .bind(evaluation_id).fetch_all(p).await?))
    }

    /// The rows among `ids` that [`Store::stream_frame_rows`] gives (same filters, same
    /// columns), read `FRAME_IDS_CHUNK` ids per statement; in no particular order. An id
    /// no longer active (withdrawn or flagged meanwhile) is left out.
    pub async fn frame_rows_by_id(
        &self,
        evaluation_id: i64,
        exclude_flagged: bool,
        ids: &[i64],
    ) -> StoreResult<Vec<FrameRow>> {
        let mut rows = Vec::with_capacity(ids.len());
        for part in ids.chunks(FRAME_IDS_CHUNK) {
            // the ids are integers read from the database: written into the statement as
            // numbers, so a chunk needs no bind parameters (SQLite limits their count)
            let list: Vec<String> = part.iter().map(i64::to_string).collect();
            let sql = format!(
                "{} AND r.id IN ({})",
                active_rows_sql(FrameRow::COLUMNS, Scan::ByIndex, exclude_flagged),
                list.join(",")
            );
            let more: Vec<FrameRow> = with_pool!(self, p => sqlx::query_as(&sql)
                .bind(evaluation_id).fetch_all(p).await?);
            rows.extend(more);
        }
        Ok(rows)
    }

    /// Active responses per unit and respondent type (withdrawn batches excluded).
    pub async fn active_response_counts(
        &self,
        evaluation_id: i64,
    ) -> StoreResult<Vec<ResponseCount>> {
        let sql = format!(
            "SELECT r.unit_id, r.respondent_type, COUNT(*) AS n {ACTIVE} \
             GROUP BY r.unit_id, r.respondent_type ORDER BY r.unit_id, r.respondent_type"
        );
        Ok(with_pool!(self, p => sqlx::query_as(&sql).bind(evaluation_id).fetch_all(p).await?))
    }

    /// Rows with any quality flag, per upload batch of the evaluation.
    pub async fn batch_flag_counts(&self, evaluation_id: i64) -> StoreResult<Vec<BatchFlagCount>> {
        Ok(with_pool!(self, p => sqlx::query_as(
            "SELECT batch_id, COUNT(*) AS flagged FROM responses \
             WHERE evaluation_id = $1 AND batch_id IS NOT NULL AND flags <> '' \
             AND batch_id IN (SELECT id FROM upload_batches WHERE loading = 0) \
             GROUP BY batch_id ORDER BY batch_id"
        ).bind(evaluation_id).fetch_all(p).await?))
    }
}
