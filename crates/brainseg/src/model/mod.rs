//! The segmentation models. All map `[B, C, N, N]` slices (C = 3, or more with neighbouring
//! slices: `ModelConfig::context`) to `[B, 1, N, N]` logits.

pub mod autocast;
mod blocks;
#[cfg(feature = "cpu-conv")]
pub mod cpu_conv;
#[cfg(feature = "cpu-kernels")]
pub mod cpu_norm;
#[cfg(feature = "cpu-kernels")]
pub mod cpu_pool;
mod flops;
mod fpn;
mod resnext;
mod unet;

pub use blocks::{
    Layers, Resample, conv_im2col, instance_norm, max_pool2d, upconv2x2, upsample_2x, upsample_to,
};
pub use flops::ConvLayer;
pub use fpn::Fpn;
pub use resnext::ResNextUNet;
pub use unet::UNet;

pub use crate::model_config::{Arch, MAX_LEVELS, MAX_WIDTH, ModelConfig, ModelError, Norm};

use burn::prelude::*;

impl ModelConfig {
    pub fn init(&self, device: &Device) -> Result<Model, ModelError> {
        self.validate()?;
        let (c, w) = (self.in_channels(), self.level_widths());
        let at = blocks::Layers {
            norm: self.norm,
            device,
        };
        Ok(match self.arch {
            Arch::Unet => Model::Unet(UNet::new(c, &w, false, at)),
            Arch::Resunet => Model::Unet(UNet::new(c, &w, true, at)),
            Arch::ResnextUnet => Model::ResNext(ResNextUNet::new(c, &w, self.cardinality, at)),
            Arch::Fpn => Model::Fpn(Fpn::new(c, &w, at)),
        })
    }
}

#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Model {
    Unet(UNet),
    ResNext(ResNextUNet),
    Fpn(Fpn),
}

impl Model {
    /// Logits `[B, 1, N, N]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Model::Unet(m) => m.forward(x),
            Model::ResNext(m) => m.forward(x),
            Model::Fpn(m) => m.forward(x),
        }
    }

    /// The logits and the outputs deep supervision also fits (`Fpn::forward_levels`): each
    /// pyramid level's own logits, finest first. `None` for the U-Nets, whose decoder levels
    /// have no classifier of their own.
    pub fn forward_levels(&self, x: Tensor<4>) -> Option<(Tensor<4>, Vec<Tensor<4>>)> {
        match self {
            Model::Fpn(m) => Some(m.forward_levels(x, true)),
            Model::Unet(_) | Model::ResNext(_) => None,
        }
    }

    /// Channels of the input (`ModelConfig::in_channels`).
    pub fn in_channels(&self) -> usize {
        match self {
            Model::Unet(m) => m.in_channels,
            Model::ResNext(m) => m.in_channels,
            Model::Fpn(m) => m.in_channels,
        }
    }

    /// Neighbouring slices on each side in the input (`ModelConfig::context`).
    pub fn context(&self) -> usize {
        self.in_channels()
            .saturating_sub(crate::preprocess::CHANNELS)
            / 2
    }
}

/// Counts trainable parameters the way PyTorch does: BatchNorm's running mean and variance are
/// buffers there, while burn's `num_params` counts them too.
pub fn trainable_params(model: &Model) -> usize {
    struct Counter {
        path: Vec<String>,
        count: usize,
    }
    impl burn::module::ModuleVisitor for Counter {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let buffer = self
                .path
                .last()
                .is_some_and(|n| n == "running_mean" || n == "running_var");
            if !buffer {
                self.count += param.shape().num_elements();
            }
        }
    }
    let mut c = Counter {
        path: Vec::new(),
        count: 0,
    };
    model.visit(&mut c);
    c.count
}
