//! The training and validation sets of a run: the data folder split by the validation list
//! (and `--train-cases`), each case loaded and preprocessed once, in parallel.

use super::config::FitConfig;
use super::sampler::TrainSet;
use crate::cases::{read_case_list, scan_cases};
use anyhow::{Context, Result, bail};
use brainseg::ingest::{CaseFiles, load_case};
use brainseg::preprocess::{PrepOptions, Prepared, preprocess};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

/// A run's data, preprocessed at the run's size.
pub struct RunData {
    pub train: Arc<TrainSet>,
    pub val: Vec<Prepared>,
}

/// Loads the run's data: grouped by case, split by the validation list, preprocessed once.
/// File and case problems are warnings; no usable training or validation case is an error.
pub fn load(cfg: &FitConfig) -> Result<RunData> {
    let t0 = Instant::now();
    let (groups, file_errors) = scan_cases(&cfg.data)?;
    for e in &file_errors {
        eprintln!("warning: {e}");
    }
    let val_path = cfg.val_cases_file().context(
        "no validation list: pass --val-cases FILE (the reference's is shared/data/patients-val.txt)",
    )?;
    let val_ids = read_case_list(&val_path)?;
    let train_ids = cfg.train_cases.as_deref().map(read_case_list).transpose()?;
    let (train_groups, val_groups) =
        split(&groups, &val_ids, train_ids.as_deref(), cfg.train_on_val)?;
    if cfg.train_on_val {
        eprintln!(
            "note: --train-on-val: the {} validation cases are training cases too; their figures \
             are of seen cases, not a test of new patients",
            val_groups.len()
        );
    }
    let opts = PrepOptions::reference(cfg.size).with_version(cfg.preprocessing);
    let (train_vols, p1) = load_prepared(&train_groups, opts);
    let (val, p2) = load_prepared(&val_groups, opts);
    for p in p1.iter().chain(&p2) {
        eprintln!("warning: {p}");
    }
    if train_vols.is_empty() || val.is_empty() {
        bail!("no usable training or validation case");
    }
    let train = Arc::new(TrainSet::new(train_vols)?);
    eprintln!(
        "data: {} training cases ({} slices), {} validation cases ({}), preprocessed to {}² in {:.1}s",
        train.vols.len(),
        train.slices(),
        val.len(),
        val_path.display(),
        cfg.size,
        t0.elapsed().as_secs_f64()
    );
    Ok(RunData { train, val })
}

/// Loads and preprocesses cases in parallel. Cases that fail are reported and skipped.
pub fn load_prepared(groups: &[&CaseFiles], opts: PrepOptions) -> (Vec<Prepared>, Vec<String>) {
    let results: Vec<_> = groups
        .par_iter()
        .map(|g| {
            let (case, errors, _warnings) = load_case(g);
            let mut problems: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            let prep = case.and_then(|c| match preprocess(&c, opts) {
                Ok(p) if p.mask.is_some() => Some(p),
                Ok(_) => {
                    problems.push(format!(
                        "case {}: masks incomplete, not usable for training or validation",
                        c.id
                    ));
                    None
                }
                Err(e) => {
                    problems.push(e.to_string());
                    None
                }
            });
            (prep, problems)
        })
        .collect();
    let mut preps = Vec::new();
    let mut problems = Vec::new();
    for (p, e) in results {
        preps.extend(p);
        problems.extend(e);
    }
    (preps, problems)
}

/// Splits groups into (train, val) by the validation list; the training cases are the others
/// (those of `train_only` among them, when given), or with `train_on_val` every case (of
/// `train_only`), the validation cases included. Errors if a listed case is missing only when
/// none is found at all.
pub fn split<'a>(
    groups: &'a [CaseFiles],
    val: &[String],
    train_only: Option<&[String]>,
    train_on_val: bool,
) -> Result<(Vec<&'a CaseFiles>, Vec<&'a CaseFiles>)> {
    let val_set: BTreeSet<&str> = val.iter().map(String::as_str).collect();
    let train_set: Option<BTreeSet<&str>> =
        train_only.map(|t| t.iter().map(String::as_str).collect());
    let is_val = |g: &CaseFiles| val_set.contains(g.case_id.as_str());
    let v: Vec<_> = groups.iter().filter(|g| is_val(g)).collect();
    let t: Vec<_> = groups
        .iter()
        .filter(|g| train_on_val || !is_val(g))
        .filter(|g| {
            train_set
                .as_ref()
                .is_none_or(|s| s.contains(g.case_id.as_str()))
        })
        .collect();
    if !val.is_empty() && v.is_empty() {
        bail!(
            "none of the {} validation cases is in the data folder",
            val.len()
        );
    }
    for id in val.iter().filter(|id| !v.iter().any(|g| &g.case_id == *id)) {
        eprintln!("warning: validation case {id} is not in the data folder");
    }
    if t.is_empty() {
        bail!("no training cases left after removing the validation cases");
    }
    Ok((t, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(ids: &[&str]) -> Vec<CaseFiles> {
        ids.iter()
            .map(|id| CaseFiles {
                case_id: id.to_string(),
                images: Default::default(),
                masks: Default::default(),
            })
            .collect()
    }

    fn ids(list: &[&CaseFiles]) -> Vec<String> {
        list.iter().map(|g| g.case_id.clone()).collect()
    }

    fn strings(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn validation_cases_are_left_out_of_training_unless_asked_for() {
        let all = groups(&["A", "B", "C", "D"]);
        let val = strings(&["B"]);
        let (t, v) = split(&all, &val, None, false).unwrap();
        assert_eq!(
            (ids(&t), ids(&v)),
            (strings(&["A", "C", "D"]), strings(&["B"]))
        );
        let (t, v) = split(&all, &val, None, true).unwrap();
        assert_eq!(ids(&t), strings(&["A", "B", "C", "D"]));
        assert_eq!(ids(&v), strings(&["B"]));
        // --train-cases still restricts training, the validation cases included or not.
        let only = strings(&["A", "B"]);
        let (t, _) = split(&all, &val, Some(&only), true).unwrap();
        assert_eq!(ids(&t), strings(&["A", "B"]));
        let (t, _) = split(&all, &val, Some(&only), false).unwrap();
        assert_eq!(ids(&t), strings(&["A"]));
    }
}
