//! Ingest of the `kaggle_3m` layout from a folder tree or from a list of named byte buffers
//! (what the web app receives from a drop).
//!
//! Work is split in two so that callers can parallelise: [`group_files`] parses names and groups
//! them by case (cheap), [`load_case`] decodes one case's files. Every problem with a file
//! becomes a [`FileIssue`] naming it; the other files still load.

use crate::naming::{is_tiff_name, parse_slice_name};
use crate::tiff_io::{Mask, RgbImage, decode_image, decode_mask};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a file's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

/// A file handed to the ingest: a display name (path or dropped name) and its bytes' source.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub name: String,
    pub source: Source,
}

impl InputFile {
    pub fn from_bytes(name: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            source: Source::Bytes(bytes),
        }
    }
    fn read(&self) -> Result<std::borrow::Cow<'_, [u8]>, String> {
        match &self.source {
            Source::Bytes(b) => Ok(std::borrow::Cow::Borrowed(b)),
            Source::Path(p) => std::fs::read(p)
                .map(std::borrow::Cow::Owned)
                .map_err(|e| format!("cannot read: {e}")),
        }
    }
}

/// A problem with one file (an error: the file was not used) or a warning (it was converted).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileIssue {
    pub file: String,
    pub message: String,
}

impl std::fmt::Display for FileIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

/// The files of one case, by slice number.
#[derive(Debug, Clone, Default)]
pub struct CaseFiles {
    pub case_id: String,
    pub images: BTreeMap<u32, InputFile>,
    pub masks: BTreeMap<u32, InputFile>,
}

/// One loaded slice.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Slice {
    pub number: u32,
    pub file: String,
    pub image: RgbImage,
    pub mask: Option<Mask>,
}

/// One case: its slices in numeric order, all of the same size. (Serializable: the web app's
/// worker hands cases it decoded to the page.)
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Case {
    pub id: String,
    pub slices: Vec<Slice>,
}

impl Case {
    pub fn height(&self) -> usize {
        self.slices[0].image.height
    }
    pub fn width(&self) -> usize {
        self.slices[0].image.width
    }
    /// True when every slice has its mask, so the case can be scored.
    pub fn has_masks(&self) -> bool {
        self.slices.iter().all(|s| s.mask.is_some())
    }
    /// The ground truth as one volume (depth × height × width), when every slice has a mask.
    pub fn mask_volume(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(self.slices.len() * self.height() * self.width());
        for s in &self.slices {
            out.extend_from_slice(&s.mask.as_ref()?.data);
        }
        Some(out)
    }
}

/// Everything ingested: the cases, the errors (files not used) and warnings (files converted).
#[derive(Debug, Default)]
pub struct Ingested {
    pub cases: Vec<Case>,
    pub errors: Vec<FileIssue>,
    pub warnings: Vec<FileIssue>,
}

/// A folder or file that could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct ScanError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl ScanError {
    fn new(path: &Path, source: std::io::Error) -> Self {
        Self {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Lists the TIFF files under `root` (a folder of case folders, one case folder, or a single
/// file), sorted by path so results do not depend on directory order. Other files are skipped.
pub fn scan_dir(root: &Path) -> Result<Vec<InputFile>, ScanError> {
    let mut out = Vec::new();
    let meta = std::fs::metadata(root).map_err(|e| ScanError::new(root, e))?;
    if meta.is_file() {
        out.push(InputFile {
            name: root.display().to_string(),
            source: Source::Path(root.to_path_buf()),
        });
        return Ok(out);
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| ScanError::new(&dir, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if is_tiff_name(&path.to_string_lossy()) {
                out.push(InputFile {
                    name: path.display().to_string(),
                    source: Source::Path(path),
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Groups files by case ID and slice number from their names. Unparseable names, duplicates and
/// masks without an image become errors.
pub fn group_files(files: Vec<InputFile>) -> (Vec<CaseFiles>, Vec<FileIssue>) {
    let mut cases: BTreeMap<String, CaseFiles> = BTreeMap::new();
    let mut errors = Vec::new();
    for file in files {
        let parsed = match parse_slice_name(&file.name) {
            Ok(p) => p,
            Err(e) => {
                errors.push(FileIssue {
                    file: file.name,
                    message: e.to_string(),
                });
                continue;
            }
        };
        let entry = cases
            .entry(parsed.case_id.clone())
            .or_insert_with(|| CaseFiles {
                case_id: parsed.case_id.clone(),
                ..Default::default()
            });
        let map = if parsed.is_mask {
            &mut entry.masks
        } else {
            &mut entry.images
        };
        if let Some(first) = map.get(&parsed.slice) {
            errors.push(FileIssue {
                message: format!(
                    "duplicate slice number {} of case {} (already given by {}); ignored",
                    parsed.slice, parsed.case_id, first.name
                ),
                file: file.name,
            });
            continue;
        }
        map.insert(parsed.slice, file);
    }
    for case in cases.values_mut() {
        let orphans: Vec<u32> = case
            .masks
            .keys()
            .filter(|n| !case.images.contains_key(n))
            .copied()
            .collect();
        for n in orphans {
            let mask = case.masks.remove(&n).expect("key listed above");
            errors.push(FileIssue {
                file: mask.name,
                message: format!("mask without image: no slice {n} of case {}", case.case_id),
            });
        }
    }
    let cases = cases
        .into_values()
        .filter(|c| !c.images.is_empty())
        .collect();
    (cases, errors)
}

/// Errors (the file was not used) and warnings (it was converted) gathered while loading.
#[derive(Default)]
struct Issues {
    errors: Vec<FileIssue>,
    warnings: Vec<FileIssue>,
}

impl Issues {
    fn error(&mut self, file: &InputFile, message: String) {
        self.errors.push(FileIssue {
            file: file.name.clone(),
            message,
        });
    }
    fn warn(&mut self, file: &InputFile, messages: Vec<String>) {
        self.warnings
            .extend(messages.into_iter().map(|message| FileIssue {
                file: file.name.clone(),
                message,
            }));
    }
}

/// Decodes a slice's mask, checking it against its image's size; None (with an error) when
/// it cannot be used.
fn load_mask(file: &InputFile, image: &RgbImage, issues: &mut Issues) -> Option<Mask> {
    match file
        .read()
        .and_then(|b| decode_mask(&b).map_err(|e| e.to_string()))
    {
        Err(e) => {
            issues.error(file, e);
            None
        }
        Ok((m, warns)) => {
            issues.warn(file, warns);
            if (m.width, m.height) != (image.width, image.height) {
                issues.error(
                    file,
                    format!(
                        "mask size {}x{} differs from its image's {}x{}",
                        m.width, m.height, image.width, image.height
                    ),
                );
                return None;
            }
            Some(m)
        }
    }
}

/// Decodes a slice's image, checking it against the case's size (that of its first slice).
fn load_image(file: &InputFile, first: Option<&Slice>, issues: &mut Issues) -> Option<RgbImage> {
    let (image, warns) = match file
        .read()
        .and_then(|b| decode_image(&b).map_err(|e| e.to_string()))
    {
        Ok(x) => x,
        Err(e) => {
            issues.error(file, e);
            return None;
        }
    };
    issues.warn(file, warns);
    if let Some(first) = first
        && (first.image.width, first.image.height) != (image.width, image.height)
    {
        issues.error(
            file,
            format!(
                "image size {}x{} differs from the case's {}x{} (slice {})",
                image.width, image.height, first.image.width, first.image.height, first.number
            ),
        );
        return None;
    }
    Some(image)
}

/// Decodes one case's files. Returns the case (None when no image could be used) with the
/// errors and warnings of its files.
pub fn load_case(files: &CaseFiles) -> (Option<Case>, Vec<FileIssue>, Vec<FileIssue>) {
    let mut issues = Issues::default();
    let mut slices: Vec<Slice> = Vec::new();
    for (&number, file) in &files.images {
        let Some(image) = load_image(file, slices.first(), &mut issues) else {
            continue;
        };
        let mask = files
            .masks
            .get(&number)
            .and_then(|m| load_mask(m, &image, &mut issues));
        slices.push(Slice {
            number,
            file: file.name.clone(),
            image,
            mask,
        });
    }
    let Issues {
        errors,
        mut warnings,
    } = issues;
    if slices.is_empty() {
        return (None, errors, warnings);
    }
    let with_masks = slices.iter().filter(|s| s.mask.is_some()).count();
    if with_masks > 0 && with_masks < slices.len() {
        for s in slices.iter().filter(|s| s.mask.is_none()) {
            warnings.push(FileIssue {
                file: s.file.clone(),
                message: format!(
                    "no usable mask for this slice: case {} cannot be scored",
                    files.case_id
                ),
            });
        }
    }
    let case = Case {
        id: files.case_id.clone(),
        slices,
    };
    (Some(case), errors, warnings)
}

/// Groups and loads all files, one case after the other.
pub fn ingest_files(files: Vec<InputFile>) -> Ingested {
    let (groups, errors) = group_files(files);
    let mut out = Ingested {
        errors,
        ..Default::default()
    };
    for g in &groups {
        let (case, errs, warns) = load_case(g);
        out.errors.extend(errs);
        out.warnings.extend(warns);
        out.cases.extend(case);
    }
    out
}
