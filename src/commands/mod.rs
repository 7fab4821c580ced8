//! Sub-commands of the `pingyi` CLI that are not the server itself.
//! Each module exposes a clap `Args` struct and a `run` function.

pub mod accounts;
pub mod analyze;
pub mod backup;
pub mod evaluation;
pub mod invite;
pub mod keys;
pub mod links;
pub mod questionnaire;
pub mod sample;
pub mod score;
pub mod units;
pub mod workdays;
