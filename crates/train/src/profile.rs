//! `train bench --profile`: where a U-Net training step spends its time, operation by
//! operation, on the chosen backend. Each operation runs alone on random tensors of every shape
//! the U-Net gives it (one warm-up run per shape, so autotuning is not timed), and its time is
//! summed over the layers: 3×3 convolution forward, its input gradient, its weight gradient
//! (each gradient alone: only that tensor is tracked) by burn's kernels, by our CPU kernels on
//! flex (`cpu_conv`, what the model runs there) and as im2col + a matrix product in tensor ops
//! (`conv_im2col`, not in the step); batch norm (fused on flex: `cpu_norm`) + ReLU forward and
//! backward, max pooling, and the transposed convolution (burn's kernel and the matrix
//! product); then the skip concatenations, the Dice loss and one Adam update of the whole
//! model. `train bench` prints them beside its whole step; what the rows leave (copies, the
//! head, launches) is the difference. A read-back of a reduction ends every timed run, so GPU
//! work is counted where it happens.

use crate::training::loss::Loss;
use brainseg::model::{Arch, Model, ModelConfig, conv_im2col, cpu_conv, cpu_norm, max_pool2d};
use burn::nn::BatchNormConfig;
use burn::nn::conv::ConvTranspose2dConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::relu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use std::time::Instant;

/// A layer of the U-Net: in and out channels, side of its input.
#[derive(Debug, Clone, Copy)]
struct Conv {
    cin: usize,
    cout: usize,
    side: usize,
}

/// The 3×3 convolutions, the transposed convolutions (in channels, out channels, input side)
/// and the pooled maps (channels, side) of a U-Net of `width` and `levels` at `size`.
fn unet_layers(width: usize, levels: usize, size: usize) -> (Vec<Conv>, Vec<Conv>, Vec<Conv>) {
    let w = |i: usize| width << i;
    let s = |i: usize| size >> i;
    let c = |cin: usize, cout: usize, side: usize| Conv { cin, cout, side };
    let (mut convs, mut ups, mut pools) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..levels {
        let cin = if i == 0 { 3 } else { w(i - 1) };
        // Encoder block; decoder block (the concatenation in, then its second convolution).
        convs.extend([c(cin, w(i), s(i)), c(w(i), w(i), s(i))]);
        convs.extend([c(2 * w(i), w(i), s(i)), c(w(i), w(i), s(i))]);
        pools.push(c(w(i), w(i), s(i)));
        ups.push(c(w(i + 1), w(i), s(i + 1)));
    }
    convs.extend([
        c(w(levels - 1), w(levels), s(levels)),
        c(w(levels), w(levels), s(levels)),
    ]);
    (convs, ups, pools)
}

/// Seconds per run of `f` (mean of `reps` after one warm-up); `f` returns a tensor to read back.
fn time<const D: usize>(reps: usize, mut f: impl FnMut() -> Tensor<D>) -> f64 {
    let _ = f().sum().into_scalar::<f32>();
    let t = Instant::now();
    for _ in 0..reps {
        let _ = f().sum().into_scalar::<f32>();
    }
    t.elapsed().as_secs_f64() / reps as f64
}

fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// One row of the profile: an operation and its seconds per training step.
pub struct Row {
    pub op: &'static str,
    pub seconds: f64,
    /// Part of the model's training step (the transposed convolution is timed both ways; the
    /// model trains with the matrix product).
    pub in_step: bool,
}

/// Profiles the operations of one training step of a U-Net (`device` must be an autodiff one).
pub fn unet_step(
    width: usize,
    levels: usize,
    size: usize,
    batch: usize,
    reps: usize,
    device: &Device,
) -> Vec<Row> {
    let (convs, ups, pools) = unet_layers(width, levels, size);
    let opts = || ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    // On flex the model's convolutions run through our kernels (brainseg::model::cpu_conv).
    let ours = cpu_conv::on_flex(&random([1, 1, 1, 1], device));
    let (mut burn, mut im2col, mut kernels, mut norm) = ([0.0; 3], [0.0; 3], [0.0; 3], 0.0);
    for c in &convs {
        let x = random([batch, c.cin, c.side, c.side], device);
        let k = random([c.cout, c.cin, 3, 3], device);
        add(
            &mut burn,
            conv_passes(reps, &x, &k, |x, k| conv2d(x, k, None, opts())),
        );
        add(&mut im2col, conv_passes(reps, &x, &k, conv_im2col));
        if ours {
            add(
                &mut kernels,
                conv_passes(reps, &x, &k, cpu_conv::same_conv2d),
            );
        }
        let bn = BatchNormConfig::new(c.cout).init(device);
        let y = random([batch, c.cout, c.side, c.side], device).require_grad();
        norm += time(reps, || {
            // The model's batch norm: the fused one on flex (cpu_norm), burn's elsewhere.
            let normalised = cpu_norm::batch_norm(&bn, &y).unwrap_or_else(|| bn.forward(y.clone()));
            let g = relu(normalised).sum().backward();
            y.grad(&g).expect("norm gradient")
        });
    }
    let (mut up_burn, mut up_matmul) = (0.0, 0.0);
    for u in &ups {
        let conv = ConvTranspose2dConfig::new([u.cin, u.cout], [2, 2])
            .with_stride([2, 2])
            .init(device);
        let x = random([batch, u.cin, u.side, u.side], device).require_grad();
        up_burn += time(reps, || {
            let g = conv.forward(x.clone()).sum().backward();
            x.grad(&g).expect("input gradient")
        });
        up_matmul += time(reps, || {
            let g = brainseg::model::upconv2x2(&conv, x.clone())
                .sum()
                .backward();
            x.grad(&g).expect("input gradient")
        });
    }
    let pool = MaxPool2dConfig::new([2, 2]).init();
    let (mut pooling, mut pooling_ours) = (0.0, 0.0);
    for p in &pools {
        let x = random([batch, p.cin, p.side, p.side], device).require_grad();
        pooling += time(reps, || {
            let g = pool.forward(x.clone()).sum().backward();
            x.grad(&g).expect("pool gradient")
        });
        if ours {
            // The model's pooling on flex (brainseg::model::cpu_pool).
            pooling_ours += time(reps, || {
                let g = max_pool2d(&pool, x.clone()).sum().backward();
                x.grad(&g).expect("pool gradient")
            });
        }
    }
    let mut concat = 0.0;
    for p in &pools {
        // Each decoder joins its up-sampled map and the skip: two maps of the encoder's shape.
        let a = random([batch, p.cin, p.side, p.side], device).require_grad();
        let b = random([batch, p.cin, p.side, p.side], device).require_grad();
        concat += time(reps, || {
            let g = Tensor::cat(vec![a.clone(), b.clone()], 1).sum().backward();
            a.grad(&g).expect("concatenation gradient")
        });
    }
    let logits = random([batch, 1, size, size], device).require_grad();
    let target = Tensor::<4>::random([batch, 1, size, size], Distribution::Bernoulli(0.1), device);
    let loss = time(reps, || {
        let g = Loss::Dice
            .compute(logits.clone(), target.clone())
            .backward();
        logits.grad(&g).expect("loss gradient")
    });
    let adam = adam_step(width, levels, size, batch, reps, device);
    let row = |op, seconds, in_step| Row {
        op,
        seconds,
        in_step,
    };
    let mut rows = vec![
        row("3x3 convolution (burn), forward", burn[0], !ours),
        row("3x3 convolution (burn), input gradient", burn[1], !ours),
        row("3x3 convolution (burn), weight gradient", burn[2], !ours),
    ];
    if ours {
        rows.extend([
            row(
                "3x3 convolution (our CPU kernels), forward",
                kernels[0],
                true,
            ),
            row(
                "3x3 convolution (our CPU kernels), input gradient",
                kernels[1],
                true,
            ),
            row(
                "3x3 convolution (our CPU kernels), weight gradient",
                kernels[2],
                true,
            ),
        ]);
    }
    rows.extend([
        row(
            "3x3 convolution as im2col + matrix product, forward",
            im2col[0],
            false,
        ),
        row(
            "3x3 convolution as im2col + matrix product, input gradient",
            im2col[1],
            false,
        ),
        row(
            "3x3 convolution as im2col + matrix product, weight gradient",
            im2col[2],
            false,
        ),
        row("batch norm + ReLU, forward and backward", norm, true),
    ]);
    if ours {
        rows.extend([
            row("max pooling (burn), forward and backward", pooling, false),
            row(
                "max pooling (our CPU kernel), forward and backward",
                pooling_ours,
                true,
            ),
        ]);
    } else {
        rows.push(row("max pooling, forward and backward", pooling, true));
    }
    rows.extend([
        row(
            "2x2 transposed convolution (burn), forward and backward",
            up_burn,
            false,
        ),
        row(
            "2x2 transposed convolution (matrix product), forward and backward",
            up_matmul,
            true,
        ),
        row("skip concatenations, forward and backward", concat, true),
        row("Dice loss, forward and backward", loss, true),
        row("Adam update of every parameter", adam, true),
    ]);
    rows
}

fn add(total: &mut [f64; 3], passes: [f64; 3]) {
    for (t, p) in total.iter_mut().zip(passes) {
        *t += p;
    }
}

/// Seconds of one layer's forward pass, input gradient and weight gradient through `conv`
/// (each gradient alone, only its tensor tracked; the forward pass's time taken out of both).
fn conv_passes(
    reps: usize,
    x: &Tensor<4>,
    k: &Tensor<4>,
    conv: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>,
) -> [f64; 3] {
    let f = time(reps, || conv(x.clone(), k.clone()));
    let xg = x.clone().require_grad();
    let gi = time(reps, || {
        let g = conv(xg.clone(), k.clone()).sum().backward();
        xg.grad(&g).expect("input gradient")
    });
    let kg = k.clone().require_grad();
    let gw = time(reps, || {
        let g = conv(x.clone(), kg.clone()).sum().backward();
        kg.grad(&g).expect("weight gradient")
    });
    [f, (gi - f).max(0.0), (gw - f).max(0.0)]
}

/// Seconds of one Adam update of a U-Net's parameters (the gradients computed untimed).
fn adam_step(
    width: usize,
    levels: usize,
    size: usize,
    batch: usize,
    reps: usize,
    device: &Device,
) -> f64 {
    let cfg = ModelConfig {
        levels,
        ..ModelConfig::new(Arch::Unet, width)
    };
    let mut model = cfg.init(device).expect("a valid U-Net");
    let mut optim = AdamConfig::new().init();
    let x = random([batch, 3, size, size], device);
    let mut total = 0.0;
    for r in 0..=reps {
        let grads = GradientsParams::from_grads(model.forward(x.clone()).sum().backward(), &model);
        device.sync().expect("device sync");
        let t = Instant::now();
        model = optim.step(1e-4, model, grads);
        // Waits for the update's kernels (GPU backends).
        device.sync().expect("device sync");
        if r > 0 {
            total += t.elapsed().as_secs_f64();
        }
    }
    total / reps as f64
}

/// Seconds of a whole model's forward pass, loss and backward (training mode: batch
/// statistics, the autodiff graph recorded and consumed) ended by a device sync: beside the
/// whole step and the inference time it splits training's cost into the passes and the update.
/// (A forward pass alone in training mode is not timed: its unconsumed graphs are kept and made
/// it read 2.2 s against 1.1 s for forward and backward together on flex.)
pub fn forward_backward(
    model: &Model,
    x: &Tensor<4>,
    y: &Tensor<4>,
    reps: usize,
    device: &Device,
) -> f64 {
    let mut total = 0.0;
    for r in 0..=reps {
        let t = Instant::now();
        let _grads = Loss::Dice
            .compute(model.forward(x.clone()), y.clone())
            .backward();
        device.sync().expect("device sync");
        if r > 0 {
            total += t.elapsed().as_secs_f64();
        }
    }
    total / reps as f64
}
