//! Creating an evaluation (series, year, wave, titles, fieldwork dates, framework), copying
//! next year's round from an earlier one, editing its details and choosing its units.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::error::{FieldError, SetupError, SetupResult};
use crate::store::{
    AuditRecord, EvaluationDetail, EvaluationId, EvaluationSetup, EvaluationStatus, FrameworkFile,
    Store, UnitId,
};

/// Where indicator frameworks come from (the `surveys/frameworks` folder in the service).
pub trait FrameworkSource {
    /// The framework with this id, checked; an error message naming the known ones otherwise.
    fn load(&self, id: &str) -> Result<FrameworkFile, String>;
}

/// No frameworks at all (the demo attaches its own when it enters scores).
pub struct NoFrameworks;

impl FrameworkSource for NoFrameworks {
    fn load(&self, id: &str) -> Result<FrameworkFile, String> {
        Err(format!("no indicator framework {id:?} is available here"))
    }
}

/// A new evaluation as typed in a form, a JSON body or on the command line.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EvaluationInput {
    pub series: String,
    #[serde(deserialize_with = "text_or_number")]
    pub year: String,
    pub wave: String,
    pub title_zh: String,
    pub title_en: String,
    /// YYYY-MM-DD, or empty.
    pub fieldwork_start: String,
    pub fieldwork_end: String,
    /// Framework id (a file stem of the frameworks folder), or empty.
    pub framework: String,
    /// Id of the evaluation to copy units, plan, targets and framework from, or empty.
    #[serde(deserialize_with = "text_or_number")]
    pub copy_from: String,
    /// Codes of the participating units (a copy starts with the source's units).
    pub units: Vec<String>,
}

/// JSON numbers and strings alike, kept as the text typed.
pub fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// What creating an evaluation did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Created {
    pub id: EvaluationId,
    /// The evaluation it was copied from.
    pub copied_from: Option<EvaluationId>,
    pub units: usize,
    pub plan_rows: usize,
    /// Units of the copied evaluation left out because they are retired.
    pub retired_left_out: Vec<String>,
}

fn err(field: &str, value: &str, en: impl Into<String>, zh: impl Into<String>) -> FieldError {
    FieldError::new(field, value, en, zh)
}

/// Fieldwork dates: both or neither, start on or before end.
pub fn parse_fieldwork(
    start: &str,
    end: &str,
    errors: &mut Vec<FieldError>,
) -> Option<(NaiveDate, NaiveDate)> {
    let (start, end) = (start.trim(), end.trim());
    let date = |field: &str, v: &str, errors: &mut Vec<FieldError>| {
        v.parse::<NaiveDate>()
            .map_err(|_| {
                errors.push(err(
                    field,
                    v,
                    "a date is written YYYY-MM-DD, e.g. 2026-03-01",
                    "日期格式为 YYYY-MM-DD，例如 2026-03-01",
                ))
            })
            .ok()
    };
    match (start.is_empty(), end.is_empty()) {
        (true, true) => None,
        (false, true) | (true, false) => {
            let (field, v) = if start.is_empty() {
                ("fieldwork_start", start)
            } else {
                ("fieldwork_end", end)
            };
            errors.push(err(
                field,
                v,
                "give both fieldwork dates (start and end) or neither",
                "调查起止日期须同时填写或都不填",
            ));
            None
        }
        (false, false) => {
            let (a, b) = (
                date("fieldwork_start", start, errors)?,
                date("fieldwork_end", end, errors)?,
            );
            if a > b {
                errors.push(err(
                    "fieldwork_end",
                    end,
                    "the fieldwork ends before it starts",
                    "调查结束日期早于开始日期",
                ));
                return None;
            }
            Some((a, b))
        }
    }
}

fn check_titles(zh: &str, en: &str, errors: &mut Vec<FieldError>) -> (String, String) {
    let (zh, en) = (zh.trim(), en.trim());
    if zh.is_empty() {
        errors.push(err(
            "title_zh",
            zh,
            "the Chinese title is empty",
            "中文标题为空",
        ));
    }
    for (field, v) in [("title_zh", zh), ("title_en", en)] {
        if v.chars().count() > 200 {
            errors.push(err(
                field,
                v,
                "a title has at most 200 characters",
                "标题最多 200 个字符",
            ));
        }
    }
    let en = if en.is_empty() { zh } else { en };
    (zh.to_owned(), en.to_owned())
}

/// Resolves unit codes of the register; retired units only when `allowed_retired` has them.
async fn unit_ids(
    store: &Store,
    codes: &[String],
    allowed_retired: &[UnitId],
    errors: &mut Vec<FieldError>,
) -> SetupResult<Vec<UnitId>> {
    let register = store.unit_register().await?;
    let mut ids = Vec::new();
    for code in codes.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
        match register.iter().find(|u| u.code == code) {
            None => errors.push(err(
                "units",
                code,
                "no unit with this code in the register; import it first",
                "单位名录中没有该代码；请先导入",
            )),
            Some(u) if u.retired_on.is_some() && !allowed_retired.contains(&u.id) => {
                errors.push(err(
                    "units",
                    code,
                    "this unit is retired; put it back in use in the register first",
                    "该单位已停用；请先在单位名录中恢复",
                ))
            }
            Some(u) if !ids.contains(&u.id) => ids.push(u.id),
            Some(_) => {}
        }
    }
    Ok(ids)
}

/// Creates a draft evaluation, or next year's round copied from `copy_from` (same series,
/// units still in use, plan, targets, framework and firm contracts; fieldwork dates moved by
/// the years between them unless given).
pub async fn create(
    store: &Store,
    input: &EvaluationInput,
    frameworks: &dyn FrameworkSource,
    actor: &str,
) -> SetupResult<Created> {
    let mut errors = Vec::new();
    let source = match input.copy_from.trim() {
        "" => None,
        v => match v.parse::<EvaluationId>() {
            Ok(id) => match store.evaluation_detail(id).await {
                Ok(d) => Some(d),
                Err(crate::store::StoreError::NotFound(_)) => {
                    errors.push(err(
                        "copy_from",
                        v,
                        "no evaluation with this id",
                        "没有该编号的评估",
                    ));
                    None
                }
                Err(e) => return Err(e.into()),
            },
            Err(_) => {
                errors.push(err(
                    "copy_from",
                    v,
                    "an evaluation id is a whole number",
                    "评估编号应为整数",
                ));
                None
            }
        },
    };
    let series = match (input.series.trim(), &source) {
        ("", Some(s)) => s.evaluation.series.clone(),
        ("", None) => {
            errors.push(err(
                "series",
                "",
                "the series is empty (e.g. city-satisfaction)",
                "评估系列为空（例如 city-satisfaction）",
            ));
            String::new()
        }
        (s, Some(src)) if s != src.evaluation.series => {
            errors.push(err(
                "series",
                s,
                format!("a copy stays in the series of the evaluation it copies ({:?}) so years compare", src.evaluation.series),
                format!("复制的评估须沿用原评估的系列（{}），以便逐年比较", src.evaluation.series),
            ));
            s.to_owned()
        }
        (s, _) if s.chars().count() > 100 => {
            errors.push(err(
                "series",
                s,
                "a series name has at most 100 characters",
                "系列名称最多 100 个字符",
            ));
            s.to_owned()
        }
        (s, _) => s.to_owned(),
    };
    let year = match input.year.trim().parse::<i64>() {
        Ok(y) if (1990..=2200).contains(&y) => y,
        _ => {
            errors.push(err(
                "year",
                input.year.trim(),
                "the year is a whole number between 1990 and 2200",
                "年度应为 1990–2200 之间的整数",
            ));
            0
        }
    };
    let wave = input.wave.trim().to_owned();
    if wave.chars().count() > 50 {
        errors.push(err(
            "wave",
            &wave,
            "a wave has at most 50 characters",
            "批次最多 50 个字符",
        ));
    }
    let (title_zh, title_en) = check_titles(&input.title_zh, &input.title_en, &mut errors);
    let mut fieldwork = parse_fieldwork(&input.fieldwork_start, &input.fieldwork_end, &mut errors);
    let framework = match input.framework.trim() {
        "" => None,
        id => match frameworks.load(id) {
            Ok(f) => Some(f),
            Err(m) => {
                errors.push(err("framework", id, m.clone(), m));
                None
            }
        },
    };
    let retired_ok: Vec<UnitId> = Vec::new();
    let mut units = unit_ids(store, &input.units, &retired_ok, &mut errors).await?;
    if !errors.is_empty() {
        return Err(SetupError::Invalid(errors));
    }
    let mut setup = EvaluationSetup {
        series,
        year,
        wave,
        title_zh,
        title_en,
        fieldwork,
        framework,
        copied_from: None,
        units: Vec::new(),
        plan: Vec::new(),
        firm_scopes: Vec::new(),
    };
    let mut left_out = Vec::new();
    if let Some(src) = &source {
        let register = store.unit_register().await?;
        let src_units = store.evaluation_units(src.evaluation.id).await?;
        for u in &src_units {
            let retired = register
                .iter()
                .any(|r| r.id.get() == u.id && r.retired_on.is_some());
            if retired {
                left_out.push(u.code.clone());
            } else if !units.contains(&UnitId(u.id)) {
                units.push(UnitId(u.id));
            }
        }
        setup.plan = store
            .plan_rows(src.id())
            .await?
            .into_iter()
            .filter(|r| units.contains(&UnitId(r.unit_id)))
            .map(|r| r.ids())
            .collect();
        setup.firm_scopes = store.firm_scopes_of(src.id()).await?;
        if setup.framework.is_none() {
            setup.framework = store
                .evaluation_framework(src.evaluation.id)
                .await?
                .map(|f| FrameworkFile {
                    framework_id: f.framework_id,
                    file: f.file,
                    content: f.content,
                });
        }
        if fieldwork.is_none() {
            let shift = (year - src.evaluation.year) as i32;
            fieldwork = src
                .fieldwork_start
                .zip(src.fieldwork_end)
                .and_then(|(a, b)| shift_years(a, shift).zip(shift_years(b, shift)));
            setup.fieldwork = fieldwork;
        }
        setup.copied_from = Some(src.id());
    }
    setup.units = units;
    let id = store.create_evaluation_setup(&setup, actor).await?;
    Ok(Created {
        id,
        copied_from: setup.copied_from,
        units: setup.units.len(),
        plan_rows: setup.plan.len(),
        retired_left_out: left_out,
    })
}

/// The same day `years` later (29 February becomes 28 February in a common year).
fn shift_years(d: NaiveDate, years: i32) -> Option<NaiveDate> {
    use chrono::Datelike;
    let y = d.year() + years;
    d.with_year(y).or_else(|| d.pred_opt()?.with_year(y))
}

/// Details that can change after creation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DetailsInput {
    pub title_zh: String,
    pub title_en: String,
    pub fieldwork_start: String,
    pub fieldwork_end: String,
}

pub async fn update_details(
    store: &Store,
    id: EvaluationId,
    input: &DetailsInput,
    actor: &str,
) -> SetupResult<EvaluationDetail> {
    store.evaluation_detail(id).await?;
    let mut errors = Vec::new();
    let (zh, en) = check_titles(&input.title_zh, &input.title_en, &mut errors);
    let fieldwork = parse_fieldwork(&input.fieldwork_start, &input.fieldwork_end, &mut errors);
    if !errors.is_empty() {
        return Err(SetupError::Invalid(errors));
    }
    let audit = AuditRecord::new(actor, "evaluation.details", format!("evaluation:{id}"))
        .detail(serde_json::json!({ "title_zh": zh, "title_en": en,
            "fieldwork": fieldwork.map(|(a, b)| [a.to_string(), b.to_string()]) }));
    store
        .update_evaluation_details(id, &zh, &en, fieldwork, &audit)
        .await?;
    Ok(store.evaluation_detail(id).await?)
}

/// Refused once collection is over: the plan and the units are what was collected against.
pub fn ensure_editable(d: &EvaluationDetail) -> SetupResult<()> {
    match d.evaluation.status {
        EvaluationStatus::Draft | EvaluationStatus::Open => Ok(()),
        s => Err(SetupError::conflict(
            format!(
                "evaluation {} is {}: its units and plan can change only while it is draft or open; re-open it first",
                d.evaluation.id,
                s.as_str()
            ),
            format!(
                "评估 {} {}：仅在筹备中或进行中可修改参评单位和调查计划，请先重新开放",
                d.evaluation.id,
                s.label_zh()
            ),
        )),
    }
}

/// Sets the participating units. A unit with responses in this evaluation stays.
pub async fn set_units(
    store: &Store,
    id: EvaluationId,
    codes: &[String],
    actor: &str,
) -> SetupResult<Vec<UnitId>> {
    let d = store.evaluation_detail(id).await?;
    ensure_editable(&d)?;
    let current = store.evaluation_units(id.get()).await?;
    let current_ids: Vec<UnitId> = current.iter().map(|u| UnitId(u.id)).collect();
    let mut errors = Vec::new();
    let ids = unit_ids(store, codes, &current_ids, &mut errors).await?;
    let counts = store.active_response_counts(id.get()).await?;
    for u in current.iter().filter(|u| !ids.contains(&UnitId(u.id))) {
        let n: i64 = counts
            .iter()
            .filter(|c| c.unit_id == u.id)
            .map(|c| c.n)
            .sum();
        if n > 0 {
            errors.push(err(
                "units",
                &u.code,
                format!("{n} response(s) about this unit are stored in this evaluation; it cannot leave it"),
                format!("本评估已有该单位的 {n} 份答卷，不能移除"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(SetupError::Invalid(errors));
    }
    let audit = AuditRecord::new(actor, "evaluation.units", format!("evaluation:{id}")).detail(
        serde_json::json!({ "units": codes.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect::<Vec<_>>() }),
    );
    store.set_evaluation_units(id, &ids, &audit).await?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fieldwork_needs_both_dates_in_order() {
        let mut e = Vec::new();
        assert_eq!(parse_fieldwork("", "", &mut e), None);
        assert!(e.is_empty());
        assert!(parse_fieldwork("2026-03-01", "", &mut e).is_none());
        assert_eq!(e[0].field, "fieldwork_end");
        let mut e = Vec::new();
        assert!(parse_fieldwork("2026-05-01", "2026-03-01", &mut e).is_none());
        assert_eq!(e[0].field, "fieldwork_end");
        let mut e = Vec::new();
        assert!(parse_fieldwork("2026-13-01", "2026-12-01", &mut e).is_none());
        assert_eq!(e[0].field, "fieldwork_start");
        let mut e = Vec::new();
        assert!(parse_fieldwork(" 2026-03-01", "2026-04-30 ", &mut e).is_some());
    }

    #[test]
    fn json_years_may_be_numbers() {
        let i: EvaluationInput =
            serde_json::from_str(r#"{"series":"s","year":2026,"copy_from":3}"#).unwrap();
        assert_eq!((i.year.as_str(), i.copy_from.as_str()), ("2026", "3"));
    }
}
