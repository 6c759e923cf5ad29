//! `train data-check DIR`: what a data folder holds and what is wrong with it.

use anyhow::Result;
use brainseg::ingest::{Case, FileIssue, load_case};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct DataCheckArgs {
    /// Data folder (kaggle_3m layout), one case folder, or one file.
    dir: PathBuf,
}

/// Per-case summary line.
pub struct CaseReport {
    pub case: String,
    pub slices: usize,
    pub lesion_slices: usize,
    pub channels: String,
    pub problems: Vec<String>,
}

/// Describes the pre- and post-contrast channels: present, or repeating FLAIR (the data set's
/// way of marking a missing sequence), or all zero.
fn channel_note(case: &Case) -> String {
    let names = ["pre-contrast", "FLAIR", "post-contrast"];
    let mut notes = Vec::new();
    for c in 0..3 {
        let all_zero = case
            .slices
            .iter()
            .all(|s| s.image.data.chunks(3).all(|p| p[c] == 0.0));
        if all_zero {
            notes.push(format!("{} missing (all zero)", names[c]));
        } else if c != 1
            && case
                .slices
                .iter()
                .all(|s| s.image.data.chunks(3).all(|p| p[c] == p[1]))
        {
            notes.push(format!("{} missing (duplicates FLAIR)", names[c]));
        }
    }
    if notes.is_empty() {
        "all 3 present".into()
    } else {
        notes.join("; ")
    }
}

pub fn check(dir: &Path) -> Result<(Vec<CaseReport>, Vec<FileIssue>)> {
    let (groups, unattributed) = crate::cases::scan_cases(dir)?;
    let mut reports = Vec::new();
    for g in &groups {
        let (case, errors, warnings) = load_case(g);
        let mut problems: Vec<String> = errors
            .iter()
            .chain(&warnings)
            .map(|e| e.to_string())
            .collect();
        let r = match case {
            Some(c) => {
                if !c.has_masks() {
                    problems.push("not every slice has a mask".into());
                }
                CaseReport {
                    case: c.id.clone(),
                    slices: c.slices.len(),
                    lesion_slices: c
                        .slices
                        .iter()
                        .filter(|s| s.mask.as_ref().is_some_and(|m| m.lesion_pixels() > 0))
                        .count(),
                    channels: channel_note(&c),
                    problems,
                }
            }
            None => CaseReport {
                case: g.case_id.clone(),
                slices: 0,
                lesion_slices: 0,
                channels: "-".into(),
                problems,
            },
        };
        reports.push(r);
    }
    Ok((reports, unattributed))
}

pub fn run(args: &DataCheckArgs) -> Result<()> {
    let (reports, unattributed) = check(&args.dir)?;
    let width = reports
        .iter()
        .map(|r| r.case.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<width$}  {:>6}  {:>13}  {:<40}  problems",
        "case", "slices", "lesion slices", "channels"
    );
    for r in &reports {
        println!(
            "{:<width$}  {:>6}  {:>13}  {:<40}  {}",
            r.case,
            r.slices,
            r.lesion_slices,
            r.channels,
            r.problems.len()
        );
        for p in &r.problems {
            println!("    {p}");
        }
    }
    for e in &unattributed {
        println!("problem: {e}");
    }
    let problems = reports.iter().map(|r| r.problems.len()).sum::<usize>() + unattributed.len();
    println!(
        "total: {} cases, {} slices, {} lesion slices, {} problems",
        reports.len(),
        reports.iter().map(|r| r.slices).sum::<usize>(),
        reports.iter().map(|r| r.lesion_slices).sum::<usize>(),
        problems
    );
    Ok(())
}
