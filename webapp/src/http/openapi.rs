//! The OpenAPI document of the web app, generated from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "imgcap web app",
        description = "Upload JPEG and PNG images, get a concise and a creative caption, browse \
                       the history. Every error answer is `{\"error\", \"error_type\"}`."
    ),
    paths(
        crate::http::api::upload_image,
        crate::http::api::list_images,
        crate::http::api::get_image,
        crate::http::api::edit_image,
        crate::http::api::regenerate_image,
        crate::http::api::delete_image,
        crate::http::export::download_image,
        crate::http::export::export_dataset,
        crate::http::api::delete_me,
        crate::http::api::admin_stats,
        crate::http::api::admin_flush_queue,
        crate::http::api::admin_retry_failed,
        crate::http::api::openapi_document,
        crate::http::healthz,
        crate::http::readyz,
        crate::http::metrics,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "images", description = "Uploads, history, exports and deletion"),
        (name = "admin", description = "Figures and queue control, admin role only"),
        (name = "operations", description = "Health, metrics and this document"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}
