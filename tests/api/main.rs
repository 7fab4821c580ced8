//! Integration tests: the app on port 0 with a fresh database per test, on SQLite always and
//! on PostgreSQL when PINGYI_TEST_POSTGRES_URL is set. One test binary keeps link time down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod backup;
mod big_upload;
mod browser;
mod compare;
mod compare_items;
mod design;
mod edge_limits;
mod exports;
mod findings;
mod findings_browser;
mod findings_pages;
mod followup;
mod foundation;
mod frame_snapshots;
mod full_disk;
mod hardening;
mod incremental;
mod instances;
mod invitations;
mod invitations_once;
mod openapi;
mod pages;
mod pages_browser;
mod questionnaire_browser;
mod questionnaire_library;
mod results;
mod roundtrip;
mod schema;
mod scores;
mod setup_access;
mod setup_audit;
mod setup_browser;
mod setup_evaluations;
mod setup_lifecycle;
mod setup_people;
mod setup_support;
mod setup_units;
mod signin;
mod signout;
mod store_contract;
mod survey;
mod uploads;
