//! The HTTP API v1 (documented in the crate's `openapi.yaml`): one table of routes, the
//! handlers, authentication, and the request log.

mod audit_log;
mod auth;
mod body;
mod error;
mod governance;
mod objects;
mod observe;
mod proof;
mod put;
mod range;
mod stream;
mod witness;

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, head, post, put, MethodRouter};
use axum::{Json, Router};

pub use auth::MAX_BODY_BYTES;
use error::ApiError;

use crate::state::Site;

/// One route the server answers: a method and an OpenAPI-style path template.
pub struct Route {
    /// The HTTP method, upper case.
    pub method: &'static str,
    /// The path, with `{parameters}` as in OpenAPI and axum.
    pub path: &'static str,
    handler: fn() -> MethodRouter<Arc<Site>>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

const OBJECT: &str = "/v1/tenants/{tenant}/{kind}/{name}";
const PROOF: &str = "/v1/tenants/{tenant}/{kind}/{name}/proof/{start}/{len}";

/// Every route served, the single source of the router (and checked against `openapi.yaml`).
pub static ROUTES: &[Route] = &[
    Route { method: "GET", path: "/healthz", handler: || get(healthz) },
    Route { method: "GET", path: "/metrics", handler: || get(metrics) },
    Route { method: "GET", path: "/v1/site", handler: || get(site_info) },
    Route { method: "GET", path: "/v1/tenants/{tenant}/{kind}", handler: || get(objects::list_objects) },
    Route { method: "POST", path: "/v1/tenants/{tenant}/sync", handler: || post(objects::sync_tenant) },
    Route { method: "POST", path: "/v1/tenants/{tenant}/add-checkpoint", handler: || post(witness::add) },
    Route { method: "GET", path: "/v1/tenants/{tenant}/checkpoint", handler: || get(witness::get) },
    Route { method: "GET", path: OBJECT, handler: || get(objects::get_object) },
    Route { method: "HEAD", path: OBJECT, handler: || head(objects::head_object) },
    Route { method: "PUT", path: OBJECT, handler: || put(put::put_object) },
    Route { method: "DELETE", path: OBJECT, handler: || delete(objects::delete_object) },
    Route { method: "GET", path: PROOF, handler: || get(proof::prove_range) },
    Route { method: "GET", path: "/v1/tenants/{tenant}/audit-log", handler: || get(audit_log::get_log) },
    Route { method: "GET", path: "/v1/tenants/{tenant}/governance", handler: || get(governance::get) },
    Route { method: "POST", path: "/v1/tenants/{tenant}/governance", handler: || post(governance::post) },
];

/// The application: every route, with logging and metrics around each.
pub(crate) fn router(site: Arc<Site>) -> Router {
    ROUTES
        .iter()
        .fold(Router::new(), |router, route| router.route(route.path, (route.handler)()))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(axum::middleware::from_fn_with_state(site.clone(), observe::observe))
        .with_state(site)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics(State(site): State<Arc<Site>>) -> impl IntoResponse {
    let text = site.metrics.render(&site.stored_bytes());
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

async fn site_info(State(site): State<Arc<Site>>) -> Json<crate::SiteInfo> {
    Json(site.info.clone())
}

async fn no_route() -> ApiError {
    ApiError::not_found("no such route; the API is described in the site's openapi.yaml (paths under /v1)")
}

async fn no_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this method is not served on this path; see the site's openapi.yaml",
    )
}
