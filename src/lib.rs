//! pingyi (评议): survey and third-party public-evaluation platform.

pub mod accounts;
pub mod analytics;
pub mod auth;
pub mod calendar;
pub mod cli;
pub mod collect;
pub mod commands;
pub mod config;
pub mod demo;
pub mod email;
pub mod error;
pub mod evaluations;
pub mod export;
pub mod findings;
pub mod i18n;
pub mod openapi;
pub mod questionnaire;
pub mod routes;
pub mod scoring;
pub mod security;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod upload;
pub mod views;
pub mod workbook;
