//! The command line: one file per subcommand, each with its arguments and a thin `run` that
//! calls into the rooms that do the work (`training/`, `evaluation.rs`, `model_io.rs`, …).

mod average;
mod bench;
mod cv;
mod data_check;
mod eval;
mod fit;
mod pack;
mod predict;
mod report;
mod ship;
mod stored_precision;

use crate::backend::Backend;
use crate::evaluation::Sizes;
use anyhow::Result;
use brainseg::inference::InferOptions;
use clap::{Parser, Subcommand};

#[derive(Parser)]
// A repeated flag takes its last value, so scripts can append overrides to a fixed protocol.
#[command(
    name = "train",
    version,
    about = "Train, evaluate and run brain-MRI lesion segmentation models",
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Summarise a data folder: cases, slices, lesion slices, channels, problems.
    DataCheck(data_check::DataCheckArgs),
    /// Train a model; writes a run folder (config, metrics, curves, checkpoints, export).
    Fit(fit::FitArgs),
    /// Score a model on cases with masks (reference and native protocols).
    Eval(eval::EvalArgs),
    /// Predict masks for slices (no masks needed).
    Predict(predict::PredictArgs),
    /// Make a trained model the shipped one: copy it, set flip TTA, record its measured
    /// validation DSC (both protocols) in the manifest.
    Ship(ship::ShipArgs),
    /// One model whose weights are the mean of several (checkpoints of one run: a "soup").
    Average(average::AverageArgs),
    /// Write a compact (JPEG/PNG) copy of a data folder, e.g. to carry it to a GPU machine.
    Pack(pack::PackArgs),
    /// Turn a pack back into the kaggle_3m layout of TIFFs.
    Unpack(pack::UnpackArgs),
    /// The experiment table: Markdown table and side-by-side curves of finished runs.
    Report(report::ReportArgs),
    /// Training and inference images/s on random slices.
    Bench(bench::BenchArgs),
    /// Assign cases to k folds for cross-validation (a `case,fold` file).
    Folds(cv::FoldsArgs),
    /// k-fold cross-validation: train a model per fold, score each on the cases it never saw,
    /// report the out-of-fold DSC of every case (resumable).
    Cv(cv::CvArgs),
    /// Cross-validate an ensemble: several `train cv` runs' fold models averaged on each fold's
    /// held-out cases; the record `train ship --cv` gives an ensemble of their recipes.
    CvEnsemble(cv::CvEnsembleArgs),
}

impl Cli {
    pub fn run(self) -> Result<()> {
        match self.command {
            Command::DataCheck(a) => data_check::run(&a),
            Command::Fit(a) => fit::run(a),
            Command::Eval(a) => eval::run(&a),
            Command::Predict(a) => predict::run(&a),
            Command::Ship(a) => ship::run(&a),
            Command::Average(a) => average::run(&a),
            Command::Pack(a) => pack::pack(&a),
            Command::Unpack(a) => pack::unpack(&a),
            Command::Report(a) => report::run(&a),
            Command::Bench(a) => bench::run(&a),
            Command::Folds(a) => cv::folds(&a),
            Command::Cv(a) => cv::run(a),
            Command::CvEnsemble(a) => cv::ensemble(a),
        }
    }
}

/// Inference flags shared by `eval` and `predict`.
#[derive(clap::Args)]
pub struct InferArgs {
    #[arg(long, value_enum, default_value = "flex")]
    backend: Backend,
    /// Slices per forward pass.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Flip test-time augmentation.
    #[arg(long)]
    tta: bool,
    /// Run the model on N² inputs instead of its manifest's size. The U-Net family is fully
    /// convolutional, so weights trained at one size run at another (e.g. a 128² model at 160²).
    #[arg(long, value_name = "N")]
    input_size: Option<usize>,
    /// Scale test-time augmentation: also run the model on inputs of these sides (e.g.
    /// `176,192`) and average their probabilities, resized to the input size, with its own.
    #[arg(long, value_name = "N,...", value_delimiter = ',')]
    tta_sizes: Option<Vec<usize>>,
}

impl InferArgs {
    fn options(&self) -> InferOptions {
        InferOptions {
            batch: self.batch,
            flip_tta: self.tta,
        }
    }
    fn sizes(&self) -> Sizes {
        Sizes {
            input: self.input_size,
            tta: self.tta_sizes.clone(),
        }
    }
}

/// The command line this process was started with, as run records keep it (`training.command`
/// in a manifest).
pub fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}
