//! Downloads: predicted masks (one TIFF, or a case as a zip) and the DSC table as CSV. The
//! files themselves come from the core (`brainseg::export`, `brainseg::scores`), as the
//! trainer's do; this module only packs them for the browser.

use brainseg::export::{case_mask_files, slice_mask_file};
use brainseg::ingest::Case;
use brainseg::scores::{ScoreRow, write_csv};
use std::io::Write;

/// The mask file of slice `k` of a case: its name and TIFF bytes.
pub fn slice_mask_tiff(case: &Case, mask: &[u8], k: usize) -> Result<(String, Vec<u8>), String> {
    slice_mask_file(case, mask, k).map_err(|e| e.to_string())
}

/// All of a case's predicted masks, stored (uncompressed) in a zip under `<case>/`.
pub fn case_zip(case: &Case, mask: &[u8]) -> Result<Vec<u8>, String> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in case_mask_files(case, mask).map_err(|e| e.to_string())? {
        zip.start_file(format!("{}/{name}", case.id), opts)
            .map_err(|e| e.to_string())?;
        zip.write_all(&bytes).map_err(|e| e.to_string())?;
    }
    Ok(zip.finish().map_err(|e| e.to_string())?.into_inner())
}

/// The page's DSC table (native protocol; reference cells empty), as `train eval --csv` writes.
pub fn dsc_csv(rows: &[ScoreRow]) -> Result<String, String> {
    write_csv(rows).map_err(|e| e.to_string())
}
