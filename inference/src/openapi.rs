//! The OpenAPI document of the server (`GET /openapi.json`), generated from the handlers'
//! annotations and the wire types in `imgcap-common`.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "imgcap inference server",
        description = "SageMaker bring-your-own-container endpoint that captions JPEG and PNG \
                       images (a concise and a creative caption) with BLIP, batching concurrent \
                       requests. Every error answer is `{\"error\", \"error_type\"}`."
    ),
    paths(
        crate::http::operations::ping,
        crate::http::invocations::invocations,
        crate::http::operations::health,
        crate::http::operations::info,
        crate::http::operations::metrics,
        crate::http::operations::openapi,
    ),
    components(schemas(imgcap_common::ErrorType, imgcap_common::GenerationStrategy)),
    tags(
        (name = "sagemaker", description = "The SageMaker container contract"),
        (name = "operations", description = "Health, information and metrics"),
    )
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_route_is_documented_and_every_documented_route_is_served() {
        let doc = serde_json::to_value(document()).unwrap();
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|key| !matches!(key.as_str(), "parameters" | "summary" | "description"))
                    .map(move |method| (method.to_ascii_uppercase(), path.clone()))
            })
            .collect();
        let served: BTreeSet<(String, String)> = crate::http::routes()
            .iter()
            .map(|route| (route.verb.name().to_string(), route.path.to_string()))
            .collect();
        assert_eq!(documented, served);
    }

    #[test]
    fn every_error_is_documented_with_its_status() {
        use crate::error::ApiError;
        let doc = serde_json::to_value(document()).unwrap();
        let names: BTreeSet<&str> = doc["components"]["schemas"]["ErrorType"]["enum"]
            .as_array()
            .expect("ErrorType is a string enum")
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let statuses: BTreeSet<String> = doc["paths"]["/invocations"]["post"]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let cause = || "cause".to_string();
        let invocation_errors = [
            ApiError::InvalidJson(cause()),
            ApiError::InvalidBase64(cause()),
            ApiError::InvalidBody(cause()),
            ApiError::NotAcceptable(cause()),
            ApiError::PayloadTooLarge { limit: 1 },
            ApiError::UnsupportedMediaType(cause()),
            ApiError::InvalidImage(cause()),
            ApiError::InvalidParameters(cause()),
            ApiError::Backend { cause: cause() },
            ApiError::Overloaded { limit: 1 },
            ApiError::Internal { cause: cause() },
            ApiError::NotReady,
            ApiError::Unhealthy,
            ApiError::Timeout { timeout_ms: 1 },
            ApiError::Busy {
                message: cause(),
                retry_after_secs: 1,
            },
        ];
        for err in &invocation_errors {
            assert!(names.contains(err.error_type().as_str()), "{err:?}");
            assert!(statuses.contains(err.status().as_str()), "{err:?}");
        }
        for err in [
            ApiError::NotFound(cause()),
            ApiError::MethodNotAllowed(cause()),
        ] {
            assert!(names.contains(err.error_type().as_str()), "{err:?}");
        }
        assert!(names.contains("other"));
        assert_eq!(names.len(), invocation_errors.len() + 3);
    }
}
