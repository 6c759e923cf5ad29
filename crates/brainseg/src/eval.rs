//! The two evaluation protocols, shared by `train eval`, validation during training and the web
//! app so that all report the same numbers.
//!
//! - *reference*: as the reference program — first and last slice dropped, DSC computed in
//!   preprocessed space (cropped, N×N) after threshold and largest 3-D component.
//! - *native*: all slices; probabilities mapped back onto the original slice grid, then
//!   threshold, the 3-D components the model's manifest keeps (the largest unless it says
//!   otherwise), DSC against the original masks: what the web app shows.

use crate::ingest::Case;
use crate::metrics::dice;
use crate::postprocess::{Components, THRESHOLD, postprocess_at, postprocess_with};
use crate::preprocess::Prepared;

/// Reference-protocol DSC of probabilities predicted on `prep` (prepared with
/// `PrepOptions::reference`). None when the case has no masks.
pub fn reference_dice(probs: &[f32], prep: &Prepared) -> Option<f64> {
    reference_dice_at(probs, prep, THRESHOLD)
}

/// Reference-protocol DSC with the threshold `t` instead of the protocols' 0.5.
fn reference_dice_at(probs: &[f32], prep: &Prepared, t: f32) -> Option<f64> {
    let truth = prep.mask.as_ref()?;
    let n = prep.size();
    let pred = postprocess_at(probs, t, prep.slices(), n, n);
    Some(dice(&pred, truth))
}

/// DSC in both protocols (reference, native) at each threshold of `thresholds` instead of the
/// protocols' 0.5, keeping the largest 3-D component as both protocols do: one row per
/// threshold, from the probabilities of one inference pass per protocol (`reference` prepared
/// with `PrepOptions::reference`, `native` with `PrepOptions::native`). None when the case has
/// no masks.
pub fn threshold_sweep(
    thresholds: &[f32],
    reference: (&[f32], &Prepared),
    native: (&[f32], &Prepared),
    case: &Case,
) -> Option<Vec<(f32, f64, f64)>> {
    let (ref_probs, ref_prep) = reference;
    // Mapped back onto the original grid once, not once per threshold.
    let t = &native.1.transform;
    let native_probs = t.probabilities_to_original(native.0);
    let native_truth = case.mask_volume()?;
    thresholds
        .iter()
        .map(|&th| {
            let m = postprocess_at(&native_probs, th, t.depth, t.height, t.width);
            Some((
                th,
                reference_dice_at(ref_probs, ref_prep, th)?,
                dice(&m, &native_truth),
            ))
        })
        .collect()
}

/// The predicted mask on the original grid (depth × height × width), thresholded, keeping the
/// components `keep` says: the protocol's rule is the largest; a model's manifest may name
/// another (`Manifest::components`), which the web app and `train eval` then apply.
pub fn native_mask(probs: &[f32], prep: &Prepared, keep: Components) -> Vec<u8> {
    let t = &prep.transform;
    postprocess_with(
        &t.probabilities_to_original(probs),
        t.depth,
        t.height,
        t.width,
        keep,
    )
}

/// The components of a native prediction on the case's original grid, largest first, with
/// their overlap with the case's masks (`postprocess::component_stats`).
pub fn native_component_stats(
    probs: &[f32],
    prep: &Prepared,
    case: &Case,
) -> Vec<crate::postprocess::ComponentStats> {
    let t = &prep.transform;
    let truth = case.mask_volume();
    crate::postprocess::component_stats(
        &t.probabilities_to_original(probs),
        truth.as_deref(),
        t.depth,
        t.height,
        t.width,
    )
}

/// Native-protocol DSC of a native mask against the case's masks; None without masks.
pub fn native_dice(pred: &[u8], case: &Case) -> Option<f64> {
    Some(dice(pred, &case.mask_volume()?))
}

/// DSC of each slice (depth × plane layout), for per-slice display.
pub fn per_slice_dice(pred: &[u8], truth: &[u8], plane: usize) -> Vec<f64> {
    pred.chunks(plane)
        .zip(truth.chunks(plane))
        .map(|(p, t)| dice(p, t))
        .collect()
}
