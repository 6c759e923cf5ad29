//! Data folders for every subcommand: case lists (`--cases`, `--val-cases`), scanning a folder
//! of the kaggle_3m layout, and loading its cases with every file problem reported.

use anyhow::{Context, Result, bail};
use brainseg::ingest::{Case, CaseFiles, FileIssue, group_files, load_case, scan_dir};
use std::path::Path;

/// Reads a case-list file: one case ID a line; blank lines and `#` comments are ignored.
pub fn read_case_list(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// Scans a data folder and groups its files by case. File problems are returned, not fatal.
pub fn scan_cases(dir: &Path) -> Result<(Vec<CaseFiles>, Vec<FileIssue>)> {
    let files = scan_dir(dir)?;
    if files.is_empty() {
        bail!("{}: no .tif files found", dir.display());
    }
    Ok(group_files(files))
}

/// Scans a data folder and loads its cases one at a time (only `wanted` ones when given),
/// printing every file problem as a warning; a case with no usable slice is skipped.
pub fn load_cases(dir: &Path, wanted: Option<Vec<String>>) -> Result<impl Iterator<Item = Case>> {
    let (groups, issues) = scan_cases(dir)?;
    for e in &issues {
        eprintln!("warning: {e}");
    }
    Ok(groups
        .into_iter()
        .filter(move |g| wanted.as_ref().is_none_or(|w| w.contains(&g.case_id)))
        .filter_map(|g| {
            let (case, errors, _) = load_case(&g);
            for e in &errors {
                eprintln!("warning: {e}");
            }
            case
        }))
}
