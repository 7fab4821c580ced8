//! Route × role matrix of the set-up routes: every route of the set-up document (units,
//! evaluations, plan, status, progress, people, keys, audit) against anonymous callers,
//! admins, evaluators, firms and unit users. A route added without a row here fails the test.

use std::collections::BTreeMap;

use pingyi::store::Backend;
use reqwest::Method;
use utoipa::OpenApi;

use crate::helpers::{cookie_client, spawn_app, user};
use crate::setup_evaluations::planned;

/// Who may use a route.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    /// no sign-in needed
    Public,
    /// any signed-in user
    Any,
    Evaluator,
    Admin,
    Firm,
}

fn matrix() -> BTreeMap<(&'static str, &'static str), Who> {
    use Who::*;
    BTreeMap::from([
        (("get", "/favicon.ico"), Public),
        (("get", "/admin/units"), Evaluator),
        (("post", "/admin/units"), Evaluator),
        (("post", "/admin/units/import"), Evaluator),
        (("get", "/admin/units/{code}"), Evaluator),
        (("post", "/admin/units/{code}"), Evaluator),
        (("post", "/admin/units/{code}/retire"), Evaluator),
        (("post", "/admin/units/{code}/restore"), Evaluator),
        (("get", "/api/v1/units"), Evaluator),
        (("get", "/api/v1/units.csv"), Evaluator),
        (("post", "/api/v1/units/import"), Evaluator),
        (("put", "/api/v1/units/{code}"), Evaluator),
        (("post", "/api/v1/units/{code}/retire"), Evaluator),
        (("post", "/api/v1/units/{code}/restore"), Evaluator),
        (("get", "/admin/evaluations/new"), Evaluator),
        (("post", "/admin/evaluations"), Evaluator),
        (("get", "/admin/evaluations/{id}/setup"), Evaluator),
        (("post", "/admin/evaluations/{id}/details"), Evaluator),
        (("post", "/admin/evaluations/{id}/units"), Evaluator),
        (("post", "/admin/evaluations/{id}/plan"), Evaluator),
        (("post", "/admin/evaluations/{id}/plan/fill"), Evaluator),
        (("post", "/admin/evaluations/{id}/plan/file"), Evaluator),
        (("post", "/admin/evaluations/{id}/status"), Evaluator),
        (("post", "/admin/evaluations/{id}/links"), Evaluator),
        (("get", "/firm/progress"), Firm),
        (("post", "/api/v1/evaluations"), Evaluator),
        (("get", "/api/v1/evaluations/{id}"), Evaluator),
        (("put", "/api/v1/evaluations/{id}/units"), Evaluator),
        (("get", "/api/v1/evaluations/{id}/plan"), Evaluator),
        (("get", "/api/v1/evaluations/{id}/plan.csv"), Evaluator),
        (("put", "/api/v1/evaluations/{id}/plan"), Evaluator),
        (("post", "/api/v1/evaluations/{id}/open"), Evaluator),
        (("post", "/api/v1/evaluations/{id}/close"), Evaluator),
        (("post", "/api/v1/evaluations/{id}/publish"), Evaluator),
        (("post", "/api/v1/evaluations/{id}/reopen"), Evaluator),
        (("get", "/api/v1/evaluations/{id}/progress"), Evaluator),
        (("post", "/api/v1/evaluations/{id}/links"), Evaluator),
        (("get", "/admin/users"), Admin),
        (("post", "/admin/users"), Admin),
        (("post", "/admin/users/{id}/disable"), Admin),
        (("post", "/admin/users/{id}/enable"), Admin),
        (("post", "/admin/users/{id}/reset"), Admin),
        (("get", "/account/password"), Any),
        (("post", "/account/password"), Any),
        (("get", "/set-password/{token}"), Public),
        (("post", "/set-password/{token}"), Public),
        (("get", "/account/keys"), Evaluator),
        (("post", "/account/keys"), Evaluator),
        (("post", "/account/keys/{id}/revoke"), Evaluator),
        (("get", "/admin/audit"), Admin),
        (("get", "/admin/audit.csv"), Admin),
        (("get", "/api/v1/users"), Admin),
        (("post", "/api/v1/users"), Admin),
        (("post", "/api/v1/users/{id}/disable"), Admin),
        (("post", "/api/v1/users/{id}/enable"), Admin),
        (("post", "/api/v1/users/{id}/reset-password"), Admin),
        (("get", "/api/v1/keys"), Evaluator),
        (("post", "/api/v1/keys"), Evaluator),
        (("post", "/api/v1/keys/{prefix}/revoke"), Evaluator),
        (("get", "/api/v1/audit"), Admin),
        (("get", "/api/v1/audit.csv"), Admin),
    ])
}

fn allowed(who: Who, role: &str) -> bool {
    match who {
        Who::Public | Who::Any => true,
        Who::Evaluator => role == "admin" || role == "evaluator",
        Who::Admin => role == "admin",
        Who::Firm => role == "firm",
    }
}

async fn route_role_matrix(backend: Backend) {
    let doc = serde_json::to_value(pingyi::routes::setup_doc::SetupDoc::openapi()).unwrap();
    let m = matrix();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            assert!(
                m.contains_key(&(method.as_str(), path.as_str())),
                "{method} {path} has no row in the access matrix"
            );
            documented.push((method.clone(), path.clone()));
        }
    }
    assert_eq!(
        documented.len(),
        m.len(),
        "every row of the matrix is a documented route"
    );

    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, id) = planned(&app).await;
    let clients = [
        ("anonymous", cookie_client()),
        ("admin", user(&app, "m-admin", "admin", None).await),
        ("evaluator", user(&app, "m-eval", "evaluator", None).await),
        ("firm", user(&app, "m-firm", "firm", None).await),
        ("unit", user(&app, "m-unit", "unit", Some("gaj")).await),
    ];
    // user routes act on a user of their own (disabling a client would sign it out)
    pingyi::commands::accounts::create_user(&app.store, "m-target", "evaluator", None, None)
        .await
        .unwrap();
    let target = app
        .store
        .user_by_name("m-target")
        .await
        .unwrap()
        .unwrap()
        .id;
    for ((method, path), who) in &m {
        let concrete = path
            .replace(
                "{id}",
                &if path.contains("/users/") {
                    target.to_string()
                } else {
                    id.to_string()
                },
            )
            .replace("{code}", "gaj")
            .replace("{prefix}", "pyu_00000000")
            .replace("{token}", &"0".repeat(64));
        for (role, c) in &clients {
            let rb = c.request(
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                app.url(&concrete),
            );
            let res = rb.send().await.unwrap();
            let status = res.status().as_u16();
            let location = res
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let api = path.starts_with("/api/");
            let to_login = status == 303 && location.starts_with("/login");
            if *role == "anonymous" && *who != Who::Public {
                let want = if api { 401 } else { 303 };
                assert_eq!(status, want, "anonymous {method} {concrete}");
                assert!(
                    api || to_login,
                    "anonymous {method} {concrete} goes to the sign-in page: {location}"
                );
            } else if *role == "anonymous" || allowed(*who, role) {
                assert!(
                    ![401, 403].contains(&status) && !to_login,
                    "{role} {method} {concrete} answered {status} {location}"
                );
            } else {
                assert_eq!(status, 403, "{role} {method} {concrete}");
            }
        }
    }
}
crate::both_backends!(setup_routes_by_role, route_role_matrix);
