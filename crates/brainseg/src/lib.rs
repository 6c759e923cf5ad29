//! brainseg core: everything the trainer and the web app share, one module a concern.
//!
//! | concern | module |
//! | --- | --- |
//! | file names of the `kaggle_3m` layout | [`naming`] |
//! | TIFF decoding and encoding | [`tiff_io`] |
//! | grouping files into cases, loading them | [`ingest`] |
//! | the reference preprocessing and its inverse | [`preprocess`], [`resize`] |
//! | what a model is: architecture, width, levels | [`model_config`] |
//! | the architectures (burn) | [`model`] |
//! | `model.json` and its validation | [`manifest`] |
//! | `.bpk` weights + manifest: save, load a model or an ensemble | [`model_io`] |
//! | 8- and 4-bit weights (`q8`, `q4`): the formats | [`quantized`] |
//! | running a model over a case (TTA, ensembles) | [`inference`] |
//! | threshold and 3-D component selection (largest, relative, …) | [`postprocess`] |
//! | DSC and its summaries | [`metrics`] |
//! | the two evaluation protocols | [`eval`] |
//! | the per-case DSC table and its CSV | [`scores`] |
//! | predicted masks as `_mask.tif` files | [`export`] |
//! | synthetic cases for tests | [`synthetic`] |
//! | every entry of user bytes, for fuzzing and its regression test | [`untrusted`] |
//!
//! burn is behind the `model` feature (on by default): [`model`], [`model_io`], [`inference`]
//! and [`untrusted`] need it. The web app's page is built without it — it shows manifests, cases
//! and masks but runs no model (its worker does) — so its wasm carries none of burn.

pub mod eval;
pub mod export;
#[cfg(feature = "model")]
pub mod inference;
pub mod ingest;
pub mod manifest;
pub mod metrics;
#[cfg(feature = "model")]
pub mod model;
pub mod model_config;
#[cfg(feature = "model")]
pub mod model_io;
pub mod naming;
pub mod postprocess;
pub mod preprocess;
#[cfg(feature = "model")]
pub mod quantized;
pub mod resize;
pub mod scores;
pub mod synthetic;
pub mod tiff_io;
#[cfg(feature = "model")]
pub mod untrusted;
