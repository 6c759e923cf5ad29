//! `train folds` (assign cases to k folds, kept in a file), `train cv` (one training run per
//! fold, each scored on the cases it never saw; the out-of-fold table) and `train cv-ensemble`
//! (several such cross-validations' fold models averaged, scored the same way). The work is in
//! `crossval.rs`.

use super::stored_precision::StoredPrecision;
use crate::atomic::write_atomic;
use crate::backend::Backend;
use crate::cases::read_case_list;
use crate::crossval::{CvJob, EnsembleJob, Folds, Select};
use crate::training::FitConfig;
use anyhow::{Result, bail};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct FoldsArgs {
    /// The cases to split (one ID a line), e.g. shared/data/patients-dev.txt.
    #[arg(long)]
    cases: PathBuf,
    /// Cases kept together in fold 0 (e.g. the reference validation cases, patients-val.txt).
    #[arg(long)]
    together: Option<PathBuf>,
    #[arg(long, default_value_t = 5)]
    k: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The folds file to write (`case,fold` CSV).
    #[arg(long)]
    out: PathBuf,
}

pub fn folds(a: &FoldsArgs) -> Result<()> {
    let cases = read_case_list(&a.cases)?;
    let together = a
        .together
        .as_deref()
        .map(read_case_list)
        .transpose()?
        .unwrap_or_default();
    let folds = Folds::assign(&cases, &together, a.k, a.seed)?;
    write_atomic(&a.out, folds.to_csv()?.as_bytes())?;
    for (fold, cases) in &folds.0 {
        println!("fold {fold}: {} cases", cases.len());
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct CvArgs {
    /// The folds file (`train folds`).
    #[arg(long)]
    folds: PathBuf,
    /// Train and score only these folds (comma-separated; default all): the out-of-fold table
    /// then covers the folds scored so far.
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<usize>>,
    /// Which weights of each fold's run are scored on its held-out cases.
    #[arg(long, value_enum, default_value = "last")]
    select: Select,
    /// Cases whose out-of-fold DSC is also reported on its own (default: the reference
    /// validation cases, patients-val.txt, when found).
    #[arg(long)]
    beside: Option<PathBuf>,
    /// Distillation in every fold from that fold's model of this cross-validation (`CV/fold-K/
    /// last.bpk`, over the same folds: trained without the fold's held-out cases); give it once
    /// per teacher, with --distill W. A --teacher would have seen some fold's held-out cases.
    #[arg(long, value_name = "CV")]
    teacher_cv: Vec<PathBuf>,
    /// The training recipe of every fold; --out is the CV folder. Each fold's training and
    /// held-out cases come from the folds file (no --val-cases/--train-cases).
    #[command(flatten)]
    fit: FitConfig,
}

pub fn run(a: CvArgs) -> Result<()> {
    if a.fit.val_cases.is_some() || a.fit.train_cases.is_some() {
        bail!("train cv takes each fold's cases from --folds: drop --val-cases/--train-cases");
    }
    if a.fit.train_on_val {
        bail!(
            "train cv scores each fold on cases its model never saw: drop --train-on-val (it is \
             for `train fit`'s final model on every case)"
        );
    }
    if !a.fit.teacher.is_empty() {
        bail!(
            "train cv: a --teacher model would have seen some fold's held-out cases; give \
             --teacher-cv CV (each fold distils from that cross-validation's fold model)"
        );
    }
    let folds = Folds::read(&a.folds)?;
    for t in &a.teacher_cv {
        if Folds::read(&t.join("folds.csv"))? != folds {
            bail!(
                "--teacher-cv {}: its folds differ from --folds {}; a fold's teacher must not \
                 have seen its held-out cases",
                t.display(),
                a.folds.display()
            );
        }
    }
    let beside = a
        .beside
        .clone()
        .or_else(|| a.fit.val_cases_file())
        .map(|p| read_case_list(&p).map(|cases| (p, cases)))
        .transpose()?;
    crate::crossval::run(&CvJob {
        folds,
        teacher_cvs: a.teacher_cv,
        only: a.only,
        select: a.select,
        fit: a.fit,
        beside,
    })
}

#[derive(clap::Args)]
pub struct CvEnsembleArgs {
    /// A member's `train cv` folder (complete, over the same folds as the others); give it once
    /// per member, in the order the shipped ensemble's models will be given to `train ship`.
    #[arg(long, required = true)]
    run: Vec<PathBuf>,
    /// The ensemble's cross-validation folder: per-fold scores, `oof.csv`, `cv.md` and the record
    /// `train ship --cv` reads.
    #[arg(long)]
    out: PathBuf,
    /// Which weights of each member's fold runs are averaged (the members' records must exist
    /// for them).
    #[arg(long, value_enum, default_value = "last")]
    select: Select,
    /// The data folder the members were trained on.
    #[arg(long)]
    data: PathBuf,
    /// Cases whose out-of-fold DSC is also reported on its own (e.g. patients-val.txt).
    #[arg(long)]
    beside: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "flex")]
    backend: Backend,
    /// Slices per forward pass.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Score only these folds (comma-separated; default all), e.g. to screen an ensemble whose
    /// members have only those folds trained: the out-of-fold table then covers the folds
    /// scored so far.
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<usize>>,
    /// Store every fold model at this precision first (`q8`, `q4`: as `train ship --precision`
    /// stores weights; in the folder's `fold-K/stored/`) and score those: the out-of-fold figure
    /// of the ensemble as it would be shipped. The record names the precision, and `train ship
    /// --cv` takes it only for models shipped at it. Default: the weights as trained.
    #[arg(long, value_enum)]
    precision: Option<StoredPrecision>,
}

pub fn ensemble(a: CvEnsembleArgs) -> Result<()> {
    let beside = a
        .beside
        .map(|p| read_case_list(&p).map(|cases| (p, cases)))
        .transpose()?;
    crate::crossval::run_ensemble(&EnsembleJob {
        runs: a.run,
        out: a.out,
        select: a.select,
        data: a.data,
        backend: a.backend,
        batch: a.batch,
        beside,
        only: a.only,
        precision: a.precision.map(Into::into),
    })
}
