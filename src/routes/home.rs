use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::OrPage;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::startup::AppState;

#[utoipa::path(
    get,
    path = "/",
    tag = "pages",
    responses((status = 200, description = "landing page", content_type = "text/html"))
)]
pub async fn home(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let lang = Lang::from_request(&req);
    let evaluations = state.store.list_evaluations().await.or_page(lang)?;
    Ok(html(crate::views::home::page(lang, &evaluations)))
}

pub fn html(markup: maud::Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Language", "zh-CN, en"))
        .body(markup.into_string())
}
