//! Evaluators' results: the satisfaction API, the evaluators'
//! pages (list, overview, results, unit feedback report) and the public results (公示).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::analytics::{AnalyticsError, Level};
use crate::auth::{AnyUser, Evaluator};
use crate::error::OrPage;
use crate::error::{ApiError, WebError};
use crate::findings;
use crate::i18n::Lang;
use crate::scoring::{self, compare_cells, ReportError, SatisfactionParams, COMPARE_COLUMNS};
use crate::startup::AppState;
use crate::views::results as v;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v1/evaluations/{id}/satisfaction",
        web::get().to(satisfaction),
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

#[utoipa::path(get, path = "/api/v1/evaluations/{id}/satisfaction", tag = "scores", params(("id" = i64, Path, description = "evaluation id"), crate::openapi::SatisfactionQuery), responses((status = 200, description = "rows of the analysis engine: by-columns, n, estimate, se, ci_low, ci_high, n_eff, df, suppressed, index, rate", body = crate::openapi::AnyJson), (status = 400, description = "bad request", body = crate::openapi::ErrorBody), (status = 401, description = "not signed in (no session cookie or API key)", body = crate::openapi::ErrorBody), (status = 403, description = "role may not use this route", body = crate::openapi::ErrorBody), (status = 404, description = "not found", body = crate::openapi::ErrorBody)), security(("bearer" = []), ("cookie" = [])))]
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
    let compared = t.compared.as_ref();
    let out: Vec<serde_json::Value> = t
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
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
            // the domain's design degrees of freedom (its intervals use them; comparisons of
            // independent samples add them)
            o.insert("df".into(), r.df.into());
            o.insert("suppressed".into(), r.suppressed.into());
            o.insert("index".into(), serde_json::json!(r.index));
            o.insert("rate".into(), serde_json::json!(r.rate));
            if let Some(c) = compared {
                let cells = c.rows.get(i).map(compare_cells).unwrap_or_default();
                for (name, v) in COMPARE_COLUMNS.iter().zip(cells) {
                    o.insert((*name).into(), v.into());
                }
            }
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
        "compare_year": compared.map(|c| c.evaluation.year),
        "compare_evaluation_id": compared.map(|c| c.evaluation.id),
        // which items both years were scored on (all of them when both asked the same)
        "compared_items": compared.map(|c| serde_json::json!({
            "all_same": c.items.all_same,
            "items": c.named.0,
            "left_out": c.named.1,
            "respondent_types_left_out": c.items.types_left_out,
        })),
        "rows": out,
    })))
}

// ----- pages -----

#[derive(Debug, Deserialize)]
pub struct PageParams {
    pub exclude_flagged: Option<bool>,
}

#[utoipa::path(get, path = "/admin", tag = "pages", responses((status = 200, description = "evaluations list", content_type = "text/html"), (status = 303, description = "not signed in: redirect to /login; a unit's users: to /findings", content_type = "text/html"), (status = 403, description = "forbidden (HTML page)", content_type = "text/html")), security(("bearer" = []), ("cookie" = [])))]
async fn admin_home(
    AnyUser(user): AnyUser,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    if user.role == crate::auth::Role::Unit {
        // a unit's users land on their own page: feedback reports and findings
        return Ok(HttpResponse::SeeOther()
            .insert_header(("Location", crate::views::with_lang("/findings", lang)))
            .finish());
    }
    if !user.is_evaluator() {
        return Err(WebError::Forbidden(lang));
    }
    let evs = state.store.list_evaluations().await.or_page(lang)?;
    Ok(crate::routes::home::html(v::admin_home(lang, &user, &evs)))
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
        .or_page(lang)?;
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
            progress: &o.progress,
            questionnaire_title: &|id, version, lang| {
                state
                    .questionnaire(id, version)
                    .map(|q| format!("{} v{version}", lang.pick(&q.title.zh, &q.title.en)))
                    .unwrap_or_else(|| format!("{id} v{version}"))
            },
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
            trend_items: &r.trend_items,
            trend_named: &r.trend_named,
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
            compared: r.compared_items.as_ref().map(|(i, n)| (i, n)),
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
            published_at: p.published_at.as_deref(),
            fieldwork: p.fieldwork,
        },
    ))
}
