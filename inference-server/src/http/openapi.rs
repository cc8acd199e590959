//! The OpenAPI document of this server, generated from the handlers and types of every codec.

use axum::Json;
use utoipa::OpenApi;

/// The OpenAPI document of this server, generated from the handlers and types.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Inferwatch inference server",
        description = "Built-in models behind instrumented HTTP: per-model v1 routes, the Open Inference Protocol v2, and operational routes."
    ),
    paths(
        crate::http::ops::health,
        crate::http::ops::ready,
        crate::http::ops::storage_health,
        crate::http::ops::mlflow_health,
        crate::http::ops::metrics,
        openapi,
        crate::http::v1::predict,
        crate::http::v1::recommend,
        crate::http::feedback::submit,
        crate::http::v1::list,
        crate::http::v1::describe,
        crate::http::jobs::submit,
        crate::http::jobs::status,
        crate::http::v2::server_metadata,
        crate::http::v2::live,
        crate::http::v2::ready,
        crate::http::v2::model_metadata,
        crate::http::v2::model_ready,
        crate::http::v2::infer,
    ),
    components(schemas(
        crate::http::error::ErrorBody,
        crate::predict::items::TextInput,
        crate::predict::items::RatingInput,
        crate::predict::items::SeriesInput,
        crate::predict::items::RecommendRequest,
        crate::predict::Prediction,
        crate::predict::LabelProbability,
        crate::predict::EmailInput,
        crate::http::v2::InferRequest,
        crate::http::v2::InferInput,
        crate::http::v2::RequestedOutput,
        crate::http::v2::OutputTensor,
        crate::model_manager::ModelStatus,
        crate::quality::Identified,
        crate::http::feedback::FeedbackResponse,
        crate::http::feedback::ItemResult,
    )),
    modifiers(&OptionalBearer)
)]
pub struct ApiDoc;

/// The `bearer` security scheme, optional (`[]` or a token) on every route but the open ones:
/// the token is required only when the server runs with `--auth-token-file`.
struct OptionalBearer;

impl utoipa::Modify for OptionalBearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Required when the server runs with --auth-token-file; 401 otherwise."))
                    .build(),
            ),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            if crate::http::auth::OPEN_ROUTES.contains(&path.as_str()) {
                continue;
            }
            for op in [&mut item.get, &mut item.post].into_iter().flatten() {
                op.security = Some(vec![
                    SecurityRequirement::default(),
                    SecurityRequirement::new("bearer", Vec::<String>::new()),
                ]);
            }
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, body = Object)))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
