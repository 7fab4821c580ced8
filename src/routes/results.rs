//! Evaluators' results: the satisfaction API, the anonymous responses export, the evaluators'
//! pages (list, overview, results, unit feedback report) and the public results (公示).

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::analytics::{AnalyticsError, Level};
use crate::auth::{AnyUser, Evaluator};
use crate::error::{ApiError, WebError};
use crate::findings;
use crate::i18n::Lang;
use crate::questionnaire::{AnswerValue, Answers, Questionnaire};
use crate::scoring::{self, ReportError, SatisfactionParams};
use crate::startup::AppState;
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

fn web_err(lang: Lang) -> impl Fn(AnalyticsError) -> WebError {
    move |e| match e {
        AnalyticsError::Store(s) => WebError::from_store(lang, s),
        other => WebError::internal(lang, other),
    }
}

#[utoipa::path(get, path = "/api/v1/evaluations/{id}/satisfaction", tag = "scores", params(("id" = i64, Path, description = "evaluation id"), crate::openapi::SatisfactionQuery), responses((status = 200, description = "rows of the analysis engine: by-columns, n, estimate, se, ci_low, ci_high, n_eff, suppressed, index, rate", body = crate::openapi::AnyJson), (status = 400, description = "bad request", body = crate::openapi::ErrorBody), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
async fn satisfaction(
    Evaluator(_user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    params: web::Query<SatisfactionParams>,
) -> Result<HttpResponse, ApiError> {
    let t = scoring::satisfaction_table(&state, path.into_inner(), &params).await?;
    let (ev, q) = (&t.evaluation, &t.query);
    let item_col = match q.level {
        Level::Overall => None,
        Level::Dimension => Some("dimension"),
        Level::Question => Some("question"),
    };
    let out: Vec<serde_json::Value> = t
        .rows
        .iter()
        .map(|r| {
            let mut o = serde_json::Map::new();
            for (b, k) in q.by.iter().zip(&r.keys) {
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
        "data_version": t.loaded.version,
        "responses": t.loaded.rows,
        "by": q.by,
        "level": q.level,
        "ci": t.ci_name,
        "confidence_level": q.conf,
        "min_cell": q.min_cell,
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

#[utoipa::path(get, path = "/admin/evaluations/{id}", tag = "pages", params(("id" = i64, Path, description = "evaluation id")), responses((status = 200, description = "evaluation overview", content_type = "text/html"), (status = 303, description = "not signed in: redirect to /login", content_type = "text/html"), (status = 403, description = "forbidden (HTML page)", content_type = "text/html"), (status = 404, description = "not found (HTML page)", content_type = "text/html")), security(("bearer" = []), ("cookie" = [])))]
async fn overview(
    Evaluator(user): Evaluator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    req: HttpRequest,
) -> Result<maud::Markup, WebError> {
    let lang = Lang::from_request(&req);
    let o = scoring::overview(&state, path.into_inner())
        .await
        .map_err(|e| WebError::from_store(lang, e))?;
    let findings =
        findings::evaluation_counts(&state.store, &state.settings.surveys_dir, o.evaluation.id)
            .await
            .map_err(|e| WebError::internal(lang, e))?;
    Ok(v::overview(
        lang,
        &user,
        &v::OverviewData {
            ev: &o.evaluation,
            units: &o.units,
            counts: &o.counts,
            links: &o.links,
            batches: &o.batches,
            flags: &o.flags,
            warnings: &o.warnings,
            tokens: o.tokens,
            invitations: &o.invitations,
            findings: &findings,
        },
    ))
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
    let flagged = params.exclude_flagged.unwrap_or(false);
    let r = scoring::results_report(&state, path.into_inner(), flagged)
        .await
        .map_err(web_err(lang))?;
    Ok(v::results(
        lang,
        &user,
        &v::ResultsData {
            ev: &r.evaluation,
            grades: &r.grades,
            units: &r.units,
            loaded: &r.loaded,
            by_unit: &r.by_unit,
            by_type: &r.by_type,
            by_dim: &r.by_dim,
            by_type_dim: &r.by_type_dim,
            trends: &r.trends,
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
    let (id, code) = path.into_inner();
    let flagged = params.exclude_flagged.unwrap_or(false);
    let r = scoring::unit_report(&state, &user, id, &code, flagged)
        .await
        .map_err(|e| match e {
            ReportError::Analytics(e) => web_err(lang)(e),
            ReportError::Forbidden => WebError::Forbidden(lang),
            ReportError::NotInEvaluation => WebError::NotFound(lang),
        })?;
    let unit_findings = findings::unit_report_findings(
        &state.store,
        &state.settings.surveys_dir,
        r.evaluation.id,
        r.unit.id,
    )
    .await
    .map_err(|e| WebError::internal(lang, e))?;
    Ok(v::unit_report(
        lang,
        &user,
        &v::ReportData {
            ev: &r.evaluation,
            grades: &r.grades,
            unit: &r.unit,
            prev: r.prev.as_ref(),
            loaded: &r.loaded,
            overall: r.overall_row(),
            by_type: &r.by_type,
            by_dim: &r.by_dim,
            by_item: &r.by_item,
            changes: &r.changes,
            findings: &unit_findings,
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
    let p = scoring::public_results(&state, path.into_inner())
        .await
        .map_err(web_err(lang))?
        .ok_or(WebError::NotFound(lang))?;
    let public =
        findings::public_counts(&state.store, &state.settings.surveys_dir, p.evaluation.id)
            .await
            .map_err(|e| WebError::internal(lang, e))?;
    Ok(v::public_results(
        lang,
        &v::PublicData {
            ev: &p.evaluation,
            units: &p.units,
            rows: &p.rows,
            overall: p.overall(),
            grades: &p.grades,
            findings: public.as_ref().map(|(s, c)| (s.as_str(), c.as_slice())),
        },
    ))
}
