//! Questionnaire versions an office imports (XLSForm workbooks or TOML files): stored beside
//! the shipped ones, immutable once answered, each import in the audit log.

use super::audit::{audit_in, AuditRecord};
use super::*;
use crate::questionnaire::RespondentType;

/// Stores a new version: `$1`…`$7` bound by [`bind_questionnaire`].
pub(crate) const QUESTIONNAIRE_INSERT: &str =
    "INSERT INTO questionnaires (id, version, respondent_type, title_zh, title_en, \
     content_hash, definition) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Replaces a version's content: `$1`…`$7` bound by [`bind_questionnaire`].
pub(crate) const QUESTIONNAIRE_UPDATE: &str =
    "UPDATE questionnaires SET respondent_type = $3, title_zh = $4, title_en = $5, \
     content_hash = $6, definition = $7 WHERE id = $1 AND version = $2";

/// Binds a stored questionnaire to [`QUESTIONNAIRE_INSERT`] or [`QUESTIONNAIRE_UPDATE`].
pub(crate) fn bind_questionnaire<'q, DB>(
    query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    q: &'q StoredQuestionnaire,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    RespondentType: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(&q.id)
        .bind(q.version)
        .bind(q.respondent_type)
        .bind(&q.title_zh)
        .bind(&q.title_en)
        .bind(&q.content_hash)
        .bind(&q.definition)
}

/// What storing an imported version did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreImport {
    /// A new (id, version).
    Created,
    /// The same content was already stored under this version: nothing changed.
    Unchanged,
    /// The version existed without responses and `replace` was asked: its content replaced.
    Replaced,
    /// The version exists with other content and `replace` was not asked: nothing stored.
    /// Carries the stored definition (JSON) so the caller can list the differences.
    Differs { stored_definition: String },
    /// The version exists with other content and has responses: immutable, nothing stored.
    Answered {
        stored_definition: String,
        responses: i64,
    },
}

impl Store {
    /// Stores an imported questionnaire version in one transaction with its audit entry
    /// (written only when something was stored).
    pub async fn import_questionnaire(
        &self,
        q: &StoredQuestionnaire,
        replace: bool,
        audit: &AuditRecord,
    ) -> StoreResult<StoreImport> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let existing: Option<(String, String)> = sqlx::query_as(
                "SELECT content_hash, definition FROM questionnaires WHERE id = $1 AND version = $2",
            )
            .bind(&q.id)
            .bind(q.version)
            .fetch_optional(&mut *tx)
            .await?;
            let outcome = match existing {
                Some((hash, _)) if hash == q.content_hash => return Ok(StoreImport::Unchanged),
                Some((_, stored_definition)) => {
                    let responses: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM responses WHERE questionnaire_id = $1 AND questionnaire_version = $2",
                    )
                    .bind(&q.id)
                    .bind(q.version)
                    .fetch_one(&mut *tx)
                    .await?;
                    if responses > 0 {
                        return Ok(StoreImport::Answered { stored_definition, responses });
                    }
                    if !replace {
                        return Ok(StoreImport::Differs { stored_definition });
                    }
                    bind_questionnaire(sqlx::query(QUESTIONNAIRE_UPDATE), q)
                        .execute(&mut *tx)
                        .await?;
                    StoreImport::Replaced
                }
                None => {
                    bind_questionnaire(sqlx::query(QUESTIONNAIRE_INSERT), q)
                        .execute(&mut *tx)
                        .await?;
                    StoreImport::Created
                }
            };
            audit_in!(&mut *tx, audit);
            tx.commit().await?;
            Ok(outcome)
        })
    }

    /// Responses stored per questionnaire version (withdrawn batches included: a withdrawn
    /// batch still fixes the version it answered).
    pub async fn questionnaire_response_counts(&self) -> StoreResult<Vec<(String, i64, i64)>> {
        Ok(with_pool!(self, p => sqlx::query_as(
            "SELECT questionnaire_id, questionnaire_version, COUNT(*) FROM responses \
             GROUP BY questionnaire_id, questionnaire_version"
        ).fetch_all(p).await?))
    }
}
