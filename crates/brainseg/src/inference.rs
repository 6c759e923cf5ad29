//! Running a model over a preprocessed volume.
//!
//! Async because the browser can only read GPU results asynchronously; native callers block on
//! it (`pollster::block_on`), which costs nothing on the CPU backend.

use crate::ingest::Case;
use crate::manifest::Manifest;
use crate::model::Model;
use crate::postprocess::Components;
use crate::preprocess::{CHANNELS, PrepError, PrepOptions, Prepared, preprocess};
use crate::resize::resize_gray;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use std::future::Future;
use std::pin::Pin;

/// Why a case could not be segmented.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InferenceError {
    #[error(transparent)]
    Preprocess(#[from] PrepError),
    #[error("reading the prediction failed: {0}")]
    Readback(String),
    #[error("a forward pass on another thread failed: {0}")]
    Offload(String),
    #[error("no model to run")]
    NoModel,
}

/// Options of one inference pass.
#[derive(Debug, Clone, Copy)]
pub struct InferOptions {
    /// Slices per forward pass.
    pub batch: usize,
    /// Flip test-time augmentation: average the prediction with that of the mirrored slice.
    pub flip_tta: bool,
}

impl Default for InferOptions {
    fn default() -> Self {
        Self {
            batch: 4,
            flip_tta: false,
        }
    }
}

/// Builds the `[B, 3 + 2·context, N, N]` input of slices `range` of a prepared volume
/// (`Prepared::inputs`).
pub fn slices_tensor(
    prep: &Prepared,
    range: std::ops::Range<usize>,
    context: usize,
    device: &Device,
) -> Tensor<4> {
    let n = prep.size();
    let shape = [range.len(), CHANNELS + 2 * context, n, n];
    Tensor::from_data(TensorData::new(prep.inputs(range, context), shape), device)
}

/// Probabilities `[B, 1, N, N]` for an input batch.
pub fn probabilities(model: &Model, input: Tensor<4>, flip_tta: bool) -> Tensor<4> {
    let p = sigmoid(model.forward(input.clone()));
    if !flip_tta {
        return p;
    }
    let flipped = sigmoid(model.forward(input.flip([3]))).flip([3]);
    (p + flipped) / 2.0
}

/// Probabilities (`[B, 1, N, N]` as flat data) of slices `input` (`[B, C, N, N]`, N = `size`,
/// C the model's input channels). What a thread that runs forward passes for another one
/// computes (`Offload`).
pub async fn probabilities_of(
    model: &Model,
    input: Vec<f32>,
    size: usize,
    flip_tta: bool,
    device: &Device,
) -> Result<Vec<f32>, InferenceError> {
    let channels = model.in_channels();
    let plane = channels * size * size;
    if plane == 0 || !input.len().is_multiple_of(plane) {
        return Err(InferenceError::Offload(format!(
            "{} input values are not whole {channels}×{size}×{size} slices",
            input.len()
        )));
    }
    let shape = [input.len() / plane, channels, size, size];
    let input = Tensor::from_data(TensorData::new(input, shape), device);
    read(probabilities(model, input, flip_tta)).await
}

async fn read(probs: Tensor<4>) -> Result<Vec<f32>, InferenceError> {
    probs
        .into_data_async()
        .await
        .map_err(|e| InferenceError::Readback(format!("{e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| InferenceError::Readback(format!("unexpected type: {e:?}")))
}

/// A forward pass handed to another thread (`Offload`).
#[derive(Debug, Clone, PartialEq)]
pub struct OffloadJob {
    /// Which model of the ensemble (0: the first).
    pub model: usize,
    /// Input side N.
    pub size: usize,
    pub flip_tta: bool,
    /// `[B, C, N, N]` slices (C: the model's input channels).
    pub input: Vec<f32>,
}

/// The result of an offloaded pass, `[B, 1, N, N]` probabilities.
pub type Offloaded = Pin<Box<dyn Future<Output = Result<Vec<f32>, String>>>>;

/// Other threads that run forward passes while this one runs its own: the browser's CPU path,
/// where wasm has one thread per worker (`brainseg-web`'s helper workers, each with the same
/// models loaded). `start` sends the work at once and returns the future of its result, so that
/// the caller computes its own share meanwhile.
pub trait Offload {
    /// How many other threads take work (0: none).
    fn lanes(&self) -> usize;
    /// Starts `job` on lane `lane` (< `lanes()`).
    fn start(&self, lane: usize, job: OffloadJob) -> Offloaded;
}

/// Every pass on this thread.
pub struct NoOffload;

impl Offload for NoOffload {
    fn lanes(&self) -> usize {
        0
    }
    fn start(&self, _: usize, _: OffloadJob) -> Offloaded {
        Box::pin(async { Err("no thread to offload to".to_string()) })
    }
}

/// Which model of which ensemble a pass runs, and where else it may run.
#[derive(Clone, Copy)]
pub struct Pass<'a> {
    pub model: &'a Model,
    /// Its place in the ensemble, as the offload threads know it.
    pub index: usize,
    pub offload: &'a dyn Offload,
}

impl<'a> Pass<'a> {
    /// A model run on this thread only.
    pub fn local(model: &'a Model) -> Self {
        Self {
            model,
            index: 0,
            offload: &NoOffload,
        }
    }
}

/// Per-voxel lesion probabilities of a prepared volume (kept slices × N × N). `progress` gets
/// the number of slices done after each batch and is awaited, so a browser caller can yield to
/// its event loop there; resolving to false cancels (then `Ok(None)`).
pub async fn predict_volume<F: Future<Output = bool>>(
    model: &Model,
    prep: &Prepared,
    device: &Device,
    opts: InferOptions,
    progress: impl FnMut(usize) -> F,
) -> Result<Option<Vec<f32>>, InferenceError> {
    predict_volume_with(Pass::local(model), prep, device, opts, progress).await
}

/// `predict_volume` with `pass.offload`'s threads: each round hands one batch to every other
/// thread, runs the first on this one, then collects them in order (the same values as one
/// thread's: every batch is the same computation wherever it runs). `progress` comes after each
/// round.
pub async fn predict_volume_with<F: Future<Output = bool>>(
    pass: Pass<'_>,
    prep: &Prepared,
    device: &Device,
    opts: InferOptions,
    mut progress: impl FnMut(usize) -> F,
) -> Result<Option<Vec<f32>>, InferenceError> {
    let (total, n) = (prep.slices(), prep.size());
    let batch = opts.batch.max(1);
    let context = pass.model.context();
    let mut out = Vec::with_capacity(total * n * n);
    let mut start = 0;
    while start < total {
        let ranges: Vec<_> = (0..=pass.offload.lanes())
            .map(|i| start + i * batch)
            .take_while(|&s| s < total)
            .map(|s| s..(s + batch).min(total))
            .collect();
        let end = ranges.last().map_or(start, |r| r.end);
        // The others first: their work is on its way while this thread computes its batch.
        let others: Vec<Offloaded> = ranges[1..]
            .iter()
            .enumerate()
            .map(|(lane, r)| {
                let job = OffloadJob {
                    model: pass.index,
                    size: n,
                    flip_tta: opts.flip_tta,
                    input: prep.inputs(r.clone(), context),
                };
                pass.offload.start(lane, job)
            })
            .collect();
        let own = probabilities(
            pass.model,
            slices_tensor(prep, ranges[0].clone(), context, device),
            opts.flip_tta,
        );
        out.extend(read(own).await?);
        for (other, r) in others.into_iter().zip(&ranges[1..]) {
            let probs = other.await.map_err(InferenceError::Offload)?;
            if probs.len() != r.len() * n * n {
                return Err(InferenceError::Offload(format!(
                    "{} probabilities for {} slices of {n}×{n}",
                    probs.len(),
                    r.len()
                )));
            }
            out.extend(probs);
        }
        start = end;
        if !progress(end).await {
            return Ok(None);
        }
    }
    Ok(Some(out))
}

/// Probabilities of a case on the grid of `prep.size`, with the case prepared that way (to map
/// them back and to score them). For scale test-time augmentation the model also runs on the
/// case prepared at each of `tta_sizes` (same crop, other side), whose maps are resized
/// (bilinear) to `prep.size` and averaged with it: a lesion seen at several pixel scales.
/// `progress(done, total)` counts slices over all sizes; resolving to false cancels (`Ok(None)`).
pub async fn predict_case<F: Future<Output = bool>>(
    model: &Model,
    case: &Case,
    prep: PrepOptions,
    tta_sizes: &[usize],
    device: &Device,
    opts: InferOptions,
    progress: impl FnMut(usize, usize) -> F,
) -> Result<Option<(Vec<f32>, Prepared)>, InferenceError> {
    let pass = Pass::local(model);
    predict_case_with(pass, case, prep, tta_sizes, device, opts, progress).await
}

/// `predict_case` with `pass.offload`'s threads (`predict_volume_with`).
pub async fn predict_case_with<F: Future<Output = bool>>(
    pass: Pass<'_>,
    case: &Case,
    prep: PrepOptions,
    tta_sizes: &[usize],
    device: &Device,
    opts: InferOptions,
    mut progress: impl FnMut(usize, usize) -> F,
) -> Result<Option<(Vec<f32>, Prepared)>, InferenceError> {
    let main = preprocess(case, prep)?;
    let (n, kept) = (main.size(), main.slices());
    let total = kept * (1 + tta_sizes.len());
    let Some(mut sum) =
        predict_volume_with(pass, &main, device, opts, |done| progress(done, total)).await?
    else {
        return Ok(None);
    };
    for (i, &size) in tta_sizes.iter().enumerate() {
        let other = preprocess(case, PrepOptions { size, ..prep })?;
        let base = (i + 1) * kept;
        let Some(probs) = predict_volume_with(pass, &other, device, opts, |done| {
            progress(base + done, total)
        })
        .await?
        else {
            return Ok(None);
        };
        sum.iter_mut()
            .zip(resize_slices(&probs, size, n))
            .for_each(|(a, p)| *a += p);
    }
    if !tta_sizes.is_empty() {
        let k = (1 + tta_sizes.len()) as f32;
        sum.iter_mut().for_each(|p| *p /= k);
    }
    Ok(Some((sum, main)))
}

/// Probabilities of a case from several models (an ensemble; one model: its own), on the first
/// model's grid, with the case prepared that way. Each model runs at its own input size with its
/// manifest's test-time augmentation (flip also when `opts.flip_tta`); the others' maps are
/// resized to the first one's and all are averaged. `prep(size)` gives the preprocessing (native
/// or reference). `progress(done, total)` counts slices over all models and sizes.
pub async fn predict_ensemble<F: Future<Output = bool>>(
    models: &[(Manifest, Model)],
    case: &Case,
    prep: fn(usize) -> PrepOptions,
    device: &Device,
    opts: InferOptions,
    progress: impl FnMut(usize, usize) -> F,
) -> Result<Option<(Vec<f32>, Prepared)>, InferenceError> {
    predict_ensemble_with(models, case, prep, device, opts, &NoOffload, progress).await
}

/// The 3-D components an ensemble's prediction keeps: its first model's manifest says (`train
/// ship` writes the setting there; the members' are not used), as the first model's grid is the
/// ensemble's.
pub fn ensemble_components(models: &[(Manifest, Model)]) -> Components {
    models
        .first()
        .map(|(m, _)| m.components)
        .unwrap_or_default()
}

/// `predict_ensemble` with `offload`'s threads, which hold the same models in the same order.
pub async fn predict_ensemble_with<F: Future<Output = bool>>(
    models: &[(Manifest, Model)],
    case: &Case,
    prep: fn(usize) -> PrepOptions,
    device: &Device,
    opts: InferOptions,
    offload: &dyn Offload,
    mut progress: impl FnMut(usize, usize) -> F,
) -> Result<Option<(Vec<f32>, Prepared)>, InferenceError> {
    let Some(((first, _), _)) = models.split_first() else {
        return Err(InferenceError::NoModel);
    };
    let grid = first.input_size;
    // Work units: one per model and size, each a pass over the case's kept slices.
    let units: Vec<usize> = models.iter().map(|(m, _)| 1 + m.tta_sizes.len()).collect();
    let all: usize = units.iter().sum();
    let mut sum: Vec<f32> = Vec::new();
    let mut main = None;
    for (i, (manifest, model)) in models.iter().enumerate() {
        let before: usize = units[..i].iter().sum();
        let infer = InferOptions {
            flip_tta: opts.flip_tta || manifest.flip_tta,
            ..opts
        };
        let pass = Pass {
            model,
            index: i,
            offload,
        };
        let own = predict_case_with(
            pass,
            case,
            prep(manifest.input_size).with_version(manifest.preprocessing_version),
            &manifest.tta_sizes,
            device,
            infer,
            |done, total| {
                let kept = total / units[i];
                progress(before * kept + done, all * kept)
            },
        );
        let Some((probs, p)) = own.await? else {
            return Ok(None);
        };
        let probs = resize_slices(&probs, manifest.input_size, grid);
        if sum.is_empty() {
            sum = probs;
        } else {
            sum.iter_mut().zip(&probs).for_each(|(s, p)| *s += p);
        }
        main.get_or_insert(p);
    }
    let n = models.len() as f32;
    sum.iter_mut().for_each(|s| *s /= n);
    Ok(main.map(|p| (sum, p)))
}

/// Resizes a stack of `from`² probability maps to `to`² (bilinear), e.g. to average the
/// predictions of one case made at two input sizes.
pub fn resize_slices(probs: &[f32], from: usize, to: usize) -> Vec<f32> {
    if from == to {
        return probs.to_vec();
    }
    probs
        .chunks(from * from)
        .flat_map(|slice| resize_gray(slice, from, from, to, to))
        .collect()
}
