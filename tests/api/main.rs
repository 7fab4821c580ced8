//! Integration tests: the app on port 0 with a fresh database per test, on SQLite always and
//! on PostgreSQL when PINGYI_TEST_POSTGRES_URL is set. One test binary keeps link time down.

mod helpers;

mod browser;
mod design;
mod exports;
mod findings;
mod findings_pages;
mod foundation;
mod invitations;
mod openapi;
mod results;
mod scores;
mod signout;
mod store_contract;
mod survey;
mod uploads;
