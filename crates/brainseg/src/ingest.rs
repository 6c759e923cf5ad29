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
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone)]
pub struct Slice {
    pub number: u32,
    pub file: String,
    pub image: RgbImage,
    pub mask: Option<Mask>,
}

/// One case: its slices in numeric order, all of the same size.
#[derive(Debug, Clone)]
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

/// Lists the TIFF files under `root` (a folder of case folders, one case folder, or a single
/// file), sorted by path so results do not depend on directory order. Other files are skipped.
pub fn scan_dir(root: &Path) -> Result<Vec<InputFile>, String> {
    let mut out = Vec::new();
    let meta = std::fs::metadata(root).map_err(|e| format!("{}: {e}", root.display()))?;
    if meta.is_file() {
        out.push(InputFile {
            name: root.display().to_string(),
            source: Source::Path(root.to_path_buf()),
        });
        return Ok(out);
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
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
            Err(message) => {
                errors.push(FileIssue {
                    file: file.name,
                    message,
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

/// Decodes one case's files. Returns the case (None when no image could be used) with the
/// errors and warnings of its files.
pub fn load_case(files: &CaseFiles) -> (Option<Case>, Vec<FileIssue>, Vec<FileIssue>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut slices: Vec<Slice> = Vec::new();
    let issue = |file: &InputFile, message: String| FileIssue {
        file: file.name.clone(),
        message,
    };
    for (&number, file) in &files.images {
        let decoded = file.read().and_then(|b| decode_image(&b));
        let (image, warns) = match decoded {
            Ok(x) => x,
            Err(e) => {
                errors.push(issue(file, e));
                continue;
            }
        };
        warnings.extend(warns.into_iter().map(|w| issue(file, w)));
        if let Some(first) = slices.first() {
            if (first.image.width, first.image.height) != (image.width, image.height) {
                errors.push(issue(
                    file,
                    format!(
                        "image size {}x{} differs from the case's {}x{} (slice {})",
                        image.width,
                        image.height,
                        first.image.width,
                        first.image.height,
                        first.number
                    ),
                ));
                continue;
            }
        }
        let mask = match files.masks.get(&number) {
            None => None,
            Some(mfile) => match mfile.read().and_then(|b| decode_mask(&b)) {
                Err(e) => {
                    errors.push(issue(mfile, e));
                    None
                }
                Ok((m, warns)) => {
                    warnings.extend(warns.into_iter().map(|w| issue(mfile, w)));
                    if (m.width, m.height) != (image.width, image.height) {
                        errors.push(issue(
                            mfile,
                            format!(
                                "mask size {}x{} differs from its image's {}x{}",
                                m.width, m.height, image.width, image.height
                            ),
                        ));
                        None
                    } else {
                        Some(m)
                    }
                }
            },
        };
        slices.push(Slice {
            number,
            file: file.name.clone(),
            image,
            mask,
        });
    }
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
    (
        Some(Case {
            id: files.case_id.clone(),
            slices,
        }),
        errors,
        warnings,
    )
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
