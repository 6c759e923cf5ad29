//! Training data: cases loaded and preprocessed once (in parallel), slices drawn by the
//! reference's lesion-weighted sampler or uniformly, augmented and cropped into batches on a
//! producer thread so the next batch is ready while the model trains on the current one.

use crate::augment::{AugConfig, sample_window};
use anyhow::{Result, bail};
use brainseg::ingest::{CaseFiles, FileIssue, group_files, load_case, scan_dir};
use brainseg::preprocess::{PrepOptions, Prepared, preprocess};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampler {
    /// The reference's: a random case, then a slice with probability ∝ lesion area + 10 % floor.
    Lesion,
    /// Every slice once per epoch, shuffled.
    Uniform,
}

/// Reads a case-list file: one case ID a line; blank lines and `#` comments are ignored.
pub fn read_case_list(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// Scans a data folder and groups its files by case. File problems are returned, not fatal.
pub fn scan_cases(dir: &Path) -> Result<(Vec<CaseFiles>, Vec<FileIssue>)> {
    let files = scan_dir(dir).map_err(anyhow::Error::msg)?;
    if files.is_empty() {
        bail!("{}: no .tif files found", dir.display());
    }
    Ok(group_files(files))
}

/// Scans a data folder and loads its cases one at a time (only `wanted` ones when given),
/// printing every file problem as a warning; a case with no usable slice is skipped.
pub fn load_cases(
    dir: &Path,
    wanted: Option<Vec<String>>,
) -> Result<impl Iterator<Item = brainseg::ingest::Case>> {
    let (groups, issues) = scan_cases(dir)?;
    for e in &issues {
        eprintln!("warning: {e}");
    }
    Ok(groups
        .into_iter()
        .filter(move |g| wanted.as_ref().is_none_or(|w| w.contains(&g.case_id)))
        .filter_map(|g| {
            let (case, errors, _) = load_case(&g);
            for e in &errors {
                eprintln!("warning: {e}");
            }
            case
        }))
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
                    problems.push(e);
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

/// Splits groups into (train, val) by the validation list. Errors if a listed case is missing
/// only when none is found at all.
pub fn split<'a>(
    groups: &'a [CaseFiles],
    val: &[String],
    train_only: Option<&[String]>,
) -> Result<(Vec<&'a CaseFiles>, Vec<&'a CaseFiles>)> {
    let val_set: BTreeSet<&str> = val.iter().map(String::as_str).collect();
    let train_set: Option<BTreeSet<&str>> =
        train_only.map(|t| t.iter().map(String::as_str).collect());
    let (v, t): (Vec<_>, Vec<_>) = groups
        .iter()
        .partition(|g| val_set.contains(g.case_id.as_str()));
    let t: Vec<_> = t
        .into_iter()
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

/// How batches are drawn and shaped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchPlan {
    pub batch: usize,
    /// Train on random `crop × crop` windows instead of whole slices.
    pub crop: Option<usize>,
    /// Probability that a crop is centred on a lesion pixel (when the slice has one).
    pub crop_lesion_p: f32,
    pub sampler: Sampler,
    /// Samples per epoch (default: the number of training slices, as the reference).
    pub samples_per_epoch: Option<usize>,
    pub aug: AugConfig,
}

/// A ready batch: inputs `[B, 3, S, S]` and targets `[B, 1, S, S]`, flattened.
pub struct Batch {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub len: usize,
    pub side: usize,
}

pub struct TrainSet {
    pub vols: Vec<Prepared>,
    /// Per volume, per slice: sampling weight (reference formula) and lesion pixel indices.
    weights: Vec<Vec<f64>>,
    lesions: Vec<Vec<Vec<u32>>>,
}

impl TrainSet {
    pub fn new(vols: Vec<Prepared>) -> Self {
        let mut weights = Vec::new();
        let mut lesions = Vec::new();
        for v in &vols {
            let per: Vec<Vec<u32>> = (0..v.slices())
                .map(|k| {
                    let m = v.slice_mask(k).expect("training volumes have masks");
                    m.iter()
                        .enumerate()
                        .filter(|(_, x)| **x != 0)
                        .map(|(i, _)| i as u32)
                        .collect()
                })
                .collect();
            let areas: Vec<f64> = per.iter().map(|l| l.len() as f64).collect();
            let total: f64 = areas.iter().sum();
            // (s + 0.1·Σs/len) / (1.1·Σs); uniform when the volume has no lesion.
            let w = if total > 0.0 {
                areas
                    .iter()
                    .map(|s| (s + total * 0.1 / areas.len() as f64) / (total * 1.1))
                    .collect()
            } else {
                vec![1.0 / areas.len() as f64; areas.len()]
            };
            weights.push(w);
            lesions.push(per);
        }
        Self {
            vols,
            weights,
            lesions,
        }
    }

    pub fn slices(&self) -> usize {
        self.vols.iter().map(|v| v.slices()).sum()
    }

    fn draw(&self, sampler: Sampler, count: usize, rng: &mut StdRng) -> Vec<(usize, usize)> {
        match sampler {
            Sampler::Lesion => (0..count)
                .map(|_| {
                    let v = rng.random_range(0..self.vols.len());
                    let mut r: f64 = rng.random::<f64>() * self.weights[v].iter().sum::<f64>();
                    let mut k = 0;
                    while k + 1 < self.weights[v].len() && r >= self.weights[v][k] {
                        r -= self.weights[v][k];
                        k += 1;
                    }
                    (v, k)
                })
                .collect(),
            Sampler::Uniform => {
                let mut all: Vec<(usize, usize)> = self
                    .vols
                    .iter()
                    .enumerate()
                    .flat_map(|(v, p)| (0..p.slices()).map(move |k| (v, k)))
                    .collect();
                // Fisher–Yates, then repeat/truncate to `count`.
                for i in (1..all.len()).rev() {
                    all.swap(i, rng.random_range(0..=i));
                }
                all.iter().cycle().take(count).copied().collect()
            }
        }
    }

    fn make_item(
        &self,
        (v, k): (usize, usize),
        plan: &BatchPlan,
        seed: u64,
    ) -> (Vec<f32>, Vec<f32>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let vol = &self.vols[v];
        let n = vol.size();
        let out = plan.crop.unwrap_or(n).min(n);
        let c = (n as f32 - 1.0) / 2.0;
        let centre = if out == n {
            (c, c)
        } else {
            let lesion = &self.lesions[v][k];
            let half = out as f32 / 2.0;
            if !lesion.is_empty() && rng.random::<f32>() < plan.crop_lesion_p {
                let i = lesion[rng.random_range(0..lesion.len())] as usize;
                let jitter = out as f32 / 4.0;
                let cy = (i / n) as f32 + rng.random_range(-jitter..=jitter);
                let cx = (i % n) as f32 + rng.random_range(-jitter..=jitter);
                (
                    cy.clamp(half - 0.5, n as f32 - half - 0.5),
                    cx.clamp(half - 0.5, n as f32 - half - 0.5),
                )
            } else {
                (
                    rng.random_range(half - 0.5..=n as f32 - half - 0.5),
                    rng.random_range(half - 0.5..=n as f32 - half - 0.5),
                )
            }
        };
        sample_window(
            vol.slice_image(k),
            vol.slice_mask(k).expect("has masks"),
            n,
            out,
            centre,
            &plan.aug,
            &mut rng,
        )
    }

    pub fn epoch_len(&self, plan: &BatchPlan) -> usize {
        plan.samples_per_epoch.unwrap_or_else(|| self.slices())
    }

    /// Starts a producer thread for one epoch's batches (deterministic in `seed`).
    pub fn batches(self: &Arc<Self>, plan: &BatchPlan, seed: u64) -> Receiver<Batch> {
        let (tx, rx) = sync_channel(2);
        let set = Arc::clone(self);
        let plan = plan.clone();
        std::thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(seed);
            let picks = set.draw(plan.sampler, set.epoch_len(&plan), &mut rng);
            for (b, chunk) in picks.chunks(plan.batch).enumerate() {
                let items: Vec<_> = chunk
                    .par_iter()
                    .enumerate()
                    .map(|(i, &p)| {
                        set.make_item(
                            p,
                            &plan,
                            seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
                                ^ ((b * plan.batch + i) as u64),
                        )
                    })
                    .collect();
                let side = plan
                    .crop
                    .unwrap_or(set.vols[0].size())
                    .min(set.vols[0].size());
                let mut x = Vec::with_capacity(items.len() * 3 * side * side);
                let mut y = Vec::with_capacity(items.len() * side * side);
                for (img, m) in &items {
                    x.extend_from_slice(img);
                    y.extend_from_slice(m);
                }
                if tx
                    .send(Batch {
                        x,
                        y,
                        len: items.len(),
                        side,
                    })
                    .is_err()
                {
                    return; // the trainer stopped listening
                }
            }
        });
        rx
    }
}
