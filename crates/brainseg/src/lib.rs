//! brainseg core: everything the trainer and the web app share, one module a concern.
//!
//! | concern | module |
//! | --- | --- |
//! | file names of the `kaggle_3m` layout | [`naming`] |
//! | TIFF decoding and encoding | [`tiff_io`] |
//! | grouping files into cases, loading them | [`ingest`] |
//! | the reference preprocessing and its inverse | [`preprocess`], [`resize`] |
//! | the architectures | [`model`] |
//! | `model.json` and its validation | [`manifest`] |
//! | `.bpk` weights + manifest: save, load a model or an ensemble | [`model_io`] |
//! | running a model over a case (TTA, ensembles) | [`inference`] |
//! | largest 3-D component | [`postprocess`] |
//! | DSC and its summaries | [`metrics`] |
//! | the two evaluation protocols | [`eval`] |
//! | the per-case DSC table and its CSV | [`scores`] |
//! | predicted masks as `_mask.tif` files | [`export`] |
//! | synthetic cases for tests | [`synthetic`] |
//! | every entry of user bytes, for fuzzing and its regression test | [`untrusted`] |

pub mod eval;
pub mod export;
pub mod inference;
pub mod ingest;
pub mod manifest;
pub mod metrics;
pub mod model;
pub mod model_io;
pub mod naming;
pub mod postprocess;
pub mod preprocess;
pub mod resize;
pub mod scores;
pub mod synthetic;
pub mod tiff_io;
pub mod untrusted;
