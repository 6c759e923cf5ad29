//! `train folds`, `train cv` and `train cv-ensemble` end to end on synthetic cases, and what
//! `train ship` does with their records.

mod common;

use common::{eval_rows, manifest, run_ok, run_refused, synthetic_data, temp_dir, train};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Four synthetic cases in two folds, `SYN_3` kept in fold 0: (the cases' list, the list with
/// `SYN_3`, the folds file), written in `dir`.
fn two_folds(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (cases, together, folds) = (
        dir.join("cases.txt"),
        dir.join("together.txt"),
        dir.join("folds.csv"),
    );
    std::fs::write(&cases, "SYN_0\nSYN_1\nSYN_2\nSYN_3\n").unwrap();
    std::fs::write(&together, "SYN_3\n").unwrap();
    let text = run_ok(
        train()
            .args(["folds", "--k", "2", "--cases"])
            .arg(&cases)
            .arg("--together")
            .arg(&together)
            .arg("--out")
            .arg(&folds),
    );
    assert!(
        text.contains("fold 0: 2 cases") && text.contains("fold 1: 2 cases"),
        "{text}"
    );
    (cases, together, folds)
}

/// `train cv` of a tiny recipe over `folds` into `out` (`extra` appended: a later flag wins).
fn tiny_cv(folds: &Path, together: &Path, out: &Path, extra: &[&str]) -> Command {
    let (data, _) = synthetic_data();
    let mut cmd = train();
    cmd.arg("cv")
        .arg("--folds")
        .arg(folds)
        .arg("--beside")
        .arg(together)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args([
            "--width", "8", "--levels", "2", "--size", "32", "--batch", "4",
        ])
        .args([
            "--preprocessing",
            "2",
            "--lr",
            "3e-3",
            "--epochs",
            "2",
            "--aug-scale",
            "0",
            "--aug-rotate",
            "0",
        ])
        .args(extra);
    cmd
}

/// A folder holding only a `folds.csv` with `folds`' two folds swapped: a cross-validation over
/// other folds than `folds`'.
fn swapped_folds(folds: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let csv = std::fs::read_to_string(folds).unwrap();
    std::fs::write(
        dir.join("folds.csv"),
        csv.replace(",0", ",x")
            .replace(",1", ",0")
            .replace(",x", ",1"),
    )
    .unwrap();
    dir.to_path_buf()
}

/// `train ship` of `models` to `out`, validated on `cases` of the synthetic data.
fn ship_to(out: &Path, cases: &Path, models: &[PathBuf]) -> Command {
    let (data, _) = synthetic_data();
    let mut cmd = train();
    cmd.arg("ship");
    for m in models {
        cmd.arg("--model").arg(m);
    }
    cmd.arg("--data")
        .arg(data)
        .arg("--cases")
        .arg(cases)
        .arg("--out")
        .arg(out);
    cmd
}

/// `train folds` keeps the given cases together in fold 0; `train cv` trains a model per fold,
/// scores every case with the model that did not see it (`oof.csv`, `cv.md`), and a second call
/// finds everything done instead of training again.
#[test]
fn cross_validation_scores_every_case_out_of_fold_and_resumes() {
    let (data, _) = synthetic_data();
    let dir = temp_dir("cv");
    let (cases, together, folds) = two_folds(&dir);
    let csv = std::fs::read_to_string(&folds).unwrap();
    assert!(csv.lines().any(|l| l == "SYN_3,0"), "{csv}");
    let out = dir.join("cv");
    let cv_at = |out: &Path, extra: &[&str]| tiny_cv(&folds, &together, out, extra);
    let cv = |extra: &[&str]| cv_at(&out, extra);
    let text = run_ok(&mut cv(&[]));
    assert!(text.contains("== fold 1 of 2 =="), "{text}");
    let rows: Vec<_> = eval_rows(&out.join("oof.csv"))
        .into_iter()
        .filter(|r| r.0.starts_with("SYN_"))
        .collect();
    let mut scored: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    scored.sort();
    assert_eq!(scored, ["SYN_0", "SYN_1", "SYN_2", "SYN_3"]);
    for r in &rows {
        assert!(
            (0.0..=1.0).contains(&r.1) && (0.0..=1.0).contains(&r.2),
            "{r:?}"
        );
    }
    let md = std::fs::read_to_string(out.join("cv.md")).unwrap();
    assert!(md.contains("| all, out of fold | reference |"), "{md}");
    assert!(
        md.contains("together.txt (reported, not selected on)"),
        "{md}"
    );
    assert!(out.join("fold-0/last.bpk").is_file() && out.join("fold-1/metrics.csv").is_file());
    // Each fold's last-epoch weights are scored on the preprocessing they were trained on.
    let last = manifest(&out.join("fold-0/last.json"));
    assert_eq!(last["preprocessing_version"], 2);
    let held_out = std::fs::read_to_string(out.join("lists/fold-0-held-out.txt")).unwrap();
    assert!(held_out.contains("SYN_3"), "{held_out}");
    // Again: both folds are complete and scored; nothing is trained.
    let again = run_ok(&mut cv(&[]));
    assert!(
        again.matches("scores up to date").count() == 2 && !again.contains("epoch   1/2"),
        "{again}"
    );
    // The best epoch's weights are scored apart, never mistaken for the last epoch's scores.
    let best = run_ok(&mut cv(&["--select", "best"]));
    assert!(!best.contains("scores up to date"), "{best}");
    assert!(
        out.join("fold-1/scores-best.csv").is_file()
            && out.join("fold-1/scores-last.csv").is_file()
    );
    let refused = cv(&["--val-cases", together.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--folds"));
    // The out-of-fold figures travel with a fold's model into its manifest (`train ship --cv`),
    // its validation figure then of cases it never saw; at half precision on request.
    let shipped = dir.join("shipped");
    let ship = |cases: &Path| {
        train()
            .args(["ship", "--precision", "f16", "--model"])
            .arg(out.join("fold-0/last.bpk"))
            .arg("--cv")
            .arg(&out)
            .arg("--data")
            .arg(data)
            .arg("--cases")
            .arg(cases)
            .arg("--out")
            .arg(&shipped)
            .output()
            .unwrap()
    };
    let done = ship(&together);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shipped.with_extension("json")).unwrap())
            .unwrap();
    let cv = &m["cross_validation"];
    assert_eq!(
        (cv["folds"].as_u64(), cv["cases"].as_u64()),
        (Some(2), Some(4))
    );
    assert_eq!(
        (cv["weights"].as_str(), cv["model_fold"].as_u64()),
        (Some("last"), Some(0))
    );
    assert_eq!(cv["reference"]["cases"].as_array().unwrap().len(), 4);
    let oof_mean = rows.iter().map(|r| r.1).sum::<f64>() / 4.0;
    assert!((cv["reference"]["mean"].as_f64().unwrap() - oof_mean).abs() < 1e-9);
    assert_eq!(m["precision"], "f16");
    let bytes = std::fs::read(shipped.with_extension("bpk")).unwrap();
    assert_eq!(
        m["weights_sha256"].as_str(),
        Some(brainseg::manifest::sha256_hex(&bytes).as_str())
    );
    // The fold run's training record, at its last epoch.
    assert_eq!(
        (
            m["training"]["epoch"].as_u64(),
            m["training"]["config"]["width"].as_u64()
        ),
        (Some(2), Some(8))
    );
    assert_eq!(m["validation"]["cases"][0]["case"], "SYN_3");
    // Validation cases that fold 0's model trained on are refused, naming them.
    let refused = ship(&cases);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && err.contains("fold 0's model, which trained on"),
        "{err}"
    );

    // Further draws of the recipe (other seeds) join the record; the manifest keeps each one's
    // figures and the recipe's mean over draws is theirs and the record's.
    let (draw, other_recipe) = (dir.join("cv-seed-7"), dir.join("cv-lr"));
    run_ok(&mut cv_at(&draw, &["--seed", "7"]));
    run_ok(&mut cv_at(&other_recipe, &["--seed", "7", "--lr", "1e-3"]));
    let reship = |model: &Path, extra: &[&Path]| {
        let mut cmd = ship_to(&shipped, &together, &[model.to_path_buf()]);
        for d in extra {
            cmd.arg("--cv-draw").arg(d);
        }
        cmd.output().unwrap()
    };
    // Shipped again from the shipped files: the record stays, and the draw is added to it.
    let copy = dir.join("copy");
    for ext in ["bpk", "json"] {
        std::fs::copy(shipped.with_extension(ext), copy.with_extension(ext)).unwrap();
    }
    let done = reship(&copy.with_extension("bpk"), &[&draw]);
    let text = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(text.contains("the recipe over 2 draws"), "{text}");
    let m = manifest(&shipped.with_extension("json"));
    let drawn = manifest(&draw.join("cv-last.json"));
    let kept = &m["cross_validation"];
    assert_eq!(kept["reference"]["mean"], cv["reference"]["mean"]);
    assert_eq!(
        (
            kept["other_draws"][0]["run"].as_str(),
            kept["other_draws"][0]["seed"].as_u64()
        ),
        (Some("cv-seed-7"), Some(7))
    );
    for protocol in ["reference", "native"] {
        assert_eq!(
            kept["other_draws"][0][protocol]["mean"],
            drawn[protocol]["mean"]
        );
    }
    // The same draw twice, another recipe, or an unfinished draw: refused, saying why.
    let refusal = |model: &Path, extra: &[&Path]| {
        let r = reship(model, extra);
        assert!(!r.status.success());
        String::from_utf8_lossy(&r.stderr).into_owned()
    };
    let err = refusal(&shipped.with_extension("bpk"), &[&draw]);
    assert!(err.contains("cv-seed-7 is recorded already"), "{err}");
    let err = refusal(&copy.with_extension("bpk"), &[&other_recipe]);
    assert!(
        err.contains("another recipe") && err.contains("lr: 0.003 vs 0.001"),
        "{err}"
    );
    let unfinished = dir.join("cv-unfinished");
    std::fs::create_dir_all(&unfinished).unwrap();
    let mut partial = drawn.clone();
    partial["reference"]["cases"].as_array_mut().unwrap().pop();
    std::fs::write(
        unfinished.join("cv-last.json"),
        serde_json::to_string(&partial).unwrap(),
    )
    .unwrap();
    let err = refusal(&copy.with_extension("bpk"), &[&unfinished]);
    assert!(err.contains("3 of its 4 cases are scored"), "{err}");
    // A trained model has no record to add a draw to without --cv.
    let err = refusal(&out.join("fold-0/last.bpk"), &[&draw]);
    assert!(err.contains("give --cv too"), "{err}");
}

#[test]
fn an_ensembles_cross_validation_averages_its_members_fold_models_and_ships_with_them() {
    let (data, _) = synthetic_data();
    let dir = temp_dir("cv-ensemble");
    let (_, together, folds) = two_folds(&dir);
    let (a, b, other_lr) = (dir.join("seed-1"), dir.join("seed-2"), dir.join("lr"));
    run_ok(&mut tiny_cv(&folds, &together, &a, &["--seed", "1"]));
    run_ok(&mut tiny_cv(&folds, &together, &b, &["--seed", "2"]));
    run_ok(&mut tiny_cv(
        &folds,
        &together,
        &other_lr,
        &["--seed", "3", "--lr", "1e-3"],
    ));
    let ensemble = |runs: &[&Path], out: &Path| {
        let mut cmd = train();
        cmd.arg("cv-ensemble");
        for r in runs {
            cmd.arg("--run").arg(r);
        }
        cmd.arg("--out")
            .arg(out)
            .arg("--data")
            .arg(data)
            .arg("--beside")
            .arg(&together);
        cmd
    };
    let ens = dir.join("ens");
    let text = run_ok(&mut ensemble(&[&a, &b], &ens));
    assert!(text.contains("== fold 1: 2 models on 2 cases =="), "{text}");
    // Each fold is scored as `train eval` scores the two fold models together.
    for fold in 0..2 {
        let direct = dir.join(format!("direct-{fold}.csv"));
        run_ok(
            train()
                .arg("eval")
                .arg("--model")
                .arg(a.join(format!("fold-{fold}/last.bpk")))
                .arg("--model")
                .arg(b.join(format!("fold-{fold}/last.bpk")))
                .arg("--data")
                .arg(data)
                .arg("--cases")
                .arg(a.join(format!("lists/fold-{fold}-held-out.txt")))
                .args(["--components", "largest", "--batch", "32", "--csv"])
                .arg(&direct),
        );
        assert_eq!(
            eval_rows(&ens.join(format!("fold-{fold}/scores-last.csv"))),
            eval_rows(&direct)
        );
    }
    // The record is the ensemble's, and names its members with their own figures.
    let record = manifest(&ens.join("cv-last.json"));
    assert_eq!(record["reference"]["cases"].as_array().unwrap().len(), 4);
    for (i, (run, name, seed)) in [(&a, "seed-1", 1), (&b, "seed-2", 2)]
        .into_iter()
        .enumerate()
    {
        let member = &record["members"][i];
        assert_eq!(
            (member["run"].as_str(), member["seed"].as_u64()),
            (Some(name), Some(seed))
        );
        let own = manifest(&run.join("cv-last.json"));
        for protocol in ["reference", "native"] {
            assert_eq!(member[protocol]["mean"], own[protocol]["mean"]);
        }
    }
    let md = std::fs::read_to_string(ens.join("cv.md")).unwrap();
    assert!(
        md.contains("An ensemble") && md.contains("| seed-2 | 2 |"),
        "{md}"
    );
    // Again: nothing to score.
    let again = run_ok(&mut ensemble(&[&a, &b], &ens));
    assert_eq!(again.matches("scores up to date").count(), 2, "{again}");
    // Some folds only (screening): the table covers them.
    let screen = dir.join("screen");
    run_ok(ensemble(&[&a, &b], &screen).args(["--only", "1"]));
    let partial = manifest(&screen.join("cv-last.json"));
    assert_eq!(partial["reference"]["cases"].as_array().unwrap().len(), 2);
    assert!(!screen.join("fold-0").exists());
    // One member, a member twice, members over other folds, another ensemble in the folder.
    let err = run_refused(&mut ensemble(&[&a], &dir.join("one")));
    assert!(err.contains("two --run folders or more"), "{err}");
    let err = run_refused(&mut ensemble(&[&a, &a], &dir.join("twice")));
    assert!(err.contains("is given twice"), "{err}");
    let shuffled = swapped_folds(&folds, &dir.join("shuffled"));
    let err = run_refused(&mut ensemble(&[&a, &shuffled], &dir.join("other-folds")));
    assert!(err.contains("its folds differ"), "{err}");
    let err = run_refused(&mut ensemble(&[&a, &other_lr], &ens));
    assert!(
        err.contains("holds the cross-validation of another ensemble"),
        "{err}"
    );

    // Shipped with one model per member, the record goes into the manifest.
    let shipped = dir.join("shipped");
    let ship = |models: &[PathBuf], cv: Option<&Path>, extra: &[&str]| {
        let mut cmd = ship_to(&shipped, &together, models);
        if let Some(cv) = cv {
            cmd.arg("--cv").arg(cv);
        }
        cmd.args(extra);
        cmd
    };
    let fold_models = [a.join("fold-0/last.bpk"), b.join("fold-0/last.bpk")];
    let text = run_ok(&mut ship(&fold_models, Some(&ens), &[]));
    assert!(
        text.contains("whose member seed-2 (seed 2) alone"),
        "{text}"
    );
    let m = manifest(&shipped.with_extension("json"));
    assert_eq!(m["ensemble"][0], "shipped-2");
    assert_eq!(m["cross_validation"]["members"], record["members"]);
    assert_eq!(
        m["cross_validation"]["reference"]["mean"],
        record["reference"]["mean"]
    );
    // Shipped again from the shipped files, the record stays; one member shipped alone drops it.
    let copy = dir.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    let copies: Vec<PathBuf> = ["shipped", "shipped-2"]
        .iter()
        .map(|stem| {
            for ext in ["bpk", "json"] {
                let name = format!("{stem}.{ext}");
                std::fs::copy(dir.join(&name), copy.join(&name)).unwrap();
            }
            copy.join(format!("{stem}.bpk"))
        })
        .collect();
    // Its first model alone, or its members in another order, are not the shipped ensemble.
    let err = run_refused(&mut ship(
        &[copies[0].clone(), copies[0].clone()],
        None,
        &[],
    ));
    assert!(err.contains("give it first and then its members"), "{err}");
    run_ok(&mut ship(&copies, None, &[]));
    let m = manifest(&shipped.with_extension("json"));
    assert_eq!(m["cross_validation"]["members"], record["members"]);
    // An ensemble whose first model was shipped with one recipe's record does not keep it.
    run_ok(&mut ship(&fold_models[..1], Some(&a), &[]));
    for ext in ["bpk", "json"] {
        std::fs::copy(
            shipped.with_extension(ext),
            copy.join("single").with_extension(ext),
        )
        .unwrap();
    }
    let text = run_ok(&mut ship(
        &[copy.join("single.bpk"), fold_models[1].clone()],
        None,
        &[],
    ));
    assert!(
        text.contains("record is one recipe's") && text.contains("not kept"),
        "{text}"
    );
    let m = manifest(&shipped.with_extension("json"));
    assert!(m["cross_validation"].is_null(), "{m}");
    // Refused: too few models for the ensemble, an ensemble with one recipe's record, a model
    // of another recipe than its member's, draws added to an ensemble's record.
    let err = run_refused(&mut ship(&fold_models[..1], Some(&ens), &[]));
    assert!(err.contains("cross-validated an ensemble of 2"), "{err}");
    let err = run_refused(&mut ship(&fold_models, Some(&a), &[]));
    assert!(
        err.contains("cross-validated one recipe, and 2 models"),
        "{err}"
    );
    let mixed = dir.join("ens-lr");
    run_ok(&mut ensemble(&[&a, &other_lr], &mixed));
    let err = run_refused(&mut ship(&fold_models, Some(&mixed), &[]));
    assert!(
        err.contains("member 2") && err.contains("lr: 0.003 vs 0.001"),
        "{err}"
    );
    let draw = b.to_str().unwrap();
    let err = run_refused(&mut ship(&fold_models, Some(&ens), &["--cv-draw", draw]));
    assert!(err.contains("the record is an ensemble's"), "{err}");

    // At a precision: each fold model stored as `train ship --precision` stores it (the same
    // bytes), those weights scored (as `train eval` scores the stored files together), and the
    // record and table say so.
    let q4 = dir.join("ens-q4");
    run_ok(ensemble(&[&a, &b], &q4).args(["--precision", "q4"]));
    let alone = dir.join("alone-q4");
    run_ok(ship_to(&alone, &together, &[a.join("fold-1/last.bpk")]).args(["--precision", "q4"]));
    let stored = q4.join("fold-1/stored");
    assert_eq!(
        std::fs::read(stored.join("member-1.bpk")).unwrap(),
        std::fs::read(alone.with_extension("bpk")).unwrap()
    );
    assert_eq!(manifest(&stored.join("member-2.json"))["precision"], "q4");
    let direct = dir.join("direct-q4.csv");
    run_ok(
        train()
            .arg("eval")
            .arg("--model")
            .arg(stored.join("member-1.bpk"))
            .arg("--model")
            .arg(stored.join("member-2.bpk"))
            .arg("--data")
            .arg(data)
            .arg("--cases")
            .arg(a.join("lists/fold-1-held-out.txt"))
            .args(["--components", "largest", "--batch", "32", "--csv"])
            .arg(&direct),
    );
    assert_eq!(
        eval_rows(&q4.join("fold-1/scores-last.csv")),
        eval_rows(&direct)
    );
    let record_q4 = manifest(&q4.join("cv-last.json"));
    assert_eq!(record_q4["precision"], "q4");
    assert!(record["precision"].is_null(), "{record}");
    let md = std::fs::read_to_string(q4.join("cv.md")).unwrap();
    assert!(md.contains("stored at `q4` precision"), "{md}");
    // The same members at another precision (or as trained) in that folder would mix tables.
    let err = run_refused(&mut ensemble(&[&a, &b], &q4));
    assert!(
        err.contains("another ensemble") && err.contains("stored at Q4"),
        "{err}"
    );
    // Shipped: only at the precision the figure was measured at, and recorded with it.
    let err = run_refused(&mut ship(&fold_models, Some(&q4), &["--precision", "q8"]));
    assert!(
        err.contains("stored at Q4") && err.contains("shipped at Q8"),
        "{err}"
    );
    run_ok(&mut ship(&fold_models, Some(&q4), &["--precision", "q4"]));
    let m = manifest(&shipped.with_extension("json"));
    assert_eq!(m["cross_validation"]["precision"], "q4");
    assert_eq!(
        m["cross_validation"]["reference"]["mean"],
        record_q4["reference"]["mean"]
    );
}

/// `train cv --teacher-cv T --distill W`: each fold distils from T's model of that fold (one that
/// never saw the fold's held-out cases), recorded in the fold's config, and training changes
/// with it; a `--teacher` (which saw some fold's held-out cases), teachers over other folds or
/// of other inputs, and a weight without teachers or teachers without one are refused.
#[test]
fn a_cross_validation_distils_each_fold_from_the_teachers_model_of_that_fold() {
    let dir = temp_dir("cv-distill");
    let (_, together, folds) = two_folds(&dir);
    let teacher = dir.join("teacher");
    run_ok(&mut tiny_cv(&folds, &together, &teacher, &["--seed", "1"]));
    let t = teacher.to_str().unwrap();
    let cv = |out: &str, extra: &[&str]| tiny_cv(&folds, &together, &dir.join(out), extra);
    let text = run_ok(&mut cv(
        "student",
        &["--teacher-cv", t, "--teacher-cv", t, "--distill", "0.5"],
    ));
    assert!(
        text.contains("distilling: 2 teacher model(s), weight 0.5"),
        "{text}"
    );
    run_ok(&mut cv("plain", &[]));
    for fold in 0..2 {
        let config = manifest(&dir.join(format!("student/fold-{fold}/config.json")));
        let own = teacher.join(format!("fold-{fold}/last.bpk"));
        let own = own.to_str().unwrap();
        assert_eq!(config["teacher"], serde_json::json!([own, own]));
        assert_eq!(config["distill"], 0.5);
        // The same recipe and seed without teachers trains other weights.
        let weights = |run: &str| std::fs::read(dir.join(format!("{run}/fold-{fold}/last.bpk")));
        assert_ne!(weights("student").unwrap(), weights("plain").unwrap());
    }
    assert_eq!(
        eval_rows(&dir.join("student/oof.csv"))
            .iter()
            .filter(|r| r.0.starts_with("SYN_"))
            .count(),
        4
    );
    let fold_model = teacher.join("fold-0/last.bpk");
    let err = run_refused(&mut cv(
        "leak",
        &["--teacher", fold_model.to_str().unwrap(), "--distill", "1"],
    ));
    assert!(
        err.contains("would have seen some fold's held-out cases"),
        "{err}"
    );
    let shuffled = swapped_folds(&folds, &dir.join("shuffled"));
    let s = shuffled.to_str().unwrap();
    let err = run_refused(&mut cv(
        "other-folds",
        &["--teacher-cv", s, "--distill", "1"],
    ));
    assert!(err.contains("its folds differ"), "{err}");
    let err = run_refused(&mut cv(
        "other-side",
        &["--teacher-cv", t, "--distill", "1", "--size", "64"],
    ));
    assert!(
        err.contains("sees other inputs than the student (input 32², the run's 64²)"),
        "{err}"
    );
    let err = run_refused(&mut cv("no-weight", &["--teacher-cv", t]));
    assert!(err.contains("--teacher needs --distill W"), "{err}");
    let err = run_refused(&mut cv("no-teacher", &["--distill", "1"]));
    assert!(err.contains("--distill needs teachers"), "{err}");
    let err = run_refused(&mut cv("zero", &["--teacher-cv", t, "--distill", "0"]));
    assert!(err.contains("--distill must be a positive number"), "{err}");
}
