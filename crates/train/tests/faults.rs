//! Faults during training: `train fit` killed (SIGKILL) at random moments, a write that fails
//! part-way (as on a full disk), and a loss that stops being finite. Each time the run folder
//! must stay loadable and `--resume` must finish the run.

mod common;

use common::{run_ok, temp_dir, tiny_fit, train};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const EPOCHS: usize = 5;

/// A short run: two steps an epoch, so checkpoint writes are a large part of its time.
fn short_fit(out: &Path) -> Command {
    tiny_fit(
        out,
        EPOCHS,
        &[
            "--resume",
            "--width",
            "16",
            "--levels",
            "3",
            "--samples-per-epoch",
            "8",
        ],
    )
}

fn state(run: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(run.join("state.json")).ok()?;
    Some(serde_json::from_str(&text).expect("state.json is whole JSON after a kill"))
}

fn epochs_done(run: &Path) -> usize {
    state(run).map_or(0, |s| s["epochs_done"].as_u64().unwrap() as usize)
}

/// Temporary files of interrupted writes in the run folder and its checkpoints.
fn leftovers(run: &Path) -> usize {
    temporary_files(run) + temporary_files(&run.join("checkpoints"))
}

fn temporary_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with(".tmp-")
            })
            .count()
    })
}

/// The files `state.json` names exist and are not empty.
fn assert_loadable(run: &Path) {
    let Some(s) = state(run) else { return };
    for key in ["checkpoint", "optimizer"] {
        let file = run.join(s[key].as_str().expect("state names its checkpoint"));
        let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{} missing or empty after a kill", file.display());
    }
}

fn metrics_epochs(run: &Path) -> Vec<usize> {
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

/// A finished run: every epoch once, no leftovers, one checkpoint, exports of the best epoch.
fn assert_complete(run: &Path) {
    assert_eq!(epochs_done(run), EPOCHS);
    assert_eq!(metrics_epochs(run), (1..=EPOCHS).collect::<Vec<_>>());
    assert_eq!(
        leftovers(run),
        0,
        "temporary files left in {}",
        run.display()
    );
    let ckpts = std::fs::read_dir(run.join("checkpoints")).unwrap().count();
    assert_eq!(ckpts, 2, "one checkpoint (weights + optimizer) expected");
    let best = state(run).unwrap()["best_epoch"].as_u64().unwrap();
    for export in ["best.json", "model.json"] {
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join(export)).unwrap()).unwrap();
        assert_eq!(m["training"]["epoch"].as_u64(), Some(best), "{export}");
    }
}

#[test]
fn a_run_killed_at_random_moments_always_resumes_to_its_last_epoch() {
    let root = temp_dir("kills");
    // How long an uninterrupted run takes: kills fall anywhere in it.
    let t0 = Instant::now();
    run_ok(&mut short_fit(&root.join("reference")));
    let full = t0.elapsed();
    assert_complete(&root.join("reference"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let (mut kills, mut mid_write, mut finished, mut folder) = (0, 0, 0, 0);
    let mut run = root.join("run-0");
    // 24 kills, at least half of them during a write. A kill aimed at a write can miss it (the
    // rename wins the race between seeing the temporary file and the kill), so while too few
    // have landed, the next kill aims at a write again, up to 48 kills.
    while kills < 24 || (mid_write < kills / 2 && kills < 48) {
        let mut child = short_fit(&run)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Every other kill lands at a random moment; the others as soon as a temporary file
        // in checkpoints/ shows that a checkpoint (weights or optimizer state) is being written.
        let at_a_write = kills % 2 == 1 || mid_write < kills / 2;
        let deadline = Instant::now() + full.mul_f64(rng.random_range(0.0..1.0));
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if (at_a_write && temporary_files(&run.join("checkpoints")) > 0)
                || (!at_a_write && Instant::now() >= deadline)
            {
                break None;
            }
            if !at_a_write {
                std::thread::sleep(Duration::from_millis(2));
            }
        };
        match status {
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                if temporary_files(&run.join("checkpoints")) > 0 {
                    mid_write += 1;
                }
                assert_loadable(&run);
            }
            Some(status) => {
                assert!(status.success(), "a resumed run failed: {status}");
                assert_complete(&run);
                finished += 1;
                folder += 1;
                run = root.join(format!("run-{folder}"));
            }
        }
    }
    run_ok(&mut short_fit(&run));
    assert_complete(&run);
    eprintln!(
        "{kills} kills ({mid_write} during a checkpoint write), {finished} runs finished between \
         kills; every run folder resumed to epoch {EPOCHS}"
    );
    assert!(
        mid_write >= kills / 2,
        "only {mid_write} kills came during a checkpoint write"
    );
}

#[test]
fn a_write_that_fails_part_way_stops_the_run_and_keeps_the_last_epoch() {
    let run = temp_dir("full-disk");
    let fit = |epochs: usize| tiny_fit(&run, epochs, &["--resume"]);
    run_ok(&mut fit(2));
    let state_before = std::fs::read_to_string(run.join("state.json")).unwrap();
    let ckpt = run.join("checkpoints/epoch-0002.bpk");
    let limit_kib = std::fs::metadata(&ckpt).unwrap().len() / 2 / 1024;
    assert!(limit_kib * 1024 > state_before.len() as u64 * 2);
    // A file-size limit makes every write beyond it fail part-way (EFBIG), as a full disk does
    // (ENOSPC); ignoring SIGXFSZ turns the signal into that error.
    let cmd = fit(3);
    let out = Command::new("bash")
        .args(["-c", r#"trap '' XFSZ; ulimit -f "$0"; exec "$@""#])
        .arg(limit_kib.to_string())
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for text in [
        "saving epoch 3 (the run folder still holds epoch 2",
        "--resume",
        "epoch-0003.bpk",
        "File too large",
    ] {
        assert!(stderr.contains(text), "{text:?} not in:\n{stderr}");
    }
    assert_eq!(
        std::fs::read_to_string(run.join("state.json")).unwrap(),
        state_before
    );
    assert!(ckpt.is_file());
    assert_eq!(leftovers(&run), 0, "a failed write left its temporary file");
    let text = run_ok(&mut fit(3));
    assert!(text.contains("epoch   3/3"), "{text}");
    assert_eq!(metrics_epochs(&run), [1, 2, 3]);
}

#[test]
fn a_loss_that_is_not_finite_stops_the_run_before_anything_is_saved() {
    let run = temp_dir("nan");
    let out = tiny_fit(&run, 3, &["--lr", "1e38"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("loss became") && stderr.contains("lower --lr"),
        "{stderr}"
    );
    assert!(
        !run.join("state.json").exists(),
        "a poisoned epoch was saved"
    );
    let refused = train()
        .args(["fit", "--data", "x", "--out"])
        .arg(&run)
        .args(["--lr", "NaN"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--lr must be a positive number"));
}
