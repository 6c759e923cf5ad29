//! `train fit`: train a model into a run folder, or continue one with --resume.

use crate::training::{self, FitConfig};
use anyhow::Result;

#[derive(clap::Args)]
pub struct FitArgs {
    #[command(flatten)]
    config: FitConfig,
    /// Continue the run in --out from its last finished epoch.
    #[arg(long)]
    resume: bool,
}

pub fn run(args: FitArgs) -> Result<()> {
    training::run(args.config, args.resume)
}
