//! Evaluators' results: the scores API, the anonymous responses export, the evaluators'
//! pages (list, overview, results, unit feedback report) and the public results (公示).

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use pingyi_analysis::estimate::contrast::{compare_independent, Comparison};
use pingyi_analysis::estimate::CiMethod;
use serde::Deserialize;

use crate::analytics::{self, AnalyticsError, Level, Query, ScoreRow};
use crate::auth::{AnyUser, Evaluator, Role};
use crate::error::{ApiError, WebError};
use crate::i18n::Lang;
use crate::questionnaire::{AnswerValue, Answers, Questionnaire};
use crate::startup::AppState;
use crate::store::{Evaluation, EvaluationStatus, StoreError};
use crate::views::results as v;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v1/evaluations/{id}/satisfaction",
        web::get().to(satisfaction),
    )
    .route(
        "/api/v1/evaluations/{id}/responses.csv",
        web::get().to(responses_csv),
    )
    .route("/admin", web::get().to(admin_home))
    .route("/admin/evaluations/{id}", web::get().to(overview))
    .route("/admin/evaluations/{id}/results", web::get().to(results))
    .route(
        "/admin/evaluations/{id}/units/{code}/report",
        web::get().to(unit_report),
    )
    .route("/public/evaluations/{id}", web::get().to(public_results));
}

/// Suppression threshold of pages (the API takes `min_cell`, never below this on public pages).
pub const MIN_CELL: u64 = 5;
/// Significance level of year-over-year comparisons.
pub const ALPHA: f64 = 0.05;

fn api_err(e: AnalyticsError) -> ApiError {
    match e {
        AnalyticsError::Store(s) => s.into(),
        AnalyticsError::Analysis(a) => ApiError::BadRequest(a.to_string()),
        other => ApiError::Internal(other.into()),
    }
}

fn web_err(lang: Lang) -> impl Fn(AnalyticsError) -> WebError {
    move |e| match e {
        AnalyticsError::Store(s) => WebError::from_store(lang, s),
        other => WebError::internal(lang, other),
    }
}

// ----- API -----

#[derive(Debug, Deserialize)]
pub struct SatisfactionParams {
    pub by: Option<String>,
    pub year: Option<i64>,
    pub ci: Option<String>,
    pub level: Option<f64>,
    pub min_cell: Option<u64>,
    /// drop rows with quality flags (speeder, straightline, duplicate, outside_wave)
    pub exclude_flagged: Option<bool>,
}

/// Parses `by=unit,respondent_type[,dimension|question]` into the grouping and the level.
pub fn parse_by(by: Option<&str>) -> Result<(Vec<String>, Level), String> {
    let by = by.unwrap_or("unit,respondent_type");
    let mut cols = Vec::new();
    let mut level = Level::Overall;
    for part in by.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match part {
            "dimension" | "question" if level != Level::Overall => {
                return Err("`by` may name dimension or question, not both".into())
            }
            "dimension" => level = Level::Dimension,
            "question" => level = Level::Question,
            c if analytics::GROUP_COLUMNS.contains(&c) => {
                if cols.iter().any(|x| x == c) {
                    return Err(format!("`by` names {c} twice"));
                }
                cols.push(c.to_owned())
            }
            c => {
                return Err(format!(
                    "cannot group by `{c}`: use {}, dimension or question",
                    analytics::GROUP_COLUMNS.join(", ")
                ))
            }
        }
    }
    Ok((cols, level))
}

/// The evaluation of `ev`'s series (and wave) in `year`.
async fn same_series(
    state: &AppState,
    ev: &Evaluation,
    year: i64,
) -> Result<Evaluation, StoreError> {
    if year == ev.year {
        return Ok(ev.clone());
    }
    state
        .store
        .list_evaluations()
        .await?
        .into_iter()
        .find(|e| e.series == ev.series && e.wave == ev.wave && e.year == year)
        .ok_or_else(|| {
            StoreError::NotFound(format!("evaluation of series {:?} in {year}", ev.series))
        })
}

async fn satisfaction(
    Evaluator(_user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    params: web::Query<SatisfactionParams>,
) -> Result<HttpResponse, ApiError> {
    let ev = state.store.get_evaluation(path.into_inner()).await?;
    let ev = match params.year {
        Some(y) => same_series(&state, &ev, y).await?,
        None => ev,
    };
    let (by, level) = parse_by(params.by.as_deref()).map_err(ApiError::BadRequest)?;
    let ci_name = params.ci.as_deref().unwrap_or("xlogit");
    let ci: CiMethod = match ci_name {
        "xlogit" | "beta" | "wilson" | "wald" => {
            ci_name
                .parse()
                .map_err(|e: pingyi_analysis::estimate::AnalysisError| {
                    ApiError::BadRequest(e.to_string())
                })?
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "ci={other}: use xlogit, beta, wilson or wald"
            )))
        }
    };
    let conf = params.level.unwrap_or(0.95);
    if !(conf > 0.5 && conf < 1.0) {
        return Err(ApiError::BadRequest(format!(
            "level={conf}: give a confidence level between 0.5 and 1, e.g. 0.95"
        )));
    }
    let min_cell = params.min_cell.unwrap_or(MIN_CELL).max(1);
    let q = Query {
        by: by.clone(),
        level,
        ci,
        conf,
        min_cell,
    };
    let (l, rows) = analytics::table(&state, ev.id, &q, params.exclude_flagged.unwrap_or(false))
        .await
        .map_err(api_err)?;
    let item_col = match level {
        Level::Overall => None,
        Level::Dimension => Some("dimension"),
        Level::Question => Some("question"),
    };
    let out: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let mut o = serde_json::Map::new();
            for (b, k) in by.iter().zip(&r.keys) {
                o.insert(b.clone(), k.clone().into());
            }
            if let Some(c) = item_col {
                o.insert(c.into(), r.item.clone().into());
            }
            o.insert("n".into(), r.n.into());
            // the top-level estimate is the satisfaction index; the rate is beside it
            o.insert("estimate".into(), r.index.estimate.into());
            o.insert("se".into(), r.index.se.into());
            o.insert("ci_low".into(), r.index.ci_low.into());
            o.insert("ci_high".into(), r.index.ci_high.into());
            o.insert("n_eff".into(), r.n_eff.into());
            o.insert("suppressed".into(), r.suppressed.into());
            o.insert("index".into(), serde_json::json!(r.index));
            o.insert("rate".into(), serde_json::json!(r.rate));
            serde_json::Value::Object(o)
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "evaluation_id": ev.id,
        "series": ev.series,
        "year": ev.year,
        "wave": ev.wave,
        "data_version": l.version,
        "responses": l.rows,
        "by": by,
        "level": level,
        "ci": ci_name,
        "confidence_level": conf,
        "min_cell": min_cell,
        "estimate": "index",
        "rows": out,
    })))
}

/// Question codes of every registered questionnaire, in first-seen order.
fn question_codes(qs: &BTreeMap<(String, i64), Arc<Questionnaire>>) -> Vec<String> {
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

/// Fixed columns of the responses export (question codes follow).
pub const EXPORT_COLUMNS: [&str; 11] = [
    "unit",
    "respondent_type",
    "questionnaire",
    "version",
    "source",
    "submitted_on",
    "district",
    "gender",
    "age_group",
    "weight",
    "flags",
];

/// A cell as the export writes it; formula-like text is prefixed with `'` so spreadsheet
/// programs never evaluate it.
fn cell(v: &AnswerValue) -> String {
    match v {
        AnswerValue::Likert(c) => c.to_string(),
        AnswerValue::DontKnow => crate::questionnaire::DONT_KNOW_ZH.to_owned(),
        AnswerValue::Choice(c) => c.clone(),
        AnswerValue::Choices(cs) => cs.join(";"),
        AnswerValue::Number(x) => x.to_string(),
        AnswerValue::Text(t) => {
            if t.starts_with(['=', '+', '-', '@']) {
                format!("'{t}")
            } else {
                t.clone()
            }
        }
    }
}

fn csv_page(
    qs: &BTreeMap<(String, i64), Arc<Questionnaire>>,
    codes: &[String],
    rows: &[crate::store::AnalysisRow],
    header: bool,
) -> Result<Bytes, anyhow::Error> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 200 + 256));
    if header {
        let mut h: Vec<&str> = EXPORT_COLUMNS.to_vec();
        h.extend(codes.iter().map(String::as_str));
        w.write_record(&h)?;
    }
    let mut rec: Vec<String> = Vec::with_capacity(EXPORT_COLUMNS.len() + codes.len());
    for r in rows {
        let q = qs
            .get(&(r.questionnaire_id.clone(), r.questionnaire_version))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "questionnaire {:?} version {} is not registered",
                    r.questionnaire_id,
                    r.questionnaire_version
                )
            })?;
        let a = Answers::from_json(q, &r.answers)?;
        rec.clear();
        rec.push(r.unit_code.clone());
        rec.push(r.respondent_type.clone());
        rec.push(r.questionnaire_id.clone());
        rec.push(r.questionnaire_version.to_string());
        rec.push(r.source.clone());
        rec.push(r.submitted_on.clone());
        rec.push(r.district.clone().unwrap_or_default());
        rec.push(r.gender.clone().unwrap_or_default());
        rec.push(r.age_group.clone().unwrap_or_default());
        rec.push(r.weight.map(|x| x.to_string()).unwrap_or_default());
        rec.push(r.flags.clone());
        for c in codes {
            rec.push(a.get(c).map(cell).unwrap_or_default());
        }
        w.write_record(&rec)?;
    }
    Ok(Bytes::from(
        w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?,
    ))
}

/// Anonymous responses of the evaluation as CSV, streamed page by page (withdrawn batches
/// excluded). No response id, token or time of day leaves the service.
async fn responses_csv(
    Evaluator(_user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let ev = state.store.get_evaluation(path.into_inner()).await?;
    let codes = Arc::new(question_codes(&state.questionnaires));
    // one streaming query feeds a small channel; each chunk becomes CSV off the runtime
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let store = state.store.clone();
    let id = ev.id;
    tokio::spawn(async move {
        if let Err(e) = store.stream_analysis_rows(id, 5_000, tx).await {
            tracing::error!(error = %e, "responses export failed");
        }
    });
    let qs = Arc::new(state.questionnaires.clone());
    let stream = futures_util::stream::unfold((rx, true), move |(mut rx, first)| {
        let qs = qs.clone();
        let codes = codes.clone();
        async move {
            let page = match rx.recv().await {
                Some(p) => p,
                // an empty evaluation still gets its header line
                None if first => Vec::new(),
                None => return None,
            };
            let bytes = web::block(move || csv_page(&qs, &codes, &page, first)).await;
            let item = match bytes {
                Ok(Ok(b)) => Ok(b),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "responses export failed");
                    Err(actix_web::error::ErrorInternalServerError("export failed"))
                }
                Err(e) => Err(actix_web::Error::from(e)),
            };
            Some((item, (rx, false)))
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"responses-{}-{}.csv\"",
                ev.series.replace(['"', '\\', '/'], "_"),
                ev.year
            ),
        ))
        .streaming(stream))
}

// ----- pages -----

#[derive(Debug, Deserialize)]
pub struct PageParams {
    pub exclude_flagged: Option<bool>,
}

async fn admin_home(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<maud::Markup, WebError> {
    let lang = Lang::from_request(&req);
    let evs = state
        .store
        .list_evaluations()
        .await
        .map_err(|e| WebError::from_store(lang, e))?;
    Ok(v::admin_home(lang, &user, &evs))
}

/// Targets per unit × respondent type: enough for a reportable cell, scaled to how many
/// people of each type exist (few leaders, many residents).
pub fn target(rtype: &str) -> i64 {
    match rtype {
        "leader" | "regulator" => 5,
        "peer_department" => 10,
        "staff" => 30,
        "service_user" | "resident" => 100,
        _ => 30,
    }
}

async fn overview(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
) -> Result<maud::Markup, WebError> {
    let lang = Lang::from_request(&req);
    let se = |e| WebError::from_store(lang, e);
    let ev = state
        .store
        .get_evaluation(path.into_inner())
        .await
        .map_err(se)?;
    let units = state.store.evaluation_units(ev.id).await.map_err(se)?;
    let counts = state
        .store
        .active_response_counts(ev.id)
        .await
        .map_err(se)?;
    let links = state.store.list_links(Some(ev.id)).await.map_err(se)?;
    let batches = state.store.list_batches(ev.id).await.map_err(se)?;
    let flags = state.store.batch_flag_counts(ev.id).await.map_err(se)?;
    let tokens = state.store.token_counts(ev.id).await.map_err(se)?;
    Ok(v::overview(
        lang,
        &user,
        &v::OverviewData {
            ev: &ev,
            units: &units,
            counts: &counts,
            links: &links,
            batches: &batches,
            flags: &flags,
            tokens,
        },
    ))
}

/// Every evaluation of `ev`'s series and wave, oldest first (including `ev`).
async fn series(state: &AppState, ev: &Evaluation) -> Result<Vec<Evaluation>, StoreError> {
    let mut all: Vec<Evaluation> = state
        .store
        .list_evaluations()
        .await?
        .into_iter()
        .filter(|e| e.series == ev.series && e.wave == ev.wave && e.year <= ev.year)
        .collect();
    all.sort_by_key(|e| e.year);
    Ok(all)
}

/// One unit's overall index per year of the series, with comparisons to the year before.
pub struct TrendRow {
    pub unit: String,
    pub points: Vec<(i64, Option<f64>)>,
    /// latest year against the one before
    pub change: Option<Comparison>,
    /// per point: significant against the point before
    pub significant: Vec<bool>,
}

fn comparison(a: &ScoreRow, b: &ScoreRow) -> Option<Comparison> {
    match (a.index.estimate, a.index.se, b.index.estimate, b.index.se) {
        (Some(ae), Some(ase), Some(be), Some(bse)) if !a.suppressed && !b.suppressed => {
            Some(compare_independent((ae, ase, a.df), (be, bse, b.df), ALPHA))
        }
        _ => None,
    }
}

async fn unit_tables(
    state: &AppState,
    ev_ids: &[i64],
    q: &Query,
    flagged: bool,
) -> Result<Vec<Arc<Vec<ScoreRow>>>, AnalyticsError> {
    let mut out = Vec::new();
    for id in ev_ids {
        out.push(analytics::table(state, *id, q, flagged).await?.1);
    }
    Ok(out)
}

async fn results(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    params: web::Query<PageParams>,
    req: HttpRequest,
) -> Result<maud::Markup, WebError> {
    let lang = Lang::from_request(&req);
    let se = |e| WebError::from_store(lang, e);
    let flagged = params.exclude_flagged.unwrap_or(false);
    let ev = state
        .store
        .get_evaluation(path.into_inner())
        .await
        .map_err(se)?;
    let units = state.store.evaluation_units(ev.id).await.map_err(se)?;
    let l = analytics::loaded(&state, ev.id, flagged)
        .await
        .map_err(web_err(lang))?;
    let t = |by: &'static [&'static str], level| analytics::table_by(&l, by, level);
    let by_unit = t(&["unit"], Level::Overall).await.map_err(web_err(lang))?;
    let by_type = t(&["respondent_type"], Level::Overall)
        .await
        .map_err(web_err(lang))?;
    let by_dim = t(&["year"], Level::Dimension)
        .await
        .map_err(web_err(lang))?;
    let by_type_dim = t(&["respondent_type"], Level::Dimension)
        .await
        .map_err(web_err(lang))?;
    let years = series(&state, &ev).await.map_err(se)?;
    let ids: Vec<i64> = years.iter().map(|e| e.id).collect();
    let per_year = unit_tables(
        &state,
        &ids,
        &Query::new(&["unit"], Level::Overall),
        flagged,
    )
    .await
    .map_err(web_err(lang))?;
    let trends = units
        .iter()
        .map(|u| {
            let rows: Vec<Option<&ScoreRow>> = per_year
                .iter()
                .map(|t| analytics::find(t, &[u.code.as_str()], "overall"))
                .collect();
            let mut significant = vec![false];
            for w in rows.windows(2) {
                significant.push(match (w[1], w[0]) {
                    (Some(a), Some(b)) => comparison(a, b).is_some_and(|c| c.significant),
                    _ => false,
                });
            }
            let n = rows.len();
            let change = if n >= 2 {
                match (rows[n - 1], rows[n - 2]) {
                    (Some(a), Some(b)) => comparison(a, b),
                    _ => None,
                }
            } else {
                None
            };
            TrendRow {
                unit: u.code.clone(),
                points: years
                    .iter()
                    .zip(&rows)
                    .map(|(e, r)| {
                        (
                            e.year,
                            r.filter(|r| !r.suppressed).and_then(|r| r.index.estimate),
                        )
                    })
                    .collect(),
                change,
                significant,
            }
        })
        .collect::<Vec<_>>();
    Ok(v::results(
        lang,
        &user,
        &v::ResultsData {
            ev: &ev,
            units: &units,
            loaded: &l,
            by_unit: &by_unit,
            by_type: &by_type,
            by_dim: &by_dim,
            by_type_dim: &by_type_dim,
            trends: &trends,
        },
    ))
}

async fn unit_report(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    path: web::Path<(i64, String)>,
    params: web::Query<PageParams>,
    req: HttpRequest,
) -> Result<maud::Markup, WebError> {
    let lang = Lang::from_request(&req);
    let se = |e| WebError::from_store(lang, e);
    let (id, code) = path.into_inner();
    let unit = state.store.get_unit_by_code(&code).await.map_err(se)?;
    match user.role {
        Role::Admin | Role::Evaluator => {}
        Role::Unit if user.unit_id == Some(unit.id) => {}
        _ => return Err(WebError::Forbidden(lang)),
    }
    let flagged = params.exclude_flagged.unwrap_or(false);
    let ev = state.store.get_evaluation(id).await.map_err(se)?;
    let units = state.store.evaluation_units(ev.id).await.map_err(se)?;
    if !units.iter().any(|u| u.id == unit.id) {
        return Err(WebError::NotFound(lang));
    }
    let l = analytics::loaded(&state, ev.id, flagged)
        .await
        .map_err(web_err(lang))?;
    let t = |by: &'static [&'static str], level| analytics::table_by(&l, by, level);
    let overall = t(&["unit"], Level::Overall).await.map_err(web_err(lang))?;
    let by_type = t(&["unit", "respondent_type"], Level::Overall)
        .await
        .map_err(web_err(lang))?;
    let by_dim = t(&["unit", "respondent_type"], Level::Dimension)
        .await
        .map_err(web_err(lang))?;
    let by_item = t(&["unit", "respondent_type"], Level::Question)
        .await
        .map_err(web_err(lang))?;
    // last year: the latest earlier evaluation of the series
    let years = series(&state, &ev).await.map_err(se)?;
    let prev = years.iter().rev().find(|e| e.year < ev.year).cloned();
    let (prev_overall, prev_by_type) = match &prev {
        Some(p) => {
            let pl = analytics::loaded(&state, p.id, flagged)
                .await
                .map_err(web_err(lang))?;
            (
                Some(
                    analytics::table_of(&pl, &Query::new(&["unit"], Level::Overall))
                        .await
                        .map_err(web_err(lang))?,
                ),
                Some(
                    analytics::table_of(
                        &pl,
                        &Query::new(&["unit", "respondent_type"], Level::Overall),
                    )
                    .await
                    .map_err(web_err(lang))?,
                ),
            )
        }
        None => (None, None),
    };
    let u = unit.code.as_str();
    let mut changes: Vec<v::Change> = Vec::new();
    let cur = analytics::find(&overall, &[u], "overall");
    let before = prev_overall
        .as_ref()
        .and_then(|t| analytics::find(t, &[u], "overall"));
    let value = |r: Option<&ScoreRow>| r.filter(|r| !r.suppressed).and_then(|r| r.index.estimate);
    if prev.is_some() {
        changes.push((
            String::new(),
            value(before),
            value(cur),
            cur.zip(before).and_then(|(a, b)| comparison(a, b)),
        ));
        for r in by_type.iter().filter(|r| r.keys[0] == u) {
            let b = prev_by_type
                .as_ref()
                .and_then(|t| analytics::find(t, &[u, r.keys[1].as_str()], "overall"));
            changes.push((
                r.keys[1].clone(),
                value(b),
                value(Some(r)),
                b.and_then(|b| comparison(r, b)),
            ));
        }
    }
    Ok(v::unit_report(
        lang,
        &user,
        &v::ReportData {
            ev: &ev,
            unit: &unit,
            prev: prev.as_ref(),
            loaded: &l,
            overall: cur,
            by_type: &by_type,
            by_dim: &by_dim,
            by_item: &by_item,
            changes: &changes,
        },
    ))
}

async fn public_results(
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
) -> Result<maud::Markup, WebError> {
    let lang = Lang::from_request(&req);
    let ev = state
        .store
        .get_evaluation(path.into_inner())
        .await
        .map_err(|e| WebError::from_store(lang, e))?;
    if ev.status != EvaluationStatus::Published {
        return Err(WebError::NotFound(lang));
    }
    let units = state
        .store
        .evaluation_units(ev.id)
        .await
        .map_err(|e| WebError::from_store(lang, e))?;
    let (_, rows) = analytics::table(&state, ev.id, &Query::new(&["unit"], Level::Overall), false)
        .await
        .map_err(web_err(lang))?;
    Ok(v::public_results(lang, &ev, &units, &rows))
}
