//! `train ship`: makes a trained model the one the web app ships. Copies the weights, records
//! the inference setting (flip TTA or not) in the manifest, and measures the validation figures
//! with exactly that setting, in both protocols, into the manifest: the numbers shown beside
//! the model are then the ones `train eval` and the page give.

use super::stored_precision::StoredPrecision;
use crate::atomic::write_atomic;
use crate::backend::Backend;
use crate::cases::read_case_list;
use crate::crossval::{
    Folds, Select, ensemble_runs, fold_config, path_list, read_other_run, read_record,
};
use crate::evaluation::{EvalJob, Sizes, eval, print_header, validation};
use crate::model_io::{read_manifest, weights_at, write_model};
use crate::training::config::FitConfig;
use anyhow::{Context, Result, bail};
use brainseg::inference::InferOptions;
use brainseg::manifest::{
    CrossValidation, CrossValidationDraw, Manifest, Precision, Validation, sha256_hex,
};
use brainseg::postprocess::Components;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct ShipArgs {
    /// Trained weights (`.bpk`, manifest `.json` beside them), e.g. runs/NAME/model.bpk. Give it
    /// more than once to ship an ensemble: the first is written to STEM, the others to STEM-2,
    /// STEM-3, … and STEM.json names them; `train eval`, `train predict` and the web app then run
    /// them all and average their probabilities (each at its own input size) on the first one's grid.
    #[arg(long, required = true)]
    model: Vec<PathBuf>,
    /// Output stem: writes STEM.bpk and STEM.json (e.g. web/models/default).
    #[arg(long)]
    out: PathBuf,
    /// Ship with flip test-time augmentation (every model of an ensemble).
    #[arg(long)]
    flip_tta: bool,
    /// Ship the model to run on N² inputs instead of the size it was trained at (the U-Net
    /// family is fully convolutional; the training size stays in the manifest's `training`).
    /// For an ensemble: one side for every model, or one per model in `--model` order.
    #[arg(long, value_name = "N,...", value_delimiter = ',')]
    input_size: Option<Vec<usize>>,
    /// Ship with scale test-time augmentation at these further sides (see `train eval`).
    #[arg(long, value_name = "N,...", value_delimiter = ',')]
    tta_sizes: Option<Vec<usize>>,
    /// Which 3-D components the product keeps (see `train eval --components`), recorded in
    /// the manifest: the web app, `train eval` and `train predict` apply it, and the native
    /// validation figure is measured with it. Default: the given model's setting (the largest
    /// for a trained model).
    #[arg(long, value_name = "RULE")]
    components: Option<Components>,
    /// Data folder holding the validation cases.
    #[arg(long)]
    data: PathBuf,
    /// Validation cases (one ID a line), e.g. ../shared/data/patients-val.txt.
    #[arg(long)]
    cases: PathBuf,
    #[arg(long, value_enum, default_value = "flex")]
    backend: Backend,
    /// Record the cross-validation of the recipe that trained the model (a `train cv` folder:
    /// its `cv-last.json` or `cv-best.json`, by the weights shipped). When the model is one of its fold runs (`CV/fold-K/…`), the validation
    /// cases must be among that fold's held-out cases, so that the validation figure, too, is
    /// of cases the model never saw.
    #[arg(long, value_name = "CV_DIR")]
    cv: Option<PathBuf>,
    /// A further cross-validation of the same recipe over the same folds, trained with another
    /// `--seed` (a complete `train cv` folder); give it once per draw. Its figures go into the
    /// manifest beside those of `--cv` (or of the record the model was shipped with before), and
    /// the page shows the recipe's mean over every draw: one run's figure moves by about 0.01
    /// with its seed. Refused unless its recipe is the shipped model's (every setting but seed,
    /// folders, cases and backend).
    #[arg(long, value_name = "CV_DIR")]
    cv_draw: Vec<PathBuf>,
    /// Store the weights at this precision: `f16` (half the bytes of f32), `q8` (convolution
    /// kernels as 8-bit integers with per-channel scales: a quarter) or `q4` (4-bit integers
    /// with an f16 step per group of 64 values: an eighth). Default: as given. The figures are
    /// measured on the stored weights.
    #[arg(long, value_enum)]
    precision: Option<StoredPrecision>,
}

/// The cross-validation record of `--cv` for the shipped model `model`: which fold's run it
/// is (if any), checked against the validation cases, and the figures of the weights it is
/// (a fold run's `last.bpk`: the last epoch's; its `best.bpk`/`model.bpk`: the best epoch's;
/// another model: its recipe's last-epoch figures, else best).
fn cross_validation(cv: &Path, model: &Path, val_cases: &[String]) -> Result<CrossValidation> {
    let folds = Folds::read(&cv.join("folds.csv"))?;
    let folder = |p: &Path| std::fs::canonicalize(p).ok();
    let model_dir = model.parent().and_then(folder);
    let model_fold = folds
        .0
        .keys()
        .copied()
        .find(|k| model_dir.is_some() && folder(&cv.join(format!("fold-{k}"))) == model_dir);
    let select = match (model_fold, model.file_stem().and_then(|s| s.to_str())) {
        (Some(_), Some("last")) => Select::Last,
        (Some(_), _) => Select::Best,
        (None, _) if cv.join(Select::Last.record_file()).is_file() => Select::Last,
        (None, _) => Select::Best,
    };
    let mut record = read_record(cv, select)?;
    record.model_fold = model_fold;
    if let Some(k) = model_fold {
        let list = cv.join(format!("lists/fold-{k}-held-out.txt"));
        let held_out = read_case_list(&list)?;
        let seen: Vec<&String> = val_cases.iter().filter(|c| !held_out.contains(c)).collect();
        if !seen.is_empty() {
            bail!(
                "{} is fold {k}'s model, which trained on validation case(s) {}: give --cases \
                 from {} so that the validation figure is of unseen cases",
                model.display(),
                seen.iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                list.display()
            );
        }
    } else {
        eprintln!(
            "note: {} is not one of {}'s fold runs: the cross-validated figures are its \
             recipe's (an ensemble's: its recipes'), not this model's",
            model.display(),
            cv.display()
        );
    }
    Ok(record)
}

/// The shipped model's training configuration, which every cross-validation it records must
/// share (`check_recipe`); `None`, with a note, for a model that records none (an averaged one):
/// its cross-validations' recipes are then not checked.
fn model_recipe(model: &Manifest) -> Result<Option<FitConfig>> {
    let Some(config) = model.training.get("config").filter(|c| !c.is_null()) else {
        eprintln!(
            "note: the shipped model's manifest records no training configuration: whether the \
             cross-validations given cross-validated its recipe is not checked"
        );
        return Ok(None);
    };
    let mine = serde_json::from_value(config.clone())
        .context("reading the shipped model's training configuration")?;
    Ok(Some(mine))
}

/// Refuses a cross-validation (`cv`, whose fold runs trained with `theirs`) of another recipe
/// than the shipped model's (`mine`), naming the settings that differ.
fn check_recipe(cv: &Path, mine: &FitConfig, theirs: &FitConfig) -> Result<()> {
    let differences = mine.recipe_differences(theirs)?;
    if !differences.is_empty() {
        bail!(
            "{} cross-validated another recipe than the shipped model's ({}): its figures are \
             not this model's recipe's",
            cv.display(),
            differences.join("; ")
        );
    }
    Ok(())
}

/// Refuses an ensemble's cross-validation (`cv`, of member runs `runs`) for the shipped
/// `models` unless there is one model per member and each model's recipe is its member's
/// (`first`: the first model's recipe, read already).
fn check_ensemble(
    cv: &Path,
    runs: &[PathBuf],
    models: &[PathBuf],
    first: Option<&FitConfig>,
) -> Result<()> {
    if runs.len() != models.len() {
        bail!(
            "--cv {} cross-validated an ensemble of {} ({}): give its {} models, one --model per \
             member in that order, not {}",
            cv.display(),
            runs.len(),
            path_list(runs),
            runs.len(),
            models.len()
        );
    }
    for (i, (run, model)) in runs.iter().zip(models).enumerate() {
        let mine = match i {
            0 => first.cloned(),
            _ => model_recipe(&read_manifest(model)?)?,
        };
        if let Some(mine) = mine {
            check_recipe(run, &mine, &fold_config(run)?)
                .with_context(|| format!("--model {} (member {})", model.display(), i + 1))?;
        }
    }
    Ok(())
}

/// The figures of `dir`, another draw of `record`'s recipe: refused unless it is complete, over
/// the same cases and folds, scored on the same epoch's weights, and of the shipped model's
/// recipe (`recipe`, when it records one).
fn cross_validation_draw(
    dir: &Path,
    record: &CrossValidation,
    recipe: Option<&FitConfig>,
) -> Result<CrossValidationDraw> {
    let select = <Select as clap::ValueEnum>::from_str(&record.weights, false).map_err(|_| {
        anyhow::anyhow!(
            "the cross-validation record names weights {:?}, neither `last` nor `best`",
            record.weights
        )
    })?;
    let other = read_other_run(dir, select, "--cv-draw", false)?;
    let draw = &other.record;
    fn names(v: &Validation) -> Vec<&str> {
        let mut c: Vec<&str> = v.cases.iter().map(|c| c.case.as_str()).collect();
        c.sort_unstable();
        c
    }
    if draw.folds != record.folds || names(&draw.reference) != names(&record.reference) {
        bail!(
            "--cv-draw {}: {} folds over {} cases, not the record's {} folds over its {} cases",
            dir.display(),
            draw.folds,
            draw.reference.cases.len(),
            record.folds,
            record.reference.cases.len()
        );
    }
    if let Some(mine) = recipe {
        check_recipe(dir, mine, &other.config)?;
    }
    let summary = other.summary;
    if record.other_draws.iter().any(|d| d.run == summary.run) {
        bail!(
            "--cv-draw {}: {} is recorded already",
            dir.display(),
            summary.run
        );
    }
    Ok(summary)
}

/// Whether two paths name one existing file or folder.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::fs::canonicalize;
    matches!((canonicalize(a), canonicalize(b)), (Ok(x), Ok(y)) if x == y)
}

/// Side for model `i` of `n` from `--input-size` (one for all, or one per model).
fn input_size(sides: Option<&[usize]>, i: usize, n: usize) -> Result<Option<usize>> {
    match sides {
        None => Ok(None),
        Some([one]) => Ok(Some(*one)),
        Some(list) if list.len() == n => Ok(Some(list[i])),
        Some(list) => bail!(
            "--input-size gives {} sides for {n} models: give one for all, or one per --model",
            list.len()
        ),
    }
}

/// How a model was trained, stage by stage, first stage first: a `fit --init` run starts from
/// earlier weights whose manifest (beside them) says how they were trained, and so on back to a
/// random start. Each stage is its manifest's `training` without its own earlier stages. Where an
/// earlier manifest is gone, the list starts with a `missing` entry naming it.
fn stages(training: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut t = training.clone();
    loop {
        if let Some(obj) = t.as_object_mut() {
            obj.remove("stages");
        }
        let init = t["config"]["init"]
            .as_str()
            .map(|p| Path::new(p).with_extension("json"));
        out.push(t);
        // A chain longer than this is a cycle of manifests, not a training history.
        let Some(json) = init.filter(|_| out.len() < 64) else {
            break;
        };
        match std::fs::read_to_string(&json)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        {
            Some(m) => t = m["training"].clone(),
            None => {
                eprintln!(
                    "warning: {} (an earlier training stage's manifest) cannot be read; the recorded stages start after it",
                    json.display()
                );
                out.push(serde_json::json!({ "missing": json }));
                break;
            }
        }
    }
    out.reverse();
    out
}

pub fn run(args: &ShipArgs) -> Result<()> {
    // The stem as `write_model` writes it (STEM.bpk), so the members' names resolve beside it.
    let bpk = args.out.with_extension("bpk");
    let stem = bpk
        .file_stem()
        .and_then(|s| s.to_str())
        .with_context(|| format!("--out {}: no file name", args.out.display()))?;
    let given = read_manifest(&args.model[0])?;
    let recipe = if args.cv.is_some() || !args.cv_draw.is_empty() {
        model_recipe(&given)?
    } else {
        None
    };
    let n = args.model.len();
    let mut cross = match &args.cv {
        Some(cv) => {
            let record = cross_validation(cv, &args.model[0], &read_case_list(&args.cases)?)?;
            match ensemble_runs(cv)? {
                Some(runs) => check_ensemble(cv, &runs, &args.model, recipe.as_ref())?,
                None if n > 1 => bail!(
                    "--cv {} cross-validated one recipe, and {n} models are shipped: an \
                     ensemble's figure is its own (`train cv-ensemble` over its members' \
                     cross-validations)",
                    cv.display()
                ),
                None => {
                    if let Some(mine) = &recipe {
                        check_recipe(cv, mine, &fold_config(cv)?)?;
                    }
                }
            }
            Some(record)
        }
        // A shipped model shipped again keeps the record it was shipped with, if that record
        // is of what is shipped now (one recipe's, or an ensemble's of as many models).
        None => given.cross_validation.clone().filter(|cv| {
            let fits = cv.members.len() == if n > 1 { n } else { 0 };
            if !fits {
                eprintln!(
                    "note: {}'s cross-validation record is {}, not of the {n} model(s) shipped \
                     now: not kept (give --cv)",
                    args.model[0].display(),
                    match cv.members.len() {
                        0 => "one recipe's".to_string(),
                        k => format!("an ensemble's of {k}"),
                    }
                );
            }
            fits
        }),
    };
    // A figure measured on fold models stored at one precision describes weights stored so.
    let shipped = args
        .precision
        .map(Precision::from)
        .unwrap_or(given.precision);
    if let Some(scored) = cross.as_ref().and_then(|cv| cv.precision)
        && scored != shipped
    {
        bail!(
            "the cross-validation record was measured with the fold models stored at {scored:?}, \
             and the weights are shipped at {shipped:?}: ship with that --precision, or give \
             --cv a cross-validation scored at {shipped:?}"
        );
    }
    if !args.cv_draw.is_empty() {
        let record = cross.as_mut().with_context(|| {
            format!(
                "--cv-draw: {} has no cross-validation record to add draws to: give --cv too",
                args.model[0].display()
            )
        })?;
        if !record.members.is_empty() {
            bail!(
                "--cv-draw: the record is an ensemble's cross-validation; further draws are \
                 recorded for one recipe's"
            );
        }
        for dir in &args.cv_draw {
            if args.cv.as_deref().is_some_and(|cv| same_file(cv, dir)) {
                bail!("--cv-draw {}: that is --cv's own run", dir.display());
            }
            let draw = cross_validation_draw(dir, record, recipe.as_ref())?;
            record.other_draws.push(draw);
        }
    }
    let mut manifest = write_shipped(args, stem)?;
    remove_stale_members(&args.out, stem, args.model.len())?;

    // Measured on the shipped files, so the manifest's own setting is what gets applied.
    print_header();
    let rows = eval(&EvalJob {
        models: vec![bpk.clone()],
        data: args.data.clone(),
        cases: Some(args.cases.clone()),
        save_masks: None,
        backend: args.backend,
        sizes: Sizes::default(),
        infer: InferOptions {
            batch: 8,
            flip_tta: false,
        },
        components: None,
        components_csv: None,
        threshold_sweep: None,
    })?;
    let reference = validation(&rows, "reference", |r| r.dsc_reference)?;
    let native = validation(&rows, "native", |r| r.dsc_native)?;
    if let Some(t) = manifest.training.as_object_mut() {
        // A shipped model shipped again (say, stored at another precision) keeps the record of
        // how it was shipped before.
        if let Some(earlier) = t.remove("ship_command") {
            let mut all = match t.remove("earlier_ship_commands") {
                Some(serde_json::Value::Array(a)) => a,
                _ => Vec::new(),
            };
            all.push(earlier);
            t.insert("earlier_ship_commands".into(), all.into());
        }
        t.insert("ship_command".into(), super::command_line().into());
    }
    println!(
        "shipped {}{} ({}² inputs, flip TTA {}, components kept: {}): val mean DSC {:.4} reference (median {:.4}, min {:.4}), {:.4} native (median {:.4}, min {:.4})",
        bpk.display(),
        if manifest.ensemble.is_empty() {
            String::new()
        } else {
            format!(" with {} (an ensemble)", manifest.ensemble.join(", "))
        },
        manifest.input_size,
        if args.flip_tta { "on" } else { "off" },
        manifest.components,
        reference.mean,
        reference.median,
        reference.min,
        native.mean,
        native.median,
        native.min
    );
    if let Some(cv) = &cross {
        println!(
            "cross-validated ({} folds, {} of {} cases out of fold, {} epoch): mean DSC {:.4} reference (median {:.4}, worst {:.4}), {:.4} native",
            cv.folds,
            cv.reference.cases.len(),
            cv.cases,
            cv.weights,
            cv.reference.mean,
            cv.reference.median,
            cv.reference.min,
            cv.native.mean
        );
        for m in &cv.members {
            println!(
                "  of an ensemble, whose member {} (seed {}) alone: mean DSC {:.4} reference (median {:.4}, worst {:.4}), {:.4} native",
                m.run, m.seed, m.reference.mean, m.reference.median, m.reference.min, m.native.mean
            );
        }
        for d in &cv.other_draws {
            println!(
                "  another draw, {} (seed {}): mean DSC {:.4} reference (median {:.4}, worst {:.4}), {:.4} native",
                d.run, d.seed, d.reference.mean, d.reference.median, d.reference.min, d.native.mean
            );
        }
        if !cv.other_draws.is_empty() {
            let s = cv.spread();
            println!(
                "the recipe over {} draws: mean DSC {:.4} reference (SD {:.4}, {:.4} to {:.4})",
                s.draws, s.mean, s.sd, s.lowest, s.highest
            );
        }
    }
    if manifest.trained_on_validation_cases() {
        println!(
            "note: {} trained on its validation cases (--train-on-val): these validation \
             figures are of seen cases, and its card says so",
            args.model[0].display()
        );
    }
    manifest.validation = Some(reference);
    manifest.validation_native = Some(native);
    manifest.cross_validation = cross;
    // Only the manifest changes now: the weights stay as written by `write_shipped`.
    write_atomic(
        &args.out.with_extension("json"),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )
}

/// Writes the weights and manifests of the shipped model (STEM) and its ensemble members
/// (STEM-2, …) with the shipping settings; returns the first model's manifest.
fn write_shipped(args: &ShipArgs, stem: &str) -> Result<Manifest> {
    let n = args.model.len();
    let members: Vec<String> = (2..=n).map(|k| format!("{stem}-{k}")).collect();
    let mut first = None;
    for (i, path) in args.model.iter().enumerate() {
        let mut m = read_manifest(path)?;
        if !m.ensemble.is_empty() {
            // A shipped ensemble shipped again: its first model's file, then each member's.
            let beside: Vec<PathBuf> = m
                .ensemble
                .iter()
                .map(|stem| path.with_file_name(format!("{stem}.bpk")))
                .collect();
            let given_members = args.model.get(1..).unwrap_or_default();
            let is_it = i == 0
                && given_members.len() == beside.len()
                && given_members
                    .iter()
                    .zip(&beside)
                    .all(|(g, b)| same_file(g, b));
            if !is_it {
                bail!(
                    "{} is a shipped ensemble's first model: give it first and then its members, \
                     one --model each: {}",
                    path.display(),
                    path_list(&beside)
                );
            }
        }
        m.flip_tta = args.flip_tta;
        if let Some(keep) = args.components {
            m.components = keep;
        }
        let history = stages(&m.training);
        if history.len() > 1
            && let Some(t) = m.training.as_object_mut()
        {
            t.insert("stages".into(), history.into());
        }
        Sizes {
            input: input_size(args.input_size.as_deref(), i, n)?,
            tta: args.tta_sizes.clone(),
        }
        .apply(&mut m)?;
        let wanted = args.precision.map(Precision::from).unwrap_or(m.precision);
        let weights = weights_at(path, m.precision, wanted)?;
        m.precision = wanted;
        m.weights_sha256 = Some(sha256_hex(&weights));
        if i == 0 {
            m.set_ensemble(members.clone())?;
            write_model(&args.out, &weights, &m)?;
            first = Some(m);
        } else {
            // A member's own figures were measured alone; the ensemble's go in the first manifest.
            m.validation = None;
            m.validation_native = None;
            write_model(&args.out.with_file_name(&members[i - 1]), &weights, &m)?;
        }
    }
    first.context("no --model given")
}

/// Removes members of an ensemble shipped at this stem before and not part of this one (the
/// `n` models shipped now): the web build would carry them along, and a reader of the folder
/// would take them for part of this model.
fn remove_stale_members(out: &Path, stem: &str, n: usize) -> Result<()> {
    for k in n + 1.. {
        let stale = out.with_file_name(format!("{stem}-{k}"));
        let files: Vec<PathBuf> = ["bpk", "json"]
            .iter()
            .map(|e| stale.with_extension(e))
            .filter(|f| f.is_file())
            .collect();
        if files.is_empty() {
            break;
        }
        for f in files {
            std::fs::remove_file(&f)
                .with_context(|| format!("removing the earlier ensemble member {}", f.display()))?;
            eprintln!(
                "removed {} (a member of the ensemble shipped there before)",
                f.display()
            );
        }
    }
    Ok(())
}
