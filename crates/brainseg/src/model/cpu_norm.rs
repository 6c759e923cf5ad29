//! Batch normalisation while training on the CPU backend (flex), fused: per-channel sums over
//! the NCHW activation's contiguous planes, then one pass to normalise, and a backward pass of its
//! own (input, γ and β). burn 0.22.1's default `batch_norm_train` and its backward (flex does not
//! override them) transpose the activation for every mean and sum and leave several autodiff
//! nodes per layer; batch norm + ReLU was 19 % of a U-Net training step with our convolutions
//! (docs/benchmarks.md). Running statistics are updated as burn's `BatchNorm` does (momentum,
//! biased variance). Inference and other devices keep burn's `BatchNorm::forward`.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, backend_extension};
use burn::nn::BatchNorm;
use burn::prelude::*;
use rayon::prelude::*;
use std::mem::MaybeUninit;

use super::cpu_conv::{contiguous, slice};

#[backend_extension(Autodiff, Flex)]
pub trait BatchNormBackend: burn::backend::Backend {
    /// `x` `[B, C, H, W]` normalised with its per-channel batch statistics `stats` (`[2, C]`:
    /// mean, biased variance, from `batch_statistics` of the same `x`), scaled by `gamma` and
    /// shifted by `beta` (`[C]` each). The gradient reaches `x` (through the statistics too), γ
    /// and β; `stats` is read as a constant.
    fn batch_norm_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;

    /// The per-channel mean and biased variance of `x`, `[2, C]` (not differentiable).
    fn batch_statistics(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// The sums of `f(a[i], b[i])`'s two terms over `a` and `b` (of one length), in eight f64
/// accumulators per term: a single running sum is a chain of dependent additions the compiler
/// may not reorder, one add's latency per value; eight independent ones vectorise.
#[inline]
fn paired_sums(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> (f64, f64)) -> (f64, f64) {
    const LANES: usize = 8;
    let (mut s, mut q) = ([0.0f64; LANES], [0.0f64; LANES]);
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            let (u, v) = f(x[i], y[i]);
            s[i] += u;
            q[i] += v;
        }
    }
    let (mut s, mut q) = (s.iter().sum::<f64>(), q.iter().sum::<f64>());
    for (&x, &y) in ta.iter().zip(tb) {
        let (u, v) = f(x, y);
        s += u;
        q += v;
    }
    (s, q)
}

/// Per-channel mean and biased variance of an NCHW activation (`c` channels, planes of `plane`),
/// in one pass: the sums of `v − k` and `(v − k)²` in f64 for a shift `k` (the channel's first
/// value), so the variance `E[(v − k)²] − E[v − k]²` does not cancel the way it would unshifted.
fn statistics(x: &[f32], c: usize, plane: usize) -> (Vec<f32>, Vec<f32>) {
    let n = (x.len() / c) as f64;
    let planes = |ch: usize| x.chunks_exact(plane).skip(ch).step_by(c);
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let k = x[ch * plane] as f64;
            let (s, q) = planes(ch)
                .map(|p| paired_sums(p, p, |v, _| (v as f64 - k, (v as f64 - k).powi(2))))
                .fold((0.0, 0.0), |(s, q), (a, b)| (s + a, q + b));
            let shifted_mean = s / n;
            let var = (q / n - shifted_mean * shifted_mean).max(0.0);
            ((k + shifted_mean) as f32, var as f32)
        })
        .unzip()
}

/// `[2, C]` statistics as (mean, variance).
fn split_statistics(stats: &FlexTensor) -> (Vec<f32>, Vec<f32>) {
    let (stats, _) = contiguous(stats);
    let values = slice(&stats);
    let c = values.len() / 2;
    (values[..c].to_vec(), values[c..].to_vec())
}

/// A new activation of `len` values whose plane `i` (channel `i % c`) `f(i, c, plane)` writes
/// in full; planes in parallel (`planes_in_parallel`).
fn per_plane(
    len: usize,
    c: usize,
    plane: usize,
    f: impl Fn(usize, usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    planes_in_parallel(len, plane, |i, o| f(i, i % c, o))
}

/// A new tensor's `len` values, written plane by plane (`plane` values each) by `f(i, plane)`,
/// planes in parallel. The memory is not zeroed first: a zeroing pass ran on the calling thread
/// alone while the pool waited (3.7 % of a U-Net step's samples, `perf`). Every `f` must write
/// each value of its plane (the callers here zip the whole plane with a source of its length).
pub(crate) fn planes_in_parallel(
    len: usize,
    plane: usize,
    f: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(plane.max(1))
        .enumerate()
        .for_each(|(i, o)| f(i, o));
    // SAFETY: the chunks cover `0..len` and every `f` writes each value of its chunk (above).
    unsafe { out.set_len(len) };
    out
}

fn inv_std(var: &[f32], epsilon: f64) -> Vec<f32> {
    var.iter()
        .map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32)
        .collect()
}

fn flex(values: Vec<f32>, dims: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, dims.to_vec()))
}

/// The normalised output for the batch statistics `mean`, `var`.
fn forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    (mean, var): (&[f32], &[f32]),
    epsilon: f64,
) -> FlexTensor {
    let ((x, dims), (gamma, _), (beta, _)) = (contiguous(x), contiguous(gamma), contiguous(beta));
    let (c, plane) = (dims[1], dims[2..].iter().product::<usize>());
    let inv = inv_std(var, epsilon);
    let (xs, g, b) = (slice(&x), slice(&gamma), slice(&beta));
    let out = per_plane(xs.len(), c, plane, |i, ch, o| {
        let (scale, m, shift) = (g[ch] * inv[ch], mean[ch], b[ch]);
        for (o, &v) in o.iter_mut().zip(&xs[i * plane..][..plane]) {
            o.write((v - m) * scale + shift);
        }
    });
    flex(out, &dims)
}

impl BatchNormBackend for Flex {
    fn batch_norm_fused(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        stats: FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        let (mean, var) = split_statistics(&stats);
        forward(&x, &gamma, &beta, (&mean, &var), epsilon)
    }

    fn batch_statistics(x: FlexTensor) -> FlexTensor {
        let (x, dims) = contiguous(&x);
        let (mut mean, var) = statistics(slice(&x), dims[1], dims[2..].iter().product());
        mean.extend(var);
        flex(mean, &[2, dims[1]])
    }
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    /// The input, γ, the batch mean and variance, ε.
    type State = (FlexTensor, FlexTensor, Vec<f32>, Vec<f32>, f64);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, gamma_node, beta_node] = ops.parents;
        let (grad, dims) = contiguous(&grads.consume::<Flex>(&ops.node));
        let (x, gamma, mean, var, epsilon) = ops.state;
        let ((x, _), (gamma, _)) = (contiguous(&x), contiguous(&gamma));
        let (c, plane) = (dims[1], dims[2..].iter().product::<usize>());
        let n = (dims.iter().product::<usize>() / c) as f64;
        let inv = inv_std(&var, epsilon);
        let (xs, dy, g) = (slice(&x), slice(&grad), slice(&gamma));
        // Per channel: Σ dy (β's gradient) and Σ dy · x̂ (γ's gradient).
        let (sum_dy, sum_dy_xhat): (Vec<f64>, Vec<f64>) = (0..c)
            .into_par_iter()
            .map(|ch| {
                let (m, inv) = (mean[ch], inv[ch]);
                xs.chunks_exact(plane)
                    .zip(dy.chunks_exact(plane))
                    .skip(ch)
                    .step_by(c)
                    .map(|(xp, dp)| {
                        paired_sums(xp, dp, |v, d| (d as f64, d as f64 * ((v - m) * inv) as f64))
                    })
                    .fold((0.0, 0.0), |(s, sx), (a, b)| (s + a, sx + b))
            })
            .unzip();
        if let Some(node) = x_node {
            // dx = γ·σ⁻¹ · (dy − mean(dy) − x̂ · mean(dy · x̂))
            let dx = per_plane(xs.len(), c, plane, |i, ch, o| {
                let (scale, m, s) = (g[ch] * inv[ch], mean[ch], inv[ch]);
                let (mdy, mdx) = ((sum_dy[ch] / n) as f32, (sum_dy_xhat[ch] / n) as f32);
                let (xp, dp) = (&xs[i * plane..][..plane], &dy[i * plane..][..plane]);
                for ((o, &v), &d) in o.iter_mut().zip(xp).zip(dp) {
                    o.write(scale * (d - mdy - (v - m) * s * mdx));
                }
            });
            grads.register::<Flex>(node.id, flex(dx, &dims));
        }
        let to_f32 = |v: &[f64]| v.iter().map(|&s| s as f32).collect::<Vec<f32>>();
        if let Some(node) = gamma_node {
            grads.register::<Flex>(node.id, flex(to_f32(&sum_dy_xhat), &[c]));
        }
        if let Some(node) = beta_node {
            grads.register::<Flex>(node.id, flex(to_f32(&sum_dy), &[c]));
        }
    }
}

impl<C: CheckpointStrategy> BatchNormBackend for Autodiff<Flex, C> {
    fn batch_norm_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let (mean, var) = split_statistics(stats.primitive());
        match BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, gamma) = (x.primitive().clone(), gamma.primitive().clone());
                let out = forward(&x, &gamma, beta.primitive(), (&mean, &var), epsilon);
                prep.finish((x, gamma, mean, var, epsilon), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(
                x.primitive(),
                gamma.primitive(),
                beta.primitive(),
                (&mean, &var),
                epsilon,
            )),
        }
    }

    /// Untracked: the statistics only feed the running averages and the fused pass above, whose
    /// backward accounts for them.
    fn batch_statistics(x: FloatTensor<Self>) -> FloatTensor<Self> {
        <FloatTensor<Self>>::new(<Flex as BatchNormBackend>::batch_statistics(
            x.primitive().clone(),
        ))
    }
}

/// `bn.forward(x)` for an f32 flex activation `[B, C, H, W]` on an autodiff device while the
/// layer trains: the batch statistics once, the fused pass above with them, and the running
/// statistics updated as burn's `BatchNorm` does. `None` where it does not apply (another
/// device, inference, a frozen layer).
pub fn batch_norm(bn: &BatchNorm, x: &Tensor<4>) -> Option<Tensor<4>> {
    let device = x.device();
    let applies = device.is_autodiff()
        && bn.training.is_enabled()
        && super::cpu_conv::on_flex(x)
        && super::cpu_conv::enabled();
    if !applies {
        return None;
    }
    type Ext = burn::backend::Dispatch;
    let stats = Tensor::<2>::from_dispatch(<Ext as BatchNormBackend>::batch_statistics(
        x.clone().into_dispatch(),
    ));
    let out = Tensor::<4>::from_dispatch(<Ext as BatchNormBackend>::batch_norm_fused(
        x.clone().into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        stats.clone().into_dispatch(),
        bn.epsilon,
    ));
    let [_, c] = stats.dims();
    let mean = stats.clone().slice([0..1, 0..c]).reshape([c]);
    let var = stats.slice([1..2, 0..c]).reshape([c]);
    let m = bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    bn.running_mean
        .update((running_mean.mul_scalar(1.0 - m) + mean.mul_scalar(m)).detach());
    bn.running_var
        .update((running_var.mul_scalar(1.0 - m) + var.mul_scalar(m)).detach());
    Some(out)
}
