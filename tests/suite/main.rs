//! The integration tests, as one test binary: the real app over HTTP on SQLite (and PostgreSQL
//! when `TEST_DATABASE_URL` is set), the command line, the Stripe double, the proxy and the
//! browser. One binary, not one per file: `common` is compiled and the app linked once, which
//! keeps a cold CI run well inside its budget. `cargo test <file>::` runs one file's tests.

#[macro_use]
mod common;

mod accounts;
mod browser;
mod catalog;
mod checkins;
mod cli;
mod content_import;
mod content_rules;
mod edge;
mod going_live;
mod health;
mod health_features;
mod import_students;
mod learning;
mod mail;
mod outside_services;
mod payment_plans;
mod payments;
mod preenroll;
mod security;
mod server;
mod stripe_double;
mod studio;
mod upgrade_credit;
mod worksheets;
