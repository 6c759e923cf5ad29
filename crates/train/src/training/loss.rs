//! Training losses on logits `[B, 1, H, W]` and binary targets of the same shape.

use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, sigmoid};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Soft Dice over the whole flattened batch, smooth 1 (the reference's DiceLoss).
    Dice,
    /// Soft Jaccard (IoU), smooth 1.
    Iou,
    /// Binary cross-entropy on logits.
    Bce,
    /// Dice + BCE.
    DiceBce,
    /// Tversky index (Salehi et al. 2017), α 0.3 on false positives and β 0.7 on false
    /// negatives, smooth 1: Dice that weighs a missed lesion voxel more than a false one, for
    /// models that under-segment faint lesion borders.
    Tversky,
    /// Dice + focal loss (Lin et al. 2017, γ 2, no class weight; MONAI's `DiceFocalLoss`
    /// defaults): the cross-entropy term with each pixel weighted by how wrong it is, so the
    /// many easy background pixels stop outweighing a small lesion's few hard ones.
    DiceFocal,
    /// Soft Dice of each slice on its own, averaged over the batch (nnU-Net's per-sample
    /// Dice; smooth 1): a slice's small lesion weighs as much as another's large one, where
    /// `dice` pools the batch and lets the large lesions dominate.
    DiceSlice,
}

/// Tversky weights of false positives and false negatives (α + β = 1: Dice is 0.5 / 0.5).
const TVERSKY_ALPHA: f64 = 0.3;
const TVERSKY_BETA: f64 = 0.7;

const SMOOTH: f64 = 1.0;

/// Focal exponent: γ 2 is the paper's choice and MONAI's default.
const FOCAL_GAMMA: f64 = 2.0;

fn soft_terms(logits: Tensor<4>, target: Tensor<4>) -> (Tensor<1>, Tensor<1>) {
    let p = sigmoid(logits);
    let inter = (p.clone() * target.clone()).sum();
    let total = p.sum() + target.sum();
    (inter, total)
}

pub fn dice(logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let (inter, total) = soft_terms(logits, target);
    let dsc = (inter * 2.0 + SMOOTH) / (total + SMOOTH);
    dsc.neg() + 1.0
}

/// `1 − mean over slices of (2·inter + 1) / (total + 1)`; a slice without lesion scores
/// `1 / (Σp + 1)`, so its false positives cost as a missed small lesion does.
pub fn dice_per_slice(logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let [b, c, h, w] = logits.dims();
    let p = sigmoid(logits).reshape([b, c * h * w]);
    let target = target.reshape([b, c * h * w]);
    let inter = (p.clone() * target.clone()).sum_dim(1);
    let total = p.sum_dim(1) + target.sum_dim(1);
    let dsc = (inter * 2.0 + SMOOTH) / (total + SMOOTH);
    dsc.mean().neg() + 1.0
}

pub fn iou(logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let (inter, total) = soft_terms(logits, target);
    let j = (inter.clone() + SMOOTH) / (total - inter + SMOOTH);
    j.neg() + 1.0
}

/// `1 − (TP + 1) / (TP + α·FP + β·FN + 1)` with soft counts.
pub fn tversky(logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let p = sigmoid(logits);
    let tp = (p.clone() * target.clone()).sum();
    let fp = p.sum() - tp.clone();
    let fn_ = target.sum() - tp.clone();
    let ti = (tp.clone() + SMOOTH) / (tp + fp * TVERSKY_ALPHA + fn_ * TVERSKY_BETA + SMOOTH);
    ti.neg() + 1.0
}

/// `log p_t = t·log σ(x) + (1−t)·log σ(−x)` per pixel: the log-probability the model gives
/// the target, written with log-sigmoid for stability (the term BCE and focal loss share).
fn log_p_target(logits: Tensor<4>, target: Tensor<4>) -> Tensor<4> {
    log_sigmoid(logits.clone()) * target.clone() + log_sigmoid(logits.neg()) * (target.neg() + 1.0)
}

/// Mean of `−log p_t`.
pub fn bce(logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    log_p_target(logits, target).mean().neg()
}

/// Mean of `−(1 − p_t)^γ · log p_t`, with `log p_t` the log-sigmoid of the logit signed by the
/// target (the BCE term), and `p_t` its exponential: BCE with confident pixels down-weighted.
pub fn focal(logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let log_pt = log_p_target(logits, target);
    let miss = log_pt.clone().exp().neg() + 1.0;
    (miss.powf_scalar(FOCAL_GAMMA) * log_pt).mean().neg()
}

impl Loss {
    pub fn compute(self, logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
        match self {
            Loss::Dice => dice(logits, target),
            Loss::Iou => iou(logits, target),
            Loss::Bce => bce(logits, target),
            Loss::DiceBce => dice(logits.clone(), target.clone()) + bce(logits, target),
            Loss::Tversky => tversky(logits, target),
            Loss::DiceFocal => dice(logits.clone(), target.clone()) + focal(logits, target),
            Loss::DiceSlice => dice_per_slice(logits, target),
        }
    }
}

/// What a training step minimises: the run's loss on the model's logits, and with deep
/// supervision the same loss on each pyramid level's own logits too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Objective {
    pub loss: Loss,
    pub deep_supervision: bool,
}

impl From<Loss> for Objective {
    fn from(loss: Loss) -> Self {
        Objective {
            loss,
            deep_supervision: false,
        }
    }
}

impl Objective {
    /// The loss on `logits`, or with `levels` (finest first, `Model::forward_levels`) the
    /// weighted mean of it and the loss on each level: weights 1 for the model's output and
    /// ½, ¼, … from the finest level down, nnU-Net's halving per level, divided by their sum.
    pub fn compute(
        self,
        logits: Tensor<4>,
        levels: Vec<Tensor<4>>,
        target: Tensor<4>,
    ) -> Tensor<1> {
        let mut total = self.loss.compute(logits, target.clone());
        let mut weights = 1.0;
        let mut w = 1.0;
        for level in levels {
            w /= 2.0;
            weights += w;
            total = total + self.loss.compute(level, target.clone()) * w;
        }
        total / weights
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32], device: &Device) -> Tensor<4> {
        Tensor::from_data(TensorData::new(v.to_vec(), [1, 1, 1, v.len()]), device)
    }

    #[test]
    fn losses_match_hand_computed_values() {
        let d = Device::flex();
        // logits 0 and ln 3: probabilities 0.5 and 0.75; targets 1 and 0.
        let x = t(&[0.0, 3f32.ln()], &d);
        let y = t(&[1.0, 0.0], &d);
        let v = |l: Tensor<1>| l.into_scalar::<f32>() as f64;
        // Dice: inter 0.5, total 1.25 + 1 = 2.25 → 1 − (1 + 1)/(2.25 + 1) = 0.384615…
        assert!((v(dice(x.clone(), y.clone())) - (1.0 - 2.0 / 3.25)).abs() < 1e-5);
        // IoU: 1 − (0.5 + 1)/(2.25 − 0.5 + 1) = 0.454545…
        assert!((v(iou(x.clone(), y.clone())) - (1.0 - 1.5 / 2.75)).abs() < 1e-5);
        // BCE: mean(−ln 0.5, −ln 0.25) = (0.693147 + 1.386294)/2
        let want_bce = (2f64.ln() + 4f64.ln()) / 2.0;
        assert!((v(bce(x.clone(), y.clone())) - want_bce).abs() < 1e-5);
        // Tversky: TP 0.5, FP 0.75, FN 0.5 → 1 − 1.5/(0.5 + 0.225 + 0.35 + 1) = 0.277108…
        assert!((v(tversky(x.clone(), y.clone())) - (1.0 - 1.5 / 2.075)).abs() < 1e-5);
        // With α = β = 0.5 it would be Dice; here a miss costs more than a false alarm.
        let miss = v(tversky(t(&[-3.0], &d), t(&[1.0], &d)));
        let alarm = v(tversky(t(&[3.0], &d), t(&[0.0], &d)));
        assert!(miss > alarm, "miss {miss} alarm {alarm}");
        let sum = v(Loss::DiceBce.compute(x.clone(), y.clone()));
        assert!((sum - (1.0 - 2.0 / 3.25) - want_bce).abs() < 1e-5);
        // Focal: p_t 0.5 and 0.25 → mean(0.5² · ln 2, 0.75² · ln 4) = (0.173287 + 0.779791)/2
        let want_focal = (0.25 * 2f64.ln() + 0.5625 * 4f64.ln()) / 2.0;
        assert!((v(focal(x.clone(), y.clone())) - want_focal).abs() < 1e-5);
        let sum = v(Loss::DiceFocal.compute(x, y));
        assert!((sum - (1.0 - 2.0 / 3.25) - want_focal).abs() < 1e-5);
    }

    #[test]
    fn per_slice_dice_averages_the_slices_dice() {
        let d = Device::flex();
        let v = |l: Tensor<1>| l.into_scalar::<f32>() as f64;
        // Slice 1: p (0.5, 0.75), t (1, 0) → 1 − 2/3.25. Slice 2: p (0.5, 0.5), t (0, 0)
        // → 1 − 1/2.
        let x = Tensor::from_data(
            TensorData::new(vec![0.0, 3f32.ln(), 0.0, 0.0], [2, 1, 1, 2]),
            &d,
        );
        let y = Tensor::from_data(TensorData::new(vec![1f32, 0.0, 0.0, 0.0], [2, 1, 1, 2]), &d);
        let want = ((1.0 - 2.0 / 3.25) + 0.5) / 2.0;
        let got = v(Loss::DiceSlice.compute(x.clone(), y.clone()));
        assert!((got - want).abs() < 1e-5, "{got} against {want}");
        // Pooled over the batch it differs: inter 0.5, total 2.25 + 1 → 1 − 2/4.25.
        assert!((v(dice(x, y)) - (1.0 - 2.0 / 4.25)).abs() < 1e-5);
        // One slice alone: the same as the pooled Dice.
        let x = t(&[0.0, 3f32.ln()], &d);
        let y = t(&[1.0, 0.0], &d);
        assert!((v(dice_per_slice(x.clone(), y.clone())) - v(dice(x, y))).abs() < 1e-6);
    }

    #[test]
    fn deep_supervision_weighs_the_output_one_and_the_levels_by_halves() {
        let d = Device::flex();
        let v = |l: Tensor<1>| l.into_scalar::<f32>() as f64;
        let y = t(&[1.0, 0.0], &d);
        let out = t(&[2.0, -2.0], &d);
        let fine = t(&[0.0, 0.0], &d);
        let coarse = t(&[-1.0, 1.0], &d);
        let each = |x: &Tensor<4>| v(dice(x.clone(), y.clone()));
        let plain = Objective::from(Loss::Dice);
        // No levels: the loss itself, whatever the flag says.
        let deep = Objective {
            deep_supervision: true,
            ..plain
        };
        assert!((v(deep.compute(out.clone(), vec![], y.clone())) - each(&out)).abs() < 1e-6);
        let want = (each(&out) + 0.5 * each(&fine) + 0.25 * each(&coarse)) / 1.75;
        let got = v(deep.compute(out.clone(), vec![fine, coarse], y.clone()));
        assert!((got - want).abs() < 1e-5, "{got} against {want}");
        assert!(got > each(&out), "worse levels raise the loss: {got}");
    }

    #[test]
    fn bce_and_focal_are_stable_for_large_logits() {
        let d = Device::flex();
        let l = bce(t(&[80.0, -80.0], &d), t(&[1.0, 0.0], &d)).into_scalar::<f32>();
        assert!(l.is_finite() && l < 1e-6, "{l}");
        let l = focal(t(&[80.0, -80.0], &d), t(&[1.0, 0.0], &d)).into_scalar::<f32>();
        assert!(l.is_finite() && l < 1e-6, "{l}");
        // A confident miss keeps its full cross-entropy: (1 − e^−80)² ≈ 1.
        let l = focal(t(&[-80.0], &d), t(&[1.0], &d)).into_scalar::<f32>();
        assert!((l - 80.0).abs() < 1e-3, "{l}");
    }
}
