//! Evaluators' results: the scores API, the anonymous responses export, the evaluators'
//! pages (list, overview, results, unit feedback report) and the public results (公示).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use pingyi_analysis::estimate::contrast::{compare_independent, Comparison};
use pingyi_analysis::estimate::CiMethod;
use pingyi_analysis::scoring::{Framework, Outcome, UnitResult};
use serde::Deserialize;

use crate::analytics::{self, AnalyticsError, Level, Loaded, Query, ScoreRow};
use crate::auth::{AnyUser, Evaluator, Role};
use crate::error::{ApiError, WebError};
use crate::i18n::Lang;
use crate::questionnaire::{AnswerValue, Answers, Questionnaire};
use crate::routes::scores::{snapshot, SnapshotError};
use crate::startup::AppState;
use crate::store::{DrawRecord, Evaluation, EvaluationStatus, InvitationCounts, StoreError};
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

// ----- grades -----

/// Composite scores and grades of an evaluation's units. A grade (优秀/良好/达标/诫勉) is a
/// band of the composite score of the evaluation's indicator framework (the seed's
/// 总分计算及等次确定), so an evaluation without a framework has no grades: the pages show
/// "—" and say why rather than banding the satisfaction index, which is one input of the
/// composite score, not the result an office publishes.
pub enum Grades {
    /// No framework is attached to the evaluation.
    NoFramework,
    /// A framework is attached but its results cannot be computed yet (scores missing, …).
    Incomplete {
        framework: String,
        framework_en: Option<String>,
        problems: usize,
        message: String,
    },
    /// Every unit scored: totals, grades after the rules, ranks.
    Scored {
        fw: Box<Framework>,
        outcome: Outcome,
    },
}

impl Grades {
    /// The unit's computed result, when every unit is scored.
    pub fn unit(&self, code: &str) -> Option<&UnitResult> {
        match self {
            Grades::Scored { outcome, .. } => outcome.unit(code),
            _ => None,
        }
    }

    /// A grade's name in `lang` (framework bands carry their English names).
    pub fn grade_name(&self, grade: &str, lang: Lang) -> String {
        match (self, lang) {
            (Grades::Scored { fw, .. }, Lang::En) => fw
                .grade_index(grade)
                .and_then(|i| fw.grades[i].name_en.clone())
                .unwrap_or_else(|| grade.to_owned()),
            _ => grade.to_owned(),
        }
    }

    /// The unit's grade in `lang`, or None (no framework, incomplete, unit not scored).
    pub fn grade_of(&self, code: &str, lang: Lang) -> Option<String> {
        self.unit(code).map(|u| self.grade_name(&u.grade, lang))
    }

    /// The framework's name in `lang`, when one is attached.
    pub fn framework_name(&self, lang: Lang) -> Option<String> {
        match self {
            Grades::NoFramework => None,
            Grades::Incomplete {
                framework,
                framework_en,
                ..
            } => Some(match lang {
                Lang::Zh => framework.clone(),
                Lang::En => framework_en.clone().unwrap_or_else(|| framework.clone()),
            }),
            Grades::Scored { fw, .. } => Some(match lang {
                Lang::Zh => fw.name.clone(),
                Lang::En => fw.name_en.clone().unwrap_or_else(|| fw.name.clone()),
            }),
        }
    }
}

/// Computed grades, reused while the responses frame (data version) and the framework's
/// content and scores version are unchanged: scoring pools every response for the survey
/// indicators, which a cached report page must not redo. Entries die with their frame.
struct GradesEntry {
    loaded: Weak<Loaded>,
    key: (String, i64),
    grades: Arc<Grades>,
}

static GRADES: Mutex<Vec<GradesEntry>> = Mutex::new(Vec::new());

fn cached_grades(l: &Arc<Loaded>, key: &(String, i64)) -> Option<Arc<Grades>> {
    let mut cache = GRADES.lock().ok()?;
    cache.retain(|e| e.loaded.strong_count() > 0);
    cache
        .iter()
        .find(|e| e.key == *key && e.loaded.upgrade().is_some_and(|x| Arc::ptr_eq(&x, l)))
        .map(|e| e.grades.clone())
}

fn cache_grades(l: &Arc<Loaded>, key: (String, i64), grades: Arc<Grades>) {
    if let Ok(mut cache) = GRADES.lock() {
        // one entry per frame: the newest scores version replaces older ones
        cache.retain(|e| e.loaded.upgrade().is_some_and(|x| !Arc::ptr_eq(&x, l)));
        cache.push(GradesEntry {
            loaded: Arc::downgrade(l),
            key,
            grades,
        });
    }
}

/// The evaluation's composite scores and grades now (see [`Grades`]); computed by the scores
/// module's [`snapshot`], so the pages, the scores page and the scores API agree.
pub async fn grades(state: &AppState, evaluation_id: i64) -> Result<Arc<Grades>, AnalyticsError> {
    let Some(rec) = state.store.evaluation_framework(evaluation_id).await? else {
        return Ok(Arc::new(Grades::NoFramework));
    };
    let l = analytics::loaded(state, evaluation_id, false).await?;
    let key = (rec.content_hash.clone(), rec.scores_version);
    if let Some(g) = cached_grades(&l, &key) {
        return Ok(g);
    }
    let g = match snapshot(state, evaluation_id, None).await {
        Ok(snap) => match snap.outcome {
            Ok(outcome) => Grades::Scored {
                fw: Box::new(snap.fw),
                outcome,
            },
            Err(e) => {
                let mut message = e.to_string();
                if let Some(p) = &snap.survey_problem {
                    message.push_str(&format!(" (survey values unavailable: {p})"));
                }
                Grades::Incomplete {
                    framework: snap.fw.name.clone(),
                    framework_en: snap.fw.name_en.clone(),
                    problems: e.problems.len(),
                    message,
                }
            }
        },
        Err(SnapshotError::NoFramework(_)) => Grades::NoFramework,
        Err(SnapshotError::Store(e)) => return Err(e.into()),
        Err(e @ SnapshotError::BadFramework(..)) => {
            tracing::error!(error = %e, "stored framework does not load");
            Grades::Incomplete {
                framework: rec.framework_id.clone(),
                framework_en: None,
                problems: 1,
                message: e.to_string(),
            }
        }
    };
    let g = Arc::new(g);
    cache_grades(&l, key, g.clone());
    Ok(g)
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

/// The evaluation (of the requested year) and the table query of a `GET …/satisfaction`
/// request; the satisfaction exports take the same parameters.
pub(crate) async fn satisfaction_request(
    state: &AppState,
    id: i64,
    params: &SatisfactionParams,
) -> Result<(Evaluation, Query), ApiError> {
    let ev = state.store.get_evaluation(id).await?;
    let ev = match params.year {
        Some(y) => same_series(state, &ev, y).await?,
        None => ev,
    };
    let (by, level) = parse_by(params.by.as_deref()).map_err(ApiError::BadRequest)?;
    let ci: CiMethod = match params.ci.as_deref().unwrap_or("xlogit") {
        name @ ("xlogit" | "beta" | "wilson" | "wald") => {
            name.parse()
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
    Ok((
        ev,
        Query {
            by,
            level,
            ci,
            conf,
            min_cell,
        },
    ))
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

#[utoipa::path(get, path = "/api/v1/evaluations/{id}/satisfaction", tag = "scores", params(("id" = i64, Path, description = "evaluation id"), crate::openapi::SatisfactionQuery), responses((status = 200, description = "rows of the analysis engine: by-columns, n, estimate, se, ci_low, ci_high, n_eff, suppressed, index, rate", body = crate::openapi::AnyJson), (status = 400, description = "bad request", body = crate::openapi::ErrorBody), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn satisfaction(
    Evaluator(_user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    params: web::Query<SatisfactionParams>,
) -> Result<HttpResponse, ApiError> {
    let (ev, q) = satisfaction_request(&state, path.into_inner(), &params).await?;
    let (by, level, conf, min_cell) = (q.by.clone(), q.level, q.conf, q.min_cell);
    let ci_name = params.ci.as_deref().unwrap_or("xlogit");
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
pub const EXPORT_COLUMNS: [&str; 14] = [
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
    // the design analysis uses (weight × uploaded weight, stratum, population size; `inf`:
    // no finite-population correction): `pingyi analyze --weight design_weight --strata
    // design_stratum --fpc design_fpc` on this file gives the service's numbers
    "design_stratum",
    "design_weight",
    "design_fpc",
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
    design: &crate::analytics::design::DesignTable,
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
        let d = design.row(r.design_draw_id, r.design_stratum.as_deref(), r.weight);
        rec.push(d.stratum.to_owned());
        rec.push(d.weight.to_string());
        rec.push(d.fpc.to_string());
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
#[utoipa::path(get, path = "/api/v1/evaluations/{id}/responses.csv", tag = "exports", params(("id" = i64, Path, description = "evaluation id")), responses((status = 200, description = "anonymous responses, streamed (withdrawn batches excluded)", content_type = "text/csv"), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn responses_csv(
    Evaluator(_user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let ev = state.store.get_evaluation(path.into_inner()).await?;
    let codes = Arc::new(question_codes(&state.questionnaires));
    let design = Arc::new(crate::analytics::design::DesignTable::new(
        &state.store.design_strata(ev.id).await?,
    ));
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
        let design = design.clone();
        async move {
            let page = match rx.recv().await {
                Some(p) => p,
                // an empty evaluation still gets its header line
                None if first => Vec::new(),
                None => return None,
            };
            let bytes = web::block(move || csv_page(&qs, &codes, &design, &page, first)).await;
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

#[utoipa::path(get, path = "/admin", tag = "pages", responses((status = 200, description = "evaluations list", content_type = "text/html"), (status = 303, description = "not signed in: redirect to /login", content_type = "text/html"), (status = 403, description = "forbidden (HTML page)", content_type = "text/html")), security(("bearer" = []), ("cookie" = [])))]
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

#[utoipa::path(get, path = "/admin/evaluations/{id}", tag = "pages", params(("id" = i64, Path, description = "evaluation id")), responses((status = 200, description = "evaluation overview", content_type = "text/html"), (status = 303, description = "not signed in: redirect to /login", content_type = "text/html"), (status = 403, description = "forbidden (HTML page)", content_type = "text/html"), (status = 404, description = "not found (HTML page)", content_type = "text/html")), security(("bearer" = []), ("cookie" = [])))]
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
    let draws = state.store.list_draws(ev.id).await.map_err(se)?;
    let progress = crate::evaluations::progress::progress(&state.store, ev.id.into())
        .await
        .map_err(se)?;
    let mut invitations: Vec<(DrawRecord, InvitationCounts)> = Vec::with_capacity(draws.len());
    for d in draws {
        let c = state.store.invitation_counts(d.id).await.map_err(se)?;
        invitations.push((d, c));
    }
    let warnings: Vec<(i64, Vec<(String, u64)>)> = batches
        .iter()
        .map(|b| (b.id, batch_warnings(&b.receipt)))
        .collect();
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
            warnings: &warnings,
            tokens,
            invitations: &invitations,
            progress: &progress,
        },
    ))
}

/// Upload warnings of a batch from its receipt: (kind, rows) for every kind with rows.
/// Kinds: speeders, straight_lining, duplicates_within_file, duplicates_of_other_batches,
/// outside_wave. An unreadable receipt gives no warnings (the flagged-row count still shows).
pub fn batch_warnings(receipt: &str) -> Vec<(String, u64)> {
    const KINDS: [&str; 5] = [
        "speeders",
        "straight_lining",
        "duplicates_within_file",
        "duplicates_of_other_batches",
        "outside_wave",
    ];
    let Ok(v) = serde_json::from_str::<serde_json::Value>(receipt) else {
        return Vec::new();
    };
    KINDS
        .iter()
        .filter_map(|k| {
            let n = v["warnings"][*k].as_u64()?;
            (n > 0).then(|| ((*k).to_owned(), n))
        })
        .collect()
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

#[utoipa::path(get, path = "/admin/evaluations/{id}/results", tag = "pages", params(("id" = i64, Path, description = "evaluation id"), ("exclude_flagged" = Option<bool>, Query, description = "drop responses with quality flags")), responses((status = 200, description = "results: ranking, charts, trends", content_type = "text/html"), (status = 303, description = "not signed in: redirect to /login", content_type = "text/html"), (status = 403, description = "forbidden (HTML page)", content_type = "text/html"), (status = 404, description = "not found (HTML page)", content_type = "text/html")), security(("bearer" = []), ("cookie" = [])))]
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
    let grades = grades(&state, ev.id).await.map_err(web_err(lang))?;
    Ok(v::results(
        lang,
        &user,
        &v::ResultsData {
            ev: &ev,
            grades: &grades,
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

#[utoipa::path(get, path = "/admin/evaluations/{id}/units/{code}/report", tag = "pages", params(("id" = i64, Path, description = "evaluation id"), ("code" = String, Path, description = "unit code"), ("exclude_flagged" = Option<bool>, Query, description = "drop responses with quality flags")), responses((status = 200, description = "unit feedback report (evaluators, or the unit's own users)", content_type = "text/html"), (status = 303, description = "not signed in: redirect to /login", content_type = "text/html"), (status = 403, description = "forbidden (HTML page)", content_type = "text/html"), (status = 404, description = "not found (HTML page)", content_type = "text/html")), security(("bearer" = []), ("cookie" = [])))]
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
    let grades = grades(&state, ev.id).await.map_err(web_err(lang))?;
    Ok(v::unit_report(
        lang,
        &user,
        &v::ReportData {
            ev: &ev,
            grades: &grades,
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

#[utoipa::path(get, path = "/public/evaluations/{id}", tag = "pages", params(("id" = i64, Path, description = "evaluation id")), responses((status = 200, description = "published results", content_type = "text/html"), (status = 404, description = "not found (HTML page)", content_type = "text/html")))]
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
    let (l, rows) = analytics::table(&state, ev.id, &Query::new(&["unit"], Level::Overall), false)
        .await
        .map_err(web_err(lang))?;
    // the whole evaluation: one row over every response ("year" is constant within it)
    let all = analytics::table_by(&l, &["year"], Level::Overall)
        .await
        .map_err(web_err(lang))?;
    let grades = grades(&state, ev.id).await.map_err(web_err(lang))?;
    Ok(v::public_results(
        lang,
        &v::PublicData {
            ev: &ev,
            units: &units,
            rows: &rows,
            overall: all.iter().find(|r| r.item == "overall"),
            grades: &grades,
        },
    ))
}
