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
}

/// Tversky weights of false positives and false negatives (α + β = 1: Dice is 0.5 / 0.5).
const TVERSKY_ALPHA: f64 = 0.3;
const TVERSKY_BETA: f64 = 0.7;

const SMOOTH: f64 = 1.0;

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

/// Mean of `-(t·log σ(x) + (1−t)·log σ(−x))`, written with log-sigmoid for stability.
pub fn bce(logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    let pos = log_sigmoid(logits.clone()) * target.clone();
    let neg = log_sigmoid(logits.neg()) * (target.neg() + 1.0);
    (pos + neg).mean().neg()
}

impl Loss {
    pub fn compute(self, logits: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
        match self {
            Loss::Dice => dice(logits, target),
            Loss::Iou => iou(logits, target),
            Loss::Bce => bce(logits, target),
            Loss::DiceBce => dice(logits.clone(), target.clone()) + bce(logits, target),
            Loss::Tversky => tversky(logits, target),
        }
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
        let sum = v(Loss::DiceBce.compute(x, y));
        assert!((sum - (1.0 - 2.0 / 3.25) - want_bce).abs() < 1e-5);
    }

    #[test]
    fn bce_is_stable_for_large_logits() {
        let d = Device::flex();
        let l = bce(t(&[80.0, -80.0], &d), t(&[1.0, 0.0], &d)).into_scalar::<f32>();
        assert!(l.is_finite() && l < 1e-6, "{l}");
    }
}
