//! Downloads: predicted masks (one TIFF, or a case as a zip) and the DSC table as CSV.

use brainseg::ingest::Case;
use brainseg::naming::mask_file_name;
use brainseg::tiff_io::{Mask, encode_mask};
use std::io::Write;

pub fn slice_mask_tiff(case: &Case, mask: &[u8], k: usize) -> Result<(String, Vec<u8>), String> {
    let (h, w) = (case.height(), case.width());
    let data = mask[k * h * w..(k + 1) * h * w].to_vec();
    let bytes = encode_mask(&Mask {
        width: w,
        height: h,
        data,
    })?;
    Ok((mask_file_name(&case.id, case.slices[k].number), bytes))
}

/// All of a case's predicted masks, stored (uncompressed) in a zip under `<case>/`.
pub fn case_zip(case: &Case, mask: &[u8]) -> Result<Vec<u8>, String> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for k in 0..case.slices.len() {
        let (name, bytes) = slice_mask_tiff(case, mask, k)?;
        zip.start_file(format!("{}/{name}", case.id), opts)
            .map_err(|e| e.to_string())?;
        zip.write_all(&bytes).map_err(|e| e.to_string())?;
    }
    Ok(zip.finish().map_err(|e| e.to_string())?.into_inner())
}

/// `case,slices,dsc_native` rows (empty DSC for cases without masks), then the mean.
pub fn dsc_csv(rows: &[(String, usize, Option<f64>)]) -> String {
    let mut out = String::from("case,slices,dsc_native\n");
    for (case, slices, dsc) in rows {
        out.push_str(&format!(
            "{case},{slices},{}\n",
            dsc.map(|d| format!("{d:.6}")).unwrap_or_default()
        ));
    }
    let scored: Vec<f64> = rows.iter().filter_map(|r| r.2).collect();
    if !scored.is_empty() {
        out.push_str(&format!(
            "mean,,{:.6}\n",
            scored.iter().sum::<f64>() / scored.len() as f64
        ));
    }
    out
}
