//! `fpn`: a feature-pyramid network. A U-Net-style encoder gives features at strides 2…2^levels;
//! lateral 1×1 convs bring them to a common width, a top-down path upsamples and adds, and a
//! segmentation head per level (conv3×3 → BN → ReLU) is upsampled to stride 2 and summed; a 1×1
//! conv gives the logits, upsampled to the input size.

use super::blocks::{ConvBn, Layers, Resample, UnetBlock, conv2d, max_pool2d, upsample_to};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct Fpn {
    encoders: Vec<UnetBlock>,
    laterals: Vec<Conv2d>,
    heads: Vec<ConvBn>,
    classifier: Conv2d,
    pool: MaxPool2d,
    /// Channels of the input (`Model::in_channels`).
    pub(crate) in_channels: usize,
}

impl Fpn {
    /// `widths` holds each encoder level's width, full resolution first
    /// (`ModelConfig::level_widths`); the pyramid and heads are 4 and 2 times the first.
    pub fn new(in_channels: usize, widths: &[usize], at: Layers) -> Self {
        let device = at.device;
        let levels = widths.len() - 1;
        let w = |i: usize| widths[i];
        let pyramid = 4 * w(0);
        let seg = 2 * w(0);
        Self {
            encoders: (0..=levels)
                .map(|i| {
                    UnetBlock::new(if i == 0 { in_channels } else { w(i - 1) }, w(i), false, at)
                })
                .collect(),
            laterals: (1..=levels)
                .map(|i| Conv2dConfig::new([w(i), pyramid], [1, 1]).init(device))
                .collect(),
            heads: (1..=levels)
                .map(|_| ConvBn::new(pyramid, seg, 3, 1, at))
                .collect(),
            classifier: Conv2dConfig::new([seg, 1], [1, 1]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            in_channels,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_levels(x, false).0
    }

    /// The logits and, with `levels`, each pyramid level's logits on its own, finest first:
    /// that level's head alone through the shared classifier, upsampled to the input. Deep
    /// supervision fits those too; they reuse the classifier, so no weight exists for
    /// training alone and trained models keep their layout.
    pub fn forward_levels(&self, x: Tensor<4>, levels: bool) -> (Tensor<4>, Vec<Tensor<4>>) {
        let [_, _, h, w] = x.dims();
        let mut feats = Vec::with_capacity(self.encoders.len());
        let mut x = x;
        for (i, enc) in self.encoders.iter().enumerate() {
            if i > 0 {
                x = max_pool2d(&self.pool, x);
            }
            x = enc.forward(x);
            feats.push(x.clone());
        }
        // Top-down: from the coarsest level, upsample and add the lateral of the finer one.
        let mut top: Option<Tensor<4>> = None;
        let mut sum: Option<Tensor<4>> = None;
        let mut level_logits = Vec::new();
        let (h2, w2) = (h / 2, w / 2);
        for i in (0..self.laterals.len()).rev() {
            let lateral = conv2d(&self.laterals[i], feats[i + 1].clone());
            let [_, _, fh, fw] = lateral.dims();
            let p = match top {
                None => lateral,
                Some(t) => lateral + upsample_to(t, fh, fw, Resample::Nearest),
            };
            let head = self.heads[i].forward_relu(p.clone());
            let head = if (fh, fw) == (h2, w2) {
                head
            } else {
                upsample_to(head, h2, w2, Resample::Bilinear)
            };
            if levels {
                let logits = conv2d(&self.classifier, head.clone());
                level_logits.push(upsample_to(logits, h, w, Resample::Bilinear));
            }
            sum = Some(match sum {
                None => head,
                Some(s) => s + head,
            });
            top = Some(p);
        }
        let logits = conv2d(&self.classifier, sum.expect("at least one level"));
        // The loop ran from the coarsest level.
        level_logits.reverse();
        (upsample_to(logits, h, w, Resample::Bilinear), level_logits)
    }
}
