//! `/favicon.ico`: every browser asks for it, and a missing one is an error in its console.

use actix_web::{web, HttpResponse};

/// The brand's red square with 评, as SVG (browsers take SVG at this address).
const ICON: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 32 32\">\
<rect width=\"32\" height=\"32\" rx=\"6\" fill=\"#8b1a1a\"/>\
<text x=\"16\" y=\"23\" font-size=\"20\" text-anchor=\"middle\" fill=\"#fff\" \
font-family=\"Noto Sans CJK SC,PingFang SC,Microsoft YaHei,sans-serif\">评</text></svg>";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/favicon.ico", web::get().to(favicon));
}

#[utoipa::path(
    get,
    path = "/favicon.ico",
    tag = "pages",
    responses((status = 200, description = "the site icon (SVG)", content_type = "image/svg+xml"))
)]
async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((
            actix_web::http::header::CACHE_CONTROL,
            "public, max-age=86400",
        ))
        .body(ICON)
}
