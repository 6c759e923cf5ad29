//! `train predict`: predicted masks for slices without masks, written as
//! `OUT/<case>/<case>_<n>_mask.tif`.

use super::InferArgs;
use crate::backend;
use crate::cases::load_cases;
use crate::evaluation::{load_all, predict_native, save_masks};
use anyhow::{Result, bail};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct PredictArgs {
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    input: PathBuf,
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    infer: InferArgs,
}

pub fn run(args: &PredictArgs) -> Result<()> {
    let device = backend::device(args.infer.backend)?;
    let models = load_all(
        std::slice::from_ref(&args.model),
        &device,
        &args.infer.sizes(),
    )?;
    let mut done = 0;
    for case in load_cases(&args.input, None)? {
        let result = predict_native(&models, &case, &device, args.infer.options())
            .and_then(|m| save_masks(&args.out, &case, &m).map(|_| m));
        match result {
            Ok(m) => {
                let voxels = m.iter().filter(|&&v| v != 0).count();
                println!(
                    "{}: {} slices, {} lesion voxels predicted -> {}",
                    case.id,
                    case.slices.len(),
                    voxels,
                    args.out.join(&case.id).display()
                );
                done += 1;
            }
            Err(e) => eprintln!("warning: case {}: {e:#}", case.id),
        }
    }
    if done == 0 {
        bail!("no case could be predicted from {}", args.input.display());
    }
    Ok(())
}
