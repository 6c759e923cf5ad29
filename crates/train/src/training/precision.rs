//! `--mixed-precision`: training steps whose convolutions compute in 16 bits on a GPU
//! (`brainseg::model::autocast`), with f32 master weights, dynamic loss scaling for f16, and a
//! guard that skips a step whose loss or gradients are not finite and says so.
//!
//! Loss scaling follows PyTorch's `GradScaler`: f16 gradients of small values underflow to 0, so
//! the loss is multiplied by a large scale before the backward pass and the parameters'
//! gradients divided by it after; a step whose gradients overflowed is skipped and the scale
//! halved; after 2,000 steps in a row without overflow it is doubled. bf16 has f32's exponent
//! range, so it trains without a scale (the guard still applies).

use crate::backend::Backend;
use anyhow::{Result, bail};
use brainseg::model::Model;
use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::FloatDType;
use serde::{Deserialize, Serialize};

/// The 16-bit float type of a mixed-precision training step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MixedPrecision {
    /// IEEE half precision, with dynamic loss scaling (every GPU with 16-bit floats).
    F16,
    /// bfloat16, no loss scaling needed (CUDA; WGSL has no bf16).
    Bf16,
}

impl MixedPrecision {
    /// The flag's value (`f16`, `bf16`).
    pub fn name(self) -> &'static str {
        match self {
            MixedPrecision::F16 => "f16",
            MixedPrecision::Bf16 => "bf16",
        }
    }

    pub fn dtype(self) -> FloatDType {
        match self {
            MixedPrecision::F16 => FloatDType::F16,
            MixedPrecision::Bf16 => FloatDType::BF16,
        }
    }
}

/// Refuses mixed precision where it cannot help or cannot run, before any training starts.
pub fn check(mixed: Option<MixedPrecision>, backend: Backend, device: &Device) -> Result<()> {
    let Some(mixed) = mixed else {
        return Ok(());
    };
    if matches!(backend, Backend::Flex | Backend::LibtorchCpu) {
        bail!(
            "--mixed-precision is for the GPU backends (wgpu, cuda, libtorch): the CPU has no \
             fast 16-bit arithmetic, so it would only train slower; leave the flag out on the CPU"
        );
    }
    if !device.supports_dtype(mixed.dtype()) {
        bail!(
            "--mixed-precision {}: the {backend:?} device has no {} arithmetic (WGSL has no bf16; \
             f16 needs the adapter's shader-f16 feature)",
            mixed.name(),
            mixed.name()
        );
    }
    Ok(())
}

/// The scale f16 training starts with (PyTorch's `GradScaler` default, 2^16).
const INITIAL_SCALE: f32 = 65_536.0;
/// Steps in a row without overflow after which the scale doubles.
const GROWTH_INTERVAL: u32 = 2_000;
/// Steps skipped in a row after which the run stops: no scale rescues it.
pub const MAX_SKIPPED_IN_A_ROW: u32 = 50;

/// The loss scale and the record of skipped steps.
#[derive(Debug, Clone)]
pub struct LossScaler {
    mixed: Option<MixedPrecision>,
    scale: f32,
    good_steps: u32,
    skipped_in_a_row: u32,
}

/// Why a step was not applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Skip {
    /// The loss itself was not finite (an activation overflowed 16 bits in the forward pass).
    Loss(f64),
    /// A gradient was not finite at this scale; the scale is now half of it.
    Gradients { scale: f32 },
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Skip::Loss(v) => write!(f, "the loss was {v} (16-bit overflow in the forward pass)"),
            Skip::Gradients { scale } => write!(
                f,
                "a gradient overflowed at loss scale {scale}; the scale is now {}",
                scale / 2.0
            ),
        }
    }
}

impl LossScaler {
    /// The scaler of a run; `resumed` is the scale a resumed run had reached.
    pub fn new(mixed: Option<MixedPrecision>, resumed: Option<f32>) -> Self {
        let scale = match mixed {
            Some(MixedPrecision::F16) => resumed.filter(|s| s.is_finite() && *s > 0.0),
            _ => None,
        };
        Self {
            mixed,
            scale: scale.unwrap_or(if mixed == Some(MixedPrecision::F16) {
                INITIAL_SCALE
            } else {
                1.0
            }),
            good_steps: 0,
            skipped_in_a_row: 0,
        }
    }

    /// The 16-bit type of the forward pass (`None`: f32).
    pub fn compute(&self) -> Option<FloatDType> {
        self.mixed.map(MixedPrecision::dtype)
    }

    /// The current loss scale (1 without f16).
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// `loss × scale`, what the backward pass starts from.
    pub fn scale_loss(&self, loss: Tensor<1>) -> Tensor<1> {
        if self.scale == 1.0 {
            loss
        } else {
            loss.mul_scalar(self.scale)
        }
    }

    /// Records a step whose loss was not finite. Errors once too many steps in a row failed.
    pub fn skip_loss(&mut self, value: f64) -> Result<Skip> {
        self.skipped(Skip::Loss(value))
    }

    /// Divides every gradient by the scale and checks them all: `Ok(None)` when the step may be
    /// applied, `Ok(Some(skip))` when it must not (a gradient is infinite or NaN; for f16 the
    /// scale is halved), an error once too many steps in a row were skipped.
    pub fn unscale(&mut self, grads: &mut GradientsParams, model: &Model) -> Result<Option<Skip>> {
        let mut visitor = Unscale {
            grads,
            factor: 1.0 / self.scale,
            check: None,
        };
        model.visit(&mut visitor);
        // inf × 0 and NaN × 0 are NaN: the sum is finite exactly when every gradient is. One
        // read for the whole model (a single wait for the device).
        let finite = visitor
            .check
            .map(|c| c.into_scalar::<f32>().is_finite())
            .unwrap_or(true);
        if finite {
            self.skipped_in_a_row = 0;
            self.good_steps += 1;
            if self.mixed == Some(MixedPrecision::F16) && self.good_steps >= GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.good_steps = 0;
            }
            return Ok(None);
        }
        let skip = Skip::Gradients { scale: self.scale };
        if self.mixed == Some(MixedPrecision::F16) {
            self.scale /= 2.0;
        }
        self.skipped(skip).map(Some)
    }

    fn skipped(&mut self, skip: Skip) -> Result<Skip> {
        self.good_steps = 0;
        self.skipped_in_a_row += 1;
        if self.skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW {
            bail!(
                "{MAX_SKIPPED_IN_A_ROW} training steps in a row skipped (the last: {skip}); \
                 lower --lr, or train without --mixed-precision"
            );
        }
        Ok(skip)
    }
}

/// Replaces each parameter's gradient by itself × `factor` and sums `gradient × 0` into `check`.
struct Unscale<'a> {
    grads: &'a mut GradientsParams,
    factor: f32,
    check: Option<Tensor<1>>,
}

impl ModuleVisitor for Unscale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(g) = self.grads.remove::<D>(param.id) else {
            return;
        };
        let g = if self.factor == 1.0 {
            g
        } else {
            g.mul_scalar(self.factor)
        };
        let term = g.clone().mul_scalar(0.0).sum();
        self.check = Some(match self.check.take() {
            Some(c) => c + term,
            None => term,
        });
        self.grads.register(param.id, g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainseg::model::{Arch, ModelConfig};

    fn tiny_model() -> Model {
        let cfg = ModelConfig {
            arch: Arch::Unet,
            width: 4,
            levels: 1,
            cardinality: 4,
            context: 0,
            norm: Default::default(),
            max_width: 0,
        };
        cfg.init(&Device::flex().autodiff()).expect("valid config")
    }

    /// The gradients of `model`'s summed logits × `factor` (× inf: every one infinite or NaN).
    fn grads(model: &Model, factor: f32) -> GradientsParams {
        let x = Tensor::<4>::ones([1, 3, 4, 4], &Device::flex().autodiff());
        let loss = model.forward(x).sum().mul_scalar(factor);
        GradientsParams::from_grads(loss.backward(), model)
    }

    fn model_and_grads(factor: f32) -> (Model, GradientsParams) {
        let model = tiny_model();
        let grads = grads(&model, factor);
        (model, grads)
    }

    fn first_grad(model: &Model, grads: &GradientsParams) -> Vec<f32> {
        struct First<'a>(&'a GradientsParams, Option<Vec<f32>>);
        impl ModuleVisitor for First<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if self.1.is_none()
                    && let Some(g) = self.0.get::<D>(param.id)
                {
                    self.1 = Some(g.into_data().try_to_vec::<f32>().expect("f32"));
                }
            }
        }
        let mut v = First(grads, None);
        model.visit(&mut v);
        v.1.expect("a gradient")
    }

    #[test]
    fn finite_gradients_are_divided_by_the_scale_and_the_step_applies() {
        let model = tiny_model();
        let plain = grads(&model, 1.0);
        let mut scaled = grads(&model, 65_536.0);
        let want = first_grad(&model, &plain);
        let mut scaler = LossScaler::new(Some(MixedPrecision::F16), None);
        assert_eq!(scaler.scale(), INITIAL_SCALE);
        assert_eq!(scaler.unscale(&mut scaled, &model).expect("no error"), None);
        let got = first_grad(&model, &scaled);
        assert!(want.iter().any(|v| *v != 0.0));
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
        assert_eq!(scaler.scale(), INITIAL_SCALE);
    }

    #[test]
    fn overflowed_gradients_skip_the_step_and_halve_the_scale_until_the_run_gives_up() {
        let mut scaler = LossScaler::new(Some(MixedPrecision::F16), Some(1024.0));
        for n in 1..MAX_SKIPPED_IN_A_ROW {
            let (model, mut grads) = model_and_grads(f32::INFINITY);
            let skip = scaler.unscale(&mut grads, &model).expect("not yet fatal");
            let scale = 1024.0 / 2f32.powi(n as i32 - 1);
            assert_eq!(skip, Some(Skip::Gradients { scale }));
            assert_eq!(scaler.scale(), scale / 2.0);
        }
        let (model, mut grads) = model_and_grads(f32::INFINITY);
        let err = scaler.unscale(&mut grads, &model).expect_err("gives up");
        assert!(err.to_string().contains("in a row skipped"), "{err}");
        // A finite step in between resets the count.
        let mut scaler = LossScaler::new(Some(MixedPrecision::F16), None);
        scaler.skip_loss(f64::NAN).expect("one skip");
        let (model, mut grads) = model_and_grads(1.0);
        assert_eq!(scaler.unscale(&mut grads, &model).expect("fine"), None);
        assert_eq!(scaler.skipped_in_a_row, 0);
    }

    #[test]
    fn the_scale_doubles_after_a_run_of_good_steps_and_bf16_has_none() {
        let mut scaler = LossScaler::new(Some(MixedPrecision::F16), Some(8.0));
        scaler.good_steps = GROWTH_INTERVAL - 1;
        let (model, mut grads) = model_and_grads(1.0);
        assert_eq!(scaler.unscale(&mut grads, &model).expect("fine"), None);
        assert_eq!(scaler.scale(), 16.0);
        let mut bf16 = LossScaler::new(Some(MixedPrecision::Bf16), Some(8.0));
        assert_eq!(bf16.scale(), 1.0);
        let (model, mut grads) = model_and_grads(f32::INFINITY);
        assert!(matches!(
            bf16.unscale(&mut grads, &model),
            Ok(Some(Skip::Gradients { .. }))
        ));
        assert_eq!(bf16.scale(), 1.0);
        assert_eq!(LossScaler::new(None, None).compute(), None);
    }

    #[test]
    fn the_cpu_backends_refuse_mixed_precision() {
        // LibTorch's CPU backend is refused before its device is looked at, so flex's device
        // stands in for it in a build without `tch`.
        for backend in [Backend::Flex, Backend::LibtorchCpu] {
            let err =
                check(Some(MixedPrecision::F16), backend, &Device::flex()).expect_err("refused");
            assert!(err.to_string().contains("GPU backends"), "{err}");
        }
        check(None, Backend::Flex, &Device::flex()).expect("f32 is fine");
    }
}
