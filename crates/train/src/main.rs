//! `train`: the brainseg command line — data checks, training, evaluation, prediction, export.
//!
//! | where | what |
//! | --- | --- |
//! | `cli/` | one file per subcommand: its arguments and a thin `run` |
//! | `training/` | `train fit`: config, data, sampler, augmentation, loss, schedule, the epoch loop, validation, checkpoints |
//! | `crossval.rs` | `train folds`, `train cv` and `train cv-ensemble`: folds files, a run per fold, out-of-fold tables |
//! | `evaluation.rs` | scoring models on cases (both protocols), predicted masks |
//! | `model_io.rs` | `.bpk` + manifest files: load (through the core's loader), write |
//! | `cases.rs` | data folders and case lists |
//! | `backend.rs` | `--backend` → a burn device |
//! | `allocator.rs` | mimalloc, keeping freed memory for the next step |
//! | `atomic.rs` | atomic file writes |
//! | `plot.rs` | `curves.png` |
//! | `profile.rs` | `train bench --profile`: a training step's time per operation |

mod allocator;
mod atomic;
mod backend;
mod cases;
mod cli;
mod crossval;
mod evaluation;
mod model_io;
mod plot;
mod profile;
mod training;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    allocator::keep_freed_memory();
    cli::Cli::parse().run()
}
