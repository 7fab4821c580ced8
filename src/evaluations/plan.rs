//! The plan of an evaluation: per unit, which respondent types are surveyed, with which
//! questionnaire version, how many responses are the target, and optionally which survey firm
//! collects them. Set as a whole (a CSV/XLSX `unit,respondent_type,questionnaire,target[,firm]`
//! or the page's table), checked whole, written in one transaction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{FieldError, SetupError, SetupResult};
use super::evaluation::{ensure_editable, text_or_number};
use super::table::read_table;
use crate::questionnaire::RespondentType;
use crate::store::{
    AuditRecord, EvaluationId, PlanRow, PlanRowIds, Store, StoredQuestionnaire, UnitId,
};

pub const REQUIRED_COLUMNS: [&str; 4] = ["unit", "respondent_type", "questionnaire", "target"];
pub const OPTIONAL_COLUMNS: [&str; 1] = ["firm"];
pub const MAX_ROWS: usize = 100_000;
/// Largest target of one row.
pub const MAX_TARGET: i64 = 10_000_000;

/// One plan row as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct PlanInput {
    /// Row of the file or table it came from.
    #[serde(skip_deserializing)]
    pub row: Option<u64>,
    pub unit: String,
    pub respondent_type: String,
    /// `id` (newest version) or `id@version`.
    pub questionnaire: String,
    #[serde(deserialize_with = "text_or_number")]
    pub target: String,
    /// Name of the survey firm that collects these responses, or empty.
    pub firm: String,
}

impl PlanInput {
    fn is_blank(&self) -> bool {
        [
            &self.unit,
            &self.respondent_type,
            &self.questionnaire,
            &self.target,
            &self.firm,
        ]
        .iter()
        .all(|s| s.trim().is_empty())
    }
}

/// What setting the plan did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanSummary {
    pub rows: usize,
    pub target_total: i64,
    /// Units that joined the evaluation because the plan names them.
    pub units_added: Vec<String>,
}

/// A respondent type by its code, Chinese or English name.
pub fn parse_respondent_type(s: &str) -> Option<RespondentType> {
    s.parse().ok()
}

/// A starting target per unit for a respondent type: enough for a reportable cell, scaled to
/// how many people of the type exist (few leaders, many residents).
pub fn suggested_target(rt: RespondentType) -> i64 {
    match rt {
        RespondentType::Leader | RespondentType::Regulator => 5,
        RespondentType::PeerDepartment => 10,
        RespondentType::Staff => 30,
        RespondentType::ServiceUser | RespondentType::Resident => 100,
    }
}

/// Rows of a plan file as typed (blank rows skipped).
pub fn parse_plan_file(bytes: &[u8]) -> SetupResult<Vec<PlanInput>> {
    let table = read_table(bytes, MAX_ROWS)?;
    table.expect_columns(&REQUIRED_COLUMNS, &OPTIONAL_COLUMNS)?;
    let col = |n: &str| table.column(n);
    Ok(table
        .rows
        .iter()
        .map(|r| PlanInput {
            row: Some(r.row),
            unit: table.cell(r, col("unit")).to_owned(),
            respondent_type: table.cell(r, col("respondent_type")).to_owned(),
            questionnaire: table.cell(r, col("questionnaire")).to_owned(),
            target: table.cell(r, col("target")).to_owned(),
            firm: table.cell(r, col("firm")).to_owned(),
        })
        .collect())
}

/// Checks every row: unit in the register (and in use, unless it already takes part), known
/// respondent type, a registered questionnaire for that type, a positive whole target, a
/// known firm, each unit × type once.
async fn check_rows(
    store: &Store,
    id: EvaluationId,
    inputs: &[PlanInput],
) -> SetupResult<(Vec<PlanRowIds>, Vec<UnitId>, Vec<i64>)> {
    let register = store.unit_register().await?;
    let participating: Vec<i64> = store
        .evaluation_units(id.get())
        .await?
        .iter()
        .map(|u| u.id)
        .collect();
    let questionnaires = store.list_questionnaires().await?;
    let firms = store.list_firms().await?;
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    let mut seen: BTreeMap<(i64, &'static str), Option<u64>> = BTreeMap::new();
    for (i, input) in inputs.iter().enumerate().filter(|(_, p)| !p.is_blank()) {
        let row = input.row.unwrap_or(i as u64 + 1);
        let mut bad = |field: &str, value: &str, en: String, zh: String| {
            errors.push(FieldError::new(field, value, en, zh).at(row))
        };
        let code = input.unit.trim();
        let unit = match register.iter().find(|u| u.code == code) {
            None => {
                bad(
                    "unit",
                    code,
                    "no unit with this code in the register; import it first".into(),
                    "单位名录中没有该代码；请先导入".into(),
                );
                None
            }
            Some(u) if u.retired_on.is_some() && !participating.contains(&u.id.get()) => {
                bad(
                    "unit",
                    code,
                    "this unit is retired; put it back in use first".into(),
                    "该单位已停用；请先恢复".into(),
                );
                None
            }
            Some(u) => Some(u),
        };
        let rtype = parse_respondent_type(&input.respondent_type);
        if rtype.is_none() {
            let known: Vec<String> = RespondentType::ALL
                .iter()
                .map(|r| format!("{} ({})", r.as_str(), r.label_zh()))
                .collect();
            bad(
                "respondent_type",
                input.respondent_type.trim(),
                format!("unknown respondent type; use one of {}", known.join(", ")),
                format!("调查对象类型无效；可用：{}", known.join("、")),
            );
        }
        let q = find_questionnaire(&questionnaires, input.questionnaire.trim());
        match (&q, rtype) {
            (Err((en, zh)), _) => bad(
                "questionnaire",
                input.questionnaire.trim(),
                en.clone(),
                zh.clone(),
            ),
            (Ok(q), Some(rt)) if q.respondent_type != rt => bad(
                "questionnaire",
                input.questionnaire.trim(),
                format!(
                    "questionnaire {:?} is for respondent type {}, not {}",
                    q.id,
                    q.respondent_type,
                    rt.as_str()
                ),
                format!(
                    "问卷“{}”用于 {}，不是 {}",
                    q.id,
                    q.respondent_type,
                    rt.label_zh()
                ),
            ),
            _ => {}
        }
        let target = match input.target.trim().parse::<i64>() {
            Ok(n) if (1..=MAX_TARGET).contains(&n) => Some(n),
            _ => {
                bad(
                    "target",
                    input.target.trim(),
                    format!("the target is a whole number of responses from 1 to {MAX_TARGET}"),
                    format!("目标样本量应为 1 到 {MAX_TARGET} 之间的整数"),
                );
                None
            }
        };
        let firm = match input.firm.trim() {
            "" => Ok(None),
            name => match firms.iter().find(|f| f.name == name) {
                Some(f) => Ok(Some(f.id)),
                None => {
                    bad(
                        "firm",
                        name,
                        "no survey firm with this name; create it first (pingyi firm create)"
                            .into(),
                        "没有该名称的调查机构；请先创建".into(),
                    );
                    Err(())
                }
            },
        };
        if let (Some(u), Some(rt), Ok(q), Some(target), Ok(firm)) = (unit, rtype, q, target, firm) {
            if let Some(first) = seen.insert((u.id.get(), rt.as_str()), Some(row)) {
                bad(
                    "respondent_type",
                    rt.as_str(),
                    format!(
                        "unit {code:?} already has a row for {} (row {})",
                        rt.as_str(),
                        first.unwrap_or(0)
                    ),
                    format!(
                        "单位“{code}”的 {} 已在第 {} 行",
                        rt.label_zh(),
                        first.unwrap_or(0)
                    ),
                );
                continue;
            }
            rows.push(PlanRowIds {
                unit_id: u.id,
                respondent_type: rt.as_str().to_owned(),
                questionnaire_id: q.id.clone(),
                questionnaire_version: q.version,
                target,
                firm_id: firm,
            });
        }
    }
    if !errors.is_empty() {
        return Err(SetupError::Invalid(errors));
    }
    let mut add_units: Vec<UnitId> = rows
        .iter()
        .map(|r| r.unit_id)
        .filter(|u| !participating.contains(&u.get()))
        .collect();
    add_units.sort();
    add_units.dedup();
    let mut firms: Vec<i64> = rows.iter().filter_map(|r| r.firm_id).collect();
    firms.sort_unstable();
    firms.dedup();
    Ok((rows, add_units, firms))
}

/// `id` (newest version) or `id@version` among the registered questionnaires.
fn find_questionnaire<'a>(
    qs: &'a [StoredQuestionnaire],
    spec: &str,
) -> Result<&'a StoredQuestionnaire, (String, String)> {
    let known = || {
        let mut ids: Vec<&str> = qs.iter().map(|q| q.id.as_str()).collect();
        ids.dedup();
        ids.join(", ")
    };
    if spec.is_empty() {
        return Err((
            "the questionnaire is empty; give its id or id@version".into(),
            "问卷为空；请填写问卷编号或 编号@版本".into(),
        ));
    }
    let (id, version) = match spec.split_once('@') {
        Some((id, v)) => match v.trim().parse::<i64>() {
            Ok(v) => (id.trim(), Some(v)),
            Err(_) => {
                return Err((
                    format!("{v:?} is not a version number; write id@version, e.g. staff@1"),
                    "版本号无效；格式为 编号@版本，例如 staff@1".into(),
                ))
            }
        },
        None => (spec, None),
    };
    let candidates = qs.iter().filter(|q| q.id == id);
    let found = match version {
        Some(v) => candidates.into_iter().find(|q| q.version == v),
        None => candidates.max_by_key(|q| q.version),
    };
    found.ok_or_else(|| match version {
        Some(v) if qs.iter().any(|q| q.id == id) => (
            format!("questionnaire {id:?} has no version {v}"),
            format!("问卷“{id}”没有第 {v} 版"),
        ),
        _ => (
            format!("unknown questionnaire; registered: {}", known()),
            format!("未知问卷；已登记的问卷：{}", known()),
        ),
    })
}

/// Replaces the plan with `inputs`: all or nothing. Units the plan names join the evaluation;
/// firms it names are contracted for it.
pub async fn set_plan(
    store: &Store,
    id: EvaluationId,
    inputs: &[PlanInput],
    actor: &str,
) -> SetupResult<PlanSummary> {
    let d = store.evaluation_detail(id).await?;
    ensure_editable(&d)?;
    let (rows, add_units, firms) = check_rows(store, id, inputs).await?;
    let register = store.unit_register().await?;
    let units_added: Vec<String> = add_units
        .iter()
        .filter_map(|u| register.iter().find(|r| r.id == *u).map(|r| r.code.clone()))
        .collect();
    let summary = PlanSummary {
        rows: rows.len(),
        target_total: rows.iter().map(|r| r.target).sum(),
        units_added,
    };
    let audit = AuditRecord::new(actor, "evaluation.plan", format!("evaluation:{id}")).detail(
        serde_json::json!({ "rows": summary.rows, "target_total": summary.target_total,
                            "units_added": summary.units_added }),
    );
    store
        .replace_plan(id, &rows, &add_units, &firms, &audit)
        .await?;
    Ok(summary)
}

/// The plan as typed rows (what the page table and the CSV show).
pub fn as_inputs(rows: &[PlanRow]) -> Vec<PlanInput> {
    rows.iter()
        .map(|r| PlanInput {
            row: None,
            unit: r.unit_code.clone(),
            respondent_type: r.respondent_type.clone(),
            questionnaire: format!("{}@{}", r.questionnaire_id, r.questionnaire_version),
            target: r.target.to_string(),
            firm: r.firm_name.clone().unwrap_or_default(),
        })
        .collect()
}

/// The plan as a CSV file in the import format (UTF-8 with BOM for Excel).
pub fn plan_csv(rows: &[PlanRow]) -> String {
    let mut out = String::from("\u{feff}unit,respondent_type,questionnaire,target,firm\r\n");
    for r in as_inputs(rows) {
        crate::upload::report::push_csv_line(
            &mut out,
            &[
                &r.unit,
                &r.respondent_type,
                &r.questionnaire,
                &r.target,
                &r.firm,
            ],
        );
    }
    out
}

/// The plan with one row for `template`'s respondent type in every participating unit
/// (replacing that type's rows): a quick way to fill a plan from the page.
pub async fn fill_for_every_unit(
    store: &Store,
    id: EvaluationId,
    template: &PlanInput,
    actor: &str,
) -> SetupResult<PlanSummary> {
    let rtype = parse_respondent_type(&template.respondent_type);
    let current = store.plan_rows(id).await?;
    let mut inputs: Vec<PlanInput> = as_inputs(&current)
        .into_iter()
        .filter(|r| rtype.is_none_or(|t| t.as_str() != r.respondent_type))
        .collect();
    let units = store.evaluation_units(id.get()).await?;
    if units.is_empty() {
        return Err(SetupError::invalid(FieldError::new(
            "units",
            "",
            "the evaluation has no units yet: choose its units first",
            "该评估尚无参评单位：请先选择参评单位",
        )));
    }
    for u in units {
        inputs.push(PlanInput {
            row: None,
            unit: u.code,
            ..template.clone()
        });
    }
    set_plan(store, id, &inputs, actor).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(id: &str, v: i64, rt: RespondentType) -> StoredQuestionnaire {
        StoredQuestionnaire {
            id: id.into(),
            version: v,
            respondent_type: rt,
            title_zh: String::new(),
            title_en: String::new(),
            content_hash: String::new(),
            definition: String::new(),
        }
    }

    #[test]
    fn questionnaires_by_id_or_version() {
        let qs = [
            q("staff", 1, RespondentType::Staff),
            q("staff", 2, RespondentType::Staff),
        ];
        assert_eq!(find_questionnaire(&qs, "staff").unwrap().version, 2);
        assert_eq!(find_questionnaire(&qs, "staff@1").unwrap().version, 1);
        assert!(find_questionnaire(&qs, "staff@3")
            .unwrap_err()
            .0
            .contains("no version 3"));
        assert!(find_questionnaire(&qs, "staff@x").is_err());
        assert!(find_questionnaire(&qs, "nope")
            .unwrap_err()
            .0
            .contains("registered: staff"));
    }

    #[test]
    fn respondent_types_by_code_or_name() {
        assert_eq!(
            parse_respondent_type("管理服务对象"),
            Some(RespondentType::ServiceUser)
        );
        assert_eq!(
            parse_respondent_type(" Staff "),
            Some(RespondentType::Staff)
        );
        assert_eq!(parse_respondent_type("citizen"), None);
    }

    #[test]
    fn plan_files_read_their_columns() {
        let rows =
            parse_plan_file(b"unit,respondent_type,questionnaire,target\nfgw,staff,staff@1,30\n")
                .unwrap();
        assert_eq!(rows[0].row, Some(2));
        assert_eq!(rows[0].target, "30");
        assert!(parse_plan_file(b"unit,type,questionnaire,target\n").is_err());
    }
}
