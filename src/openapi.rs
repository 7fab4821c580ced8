//! The OpenAPI 3 document at `GET /api/v1/openapi.json`, generated from the handlers'
//! `#[utoipa::path]` attributes: every route the app registers (JSON API routes and HTML
//! pages) is listed in [`ApiDoc`]; `tests/api/openapi.rs` scans the route registrations and
//! fails when one is missing.
//!
//! Authentication: API routes take `Authorization: Bearer <API key>` (security scheme
//! `bearer`) or the browser session cookie `pingyi_session` (scheme `cookie`); forms posted
//! with the cookie also carry the page's CSRF token.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/openapi.json", web::get().to(openapi_json));
}

/// Error body of every `/api/` route.
#[derive(ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(ToSchema)]
pub struct ErrorDetail {
    /// not_found, bad_request, conflict, unprocessable, unauthorized, forbidden,
    /// payload_too_large, unavailable or internal
    pub code: String,
    /// what went wrong and how to fix it
    pub message: String,
    /// per-row problems (uploads, scores)
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// Any JSON value (routes whose body is documented in prose).
#[derive(ToSchema)]
#[schema(value_type = Object)]
pub struct AnyJson(pub serde_json::Value);

/// One anonymous response of `responses.json`.
#[derive(ToSchema)]
pub struct ResponseRecord {
    pub unit: String,
    pub respondent_type: String,
    pub questionnaire: String,
    pub version: i64,
    /// link, token or upload
    pub source: String,
    /// date only (YYYY-MM-DD)
    pub submitted_on: String,
    pub district: Option<String>,
    pub gender: Option<String>,
    pub age_group: Option<String>,
    /// survey weight; null means 1
    pub weight: Option<f64>,
    /// quality flags joined by `;` (speeder, straightline, duplicate, outside_wave)
    pub flags: String,
    /// the design columns the service analyses with (`design_fpc` null: no fpc)
    pub design_stratum: String,
    pub design_weight: f64,
    pub design_fpc: Option<f64>,
    /// the response's satisfaction index 0–100 (null without an answered likert item)
    pub index_score: Option<f64>,
    /// 1 when the index reaches the satisfied threshold, else 0 (null without an index)
    pub satisfied: Option<u8>,
    /// answered questions by code: likert codes and numbers as numbers, "don't know" as the
    /// question's don't-know code (0 by default), choice codes (several joined by `;`) and
    /// text as strings; the per-dimension indices `index_score__<dimension>` are top-level
    /// fields next to `index_score`
    #[schema(value_type = Object)]
    pub answers: HashMap<String, serde_json::Value>,
}

/// One row of `satisfaction.json` (and the columns of the other satisfaction exports); the
/// grouping columns present are those named by `by`.
#[derive(ToSchema)]
pub struct SatisfactionFlatRow {
    pub unit: Option<String>,
    pub respondent_type: Option<String>,
    /// present with `by=…,dimension`
    pub dimension: Option<String>,
    /// present with `by=…,question`
    pub question: Option<String>,
    pub n: u64,
    /// satisfaction index 0–100
    pub estimate: Option<f64>,
    pub se: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub n_eff: Option<f64>,
    pub suppressed: bool,
    /// satisfaction rate 0–1
    pub rate_estimate: Option<f64>,
    pub rate_se: Option<f64>,
    pub rate_ci_low: Option<f64>,
    pub rate_ci_high: Option<f64>,
}

/// Query parameters of the satisfaction table (API and exports).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SatisfactionQuery {
    /// grouping: any of unit, respondent_type, year, district, gender, age_group, source,
    /// plus at most one of dimension or question (default `unit,respondent_type`)
    pub by: Option<String>,
    /// another year of the same series and wave
    pub year: Option<i64>,
    /// interval method: xlogit (default), beta, wilson or wald
    pub ci: Option<String>,
    /// confidence level, default 0.95
    pub level: Option<f64>,
    /// smallest reported cell, default 5
    pub min_cell: Option<u64>,
    /// drop rows with quality flags
    pub exclude_flagged: Option<bool>,
    /// compare every row with the same row of the series' evaluation in this year: adds
    /// basis_estimate, compare_estimate, compare_se, change, change_se, df, p_value (index)
    /// and rate_basis_estimate, rate_compare_estimate, rate_compare_se, rate_change,
    /// rate_change_se, rate_p_value (independent samples, df = degf of both designs summed;
    /// null where either cell is suppressed), and `compared_items`: both years are scored on
    /// the likert items each respondent type was asked in both (basis_estimate: this year on
    /// those items; all items when both years asked the same), named with the items left out
    pub compare: Option<i64>,
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("API key of a user (`pingyi user key …`)"))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "browser session after POST /login",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pingyi (评议)",
        description = "Survey and third-party public-evaluation platform: questionnaires, \
                       anonymous responses, firm uploads, draws and invitations, satisfaction \
                       scores, framework scores, exports and pages."
    ),
    paths(
        openapi_json,
        crate::routes::api::questionnaires,
        crate::routes::api::questionnaire,
        crate::routes::api::evaluations,
        crate::routes::health::health,
        crate::routes::home::home,
        crate::routes::survey::link_form,
        crate::routes::survey::link_submit,
        crate::routes::survey::link_thanks,
        crate::routes::survey::qr_svg,
        crate::routes::survey::qr_png,
        crate::routes::survey::token_thanks,
        crate::routes::survey::token_form,
        crate::routes::survey::token_submit,
        crate::auth::routes::login_page,
        crate::auth::routes::login,
        crate::auth::routes::logout,
        crate::auth::password::password_page,
        crate::auth::password::change_password,
        crate::routes::firm_page::page,
        crate::routes::firm_page::submit,
        crate::routes::invitations::draw_page,
        crate::routes::invitations::draw_json,
        crate::routes::invitations::design_json,
        crate::routes::invitations::status_page,
        crate::routes::invitations::remind,
        crate::routes::invitations::cards,
        crate::routes::invitations::draw_form,
        crate::routes::invitations::draw_submit,
        crate::routes::results::satisfaction,
        crate::routes::exports::responses_csv,
        crate::routes::results::admin_home,
        crate::routes::results::overview,
        crate::routes::results::results,
        crate::routes::results::unit_report,
        crate::routes::results::public_results,
        crate::routes::followups::page_start,
        crate::routes::followups::api_start,
        crate::routes::followups::api_get,
        crate::routes::questionnaires::list_page,
        crate::routes::questionnaires::import_page,
        crate::routes::questionnaires::version_page,
        crate::routes::questionnaires::download,
        crate::routes::questionnaires::preview,
        crate::routes::questionnaires::preview_submit,
        crate::routes::questionnaires::bank_page,
        crate::routes::questionnaires::api_import,
        crate::routes::questionnaires::api_export,
        crate::routes::scores::api_frameworks,
        crate::routes::scores::api_get_framework,
        crate::routes::scores::api_put_framework,
        crate::routes::scores::api_get_scores,
        crate::routes::scores::api_put_scores,
        crate::routes::scores::api_history,
        crate::routes::scores::page,
        crate::routes::scores::page_post,
        crate::routes::scores::history_page,
        crate::routes::scores::framework_post,
        crate::routes::uploads::template,
        crate::routes::uploads::upload,
        crate::routes::uploads::list,
        crate::routes::uploads::receipt,
        crate::routes::uploads::withdraw,
        crate::routes::exports::responses_xlsx,
        crate::routes::exports::responses_parquet,
        crate::routes::exports::responses_json,
        crate::routes::exports::satisfaction_csv,
        crate::routes::exports::satisfaction_xlsx,
        crate::routes::exports::satisfaction_parquet,
        crate::routes::exports::satisfaction_json,
        crate::routes::findings::register,
        crate::routes::findings::settings_post,
        crate::routes::findings::publish_post,
        crate::routes::findings::propose_post,
        crate::routes::findings::add_post,
        crate::routes::findings::merge_post,
        crate::routes::findings::unit_list,
        crate::routes::findings::detail,
        crate::routes::findings::step_post,
        crate::routes::findings::edit_post,
        crate::routes::findings::file_get,
        crate::routes::findings_api::api_list,
        crate::routes::findings_api::api_add,
        crate::routes::findings_api::register_csv,
        crate::routes::findings_api::register_xlsx,
        crate::routes::findings_api::api_settings,
        crate::routes::findings_api::api_propose,
        crate::routes::findings_api::api_merge,
        crate::routes::findings_api::api_get,
        crate::routes::findings_api::api_edit,
        crate::routes::findings_api::api_step,
        crate::routes::findings_api::api_file,
    ),
    components(schemas(ErrorBody, ErrorDetail, AnyJson, ResponseRecord, SatisfactionFlatRow)),
    modifiers(&Security),
    tags(
        (name = "exports", description = "responses and satisfaction tables as files"),
        (name = "findings", description = "the rectification loop: findings, steps, evidence files, the register"),
        (name = "scores", description = "satisfaction and framework scores"),
        (name = "questionnaires", description = "questionnaire versions: XLSForm import and export"),
        (name = "uploads", description = "firm uploads"),
        (name = "design", description = "questionnaires, evaluations, draws"),
        (name = "pages", description = "HTML pages (text/html)"),
        (name = "survey", description = "respondents' forms (text/html)"),
    )
)]
pub struct ApiDoc;

/// The document as JSON text (built once).
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.merge(<crate::routes::setup_doc::SetupDoc as OpenApi>::openapi());
        doc.to_json()
            .unwrap_or_else(|e| format!("{{\"error\":\"openapi: {e}\"}}"))
    })
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "design",
    responses((status = 200, description = "OpenAPI 3 document of every route", body = AnyJson))
)]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}
