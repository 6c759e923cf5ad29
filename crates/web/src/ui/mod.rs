//! The page: one yew component (`app`) that holds the state and dispatches messages, views
//! built from it (`model_panel`, `drop_zone`, `case_table`, `viewer`), the worker's client, and browser
//! plumbing (`dom`), what it reads at start (`startup`), slice rendering (`render`) and downloads
//! (`export`).

mod app;
mod case_table;
mod client;
mod dom;
mod drop_zone;
mod export;
mod model_panel;
mod render;
mod startup;
mod viewer;

pub use app::App;
