//! `resnext-unet`: a ResNeXt-style encoder (bottleneck blocks with grouped 3×3 convolutions)
//! with a light decoder (bilinear upsampling, concatenated skip, one conv3×3 per level).
//! Trained from scratch: no pretrained weights can be fetched where it is trained.

use super::blocks::{ConvBn, Layers, ResNextBlock, Resample, conv2d, max_pool2d, upsample_to};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct ResNextUNet {
    stem: ConvBn,
    stages: Vec<ResNextBlock>,
    decoders: Vec<ConvBn>,
    head: Conv2d,
    pool: MaxPool2d,
    /// Channels of the input (`Model::in_channels`).
    pub(crate) in_channels: usize,
}

impl ResNextUNet {
    /// Stem width f at full resolution, then `levels` stages of width 2f, 4f, … (unless capped)
    /// each at half the previous resolution: `widths` holds them all
    /// (`ModelConfig::level_widths`). `cardinality` must divide every stage's bottleneck width
    /// (half its output width).
    pub fn new(in_channels: usize, widths: &[usize], cardinality: usize, at: Layers) -> Self {
        let device = at.device;
        let levels = widths.len() - 1;
        let w = |i: usize| widths[i];
        Self {
            stem: ConvBn::new(in_channels, w(0), 3, 1, at),
            stages: (1..=levels)
                .map(|i| ResNextBlock::new(w(i - 1), w(i), cardinality, at))
                .collect(),
            decoders: (0..levels)
                .map(|i| ConvBn::new(w(i + 1) + w(i), w(i), 3, 1, at))
                .collect(),
            head: Conv2dConfig::new([w(0), 1], [1, 1]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            in_channels,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = self.stem.forward_relu(x);
        let mut skips = Vec::with_capacity(self.stages.len());
        for stage in &self.stages {
            let down = max_pool2d(&self.pool, x.clone());
            skips.push(x);
            x = stage.forward(down);
        }
        for i in (0..self.decoders.len()).rev() {
            let skip = skips.pop().expect("one skip per stage");
            let [_, _, h, w] = skip.dims();
            let up = upsample_to(x, h, w, Resample::Bilinear);
            x = self.decoders[i].forward_relu(Tensor::cat(vec![up, skip], 1));
        }
        conv2d(&self.head, x)
    }
}
