//! The console's embedded stylesheet and script, and the 404 page for any other address
//! under the console. It must not serve a file from disk.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::console::{lang_of, ConsoleError};

/// The console's stylesheet.
const CSS: &str = include_str!("../../../assets/console/console.css");
/// The console's script (progressive: every page works without it).
const JS: &str = include_str!("../../../assets/console/console.js");
/// Assets change only with the binary; their names do not, so a day of caching keeps a
/// new release's look at most a day behind.
const ASSET_CACHE: &str = "public, max-age=86400";

/// `GET /admin/console/assets/{name}`: the embedded stylesheet and script.
pub async fn asset(req: HttpRequest) -> HttpResponse {
    let (body, kind) = match req.match_info().get("name") {
        Some("console.css") => (CSS, "text/css; charset=utf-8"),
        Some("console.js") => (JS, "text/javascript; charset=utf-8"),
        _ => return ConsoleError::NotFound(lang_of(&req).0).error_response(),
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, kind))
        .insert_header((header::CACHE_CONTROL, ASSET_CACHE))
        .body(body)
}

/// Any other address under the console: 404 page.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ConsoleError::NotFound(lang_of(&req).0).error_response()
}
