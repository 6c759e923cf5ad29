//! The sampler: training slices drawn by the reference's lesion-weighted sampler or uniformly,
//! augmented and cropped into batches on a producer thread, so the next batch is ready while
//! the model trains on the current one.

use super::augment::{AugConfig, sample_window};
use anyhow::{Context, Result, anyhow, bail};
use brainseg::preprocess::Prepared;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
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
    /// Neighbouring slices a side in the input (`ModelConfig::context`).
    pub context: usize,
    pub aug: AugConfig,
}

/// A ready batch: inputs `[B, C, S, S]` (C = 3 + 2·context) and targets `[B, 1, S, S]`,
/// flattened.
pub struct Batch {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub len: usize,
    pub side: usize,
}

pub struct TrainSet {
    pub vols: Vec<Prepared>,
    /// Per volume: the slice distribution of the reference's sampler.
    slice_weights: Vec<WeightedIndex<f64>>,
    /// Per volume, per slice: lesion pixel indices (for lesion-centred crops).
    lesions: Vec<Vec<Vec<u32>>>,
}

impl TrainSet {
    /// Indexes volumes for sampling; every volume needs its masks (`data::load` keeps only those).
    pub fn new(vols: Vec<Prepared>) -> Result<Self> {
        let mut slice_weights = Vec::new();
        let mut lesions = Vec::new();
        for v in &vols {
            let per = (0..v.slices())
                .map(|k| {
                    let m = v
                        .slice_mask(k)
                        .ok_or_else(|| anyhow!("training case {} has no masks", v.case_id))?;
                    Ok(m.iter()
                        .enumerate()
                        .filter(|(_, x)| **x != 0)
                        .map(|(i, _)| i as u32)
                        .collect())
                })
                .collect::<Result<Vec<Vec<u32>>>>()?;
            let areas: Vec<f64> = per.iter().map(|l| l.len() as f64).collect();
            let total: f64 = areas.iter().sum();
            // (s + 0.1·Σs/len) / (1.1·Σs); uniform when the volume has no lesion.
            let w: Vec<f64> = if total > 0.0 {
                areas
                    .iter()
                    .map(|s| (s + total * 0.1 / areas.len() as f64) / (total * 1.1))
                    .collect()
            } else {
                vec![1.0; areas.len()]
            };
            slice_weights.push(
                WeightedIndex::new(&w)
                    .with_context(|| format!("case {}: no slice to sample", v.case_id))?,
            );
            lesions.push(per);
        }
        if vols.is_empty() {
            bail!("no training case to sample from");
        }
        Ok(Self {
            vols,
            slice_weights,
            lesions,
        })
    }

    pub fn slices(&self) -> usize {
        self.vols.iter().map(|v| v.slices()).sum()
    }

    fn draw(&self, sampler: Sampler, count: usize, rng: &mut StdRng) -> Vec<(usize, usize)> {
        match sampler {
            Sampler::Lesion => (0..count)
                .map(|_| {
                    let v = rng.random_range(0..self.vols.len());
                    (v, self.slice_weights[v].sample(rng))
                })
                .collect(),
            Sampler::Uniform => {
                let mut all: Vec<(usize, usize)> = self
                    .vols
                    .iter()
                    .enumerate()
                    .flat_map(|(v, p)| (0..p.slices()).map(move |k| (v, k)))
                    .collect();
                all.shuffle(rng);
                // Repeated or truncated to `count`.
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
            &vol.inputs(k..k + 1, plan.context),
            vol.slice_mask(k).expect("TrainSet::new checked every mask"),
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
                let mut x = Vec::with_capacity(items.iter().map(|(img, _)| img.len()).sum());
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
