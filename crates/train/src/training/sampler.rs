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
    /// Each draw uniform over all training slices with probability `--uniform-share`, the
    /// lesion sampler's otherwise (with replacement). The lesion sampler draws a lesion-free
    /// slice (skull base, vertex, slices away from the lesion) once in 17 (65 % of the
    /// development patients' slices are lesion-free), and the confident false positives that
    /// the largest-component rule keeps lie on such slices.
    Mixed,
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
    /// `Sampler::Mixed`: the share of draws uniform over all slices.
    #[serde(default = "default_uniform_share")]
    pub uniform_share: f32,
    /// Samples per epoch (default: the number of training slices, as the reference).
    pub samples_per_epoch: Option<usize>,
    /// Neighbouring slices a side in the input (`ModelConfig::context`).
    pub context: usize,
    pub aug: AugConfig,
}

/// `--uniform-share`'s default, also for run configs recorded before it existed.
pub fn default_uniform_share() -> f32 {
    0.5
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

    /// The reference's draw: a random case, then a slice by its lesion weights.
    fn draw_lesion(&self, rng: &mut StdRng) -> (usize, usize) {
        let v = rng.random_range(0..self.vols.len());
        (v, self.slice_weights[v].sample(rng))
    }

    fn draw(&self, plan: &BatchPlan, count: usize, rng: &mut StdRng) -> Vec<(usize, usize)> {
        match plan.sampler {
            Sampler::Lesion => (0..count).map(|_| self.draw_lesion(rng)).collect(),
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
            Sampler::Mixed => {
                // A case in proportion to its slices, then one of them: uniform over slices.
                let by_slices = WeightedIndex::new(self.vols.iter().map(|v| v.slices()))
                    .expect("TrainSet::new checked that every volume has slices");
                (0..count)
                    .map(|_| {
                        if rng.random::<f32>() < plan.uniform_share {
                            let v = by_slices.sample(rng);
                            (v, rng.random_range(0..self.vols[v].slices()))
                        } else {
                            self.draw_lesion(rng)
                        }
                    })
                    .collect()
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
            let picks = set.draw(&plan, set.epoch_len(&plan), &mut rng);
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

#[cfg(test)]
mod tests {
    use super::*;
    use brainseg::preprocess::{PrepOptions, preprocess};
    use brainseg::synthetic::synthetic_case;

    fn set() -> TrainSet {
        let vols = (0..3)
            .map(|i| {
                let case = synthetic_case(&format!("S{i}"), 12 + 4 * i as usize, 32, 32, i);
                preprocess(&case, PrepOptions::native(32)).unwrap()
            })
            .collect();
        TrainSet::new(vols).unwrap()
    }

    fn plan(sampler: Sampler, uniform_share: f32) -> BatchPlan {
        BatchPlan {
            batch: 4,
            crop: None,
            crop_lesion_p: 0.5,
            sampler,
            uniform_share,
            samples_per_epoch: None,
            context: 0,
            aug: AugConfig::none(),
        }
    }

    /// The share of `n` draws that are lesion-free slices.
    fn lesion_free(set: &TrainSet, plan: &BatchPlan, n: usize) -> f64 {
        let mut rng = StdRng::seed_from_u64(7);
        let picks = set.draw(plan, n, &mut rng);
        assert_eq!(picks.len(), n);
        let free = picks
            .iter()
            .filter(|&&(v, k)| set.lesions[v][k].is_empty())
            .count();
        free as f64 / n as f64
    }

    #[test]
    fn the_mixed_sampler_shows_lesion_free_slices_in_proportion_to_its_uniform_share() {
        let set = set();
        let all = set.slices();
        let free_slices = set
            .lesions
            .iter()
            .flatten()
            .filter(|l| l.is_empty())
            .count();
        let truth = free_slices as f64 / all as f64;
        assert!(
            (0.3..0.8).contains(&truth),
            "fixture: {free_slices} of {all}"
        );
        let n = 20_000;
        let lesion = lesion_free(&set, &plan(Sampler::Lesion, 0.5), n);
        // The lesion sampler's 10 % floor: about 0.1 / 1.1 of the free slices' share.
        assert!(lesion < 0.1, "lesion sampler: {lesion}");
        let uniform = lesion_free(&set, &plan(Sampler::Uniform, 0.5), all);
        assert!(
            (uniform - truth).abs() < 1e-9,
            "uniform: {uniform} vs {truth}"
        );
        for share in [0.0f32, 0.5, 1.0] {
            let mixed = lesion_free(&set, &plan(Sampler::Mixed, share), n);
            let expected = share as f64 * truth + (1.0 - share as f64) * lesion;
            assert!(
                (mixed - expected).abs() < 0.02,
                "share {share}: {mixed} lesion-free, expected {expected}"
            );
        }
    }
}
