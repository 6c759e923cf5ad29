//! Building blocks shared by the architectures.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

/// Convolution (no bias: BatchNorm follows) then BatchNorm. `groups` > 1 gives a grouped conv.
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBn {
    pub fn new(cin: usize, cout: usize, kernel: usize, groups: usize, device: &Device) -> Self {
        let p = kernel / 2;
        let conv = Conv2dConfig::new([cin, cout], [kernel, kernel])
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .with_groups(groups)
            .with_bias(false)
            .init(device);
        Self {
            conv,
            bn: BatchNormConfig::new(cout).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x))
    }
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
    pub fn new(cin: usize, cout: usize, residual: bool, device: &Device) -> Self {
        let projection = (residual && cin != cout).then(|| ConvBn::new(cin, cout, 1, 1, device));
        Self {
            a: ConvBn::new(cin, cout, 3, 1, device),
            b: ConvBn::new(cout, cout, 3, 1, device),
            residual,
            projection,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.b.forward(relu(self.a.forward(x.clone())));
        if !self.residual {
            return relu(h);
        }
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
    pub fn new(cin: usize, cout: usize, cardinality: usize, device: &Device) -> Self {
        let mid = cout / 2;
        Self {
            reduce: ConvBn::new(cin, mid, 1, 1, device),
            grouped: ConvBn::new(mid, mid, 3, cardinality, device),
            expand: ConvBn::new(mid, cout, 1, 1, device),
            projection: (cin != cout).then(|| ConvBn::new(cin, cout, 1, 1, device)),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = relu(self.reduce.forward(x.clone()));
        let h = relu(self.grouped.forward(h));
        let h = self.expand.forward(h);
        let shortcut = match &self.projection {
            Some(p) => p.forward(x),
            None => x,
        };
        relu(h + shortcut)
    }
}

/// Resizes feature maps to `[h, w]` (bilinear, half-pixel centres as in PyTorch's default).
pub fn upsample_to(x: Tensor<4>, h: usize, w: usize, mode: InterpolateMode) -> Tensor<4> {
    let align_corners = false;
    let options = InterpolateOptions {
        output_size: Some([h, w]),
        align_corners,
        ..InterpolateOptions::new(mode)
    };
    interpolate(x, options)
}
