//! What the page says of a shipped model, made from its manifest only (no hand-written labels):
//! architecture and inference setting, training recipe, cross-validated DSC and validation DSC,
//! each figure saying which it is. No DOM here, so it is unit-tested.

use brainseg::manifest::{Manifest, Precision, Validation};
use brainseg::model_config::Norm;
use brainseg::postprocess::Components;
use brainseg::preprocess::{CENTRAL_STATISTICS, FLAIR_FOR_POST_CONTRAST};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    /// Architecture, width, input side, TTA, ensemble members.
    pub architecture: String,
    /// How it was trained (from the manifest's training record).
    pub recipe: String,
    /// Out-of-fold DSC of its recipe, or that there is none.
    pub cross_validated: String,
    /// DSC on the validation cases, and whether they were held out of its training.
    pub validation: String,
}

/// The card of a model (an ensemble's manifests, first model first).
pub fn card(manifests: &[Manifest]) -> Option<Card> {
    let (m, members) = manifests.split_first()?;
    let mut architecture = describe_model(m);
    for member in members {
        architecture.push_str(&format!(" + {}", describe_model(member)));
    }
    if !members.is_empty() {
        architecture.push_str(&format!(" (ensemble of {})", manifests.len()));
    }
    if m.flip_tta {
        architecture.push_str(" · flip TTA");
    }
    if !m.tta_sizes.is_empty() {
        let sides: Vec<String> = m.tta_sizes.iter().map(|n| format!("{n}²")).collect();
        architecture.push_str(&format!(" · scale TTA {}", sides.join(", ")));
    }
    if m.preprocessing_version >= CENTRAL_STATISTICS {
        architecture.push_str(" · intensities normalised on the central slices");
    }
    if m.preprocessing_version == FLAIR_FOR_POST_CONTRAST {
        architecture.push_str(" · post-contrast not used (its channel given the FLAIR)");
    }
    if let Some(rule) = describe_components(m.components) {
        architecture.push_str(&format!(" · {rule}"));
    }
    if m.precision != Precision::F32 {
        architecture.push_str(&format!(" · {} weights", bits(m.precision)));
    }
    let cross_validated = match &m.cross_validation {
        Some(cv) => {
            let mut setting = format!(
                "{} folds, {} of {} development cases scored by a model that never saw them, \
                 {}-epoch weights",
                cv.folds,
                cv.reference.cases.len(),
                cv.cases,
                cv.weights
            );
            // The fold models are scored as trained unless their record says they were stored
            // first (`train cv-ensemble --precision`); otherwise what storing the weights
            // smaller costs shows only in the validation figure, measured on the stored weights.
            let scored = cv.precision.unwrap_or(Precision::F32);
            if scored != m.precision {
                setting.push_str(&format!(" in {}, not {}", bits(scored), bits(m.precision)));
            } else if scored != Precision::F32 {
                setting.push_str(&format!(" in {}, as shipped", bits(scored)));
            }
            if !cv.members.is_empty() {
                // An ensemble's figure is its own; its members' alone show what averaging adds.
                let alone: Vec<String> = cv
                    .members
                    .iter()
                    .map(|m| format!("{:.3}", m.reference.mean))
                    .collect();
                format!(
                    "cross-validated DSC of this ensemble of {}: {} (each fold's {} models \
                     averaged; its members' recipes alone: mean {}) ({setting})",
                    cv.members.len(),
                    figures(&cv.reference),
                    cv.members.len(),
                    alone.join(", ")
                )
            } else if cv.other_draws.is_empty() {
                format!("cross-validated DSC {} ({setting})", figures(&cv.reference))
            } else {
                // One draw's figure moves with its seed: the recipe's is the mean over draws.
                let s = cv.spread();
                format!(
                    "cross-validated DSC mean {:.3} over {} training draws of its recipe (SD \
                     {:.3}; draws {:.3} to {:.3}), reference protocol; one draw in full: {} \
                     ({setting})",
                    s.mean,
                    s.draws,
                    s.sd,
                    s.lowest,
                    s.highest,
                    figures(&cv.reference)
                )
            }
        }
        None => "cross-validated DSC: not measured for this model".into(),
    };
    let validation = match &m.validation {
        Some(v) => {
            let held_out = match m.cross_validation.as_ref().map(|cv| cv.model_fold) {
                _ if m.trained_on_validation_cases() => {
                    "trained on them: not a test of new patients"
                }
                Some(Some(_)) => "held out of its training",
                Some(None) => "",
                None => "not cross-validated: they may have guided its selection",
            };
            let mut s = format!("validation DSC {} ({} cases", figures(v), v.cases.len());
            if !held_out.is_empty() {
                s.push_str(&format!("; {held_out}"));
            }
            s.push(')');
            s
        }
        None => "validation DSC: not measured".into(),
    };
    Some(Card {
        architecture,
        recipe: recipe(&m.training),
        cross_validated,
        validation,
    })
}

fn describe_model(m: &Manifest) -> String {
    let mut s = format!(
        "{} f={} · {} levels · input {}²",
        m.model.arch, m.model.width, m.model.levels, m.input_size
    );
    if m.model.caps_a_level() {
        s.push_str(&format!(
            " · at most {} channels a level",
            m.model.max_width
        ));
    }
    match m.model.context {
        0 => {}
        1 => s.push_str(" · 2.5-D: with the FLAIR of the slice above and below"),
        c => s.push_str(&format!(
            " · 2.5-D: with the FLAIR of {c} slices above and {c} below"
        )),
    }
    if m.model.norm == Norm::Instance {
        s.push_str(" · instance norm");
    }
    s
}

/// The post-processing a manifest names, in words; None for the protocols' own (the largest
/// component), which every model keeps unless its manifest says otherwise.
fn describe_components(keep: Components) -> Option<String> {
    match keep {
        Components::Largest => None,
        Components::MostProbable => Some("keeps the most probable 3-D component".into()),
        Components::Relative(f) => Some(format!(
            "keeps every 3-D component of at least {f} × the largest"
        )),
        Components::All => Some("keeps every 3-D component".into()),
    }
}

/// "mean 0.912 · median 0.921 · worst 0.790, reference protocol".
/// How the card names a stored precision.
fn bits(p: Precision) -> &'static str {
    match p {
        Precision::F32 => "f32",
        Precision::F16 => "16-bit",
        Precision::Q8 => "8-bit",
        Precision::Q4 => "4-bit",
    }
}

fn figures(v: &Validation) -> String {
    format!(
        "mean {:.3} · median {:.3} · worst {:.3}, {} protocol",
        v.mean, v.median, v.min, v.protocol
    )
}

/// A probability as the command line gave it: the manifest stores the f32 flags widened
/// (0.33 → 0.33000001311302185), so three decimals, trailing zeros dropped.
fn share(p: f64) -> String {
    let s = format!("{p:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One `train fit` configuration in words.
fn fit_recipe(config: &Value) -> Option<String> {
    let c = config.as_object()?;
    let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    let num = |k: &str| {
        c.get(k)
            .map(|v| v.to_string())
            .unwrap_or_else(|| "?".into())
    };
    // A crop run's epoch is that many windows, not whole slices: say so, or the card would
    // read as if it saw slices of the size it runs on.
    let seen = match c.get("crop").and_then(Value::as_u64) {
        Some(crop) => format!(
            "{} {crop}² windows of slices at {}² ({} centred on lesion)",
            num("samples_per_epoch"),
            num("size"),
            c.get("crop_lesion_p")
                .and_then(Value::as_f64)
                .map_or_else(|| "?".into(), share),
        ),
        None => format!("{} slices at {}²", num("samples_per_epoch"), num("size")),
    };
    let mut s = format!(
        "{} loss · {} epochs × {seen}, batch {} · {} lr {} ({})",
        text("loss"),
        num("epochs"),
        num("batch"),
        text("optimizer"),
        num("lr"),
        text("schedule"),
    );
    for (key, what) in [
        ("deep_supervision", "deep supervision"),
        ("aug_intensity", "intensity augmentation"),
        ("aug_quality", "image-quality augmentation"),
        ("aug_elastic", "elastic deformation"),
    ] {
        if c.get(key).and_then(Value::as_bool) == Some(true) {
            s.push_str(&format!(" · {what}"));
        }
    }
    for (key, what) in [
        ("aug_missing", "missing sequences"),
        ("aug_lesion_contrast", "fainter lesions"),
    ] {
        if let Some(p) = c.get(key).and_then(Value::as_f64).filter(|p| *p > 0.0) {
            s.push_str(&format!(" · {what} (p {})", share(p)));
        }
    }
    s.push_str(&format!(" · {}", text("backend")));
    Some(s)
}

/// How a model was trained, from its manifest's free-form `training` record (`train fit`,
/// `train average`, `train ship` write it).
pub fn recipe(training: &Value) -> String {
    if let Some(inputs) = training.get("averaged").and_then(Value::as_array) {
        let first = training
            .get("inputs_training")
            .and_then(|t| t.get(0))
            .map(recipe)
            .unwrap_or_else(|| "?".into());
        return format!(
            "weight average of {} runs; the first: {first}",
            inputs.len()
        );
    }
    let Some(this) = training.get("config").and_then(fit_recipe) else {
        return "training record: none".into();
    };
    let stages = training
        .get("stages")
        .and_then(Value::as_array)
        .map_or(1, Vec::len);
    if stages > 1 {
        format!("{stages} training stages, the last: {this}")
    } else {
        this
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn manifest(extra: &str) -> Manifest {
        let scores = r#"{"protocol": "reference", "mean": 0.85, "median": 0.9, "min": 0.25,
            "cases": [{"case": "A", "dsc": 0.25}, {"case": "B", "dsc": 0.9}, {"case": "C", "dsc": 1.0}]}"#;
        let text = format!(
            r#"{{"model": {{"arch": "fpn", "width": 8, "levels": 4, "cardinality": 8}},
            "input_size": 64, "preprocessing_version": 1, "precision": "f16",
            "validation": {scores}, "training": {{"config": {{"loss": "dice-bce", "epochs": 8,
            "samples_per_epoch": 1024, "size": 64, "batch": 16, "optimizer": "adamw", "lr": 0.002,
            "schedule": "one-cycle", "backend": "flex"}}}} {extra}}}"#
        );
        Manifest::from_json(&text).unwrap()
    }

    /// A cross-validation's summary with `mean` as every figure but the worst (0).
    fn draw(run: &str, mean: f64) -> brainseg::manifest::CrossValidationDraw {
        let figures = brainseg::manifest::Figures {
            mean,
            median: mean,
            min: 0.0,
        };
        brainseg::manifest::CrossValidationDraw {
            run: run.into(),
            seed: 43,
            reference: figures,
            native: figures,
        }
    }

    /// The card names what preprocessing versions 2 and 3 change in the model's input.
    #[wasm_bindgen_test]
    fn a_card_names_the_inputs_preprocessing_2_and_3_give_the_model() {
        let card_of = |version: u32| {
            let mut m = manifest("");
            m.preprocessing_version = version;
            card(&[m]).unwrap().architecture
        };
        assert!(!card_of(1).contains("central slices"));
        assert!(card_of(2).ends_with(
            "input 64² · intensities normalised on the central slices · 16-bit weights"
        ));
        assert!(card_of(3).contains(
            "central slices · post-contrast not used (its channel given the FLAIR) · 16-bit"
        ));
    }

    #[wasm_bindgen_test]
    fn a_card_says_which_figure_is_cross_validated_and_which_is_validation() {
        let cv = r#", "cross_validation": {"folds": 5, "cases": 100, "weights": "last",
            "model_fold": 0, "reference": {"protocol": "reference", "mean": 0.8, "median": 0.85,
            "min": 0.1, "cases": [{"case": "A", "dsc": 0.1}, {"case": "B", "dsc": 0.85}]},
            "native": {"protocol": "native", "mean": 0.79, "median": 0.84, "min": 0.1,
            "cases": [{"case": "A", "dsc": 0.1}]}}"#;
        let c = card(&[manifest(cv)]).unwrap();
        assert_eq!(
            c.architecture,
            "fpn f=8 · 4 levels · input 64² · 16-bit weights"
        );
        assert_eq!(
            c.recipe,
            "dice-bce loss · 8 epochs × 1024 slices at 64², batch 16 · adamw lr 0.002 (one-cycle) · flex"
        );
        assert!(
            c.cross_validated.starts_with(
                "cross-validated DSC mean 0.800 · median 0.850 · worst 0.100, reference protocol (5 folds, 2 of 100"
            ),
            "{}",
            c.cross_validated
        );
        assert!(
            c.cross_validated
                .ends_with("last-epoch weights in f32, not 16-bit)"),
            "{}",
            c.cross_validated
        );
        assert_eq!(
            c.validation,
            "validation DSC mean 0.850 · median 0.900 · worst 0.250, reference protocol (3 cases; held out of its training)"
        );
        // Without cross-validation the card says so, and what that means for its validation.
        let c = card(&[manifest("")]).unwrap();
        assert_eq!(
            c.cross_validated,
            "cross-validated DSC: not measured for this model"
        );
        assert!(
            c.validation
                .ends_with("not cross-validated: they may have guided its selection)")
        );
        assert!(card(&[]).is_none());
        // A final model trained on every case, its validation cases too: its validation
        // figure is of seen cases, whatever its recipe's cross-validation says.
        let mut m = manifest(cv);
        m.cross_validation.as_mut().unwrap().model_fold = None;
        m.training["config"]["train_on_val"] = true.into();
        assert_eq!(
            card(&[m]).unwrap().validation,
            "validation DSC mean 0.850 · median 0.900 · worst 0.250, reference protocol (3 cases; trained on them: not a test of new patients)"
        );
        // Further draws of the recipe: the card leads with their mean, then one draw in full.
        let mut m = manifest(cv);
        let draws = m.cross_validation.as_mut().unwrap();
        for (run, mean) in [("s43", 0.82), ("s44", 0.78)] {
            draws.other_draws.push(draw(run, mean));
        }
        let c = card(&[m]).unwrap();
        assert!(
            c.cross_validated.starts_with(
                "cross-validated DSC mean 0.800 over 3 training draws of its recipe (SD 0.020; \
                 draws 0.780 to 0.820), reference protocol; one draw in full: mean 0.800 · median \
                 0.850 · worst 0.100, reference protocol (5 folds, 2 of 100"
            ),
            "{}",
            c.cross_validated
        );
        // An ensemble's cross-validation: its own figure, then its members' alone.
        let mut m = manifest(cv);
        let record = m.cross_validation.as_mut().unwrap();
        for (run, mean) in [("s42", 0.79), ("s43", 0.785)] {
            record.members.push(draw(run, mean));
        }
        let c = card(&[m.clone(), m]).unwrap();
        assert!(
            c.cross_validated.starts_with(
                "cross-validated DSC of this ensemble of 2: mean 0.800 · median 0.850 · worst \
                 0.100, reference protocol (each fold's 2 models averaged; its members' recipes \
                 alone: mean 0.790, 0.785) (5 folds, 2 of 100"
            ),
            "{}",
            c.cross_validated
        );
        // A 2.5-D model says which neighbours it sees.
        let mut m = manifest("");
        m.model.context = 1;
        assert_eq!(
            card(&[m]).unwrap().architecture,
            "fpn f=8 · 4 levels · input 64² · 2.5-D: with the FLAIR of the slice above and below · 16-bit weights"
        );
        // So does a model with instance norm.
        let mut m = manifest("");
        m.model.norm = Norm::Instance;
        assert_eq!(
            card(&[m]).unwrap().architecture,
            "fpn f=8 · 4 levels · input 64² · instance norm · 16-bit weights"
        );
        // So does a width cap that narrows a level (f=8 at 4 levels is 128 channels deepest),
        // and only then.
        let mut m = manifest("");
        m.model.max_width = 64;
        assert_eq!(
            card(&[m.clone()]).unwrap().architecture,
            "fpn f=8 · 4 levels · input 64² · at most 64 channels a level · 16-bit weights"
        );
        m.model.max_width = 128;
        assert_eq!(
            card(&[m]).unwrap().architecture,
            "fpn f=8 · 4 levels · input 64² · 16-bit weights"
        );
        // Post-processing other than the protocols' largest component is said.
        let c = card(&[manifest(
            r#", "flip_tta": true, "components": "relative:0.3""#,
        )])
        .unwrap();
        assert_eq!(
            c.architecture,
            "fpn f=8 · 4 levels · input 64² · flip TTA · keeps every 3-D component of at least 0.3 × the largest · 16-bit weights"
        );
        // Weights stored in 4 bits, or at full precision (nothing to say).
        let mut m = manifest(cv);
        m.precision = Precision::Q4;
        let c = card(&[m.clone()]).unwrap();
        assert!(
            c.architecture.ends_with("input 64² · 4-bit weights"),
            "{}",
            c.architecture
        );
        assert!(
            c.cross_validated.ends_with("weights in f32, not 4-bit)"),
            "{}",
            c.cross_validated
        );
        // Fold models stored like the shipped weights before scoring (`cv-ensemble
        // --precision`): the figure is of the weights as shipped, and says so; stored at
        // another precision, it says which.
        let record = m.cross_validation.as_mut().unwrap();
        record.precision = Some(Precision::Q4);
        let c = card(&[m.clone()]).unwrap();
        assert!(
            c.cross_validated.ends_with("weights in 4-bit, as shipped)"),
            "{}",
            c.cross_validated
        );
        m.precision = Precision::Q8;
        let c = card(&[m.clone()]).unwrap();
        assert!(
            c.cross_validated.ends_with("weights in 4-bit, not 8-bit)"),
            "{}",
            c.cross_validated
        );
        m.cross_validation.as_mut().unwrap().precision = None;
        m.precision = Precision::F32;
        let c = card(&[m]).unwrap();
        assert_eq!(c.architecture, "fpn f=8 · 4 levels · input 64²");
        assert!(
            c.cross_validated.ends_with("last-epoch weights)"),
            "{}",
            c.cross_validated
        );
    }

    #[wasm_bindgen_test]
    fn recipes_of_averages_and_fine_tuning_chains() {
        let fit = serde_json::json!({"config": {"loss": "dice", "epochs": 3, "samples_per_epoch": 2048,
            "size": 128, "batch": 16, "optimizer": "adamw", "lr": 0.0001, "schedule": "cosine",
            "deep_supervision": true, "aug_intensity": true, "aug_quality": true, "aug_elastic": true,
            "aug_missing": 0.25, "aug_lesion_contrast": 0.25, "backend": "flex"},
            "stages": [{}, {}, {}, {}]});
        let soup = serde_json::json!({"averaged": ["a.bpk", "b.bpk"], "inputs_training": [fit]});
        assert_eq!(
            recipe(&soup),
            "weight average of 2 runs; the first: 4 training stages, the last: dice loss · 3 epochs × \
             2048 slices at 128², batch 16 · adamw lr 0.0001 (cosine) · deep supervision · \
             intensity augmentation · image-quality augmentation · elastic deformation · missing sequences (p 0.25) · fainter lesions (p 0.25) · flex"
        );
        assert_eq!(recipe(&Value::Null), "training record: none");
    }

    /// A run trained on crops saw windows, not whole slices of its input size: the card says
    /// how large, how many and how often centred on lesion.
    #[wasm_bindgen_test]
    fn a_crop_recipe_names_its_windows() {
        let crops = serde_json::json!({"config": {"loss": "dice", "epochs": 16,
            "samples_per_epoch": 1820, "size": 128, "crop": 96, "crop_lesion_p": 0.33000001311302185,
            "batch": 16, "optimizer": "adamw", "lr": 0.002, "schedule": "one-cycle",
            "aug_missing": 0.30000001192092896, "backend": "flex"}});
        assert_eq!(
            recipe(&crops),
            "dice loss · 16 epochs × 1820 96² windows of slices at 128² (0.33 centred on lesion), \
             batch 16 · adamw lr 0.002 (one-cycle) · missing sequences (p 0.3) · flex"
        );
    }
}
