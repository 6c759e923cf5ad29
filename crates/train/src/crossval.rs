//! Patient-level k-fold cross-validation (`train folds`, `train cv`): a fixed assignment of cases
//! to folds in a file, one training run per fold on the other folds' cases, each fold model
//! scored on the cases it never saw, and the out-of-fold table over all of them. Selection of
//! recipes, checkpoints and thresholds rests on that table, not on one fixed validation set.
//!
//! A CV folder holds `folds.csv` (a copy of the assignment), `lists/fold-K-{train,held-out}.txt`,
//! one run folder per fold (`fold-K/`, an ordinary `train fit` run, resumable), each fold's
//! scores (`fold-K/scores-last.csv` or `scores-best.csv`, by the weights scored), and the
//! out-of-fold results of the last call: `oof.csv` (every case, both
//! protocols), `cv.md` (per-fold and overall summaries, the worst cases), and per weights scored
//! `cv-last.json` or `cv-best.json` (the figures as a model's manifest records them: `train ship
//! --cv`).
//!
//! An ensemble's cross-validation (`train cv-ensemble`) scores, fold by fold, the fold models of
//! several complete cross-validations over the same folds together (probabilities averaged),
//! exactly as `train cv` scores one; its folder holds the same tables and record (listing its
//! members and their own figures) and `ensemble.json`, naming the member folders in order, so
//! that `train ship` can check each shipped model against its member's recipe. With
//! `--precision` each fold model is first stored as `train ship --precision` would store it
//! (`fold-K/stored/member-N.bpk`) and those weights are scored: the figure of an ensemble as
//! shipped in 8 or 4 bits, recorded with its precision.

use crate::atomic::write_atomic;
use crate::backend::Backend;
use crate::evaluation::{EvalJob, Sizes, eval, validation};
use crate::model_io::{read_manifest, weights_at, write_model};
use crate::training::checkpoint::RunDir;
use crate::training::{self, FitConfig};
use anyhow::{Context, Result, bail};
use brainseg::inference::InferOptions;
use brainseg::manifest::{CrossValidation, CrossValidationDraw, Manifest, Precision, sha256_hex};
use brainseg::metrics::{Summary, summarize};
use brainseg::postprocess::Components;
use brainseg::scores::{ScoreRow, read_csv, write_csv};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One line of a folds file (`case,fold`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldOf {
    pub case: String,
    pub fold: usize,
}

/// Cases by fold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folds(pub BTreeMap<usize, Vec<String>>);

impl Folds {
    /// Assigns `cases` to `k` folds: `together` (e.g. the 10 reference validation cases, so the
    /// reference comparison keeps one fold model that never saw them) all in fold 0, the rest
    /// shuffled with `seed` and dealt to the smallest fold each time.
    pub fn assign(cases: &[String], together: &[String], k: usize, seed: u64) -> Result<Folds> {
        let unique: BTreeSet<&String> = cases.iter().collect();
        if unique.len() != cases.len() {
            bail!("a case is listed twice");
        }
        if k < 2 || k > cases.len() {
            bail!(
                "{k} folds for {} cases: need 2 to {}",
                cases.len(),
                cases.len()
            );
        }
        if let Some(c) = together.iter().find(|c| !unique.contains(c)) {
            bail!("{c} is to be kept in fold 0 but is not among the cases");
        }
        let mut folds: BTreeMap<usize, Vec<String>> = (0..k).map(|f| (f, Vec::new())).collect();
        folds.insert(0, together.to_vec());
        let mut rest: Vec<String> = cases
            .iter()
            .filter(|c| !together.contains(c))
            .cloned()
            .collect();
        rest.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        for case in rest {
            let smallest = (0..k).min_by_key(|f| folds[f].len()).unwrap_or(0);
            folds.entry(smallest).or_default().push(case);
        }
        for cases in folds.values_mut() {
            cases.sort();
        }
        Ok(Folds(folds))
    }

    pub fn to_csv(&self) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        for (fold, cases) in &self.0 {
            for case in cases {
                w.serialize(FoldOf {
                    case: case.clone(),
                    fold: *fold,
                })?;
            }
        }
        Ok(String::from_utf8(w.into_inner()?)?)
    }

    /// Reads a folds file; a case in two folds, a fold without cases or fewer than 2 folds is
    /// an error naming the file.
    pub fn read(path: &Path) -> Result<Folds> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut folds: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        let mut seen = BTreeSet::new();
        for (i, row) in csv::Reader::from_reader(text.as_bytes())
            .deserialize::<FoldOf>()
            .enumerate()
        {
            let row = row.with_context(|| format!("{}: row {}", path.display(), i + 1))?;
            if !seen.insert(row.case.clone()) {
                bail!("{}: case {} is in two folds", path.display(), row.case);
            }
            folds.entry(row.fold).or_default().push(row.case);
        }
        let k = folds.len();
        if k < 2 || folds.keys().copied().ne(0..k) {
            bail!(
                "{}: folds must be numbered 0 to k-1 with k ≥ 2 (found {:?})",
                path.display(),
                folds.keys().collect::<Vec<_>>()
            );
        }
        Ok(Folds(folds))
    }

    /// The cases outside fold `k`.
    fn others(&self, k: usize) -> Vec<String> {
        self.0
            .iter()
            .filter(|(f, _)| **f != k)
            .flat_map(|(_, c)| c.iter().cloned())
            .collect()
    }
}

/// Which weights of a fold's run are scored on its held-out fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Select {
    /// The last epoch's: nothing is chosen on the held-out cases (the honest estimate).
    Last,
    /// The epoch with the best DSC on the held-out cases themselves (optimistic).
    Best,
}

impl Select {
    /// The word a manifest records (`CrossValidation::weights`).
    pub fn word(self) -> &'static str {
        match self {
            Select::Last => "last",
            Select::Best => "best",
        }
    }

    /// The CV folder's record of the out-of-fold figures of these weights.
    pub fn record_file(self) -> &'static str {
        match self {
            Select::Last => "cv-last.json",
            Select::Best => "cv-best.json",
        }
    }

    /// A fold run's file of these weights (`train fit` writes both).
    pub fn weights_file(self) -> &'static str {
        match self {
            Select::Last => "last.bpk",
            Select::Best => "best.bpk",
        }
    }

    /// A fold's scores file for these weights (kept apart, so that one never stands in for
    /// the other).
    fn scores_file(self) -> &'static str {
        match self {
            Select::Last => "scores-last.csv",
            Select::Best => "scores-best.csv",
        }
    }
}

/// What `train cv` runs.
pub struct CvJob {
    pub folds: Folds,
    /// Cross-validations over the same folds whose fold-K models teach fold K (`--teacher-cv`).
    pub teacher_cvs: Vec<PathBuf>,
    /// Only these folds (all when `None`).
    pub only: Option<Vec<usize>>,
    pub select: Select,
    /// The training recipe; its `out` is the CV folder.
    pub fit: FitConfig,
    /// Cases whose out-of-fold DSC is also reported on its own (the reference validation cases).
    pub beside: Option<(PathBuf, Vec<String>)>,
}

/// Trains (or continues) and scores every fold asked for, then writes the out-of-fold table of
/// every fold scored so far.
pub fn run(job: &CvJob) -> Result<()> {
    let out = &job.fit.out;
    std::fs::create_dir_all(out.join("lists"))
        .with_context(|| format!("creating {}", out.join("lists").display()))?;
    write_atomic(&out.join("folds.csv"), job.folds.to_csv()?.as_bytes())?;
    let k = job.folds.0.len();
    if let Some(bad) = job.only.iter().flatten().find(|f| **f >= k) {
        bail!("--only {bad}: the folds file has folds 0 to {}", k - 1);
    }
    for fold in 0..k {
        if job.only.as_ref().is_some_and(|o| !o.contains(&fold)) {
            continue;
        }
        eprintln!("== fold {fold} of {k} ==");
        run_fold(job, fold)?;
    }
    summarize_out_of_fold(
        &job.fit.out,
        &job.folds,
        job.select,
        job.beside.as_ref(),
        Vec::new(),
        None,
    )
}

fn write_list(path: &Path, cases: &[String]) -> Result<()> {
    write_atomic(path, format!("{}\n", cases.join("\n")).as_bytes())
}

/// Trains fold `fold` (resuming a run started before; skipped when it is complete) and scores
/// its held-out cases into `fold-K/scores-{last,best}.csv`.
fn run_fold(job: &CvJob, fold: usize) -> Result<()> {
    let out = &job.fit.out;
    let held_out = out.join(format!("lists/fold-{fold}-held-out.txt"));
    let train = out.join(format!("lists/fold-{fold}-train.txt"));
    write_list(&held_out, &job.folds.0[&fold])?;
    write_list(&train, &job.folds.others(fold))?;
    let dir = out.join(format!("fold-{fold}"));
    let run = RunDir::create(&dir)?;
    let state = run.load_state()?;
    let complete = state.as_ref().is_some_and(|s| {
        s.epochs_done >= job.fit.epochs
            || job
                .fit
                .max_minutes
                .is_some_and(|m| s.seconds_spent() >= m * 60.0)
    });
    if !complete {
        let teacher = job
            .teacher_cvs
            .iter()
            .map(|cv| {
                cv.join(format!("fold-{fold}"))
                    .join(Select::Last.weights_file())
            })
            .collect::<Vec<_>>();
        if let Some(missing) = teacher.iter().find(|t| !t.is_file()) {
            bail!(
                "--teacher-cv: {} not found (is that cross-validation's fold {fold} trained?)",
                missing.display()
            );
        }
        let cfg = FitConfig {
            teacher,
            out: dir.clone(),
            val_cases: Some(held_out.clone()),
            train_cases: Some(train),
            // A fold's figures are of cases its model never saw.
            train_on_val: false,
            ..job.fit.clone()
        };
        training::run(cfg, state.is_some())?;
    }
    let weights = fold_weights(job, &run)?;
    let scores = dir.join(job.select.scores_file());
    if is_newer(&scores, &weights) {
        eprintln!("fold {fold}: scores up to date ({})", scores.display());
        return Ok(());
    }
    let rows = score_fold(
        vec![weights],
        &job.fit.data,
        held_out,
        job.fit.backend,
        job.fit.val_batch,
    )?;
    write_atomic(&scores, write_csv(&rows)?.as_bytes())
}

/// Scores a fold's model (or an ensemble's models, probabilities averaged) on the fold's
/// held-out cases (the list file `held_out`) as every out-of-fold figure is scored.
fn score_fold(
    models: Vec<PathBuf>,
    data: &Path,
    held_out: PathBuf,
    backend: Backend,
    batch: usize,
) -> Result<Vec<ScoreRow>> {
    eval(&EvalJob {
        models,
        data: data.to_path_buf(),
        cases: Some(held_out),
        save_masks: None,
        backend,
        sizes: Sizes::default(),
        infer: InferOptions {
            batch,
            flip_tta: false,
        },
        // The protocol's rule: out-of-fold figures compare recipes, not post-processing.
        components: Some(Components::Largest),
        components_csv: None,
        threshold_sweep: None,
    })
}

/// The weights a fold is scored with: `best.bpk`, or `last.bpk`, which `train fit` exports at
/// the end of every run. A fold run from before that export (or one whose checkpoint is newer
/// than its `last.bpk`) gets it written here from the last checkpoint, with a manifest of the
/// model the run trained and its training record (from its own `best.json`, whatever flags this
/// call got; checkpoints carry none).
fn fold_weights(job: &CvJob, run: &RunDir) -> Result<PathBuf> {
    let best = run.path(Select::Best.weights_file());
    match job.select {
        Select::Best => Ok(best),
        Select::Last => {
            let state = run.load_state()?.context("the fold's run has no state")?;
            let ckpt = run.path(
                &state
                    .checkpoint
                    .context("the fold's run has no checkpoint")?,
            );
            let last = run.path(Select::Last.weights_file());
            if is_newer(&last, &ckpt) {
                return Ok(last);
            }
            let trained = read_manifest(&best)?;
            let mut manifest = Manifest::new(trained.model, trained.input_size, Precision::F32);
            // Scored on the inputs it was trained on.
            manifest.preprocessing_version = trained.preprocessing_version;
            // The run's training record, at the epoch these weights are from.
            manifest.training = trained.training;
            if let Some(t) = manifest.training.as_object_mut() {
                t.insert("epoch".into(), state.epochs_done.into());
            }
            let weights =
                std::fs::read(&ckpt).with_context(|| format!("reading {}", ckpt.display()))?;
            write_model(&run.path("last"), &weights, &manifest)
        }
    }
}

/// Whether `a` exists and was written after `b`.
fn is_newer(a: &Path, b: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((modified(a), modified(b)), (Some(a), Some(b)) if a >= b)
}

/// A summary line: mean, median and worst (with its case) of one protocol.
fn describe(rows: &[(usize, ScoreRow)], pick: fn(&ScoreRow) -> Option<f64>) -> String {
    let values: Vec<f64> = rows.iter().filter_map(|(_, r)| pick(r)).collect();
    let worst = rows
        .iter()
        .filter_map(|(_, r)| pick(r).map(|v| (v, &r.case)))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    match (summarize(&values), worst) {
        (
            Some(Summary {
                mean,
                median,
                count,
                ..
            }),
            Some((min, case)),
        ) => format!("{mean:.4} | {median:.4} | {min:.4} ({case}) | {count}"),
        _ => "– | – | – | 0".into(),
    }
}

/// Reads every fold's scores in `out` and writes `oof.csv`, `cv.md` and the record
/// (`cv-last.json` or `cv-best.json`; an ensemble's lists its `members`); prints the summary.
fn summarize_out_of_fold(
    out: &Path,
    folds: &Folds,
    select: Select,
    beside: Option<&(PathBuf, Vec<String>)>,
    members: Vec<CrossValidationDraw>,
    precision: Option<Precision>,
) -> Result<()> {
    let mut rows: Vec<(usize, ScoreRow)> = Vec::new();
    for fold in folds.0.keys() {
        let path = out.join(format!("fold-{fold}")).join(select.scores_file());
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let scores = read_csv(&text).with_context(|| format!("reading {}", path.display()))?;
            rows.extend(scores.into_iter().map(|r| (*fold, r)));
        }
    }
    let total: usize = folds.0.values().map(Vec::len).sum();
    let all: Vec<ScoreRow> = rows.iter().map(|(_, r)| r.clone()).collect();
    write_atomic(&out.join("oof.csv"), write_csv(&all)?.as_bytes())?;
    if !all.is_empty() {
        let record = CrossValidation {
            folds: folds.0.len(),
            cases: total,
            weights: select.word().into(),
            model_fold: None,
            reference: validation(&all, "reference", |r| r.dsc_reference)?,
            native: validation(&all, "native", |r| r.dsc_native)?,
            other_draws: Vec::new(),
            members: members.clone(),
            precision,
        };
        write_atomic(
            &out.join(select.record_file()),
            serde_json::to_string_pretty(&record)?.as_bytes(),
        )?;
    }
    let mut md = format!(
        "# Cross-validation: {}\n\n{} folds; {} of {} cases scored out of fold; weights scored: {}.\n\n",
        out.display(),
        folds.0.len(),
        rows.len(),
        total,
        match select {
            Select::Last => "each fold run's last epoch (nothing chosen on its held-out cases)",
            Select::Best => "each fold run's best epoch on its own held-out cases (optimistic)",
        }
    );
    if !members.is_empty() {
        md.push_str(
            "An ensemble: each fold's models of these cross-validations, their probabilities \
             averaged on the fold's held-out cases (largest 3-D component, no TTA).\n\n\
             | member | seed | its own mean, reference | native |\n| --- | ---: | ---: | ---: |\n",
        );
        for m in &members {
            md.push_str(&format!(
                "| {} | {} | {:.4} | {:.4} |\n",
                m.run, m.seed, m.reference.mean, m.native.mean
            ));
        }
        md.push('\n');
    }
    if let Some(p) = precision {
        md.push_str(&format!(
            "Each fold model's weights stored at `{}` precision (as `train ship --precision` \
             stores them) before scoring: the figures are of the weights as shipped.\n\n",
            serde_json::to_value(p)?.as_str().unwrap_or("?")
        ));
    }
    md.push_str("| cases | protocol | mean | median | worst | n |\n| --- | --- | ---: | ---: | --- | ---: |\n");
    let mut groups: Vec<(String, Vec<(usize, ScoreRow)>)> =
        vec![("all, out of fold".into(), rows.clone())];
    for fold in folds.0.keys() {
        let of_fold = rows.iter().filter(|(f, _)| f == fold).cloned().collect();
        groups.push((format!("fold {fold}"), of_fold));
    }
    if let Some((list, cases)) = beside {
        let beside = rows
            .iter()
            .filter(|(_, r)| cases.contains(&r.case))
            .cloned()
            .collect();
        groups.push((
            format!("{} (reported, not selected on)", list.display()),
            beside,
        ));
    }
    for (name, group) in &groups {
        for (protocol, pick) in [
            (
                "reference",
                (|r: &ScoreRow| r.dsc_reference) as fn(&ScoreRow) -> Option<f64>,
            ),
            ("native", |r: &ScoreRow| r.dsc_native),
        ] {
            md.push_str(&format!(
                "| {name} | {protocol} | {} |\n",
                describe(group, pick)
            ));
        }
    }
    md.push_str("\n| case | fold | slices | DSC reference | DSC native |\n| --- | ---: | ---: | ---: | ---: |\n");
    let mut sorted = rows.clone();
    sorted.sort_by(|a, b| {
        let key = |r: &ScoreRow| r.dsc_reference.unwrap_or(f64::INFINITY);
        key(&a.1).total_cmp(&key(&b.1))
    });
    let cell = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.4}"));
    for (fold, r) in &sorted {
        md.push_str(&format!(
            "| {} | {fold} | {} | {} | {} |\n",
            r.case,
            r.slices.map_or("–".into(), |s| s.to_string()),
            cell(r.dsc_reference),
            cell(r.dsc_native)
        ));
    }
    write_atomic(&out.join("cv.md"), md.as_bytes())?;
    let head: String = md
        .lines()
        .take(6 + 2 * groups.len())
        .collect::<Vec<_>>()
        .join("\n");
    println!(
        "{head}\n\nper case (worst first): {}",
        out.join("cv.md").display()
    );
    Ok(())
}

/// The out-of-fold record `train cv` (or `train cv-ensemble`) wrote in `cv` for the `select`ed
/// weights.
pub fn read_record(cv: &Path, select: Select) -> Result<CrossValidation> {
    let json = cv.join(select.record_file());
    let text = std::fs::read_to_string(&json).with_context(|| {
        format!(
            "{}: run `train cv --select {}` there first",
            json.display(),
            select.word()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("reading {}", json.display()))
}

/// A fold run's training configuration in `cv` (fold 0's, or the first fold's: `train cv`
/// trains every fold with one).
pub fn fold_config(cv: &Path) -> Result<FitConfig> {
    let folds = Folds::read(&cv.join("folds.csv"))?;
    let first = folds
        .0
        .keys()
        .next()
        .with_context(|| format!("{}: no folds", cv.join("folds.csv").display()))?;
    let path = cv.join(format!("fold-{first}/config.json"));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
}

/// A finished cross-validation read for another record (a draw, an ensemble member).
pub struct OtherRun {
    /// Its out-of-fold record for the weights asked for.
    pub record: CrossValidation,
    /// Its fold runs' training configuration.
    pub config: FitConfig,
    /// What the other record keeps of it.
    pub summary: CrossValidationDraw,
}

/// Reads the cross-validation in `dir` for another record (each file once): refused, naming
/// `what` (the flag that gave it), unless every case of its folds is scored or `partial`
/// allows fewer.
pub fn read_other_run(dir: &Path, select: Select, what: &str, partial: bool) -> Result<OtherRun> {
    let record = read_record(dir, select)?;
    if !partial && record.reference.cases.len() < record.cases {
        bail!(
            "{what} {}: {} of its {} cases are scored; finish its folds first (the same \
             `train cv` command continues it)",
            dir.display(),
            record.reference.cases.len(),
            record.cases
        );
    }
    let run = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .with_context(|| format!("{what} {}: no folder name", dir.display()))?;
    let config = fold_config(dir)?;
    let summary = CrossValidationDraw {
        run,
        seed: config.seed,
        reference: (&record.reference).into(),
        native: (&record.native).into(),
    };
    Ok(OtherRun {
        record,
        config,
        summary,
    })
}

/// Paths as one line for a message: `a, b, c`.
pub fn path_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The file in an ensemble's cross-validation folder that names its member runs, in order.
pub const ENSEMBLE_FILE: &str = "ensemble.json";

/// The member runs of an ensemble's cross-validation folder, in `train cv-ensemble`'s order;
/// `None` for one recipe's.
pub fn ensemble_runs(cv: &Path) -> Result<Option<Vec<PathBuf>>> {
    Ok(read_ensemble_file(cv)?.map(|e| e.runs))
}

fn read_ensemble_file(cv: &Path) -> Result<Option<EnsembleRuns>> {
    let path = cv.join(ENSEMBLE_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .map(Some)
        .with_context(|| format!("reading {}", path.display()))
}

#[derive(PartialEq, Serialize, Deserialize)]
struct EnsembleRuns {
    runs: Vec<PathBuf>,
    /// `--precision`: the members' fold models were stored so before scoring (none: f32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    precision: Option<Precision>,
}

/// What `train cv-ensemble` scores.
pub struct EnsembleJob {
    /// The members' `train cv` folders, first member first.
    pub runs: Vec<PathBuf>,
    pub out: PathBuf,
    pub select: Select,
    pub data: PathBuf,
    pub backend: Backend,
    /// Slices per forward pass.
    pub batch: usize,
    pub beside: Option<(PathBuf, Vec<String>)>,
    /// Only these folds (all when `None`): members then need only these folds trained.
    pub only: Option<Vec<usize>>,
    /// Store every fold model at this precision (as `train ship --precision` does) before
    /// scoring, so the figures are of the weights as shipped; `None`: as trained.
    pub precision: Option<Precision>,
}

/// Scores an ensemble out of fold: for every fold, the members' fold models (their `select`ed
/// weights) run together on the fold's held-out cases, probabilities averaged, scored as `train
/// cv` scores one model. Members must be complete cross-validations over the same folds (with
/// `only`: have those folds trained).
/// Folds scored after their members' weights were written are kept (resumable).
pub fn run_ensemble(job: &EnsembleJob) -> Result<()> {
    if job.runs.len() < 2 {
        bail!("an ensemble needs two --run folders or more");
    }
    let canonical = |p: &Path| {
        std::fs::canonicalize(p).with_context(|| format!("--run {}: not found", p.display()))
    };
    let runs: Vec<PathBuf> = job
        .runs
        .iter()
        .map(|r| canonical(r))
        .collect::<Result<_>>()?;
    for (i, r) in runs.iter().enumerate() {
        if runs[..i].contains(r) {
            bail!("--run {} is given twice", job.runs[i].display());
        }
    }
    let folds = Folds::read(&runs[0].join("folds.csv"))?;
    for (given, run) in job.runs.iter().zip(&runs).skip(1) {
        if Folds::read(&run.join("folds.csv"))? != folds {
            bail!(
                "--run {}: its folds differ from {}'s; an ensemble's members are cross-validated \
                 over the same folds",
                given.display(),
                job.runs[0].display()
            );
        }
    }
    if let Some(bad) = job.only.iter().flatten().find(|f| !folds.0.contains_key(f)) {
        bail!("--only {bad}: the members' folds file has no fold {bad}");
    }
    let members: Vec<CrossValidationDraw> = job
        .runs
        .iter()
        .map(|r| read_other_run(r, job.select, "--run", job.only.is_some()).map(|o| o.summary))
        .collect::<Result<_>>()?;
    let out = &job.out;
    std::fs::create_dir_all(out.join("lists"))
        .with_context(|| format!("creating {}", out.join("lists").display()))?;
    // Scores of another ensemble (or of these members at another precision) in this folder
    // would be mixed into this one's table.
    let this = EnsembleRuns {
        runs: runs.clone(),
        precision: job.precision,
    };
    match read_ensemble_file(out)? {
        Some(earlier) if earlier != this => bail!(
            "{} holds the cross-validation of another ensemble ({}; weights {}): give another --out",
            out.display(),
            path_list(&earlier.runs),
            earlier
                .precision
                .map_or("as trained".to_string(), |p| format!("stored at {p:?}"))
        ),
        _ => {}
    }
    write_atomic(
        &out.join(ENSEMBLE_FILE),
        serde_json::to_string_pretty(&this)?.as_bytes(),
    )?;
    write_atomic(&out.join("folds.csv"), folds.to_csv()?.as_bytes())?;
    for (fold, cases) in &folds.0 {
        if job.only.as_ref().is_some_and(|o| !o.contains(fold)) {
            continue;
        }
        let held_out = out.join(format!("lists/fold-{fold}-held-out.txt"));
        write_list(&held_out, cases)?;
        let models: Vec<PathBuf> = runs
            .iter()
            .map(|r| {
                r.join(format!("fold-{fold}"))
                    .join(job.select.weights_file())
            })
            .collect();
        if let Some(missing) = models.iter().find(|m| !m.is_file()) {
            bail!("{}: not found (is its fold trained?)", missing.display());
        }
        let dir = out.join(format!("fold-{fold}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let models = match job.precision {
            Some(p) => store_members(&models, &dir.join("stored"), p)?,
            None => models,
        };
        let scores = dir.join(job.select.scores_file());
        if models.iter().all(|m| is_newer(&scores, m)) {
            eprintln!("fold {fold}: scores up to date ({})", scores.display());
            continue;
        }
        eprintln!(
            "== fold {fold}: {} models on {} cases ==",
            models.len(),
            cases.len()
        );
        let rows = score_fold(models, &job.data, held_out, job.backend, job.batch)?;
        write_atomic(&scores, write_csv(&rows)?.as_bytes())?;
    }
    summarize_out_of_fold(
        out,
        &folds,
        job.select,
        job.beside.as_ref(),
        members,
        job.precision,
    )
}

/// Writes each of a fold's `models` stored at `precision` into `dir` (`member-1.bpk`, …, with
/// their manifests), as `train ship --precision` stores weights; returns their paths. A stored
/// file written after its source is kept (resumable).
fn store_members(models: &[PathBuf], dir: &Path, precision: Precision) -> Result<Vec<PathBuf>> {
    let mut stored = Vec::with_capacity(models.len());
    for (i, model) in models.iter().enumerate() {
        let stem = dir.join(format!("member-{}", i + 1));
        let bpk = stem.with_extension("bpk");
        if !(is_newer(&bpk, model) && is_newer(&stem.with_extension("json"), model)) {
            let mut manifest = read_manifest(model)?;
            let bytes = weights_at(model, manifest.precision, precision)?;
            manifest.precision = precision;
            // Its figures were measured on the weights as trained, not on these.
            manifest.validation = None;
            manifest.validation_native = None;
            manifest.weights_sha256 = Some(sha256_hex(&bytes));
            write_model(&stem, &bytes, &manifest)?;
        }
        stored.push(bpk);
    }
    Ok(stored)
}
