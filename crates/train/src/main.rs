//! `train`: the brainseg command line — data checks, training, evaluation, prediction.

mod augment;
mod average;
mod backend;
mod bench;
mod curves;
mod data_check;
mod evaluate;
mod fit;
mod loss;
mod pack;
mod pipeline;
mod report;
mod run;
mod ship;

use anyhow::Result;
use backend::Backend;
use brainseg::inference::InferOptions;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
// A repeated flag takes its last value, so scripts can append overrides to a fixed protocol.
#[command(
    name = "train",
    version,
    about = "Train, evaluate and run brain-MRI lesion segmentation models",
    args_override_self = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct InferArgs {
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
    fn sizes(&self) -> evaluate::Sizes {
        evaluate::Sizes {
            input: self.input_size,
            tta: self.tta_sizes.clone(),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Summarise a data folder: cases, slices, lesion slices, channels, problems.
    DataCheck { dir: PathBuf },
    /// Train a model; writes a run folder (config, metrics, curves, checkpoints, export).
    Fit {
        #[command(flatten)]
        config: fit::FitConfig,
        /// Continue the run in --out from its last finished epoch.
        #[arg(long)]
        resume: bool,
    },
    /// Score a model on cases with masks (reference and native protocols).
    Eval {
        /// Weights (`.bpk`) with their manifest beside them (`.json`). Give it more than once
        /// for an ensemble: the models' probabilities are averaged before thresholding. A shipped
        /// ensemble (`train ship` with several models) brings its members.
        #[arg(long, required = true)]
        model: Vec<PathBuf>,
        #[arg(long)]
        data: PathBuf,
        /// Only these cases (one ID a line).
        #[arg(long)]
        cases: Option<PathBuf>,
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Write predicted masks as DIR/<case>/<case>_<n>_mask.tif.
        #[arg(long)]
        save_masks: Option<PathBuf>,
        #[command(flatten)]
        infer: InferArgs,
    },
    /// Make a trained model the shipped one: copy it, set flip TTA, record its measured
    /// validation DSC (both protocols) in the manifest.
    Ship(ship::ShipArgs),
    /// One model whose weights are the mean of several (checkpoints of one run: a "soup").
    Average(average::AverageArgs),
    /// Write a compact (JPEG/PNG) copy of a data folder, e.g. to carry it to a GPU machine.
    Pack(pack::PackArgs),
    /// Turn a pack back into the kaggle_3m layout of TIFFs.
    Unpack {
        pack: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// The experiment table: Markdown table and side-by-side curves of finished runs.
    Report(report::ReportArgs),
    /// Training and inference images/s on random slices.
    Bench(bench::BenchArgs),
    /// Predict masks for slices (no masks needed).
    Predict {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        infer: InferArgs,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::DataCheck { dir } => data_check::run(&dir),
        Command::Fit { config, resume } => fit::run(config, resume),
        Command::Eval {
            model,
            data,
            cases,
            csv,
            save_masks,
            infer,
        } => evaluate::run_eval(&evaluate::EvalArgs {
            models: model,
            data,
            cases,
            csv,
            save_masks,
            backend: infer.backend,
            sizes: infer.sizes(),
            infer: infer.options(),
        }),
        Command::Bench(args) => bench::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Pack(args) => pack::pack(&args),
        Command::Ship(args) => ship::run(&args),
        Command::Average(args) => average::run(&args),
        Command::Unpack { pack, out } => pack::unpack(&pack, &out),
        Command::Predict {
            model,
            input,
            out,
            infer,
        } => evaluate::run_predict(
            &model,
            &input,
            &out,
            infer.backend,
            &infer.sizes(),
            infer.options(),
        ),
    }
}
