//! HTTP routes: browser pages and `/api/v1`.

pub mod api;
pub mod draw_form;
pub mod evaluations;
pub mod evaluations_api;
pub mod exports;
pub mod favicon;
pub mod findings;
pub mod findings_api;
pub mod firm_page;
pub mod followups;
pub mod forms;
pub mod health;
pub mod home;
pub mod invitations;
pub mod people;
pub mod people_api;
pub mod questionnaires;
pub mod rejections;
pub mod results;
pub mod scores;
pub mod setup_doc;
pub mod survey;
pub mod units;
pub mod uploads;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::{ApiError, WebError};
use crate::i18n::Lang;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health::health))
        .route("/", web::get().to(home::home))
        .route("/s/{code}", web::get().to(survey::link_form))
        .route("/s/{code}", web::post().to(survey::link_submit))
        .route("/s/{code}/thanks", web::get().to(survey::link_thanks))
        .route("/s/{code}/qr.svg", web::get().to(survey::qr_svg))
        .route("/s/{code}/qr.png", web::get().to(survey::qr_png))
        .route("/t/thanks", web::get().to(survey::token_thanks))
        .route("/t/{token}", web::get().to(survey::token_form))
        .route("/t/{token}", web::post().to(survey::token_submit))
        .configure(crate::auth::routes::configure)
        .configure(firm_page::configure)
        .configure(favicon::configure)
        // before the results pages: `/admin/evaluations/new` is not an evaluation id
        .configure(evaluations::configure)
        .configure(units::configure)
        .configure(people::configure)
        .configure(invitations::configure)
        .configure(results::configure)
        .configure(scores::configure)
        .configure(findings::configure)
        .configure(followups::configure)
        .configure(questionnaires::configure)
        // every JSON/file route, each path relative to the scope
        .service(web::scope("/api/v1").configure(api::configure));
}

/// Unknown routes: JSON under `/api/`, an HTML page elsewhere.
pub async fn not_found(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    if req.path().starts_with("/api/") {
        Err(ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())).into())
    } else {
        Err(WebError::NotFound(Lang::from_request(&req)).into())
    }
}
