//! Learnwell: a self-hosted online course platform. `app(state)` is the whole web application;
//! `main.rs` and the tests both build it from here.

pub mod accounts;
pub mod admin;
pub mod announcements;
pub mod app;
pub mod audit;
pub mod backup;
pub mod catalog;
pub mod checkins;
pub mod clock;
pub mod config;
pub mod content;
pub mod context;
pub mod db;
pub mod doctor;
pub mod domain;
pub mod enrollment;
pub mod error;
pub mod files;
pub mod imports;
pub mod jobs;
pub mod launch;
pub mod learning;
pub mod local_time;
pub mod mail;
pub mod payments;
pub mod preenroll;
pub mod quiz;
pub mod request;
pub mod server;
pub mod telemetry;
pub mod web;

pub use app::{AppState, app};
pub use context::Ctx;
