//! Building blocks shared by the architectures.

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d};
use burn::nn::pool::MaxPool2d;
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::model_config::Norm;

/// `conv.forward(x)`: in 16 bits under [`autocast`](super::autocast); otherwise on flex through
/// our CPU kernels where they apply (`cpu_conv`, with the `cpu-conv` feature).
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if let Some(dtype) = super::autocast::compute() {
        return super::autocast::conv2d(conv, x, dtype);
    }
    #[cfg(feature = "cpu-conv")]
    return super::cpu_conv::conv2d(conv, x);
    #[cfg(not(feature = "cpu-conv"))]
    conv.forward(x)
}

/// `pool.forward(x)`; on flex (training and native inference) a 2×2 pooling through our CPU
/// kernel where it applies (`cpu_pool`, with the `cpu-kernels` feature).
pub fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "cpu-kernels")]
    return super::cpu_pool::max_pool2d(pool, x);
    #[cfg(not(feature = "cpu-kernels"))]
    pool.forward(x)
}

/// What every layer of a model is built with: its normalisation and the device.
#[derive(Clone, Copy)]
pub struct Layers<'a> {
    pub norm: Norm,
    pub device: &'a Device,
}

/// Convolution (no bias: a normalisation follows) then batch norm, or with `Norm::Instance`
/// instance norm with the same γ and β (the running statistics then stay unused). `groups` > 1
/// gives a grouped conv.
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
    instance: bool,
}

impl ConvBn {
    pub fn new(cin: usize, cout: usize, kernel: usize, groups: usize, at: Layers) -> Self {
        let device = at.device;
        let p = kernel / 2;
        let conv = Conv2dConfig::new([cin, cout], [kernel, kernel])
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .with_groups(groups)
            .with_bias(false)
            .init(device);
        Self {
            conv,
            bn: BatchNormConfig::new(cout).init(device),
            instance: at.norm == Norm::Instance,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        if self.instance {
            return instance_norm(&self.bn, conv2d(&self.conv, x));
        }
        #[cfg(feature = "cpu-conv")]
        if let Some(y) = self.fused(&x, false) {
            return y;
        }
        let y = conv2d(&self.conv, x);
        #[cfg(feature = "cpu-kernels")]
        if let Some(normalised) = super::cpu_norm::batch_norm(&self.bn, &y) {
            return normalised;
        }
        self.bn.forward(y)
    }

    /// `relu(self.forward(x))`; at inference on flex one pass of our kernels (`cpu_conv::conv_bn`).
    pub fn forward_relu(&self, x: Tensor<4>) -> Tensor<4> {
        #[cfg(feature = "cpu-conv")]
        if let Some(y) = self.fused(&x, true) {
            return y;
        }
        relu(self.forward(x))
    }

    /// Convolution and batch norm in one pass of our CPU kernels (`cpu_conv::conv_bn`), where
    /// they apply and no 16-bit compute is asked for.
    #[cfg(feature = "cpu-conv")]
    fn fused(&self, x: &Tensor<4>, then_relu: bool) -> Option<Tensor<4>> {
        if self.instance || super::autocast::compute().is_some() {
            return None;
        }
        super::cpu_conv::conv_bn(&self.conv, &self.bn, x, then_relu)
    }
}

/// Instance normalisation of `y` `[B, C, H, W]`: each slice's and channel's plane normalised
/// by its own mean and biased variance (as PyTorch's `InstanceNorm2d`), then scaled by `bn`'s γ
/// and shifted by its β, with its ε. Written with tensor operations, so every backend has its
/// values and its gradient; burn 0.22.1's `InstanceNorm` holds its γ and β in a module of its
/// own, which would change the weights' layout.
pub fn instance_norm(bn: &BatchNorm, y: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = y.dims();
    let planes = y.reshape([b, c, h * w]);
    let centred = planes.clone() - planes.mean_dim(2);
    let var = centred.clone().square().mean_dim(2);
    let normalised = centred / var.add_scalar(bn.epsilon).sqrt();
    let gamma = bn.gamma.val().reshape([1, c, 1]);
    let beta = bn.beta.val().reshape([1, c, 1]);
    (normalised * gamma + beta).reshape([b, c, h, w])
}

/// The reference U-Net block, conv3×3 → BN → ReLU twice; with `residual`, the input (or its 1×1
/// projection when the channel count changes) is added before the second ReLU.
#[derive(Module, Debug)]
pub struct UnetBlock {
    a: ConvBn,
    b: ConvBn,
    residual: bool,
    projection: Option<ConvBn>,
}

impl UnetBlock {
    pub fn new(cin: usize, cout: usize, residual: bool, at: Layers) -> Self {
        let projection = (residual && cin != cout).then(|| ConvBn::new(cin, cout, 1, 1, at));
        Self {
            a: ConvBn::new(cin, cout, 3, 1, at),
            b: ConvBn::new(cout, cout, 3, 1, at),
            residual,
            projection,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let a = self.a.forward_relu(x.clone());
        if !self.residual {
            return self.b.forward_relu(a);
        }
        let h = self.b.forward(a);
        let shortcut = match &self.projection {
            Some(p) => p.forward(x),
            None => x,
        };
        relu(h + shortcut)
    }
}

/// ResNeXt bottleneck: 1×1 reduce → grouped 3×3 → 1×1 expand, each with BN, plus a shortcut.
#[derive(Module, Debug)]
pub struct ResNextBlock {
    reduce: ConvBn,
    grouped: ConvBn,
    expand: ConvBn,
    projection: Option<ConvBn>,
}

impl ResNextBlock {
    pub fn new(cin: usize, cout: usize, cardinality: usize, at: Layers) -> Self {
        let mid = cout / 2;
        Self {
            reduce: ConvBn::new(cin, mid, 1, 1, at),
            grouped: ConvBn::new(mid, mid, 3, cardinality, at),
            expand: ConvBn::new(mid, cout, 1, 1, at),
            projection: (cin != cout).then(|| ConvBn::new(cin, cout, 1, 1, at)),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.reduce.forward_relu(x.clone());
        let h = self.grouped.forward_relu(h);
        let h = self.expand.forward(h);
        let shortcut = match &self.projection {
            Some(p) => p.forward(x),
            None => x,
        };
        relu(h + shortcut)
    }
}

/// A k×k, stride-1, zero-padded ("same") convolution as im2col and matrix products: the k²
/// shifted copies of the padded input stacked into `[Cin·k², B·H·W]`, multiplied by the weight
/// as `[Cout, Cin·k²]` (with groups, one product per group, batched). Its gradients are matrix
/// products too (the weight's one product over `B·H·W`), where burn 0.22.1's default weight
/// gradient is a convolution whose kernel is the size of the activation (slow on flex) and, in
/// 16 bits, sums the `B·H·W` products in 16 bits (a matrix product sums in f32: see
/// `autocast`). Values and gradients equal burn's `conv2d` (tests/models.rs).
pub fn conv_im2col(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    let [b, cin, h, w] = x.dims();
    let [cout, group_cin, k, k2] = weight.dims();
    let groups = cin / group_cin.max(1);
    debug_assert_eq!(
        (group_cin * groups, cout % groups, k2, k % 2),
        (cin, 0, k, 1),
        "square odd kernel, channels in whole groups"
    );
    let p = k / 2;
    let xp = x
        .pad((p, p, p, p), burn::tensor::ops::PadMode::Constant(0.0))
        .swap_dims(0, 1);
    let taps: Vec<Tensor<4>> = (0..k * k)
        .map(|t| {
            let (dy, dx) = (t / k, t % k);
            xp.clone().slice([0..cin, 0..b, dy..dy + h, dx..dx + w])
        })
        .collect();
    let depth = cin * k * k;
    let cols = Tensor::stack::<5>(taps, 1).reshape([depth, b * h * w]);
    let out = if groups == 1 {
        weight.reshape([cout, depth]).matmul(cols)
    } else {
        let (gd, gout) = (depth / groups, cout / groups);
        weight
            .reshape([groups, gout, gd])
            .matmul(cols.reshape([groups, gd, b * h * w]))
            .reshape([cout, b * h * w])
    };
    out.reshape([cout, b, h, w]).swap_dims(0, 1)
}

/// How [`upsample_to`] resamples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resample {
    /// `src = floor(dst · in / out)` (PyTorch's `nearest`).
    Nearest,
    /// Bilinear with half-pixel centres (PyTorch's default, `align_corners=False`).
    Bilinear,
}

/// Resizes feature maps `[B, C, H, W]` to `[B, C, h, w]`.
///
/// Written as two matrix products with fixed interpolation matrices (along the width, then the
/// height) instead of burn's `interpolate`, because burn-cubecl 0.22.1 has no bilinear backward:
/// the GPU backends panicked when an FPN or a ResNeXt-U-Net trained. A matrix product has a
/// gradient on every backend and runs on the autotuned matmul kernels. Values equal
/// `interpolate`'s (tests/models.rs), so weights trained before load and score the same.
pub fn upsample_to(x: Tensor<4>, h: usize, w: usize, mode: Resample) -> Tensor<4> {
    let [b, c, h_in, w_in] = x.dims();
    if (h_in, w_in) == (h, w) {
        return x;
    }
    let device = x.device();
    let along_w = interpolation_matrix(w_in, w, mode, &device);
    let along_h = interpolation_matrix(h_in, h, mode, &device);
    let x = x
        .reshape([b * c * h_in, w_in])
        .matmul(along_w)
        .reshape([b, c, h_in, w]);
    x.swap_dims(2, 3)
        .reshape([b * c * w, h_in])
        .matmul(along_h)
        .reshape([b, c, w, h])
        .swap_dims(2, 3)
}

/// The `[n_in, n_out]` matrix whose column `o` holds the weights output `o` takes from each
/// input position (the coordinate rule of burn-flex's and PyTorch's `interpolate`).
fn interpolation_matrix(n_in: usize, n_out: usize, mode: Resample, device: &Device) -> Tensor<2> {
    let mut m = vec![0.0f32; n_in * n_out];
    let ratio = n_in as f64 / n_out as f64;
    for o in 0..n_out {
        match mode {
            Resample::Nearest => {
                let i = ((o as f64 * ratio).floor() as usize).min(n_in - 1);
                m[i * n_out + o] = 1.0;
            }
            Resample::Bilinear => {
                let src = (o as f64 + 0.5) * ratio - 0.5;
                let i0 = (src.floor().max(0.0) as usize).min(n_in - 1);
                let i1 = (i0 + 1).min(n_in - 1);
                let l = (src - i0 as f64).clamp(0.0, 1.0) as f32;
                m[i0 * n_out + o] += 1.0 - l;
                m[i1 * n_out + o] += l;
            }
        }
    }
    Tensor::from_data(TensorData::new(m, [n_in, n_out]), device)
}

/// The U-Net's 2×2, stride-2 up-sampling. While training (the weight needs a gradient) it runs
/// as [`upconv2x2`], whose backward avoids burn's slow default (see there), otherwise as burn's
/// transposed convolution, which inferred 13–18 % faster on flex and lavapipe. Measured so far
/// (docs/benchmarks.md): training 9 % faster on lavapipe, no difference beyond the noise on
/// flex; the H200, where the issue of slow backward kernels is largest, is still to measure.
/// Both paths give the same values and gradients (tests/models.rs).
pub fn upsample_2x(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    if conv.weight.val().is_require_grad() {
        upconv2x2(conv, x)
    } else {
        conv.forward(x)
    }
}

/// A 2×2, stride-2 transposed convolution as one matrix product and a pixel shuffle:
/// `[B·H·W, Cin] × [Cin, Cout·4]`, each input pixel's row giving its 2×2 output block. burn
/// 0.22.1's default backward of `conv_transpose2d` computes the weight gradient as a forward
/// convolution with an activation-sized kernel, which only the direct kernel runs on the cubecl
/// backends; a matrix product has autotuned kernels and a cheap gradient everywhere. The
/// layer's parameters are used as they are (weight `[Cin, Cout, 2, 2]`, bias `[Cout]`), so
/// saved weights load unchanged; values equal `conv.forward`'s (tests/models.rs).
pub fn upconv2x2(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let [b, cin, h, w] = x.dims();
    let weight = conv.weight.val();
    let [wcin, cout, kh, kw] = weight.dims();
    debug_assert_eq!((wcin, kh, kw), (cin, 2, 2), "upconv2x2 needs a 2×2 kernel");
    let rows = x.permute([0, 2, 3, 1]).reshape([b * h * w, cin]);
    let blocks = super::autocast::matmul(rows, weight.reshape([cin, cout * 4]));
    let y = blocks
        .reshape([b, h, w, cout, 2, 2])
        .permute([0, 3, 1, 4, 2, 5])
        .reshape([b, cout, h * 2, w * 2]);
    match &conv.bias {
        Some(bias) => y + bias.val().reshape([1, cout, 1, 1]),
        None => y,
    }
}
