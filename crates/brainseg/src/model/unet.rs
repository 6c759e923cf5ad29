//! `unet` (the reference U-Net of brain-segmentation-pytorch) and `resunet` (the same with
//! residual blocks).

use super::blocks::{Layers, UnetBlock, conv2d, max_pool2d, upsample_2x};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct UNet {
    encoders: Vec<UnetBlock>,
    bottleneck: UnetBlock,
    upconvs: Vec<ConvTranspose2d>,
    decoders: Vec<UnetBlock>,
    head: Conv2d,
    pool: MaxPool2d,
    /// Channels of the input (`Model::in_channels`).
    pub(crate) in_channels: usize,
}

impl UNet {
    /// Encoder widths `widths[..levels]` (f, 2f, … unless capped), bottleneck `widths[levels]`;
    /// `levels` is one less than the widths given (`ModelConfig::level_widths`).
    pub fn new(in_channels: usize, widths: &[usize], residual: bool, at: Layers) -> Self {
        let device = at.device;
        let levels = widths.len() - 1;
        let w = |i: usize| widths[i];
        let encoders = (0..levels)
            .map(|i| {
                UnetBlock::new(
                    if i == 0 { in_channels } else { w(i - 1) },
                    w(i),
                    residual,
                    at,
                )
            })
            .collect();
        let bottleneck = UnetBlock::new(w(levels - 1), w(levels), residual, at);
        let upconvs = (0..levels)
            .map(|i| {
                ConvTranspose2dConfig::new([w(i + 1), w(i)], [2, 2])
                    .with_stride([2, 2])
                    .init(device)
            })
            .collect();
        let decoders = (0..levels)
            .map(|i| UnetBlock::new(w(i) * 2, w(i), residual, at))
            .collect();
        Self {
            encoders,
            bottleneck,
            upconvs,
            decoders,
            head: Conv2dConfig::new([w(0), 1], [1, 1]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            in_channels,
        }
    }

    /// Logits `[B, 1, H, W]` for input `[B, C, H, W]` (H, W divisible by `2^levels`).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut skips = Vec::with_capacity(self.encoders.len());
        let mut x = x;
        for enc in &self.encoders {
            let s = enc.forward(x);
            x = max_pool2d(&self.pool, s.clone());
            skips.push(s);
        }
        x = self.bottleneck.forward(x);
        for i in (0..self.decoders.len()).rev() {
            let up = upsample_2x(&self.upconvs[i], x);
            x = self.decoders[i].forward(Tensor::cat(
                vec![up, skips.pop().expect("one skip per level")],
                1,
            ));
        }
        conv2d(&self.head, x)
    }
}
