//! File names of the `kaggle_3m` layout: `<case>_<n>.tif` images and `<case>_<n>_mask.tif` masks,
//! e.g. `TCGA_CS_4941_19960909_12_mask.tif` is the mask of slice 12 of case `TCGA_CS_4941_19960909`.

/// What a file name says about the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceName {
    pub case_id: String,
    /// 1-based slice number, as in the data set.
    pub slice: u32,
    pub is_mask: bool,
}

/// True for names this crate treats as TIFF input (`.tif` / `.tiff`, any case).
pub fn is_tiff_name(name: &str) -> bool {
    let lower = base_name(name).to_ascii_lowercase();
    lower.ends_with(".tif") || lower.ends_with(".tiff")
}

/// The last path component (accepts `/` and `\`), so browser paths and native paths both work.
pub fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

/// Why a file name is not one of the data set's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("not a .tif file name")]
    NotTiff,
    #[error("unparseable name: {EXPECTED}")]
    NoSliceNumber,
    #[error("unparseable name: empty case ID; {EXPECTED}")]
    EmptyCaseId,
    #[error("unparseable name: slice number {0:?} is not a whole number; {EXPECTED}")]
    BadSliceNumber(String),
    #[error("unparseable name: slice numbers start at 1")]
    SliceZero,
}

const EXPECTED: &str = "expected <case>_<slice>.tif or <case>_<slice>_mask.tif";

/// Parses `<case>_<n>.tif` or `<case>_<n>_mask.tif` (also `.tiff`). The case ID is everything
/// before the slice number, so IDs with underscores (all of TCGA's) work.
pub fn parse_slice_name(name: &str) -> Result<SliceName, NameError> {
    let base = base_name(name);
    let lower = base.to_ascii_lowercase();
    let stem_len = if lower.ends_with(".tiff") {
        base.len() - 5
    } else if lower.ends_with(".tif") {
        base.len() - 4
    } else {
        return Err(NameError::NotTiff);
    };
    let stem = &base[..stem_len];
    let (stem, is_mask) = match stem.strip_suffix("_mask") {
        Some(s) => (s, true),
        None => (stem, false),
    };
    let (case_id, number) = stem.rsplit_once('_').ok_or(NameError::NoSliceNumber)?;
    if case_id.is_empty() {
        return Err(NameError::EmptyCaseId);
    }
    let slice: u32 = number
        .parse()
        .map_err(|_| NameError::BadSliceNumber(number.to_string()))?;
    if slice == 0 {
        return Err(NameError::SliceZero);
    }
    Ok(SliceName {
        case_id: case_id.to_string(),
        slice,
        is_mask,
    })
}

/// Name of the mask file for a slice, as the data set spells it.
pub fn mask_file_name(case_id: &str, slice: u32) -> String {
    format!("{case_id}_{slice}_mask.tif")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_images_and_masks() {
        let s = parse_slice_name("kaggle_3m/TCGA_CS_4941_19960909/TCGA_CS_4941_19960909_12.tif")
            .unwrap();
        assert_eq!(
            s,
            SliceName {
                case_id: "TCGA_CS_4941_19960909".into(),
                slice: 12,
                is_mask: false
            }
        );
        let m = parse_slice_name("TCGA_CS_4941_19960909_3_mask.TIF").unwrap();
        assert_eq!(
            m,
            SliceName {
                case_id: "TCGA_CS_4941_19960909".into(),
                slice: 3,
                is_mask: true
            }
        );
        assert_eq!(parse_slice_name("C:\\x\\case_7.tiff").unwrap().slice, 7);
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "readme.md",
            "case.tif",
            "_4.tif",
            "case_x.tif",
            "case_0.tif",
            "case_-1_mask.tif",
        ] {
            assert!(parse_slice_name(bad).is_err(), "{bad} should be rejected");
        }
        assert_eq!(mask_file_name("A_B", 4), "A_B_4_mask.tif");
    }
}
