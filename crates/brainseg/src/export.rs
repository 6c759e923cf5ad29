//! Predicted masks as files of the data set's layout (`<case>_<n>_mask.tif`, 8-bit, 0/255):
//! what `train eval --save-masks`, `train predict` and the page's downloads write.

use crate::ingest::Case;
use crate::naming::mask_file_name;
use crate::tiff_io::{Mask, TiffError, encode_mask};

/// The mask file of slice `k` (its position in the case) of a case's predicted mask volume
/// (slices × height × width, 0/1): its file name and TIFF bytes.
pub fn slice_mask_file(
    case: &Case,
    volume: &[u8],
    k: usize,
) -> Result<(String, Vec<u8>), TiffError> {
    let (h, w) = (case.height(), case.width());
    let plane = h * w;
    let data = volume
        .get(k * plane..(k + 1) * plane)
        .ok_or_else(|| {
            TiffError::Encode(format!(
                "slice {k} is outside the mask volume of {} voxels",
                volume.len()
            ))
        })?
        .to_vec();
    let bytes = encode_mask(&Mask {
        width: w,
        height: h,
        data,
    })?;
    Ok((mask_file_name(&case.id, case.slices[k].number), bytes))
}

/// Every slice's mask file of a case, in slice order.
pub fn case_mask_files(case: &Case, volume: &[u8]) -> Result<Vec<(String, Vec<u8>)>, TiffError> {
    (0..case.slices.len())
        .map(|k| slice_mask_file(case, volume, k))
        .collect()
}
