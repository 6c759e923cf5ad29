mod common;

use brainseg::eval::{native_dice, native_mask, reference_dice, threshold_sweep};
use brainseg::ingest::{ingest_files, scan_dir};
use brainseg::postprocess::Components;
use brainseg::preprocess::{PrepOptions, preprocess};
use brainseg::synthetic::synthetic_case;

#[test]
fn inverse_mapping_of_masks_is_exact() {
    // Non-square slices, so cropping and padding both happen.
    for (h, w, n) in [(60, 44, 64), (37, 53, 128), (64, 64, 64)] {
        let case = synthetic_case("INV", 10, h, w, 7);
        let prep = preprocess(&case, PrepOptions::native(n)).unwrap();
        let t = &prep.transform;
        assert!(
            t.y1 - t.y0 < h && t.x1 - t.x0 < w,
            "the background is cropped"
        );
        let back = t.mask_to_original(prep.mask.as_ref().unwrap());
        assert_eq!(back, case.mask_volume().unwrap(), "{h}x{w} -> {n}");
        // Predictions take the probability path: resampled bilinearly (smooth borders) and then
        // thresholded, so a binary map comes back equal up to a few border pixels.
        let probs: Vec<f32> = prep
            .mask
            .as_ref()
            .unwrap()
            .iter()
            .map(|&m| m as f32)
            .collect();
        let d = native_dice(&native_mask(&probs, &prep, Components::Largest), &case).unwrap();
        assert!(d > 0.99, "{h}x{w} -> {n}: probability path DSC {d}");
    }
}

#[test]
fn output_is_normalised_per_channel() {
    let case = synthetic_case("NORM", 8, 50, 40, 8);
    let prep = preprocess(&case, PrepOptions::native(32)).unwrap();
    let (k, n) = (prep.slices(), 32 * 32);
    assert_eq!(prep.image.len(), k * 3 * n);
    for c in 0..3 {
        let vals: Vec<f64> = (0..k)
            .flat_map(|z| prep.image[(z * 3 + c) * n..][..n].iter().map(|&v| v as f64))
            .collect();
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
        assert!(
            mean.abs() < 1e-3 && (var.sqrt() - 1.0).abs() < 1e-3,
            "channel {c}: mean {mean} std {}",
            var.sqrt()
        );
    }
}

#[test]
fn reference_protocol_drops_the_end_slices_and_scores_in_preprocessed_space() {
    let case = synthetic_case("REF", 9, 40, 40, 9);
    let prep = preprocess(&case, PrepOptions::reference(32)).unwrap();
    assert!(prep.transform.z0 >= 1 && prep.transform.z1 <= 8);
    let perfect: Vec<f32> = prep
        .mask
        .as_ref()
        .unwrap()
        .iter()
        .map(|&m| m as f32)
        .collect();
    assert_eq!(reference_dice(&perfect, &prep), Some(1.0));
    let empty = vec![0.0; perfect.len()];
    assert_eq!(reference_dice(&empty, &prep), Some(0.0));
}

#[test]
fn an_empty_volume_is_an_error_not_a_panic() {
    let mut case = synthetic_case("ZERO", 3, 8, 8, 1);
    for s in &mut case.slices {
        s.image.data.iter_mut().for_each(|v| *v = 0.0);
    }
    let err = preprocess(&case, PrepOptions::native(16))
        .unwrap_err()
        .to_string();
    assert!(err.contains("ZERO") && err.contains("zero"), "{err}");
}

#[test]
fn lgg_mini_round_trips_through_preprocessing() {
    let Some(dir) = common::lgg_mini() else {
        return;
    };
    let got = ingest_files(scan_dir(&dir).unwrap());
    for case in &got.cases {
        let prep = preprocess(case, PrepOptions::native(256)).unwrap();
        assert_eq!(
            prep.transform.mask_to_original(prep.mask.as_ref().unwrap()),
            case.mask_volume().unwrap(),
            "{}",
            case.id
        );
    }
}

#[test]
fn a_threshold_sweep_at_half_is_the_protocols_and_other_thresholds_move_it() {
    let case = synthetic_case("SWEEP", 9, 40, 44, 11);
    let reference = preprocess(&case, PrepOptions::reference(32)).unwrap();
    let native = preprocess(&case, PrepOptions::native(32)).unwrap();
    // Lesion voxels at 0.7, a faint halo of the next 0.3 everywhere else: a pattern whose DSC
    // depends on the threshold (0.3 keeps everything, 0.5 the lesion, 0.8 nothing).
    let faint = |prep: &brainseg::preprocess::Prepared| -> Vec<f32> {
        let m = prep.mask.as_ref().unwrap();
        m.iter().map(|&v| if v != 0 { 0.7 } else { 0.3 }).collect()
    };
    let (pr, pn) = (faint(&reference), faint(&native));
    let rows = threshold_sweep(&[0.25, 0.5, 0.8], (&pr, &reference), (&pn, &native), &case)
        .expect("the case has masks");
    let at_half = rows[1];
    assert_eq!(at_half.0, 0.5);
    assert_eq!(Some(at_half.1), reference_dice(&pr, &reference));
    let protocol = native_dice(&native_mask(&pn, &native, Components::Largest), &case);
    assert_eq!(Some(at_half.2), protocol);
    assert!(at_half.1 > 0.99, "the lesion alone at 0.5: {at_half:?}");
    // At 0.25 the halo joins the lesion (DSC falls); at 0.8 nothing is left (0).
    assert!(rows[0].1 < 0.5 && rows[0].2 < 0.5, "{:?}", rows[0]);
    assert_eq!((rows[2].1, rows[2].2), (0.0, 0.0));
}
