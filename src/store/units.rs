//! The unit register (被评单位): import, edit, retire. Rows arrive checked by the evaluations
//! service; every write here is one transaction with its audit entry.

use serde::Serialize;

use super::audit::{audit_in, AuditRecord};
use super::*;

/// A unit of the register with its parent's code and whether it is retired.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegisterUnit {
    pub id: UnitId,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub kind: UnitKind,
    pub parent_code: Option<String>,
    /// The day it was retired; None while in use.
    pub retired_on: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RegisterRow {
    id: i64,
    code: String,
    name_zh: String,
    name_en: String,
    kind: String,
    parent_code: Option<String>,
    retired_on: Option<String>,
}

impl TryFrom<RegisterRow> for RegisterUnit {
    type Error = StoreError;
    fn try_from(r: RegisterRow) -> Result<Self, StoreError> {
        Ok(RegisterUnit {
            id: UnitId(r.id),
            code: r.code,
            name_zh: r.name_zh,
            name_en: r.name_en,
            kind: r.kind.parse()?,
            parent_code: r.parent_code,
            retired_on: r.retired_on,
        })
    }
}

/// One unit to insert or update by code. Its parent must exist or come earlier in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitUpsert {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub kind: UnitKind,
    pub parent_code: Option<String>,
}

/// What a unit has been used for: evaluations it took part in and responses about it.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct UnitUsage {
    pub evaluations: i64,
    pub responses: i64,
}

const REGISTER_SQL: &str =
    "SELECT u.id, u.code, u.name_zh, u.name_en, u.kind, p.code AS parent_code, \
     u.retired_on FROM units u LEFT JOIN units p ON p.id = u.parent_id";

impl Store {
    /// The whole register, ordered by code.
    pub async fn unit_register(&self) -> StoreResult<Vec<RegisterUnit>> {
        let sql = format!("{REGISTER_SQL} ORDER BY u.code");
        let rows: Vec<RegisterRow> =
            with_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await?);
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn register_unit(&self, code: &str) -> StoreResult<RegisterUnit> {
        let sql = format!("{REGISTER_SQL} WHERE u.code = $1");
        let row: Option<RegisterRow> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(code).fetch_optional(p).await?);
        row.ok_or_else(|| StoreError::NotFound(format!("unit {code:?}")))?
            .try_into()
    }

    /// Inserts or updates every unit, parents first, in one transaction with its audit entry.
    pub async fn apply_units(&self, units: &[UnitUpsert], audit: &AuditRecord) -> StoreResult<()> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            for u in units {
                let parent_id: Option<i64> = match &u.parent_code {
                    Some(code) => Some(
                        sqlx::query_scalar("SELECT id FROM units WHERE code = $1")
                            .bind(code)
                            .fetch_optional(&mut *tx)
                            .await?
                            .ok_or_else(|| StoreError::Invalid(format!("parent unit {code:?} does not exist")))?,
                    ),
                    None => None,
                };
                sqlx::query(
                    "INSERT INTO units (code, name_zh, name_en, kind, parent_id) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (code) DO UPDATE SET name_zh = excluded.name_zh, name_en = excluded.name_en, \
                     kind = excluded.kind, parent_id = excluded.parent_id",
                )
                .bind(&u.code)
                .bind(&u.name_zh)
                .bind(&u.name_en)
                .bind(u.kind.as_str())
                .bind(parent_id)
                .execute(&mut *tx)
                .await?;
            }
            audit_in!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Retires a unit (`on` = Some(day)) or puts it back in use (None).
    pub async fn set_unit_retired(
        &self,
        code: &str,
        on: Option<&str>,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query("UPDATE units SET retired_on = $2 WHERE code = $1")
                .bind(code)
                .bind(on)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound(format!("unit {code:?}")));
            }
            audit_in!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Evaluations and responses that refer to the unit.
    pub async fn unit_usage(&self, id: UnitId) -> StoreResult<UnitUsage> {
        let (evaluations, responses): (i64, i64) = with_pool!(self, p => sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM evaluation_units WHERE unit_id = $1), \
                    (SELECT COUNT(*) FROM responses WHERE unit_id = $1)"
        ).bind(id.get()).fetch_one(p).await?);
        Ok(UnitUsage {
            evaluations,
            responses,
        })
    }
}
