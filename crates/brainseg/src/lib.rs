//! brainseg core: everything the trainer and the web app share — ingest of the `kaggle_3m`
//! layout, the reference preprocessing and its inverse, models, inference, post-processing and
//! metrics.

pub mod eval;
pub mod inference;
pub mod ingest;
pub mod manifest;
pub mod metrics;
pub mod model;
pub mod naming;
pub mod postprocess;
pub mod preprocess;
pub mod resize;
pub mod synthetic;
pub mod tiff_io;
