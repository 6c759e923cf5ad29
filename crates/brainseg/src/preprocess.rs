//! The reference program's per-volume preprocessing, and its inverse for predictions.
//!
//! Forward (as `brain-segmentation-pytorch`'s `crop_sample`, `pad_sample`, `resize_sample`,
//! `normalize_volume`): voxels below 10 % of the volume maximum are set to 0; z/y/x are cropped
//! to the bounding box of what remains; y/x are zero-padded to a square (floor of the difference
//! before, ceil after); slices are resized to N×N (images smoothly, masks nearest-neighbour);
//! intensities are rescaled from the volume's 10th–99th percentile (channels pooled) to [0, 1]
//! with clipping; each channel is then z-scored over the volume.
//!
//! Version 2 ([`CENTRAL_STATISTICS`]) keeps that geometry and those steps, but takes the
//! percentiles, means and standard deviations from the central half of the kept slices only.
//! Volumes that reach beyond the brain (thin-slice acquisitions down to the neck or up past the
//! vertex: 9 of the 100 development patients have 60 or more slices) otherwise shift every
//! slice's intensities, and the lesion can vanish from a model's view (`docs/cv/README.md`).
//!
//! Version 3 ([`FLAIR_FOR_POST_CONTRAST`]) is version 2 on a copy of the case whose post-contrast
//! channel holds the FLAIR, as kaggle_3m fills that channel when a patient's scans lack the
//! sequence: a model trained on it never sees the post-contrast sequence. Out of fold it was
//! level with version 2 (`docs/cv/README.md`); it is there for data that lack the sequence.
//!
//! [`Transform`] keeps the geometry so predictions map back onto the original slice grid.

use crate::ingest::Case;
use crate::resize::{resize_gray, resize_nearest, resize_rgb};
use serde::{Deserialize, Serialize};

/// Version of this preprocessing, recorded in model manifests: a model trained on one version
/// must not be fed another. Version 1 is the reference program's (the default).
pub const PREPROCESSING_VERSION: u32 = 1;
/// Version 2: intensity statistics from the central half of the kept slices (module docs).
pub const CENTRAL_STATISTICS: u32 = 2;

/// Version 3: version 2 with the post-contrast channel replaced by the FLAIR (module docs).
pub const FLAIR_FOR_POST_CONTRAST: u32 = 3;
/// The newest version this build has.
pub const LATEST_VERSION: u32 = FLAIR_FOR_POST_CONTRAST;

/// Whether this build can prepare inputs of preprocessing `version`.
pub fn supports_version(version: u32) -> bool {
    (PREPROCESSING_VERSION..=LATEST_VERSION).contains(&version)
}

/// Channels per slice (pre-contrast, FLAIR, post-contrast).
pub const CHANNELS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrepOptions {
    /// Output side N.
    pub size: usize,
    /// Drop the first and last slice before anything else, as the reference program does.
    pub drop_end_slices: bool,
    /// Preprocessing version (a model's manifest says which it was trained with).
    pub version: u32,
}

impl PrepOptions {
    pub fn native(size: usize) -> Self {
        Self {
            size,
            drop_end_slices: false,
            version: PREPROCESSING_VERSION,
        }
    }
    pub fn reference(size: usize) -> Self {
        Self {
            size,
            drop_end_slices: true,
            version: PREPROCESSING_VERSION,
        }
    }
    pub fn with_version(self, version: u32) -> Self {
        Self { version, ..self }
    }
}

/// Geometry of the forward transform, enough to invert it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transform {
    /// Original grid: slices, rows, columns.
    pub depth: usize,
    pub height: usize,
    pub width: usize,
    /// Kept slices `z0..z1` and crop box `y0..y1`, `x0..x1`, in original indices.
    pub z0: usize,
    pub z1: usize,
    pub y0: usize,
    pub y1: usize,
    pub x0: usize,
    pub x1: usize,
    /// Padding before the cropped rows/columns, and the padded square side.
    pub pad_top: usize,
    pub pad_left: usize,
    pub square: usize,
    /// Output side N.
    pub size: usize,
}

impl Transform {
    pub fn kept_slices(&self) -> usize {
        self.z1 - self.z0
    }

    /// Maps a per-slice map in preprocessed space (kept slices × N × N) back to the original grid
    /// (depth × height × width); slices and pixels outside the crop get `fill`. `smooth` picks
    /// bilinear resampling (for probabilities) over nearest-neighbour (for masks, exact inverse).
    pub fn to_original<T: Copy + Default>(
        &self,
        pre: &[T],
        fill: T,
        resample: impl Fn(&[T], usize, usize, usize, usize) -> Vec<T>,
    ) -> Vec<T> {
        let n = self.size;
        let (ch, cw) = (self.y1 - self.y0, self.x1 - self.x0);
        let mut out = vec![fill; self.depth * self.height * self.width];
        for (k, z) in (self.z0..self.z1).enumerate() {
            let sq = resample(
                &pre[k * n * n..(k + 1) * n * n],
                n,
                n,
                self.square,
                self.square,
            );
            for y in 0..ch {
                let src = &sq[(self.pad_top + y) * self.square + self.pad_left..][..cw];
                let dst = (z * self.height + self.y0 + y) * self.width + self.x0;
                out[dst..dst + cw].copy_from_slice(src);
            }
        }
        out
    }

    /// Probabilities back to the original grid (bilinear), 0 outside the crop.
    pub fn probabilities_to_original(&self, pre: &[f32]) -> Vec<f32> {
        self.to_original(pre, 0.0, resize_gray)
    }

    /// A binary mask back to the original grid (nearest-neighbour).
    pub fn mask_to_original(&self, pre: &[u8]) -> Vec<u8> {
        self.to_original(pre, 0, resize_nearest)
    }
}

/// A preprocessed volume, ready for a model.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub case_id: String,
    /// Kept slices × 3 channels × N × N (planar, the layout of an NCHW tensor).
    pub image: Vec<f32>,
    /// Kept slices × N × N, values 0/1, when the case has masks.
    pub mask: Option<Vec<u8>>,
    pub transform: Transform,
}

impl Prepared {
    pub fn slices(&self) -> usize {
        self.transform.kept_slices()
    }
    pub fn size(&self) -> usize {
        self.transform.size
    }
    /// One slice's 3 × N × N input.
    pub fn slice_image(&self, k: usize) -> &[f32] {
        let len = CHANNELS * self.size() * self.size();
        &self.image[k * len..(k + 1) * len]
    }
    /// A model's input for slices `range` (`[B, 3 + 2·context, N, N]`, planar): each slice's
    /// own 3 channels, then the FLAIR plane of its `context` neighbours below it (nearest first
    /// … farthest last, i.e. k−1, k−2, …) and above it (k+1, k+2, …). A neighbour past either
    /// end of the kept slices repeats the end slice (so the input exists for every slice and the
    /// edge is not mistaken for an empty one). With `context` 0, the slices' own channels.
    pub fn inputs(&self, range: std::ops::Range<usize>, context: usize) -> Vec<f32> {
        let plane = self.size() * self.size();
        let last = self.slices().saturating_sub(1);
        let flair = |k: usize| &self.slice_image(k)[plane..2 * plane];
        let mut out = Vec::with_capacity(range.len() * (CHANNELS + 2 * context) * plane);
        for k in range {
            out.extend_from_slice(self.slice_image(k));
            for d in 1..=context {
                out.extend_from_slice(flair(k.saturating_sub(d)));
            }
            for d in 1..=context {
                out.extend_from_slice(flair((k + d).min(last)));
            }
        }
        out
    }

    pub fn slice_mask(&self, k: usize) -> Option<&[u8]> {
        let len = self.size() * self.size();
        self.mask.as_ref().map(|m| &m[k * len..(k + 1) * len])
    }
}

/// Linear-interpolated percentile (numpy's default) of `v`, which is reordered.
fn percentile(v: &mut [f32], q: f64) -> f32 {
    let pos = q / 100.0 * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let frac = (pos - lo as f64) as f32;
    let (_, &mut a, rest) = v.select_nth_unstable_by(lo, f32::total_cmp);
    if frac == 0.0 || rest.is_empty() {
        return a;
    }
    let b = rest.iter().copied().fold(f32::INFINITY, f32::min);
    a + (b - a) * frac
}

/// Why a case cannot be preprocessed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepError {
    #[error("case {case}: too few slices ({depth}) to preprocess")]
    TooFewSlices { case: String, depth: usize },
    #[error("output size must be positive")]
    ZeroSize,
    #[error("case {case}: every voxel is zero")]
    AllZero { case: String },
    #[error("preprocessing version {0} is not one this build has (1 to {LATEST_VERSION})")]
    Version(u32),
}

/// Runs the forward preprocessing on a case.
pub fn preprocess(case: &Case, opts: PrepOptions) -> Result<Prepared, PrepError> {
    let depth = case.slices.len();
    let (first, last) = if opts.drop_end_slices {
        (1, depth.saturating_sub(1))
    } else {
        (0, depth)
    };
    if first >= last {
        return Err(PrepError::TooFewSlices {
            case: case.id.clone(),
            depth,
        });
    }
    if opts.size == 0 {
        return Err(PrepError::ZeroSize);
    }
    if !supports_version(opts.version) {
        return Err(PrepError::Version(opts.version));
    }
    let substituted;
    let case = if opts.version == FLAIR_FOR_POST_CONTRAST {
        substituted = flair_for_post_contrast(case);
        &substituted
    } else {
        case
    };
    let max = case.slices[first..last]
        .iter()
        .flat_map(|s| s.image.data.iter().copied())
        .fold(0.0f32, f32::max);
    if max <= 0.0 {
        return Err(PrepError::AllZero {
            case: case.id.clone(),
        });
    }
    let thr = 0.1 * max;
    let transform = crop_box(case, first..last, thr, opts.size);
    let (hwc, mask) = crop_and_resize(case, &transform, thr);
    let image = normalise(hwc, opts.size, opts.version >= CENTRAL_STATISTICS);
    Ok(Prepared {
        case_id: case.id.clone(),
        image,
        mask,
        transform,
    })
}

/// A copy of `case` whose post-contrast channel is its FLAIR. It is made before anything else
/// so that the crop and the intensity statistics are those of a scan without the sequence, as
/// the data set stores such scans.
fn flair_for_post_contrast(case: &Case) -> Case {
    let mut copy = case.clone();
    for slice in &mut copy.slices {
        for pixel in slice.image.data.chunks_exact_mut(CHANNELS) {
            pixel[2] = pixel[1];
        }
    }
    copy
}

/// The crop: the bounding box of voxels >= `thr` (10 % of the maximum; the others are zeroed)
/// among slices `range`, padded to a square, resized to `n`².
fn crop_box(case: &Case, range: std::ops::Range<usize>, thr: f32, n: usize) -> Transform {
    let (h, w) = (case.height(), case.width());
    let (mut z0, mut z1, mut y0, mut y1, mut x0, mut x1) =
        (usize::MAX, 0, usize::MAX, 0, usize::MAX, 0);
    for z in range {
        let img = &case.slices[z].image.data;
        for y in 0..h {
            for x in 0..w {
                let p = &img[(y * w + x) * 3..][..3];
                if p.iter().any(|&v| v >= thr) {
                    z0 = z0.min(z);
                    z1 = z1.max(z + 1);
                    y0 = y0.min(y);
                    y1 = y1.max(y + 1);
                    x0 = x0.min(x);
                    x1 = x1.max(x + 1);
                }
            }
        }
    }
    let (ch, cw) = (y1 - y0, x1 - x0);
    let square = ch.max(cw);
    let diff = square - ch.min(cw);
    let (pad_top, pad_left) = if ch < cw {
        (diff / 2, 0)
    } else {
        (0, diff / 2)
    };
    Transform {
        depth: case.slices.len(),
        height: h,
        width: w,
        z0,
        z1,
        y0,
        y1,
        x0,
        x1,
        pad_top,
        pad_left,
        square,
        size: n,
    }
}

/// The kept slices cropped, padded and resized (images interleaved kept × N × N × 3, values
/// below `thr` zeroed; masks nearest-neighbour, when the case has them).
fn crop_and_resize(case: &Case, t: &Transform, thr: f32) -> (Vec<f32>, Option<Vec<u8>>) {
    let (w, n, square) = (t.width, t.size, t.square);
    let (ch, cw) = (t.y1 - t.y0, t.x1 - t.x0);
    let kept = t.z1 - t.z0;
    let mut hwc = Vec::with_capacity(kept * n * n * 3);
    let mut mask = case.has_masks().then(|| Vec::with_capacity(kept * n * n));
    for slice in &case.slices[t.z0..t.z1] {
        let mut sq = vec![0.0f32; square * square * 3];
        for y in 0..ch {
            for x in 0..cw {
                let src = &slice.image.data[((t.y0 + y) * w + t.x0 + x) * 3..][..3];
                let dst = ((t.pad_top + y) * square + t.pad_left + x) * 3;
                for c in 0..3 {
                    sq[dst + c] = if src[c] >= thr { src[c] } else { 0.0 };
                }
            }
        }
        hwc.extend(resize_rgb(&sq, square, square, n, n));
        if let (Some(mask), Some(m)) = (mask.as_mut(), slice.mask.as_ref()) {
            let mut msq = vec![0u8; square * square];
            for y in 0..ch {
                let src = &m.data[(t.y0 + y) * w + t.x0..][..cw];
                msq[(t.pad_top + y) * square + t.pad_left..][..cw].copy_from_slice(src);
            }
            mask.extend(resize_nearest(&msq, square, square, n, n));
        }
    }
    (hwc, mask)
}

/// 10–99th percentile rescale to [0, 1], then z-score per channel, written planar
/// (slice, channel, y, x) from the interleaved `hwc` of n² slices. The statistics come from every
/// slice, or with `central` from the central half of them (at least 4 slices; fewer: all).
fn normalise(mut hwc: Vec<f32>, n: usize, central: bool) -> Vec<f32> {
    let slice_len = 3 * n * n;
    let slices = hwc.len() / slice_len;
    let quarter = if central && slices >= 4 {
        slices / 4
    } else {
        0
    };
    let stats = quarter * slice_len..(slices - quarter) * slice_len;
    let mut sorted = hwc[stats.clone()].to_vec();
    let p10 = percentile(&mut sorted, 10.0);
    let p99 = percentile(&mut sorted, 99.0);
    drop(sorted);
    let range = (p99 - p10).max(f32::EPSILON);
    let mut sum = [0.0f64; 3];
    let mut sum2 = [0.0f64; 3];
    for (i, v) in hwc.iter_mut().enumerate() {
        *v = ((*v - p10) / range).clamp(0.0, 1.0);
        if stats.contains(&i) {
            sum[i % 3] += *v as f64;
            sum2[i % 3] += (*v as f64) * (*v as f64);
        }
    }
    let plane = n * n;
    let kept = hwc.len() / (3 * plane);
    let count = (stats.len() / 3) as f64;
    let mut mean = [0.0f32; 3];
    let mut inv_std = [0.0f32; 3];
    for c in 0..3 {
        let m = sum[c] / count;
        let var = (sum2[c] / count - m * m).max(0.0);
        mean[c] = m as f32;
        // A constant channel (std 0) would divide by zero; leave it at 0 after centring.
        inv_std[c] = if var > 1e-12 {
            (1.0 / var.sqrt()) as f32
        } else {
            0.0
        };
    }
    let mut image = vec![0.0f32; hwc.len()];
    for k in 0..kept {
        for p in 0..plane {
            for c in 0..3 {
                image[(k * 3 + c) * plane + p] =
                    (hwc[(k * plane + p) * 3 + c] - mean[c]) * inv_std[c];
            }
        }
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2.5-D inputs: own channels, then the FLAIR of k−1 … k−c and k+1 … k+c, the ends
    /// repeated; context 0 is the slices' own channels.
    #[test]
    fn inputs_stack_the_neighbours_flair_and_repeat_the_ends() {
        let (n, slices) = (2, 4);
        let plane = n * n;
        // Slice k, channel c, pixel p holds 100·k + 10·c + p.
        let image: Vec<f32> = (0..slices * CHANNELS * plane)
            .map(|i| {
                let (k, c, p) = (i / (CHANNELS * plane), i / plane % CHANNELS, i % plane);
                (100 * k + 10 * c + p) as f32
            })
            .collect();
        let prep = Prepared {
            case_id: "C".into(),
            image: image.clone(),
            mask: None,
            transform: Transform {
                depth: slices,
                height: n,
                width: n,
                z0: 0,
                z1: slices,
                y0: 0,
                y1: n,
                x0: 0,
                x1: n,
                pad_top: 0,
                pad_left: 0,
                square: n,
                size: n,
            },
        };
        assert_eq!(
            prep.inputs(1..3, 0),
            image[CHANNELS * plane..3 * CHANNELS * plane]
        );
        let got = prep.inputs(0..4, 2);
        let per = (CHANNELS + 4) * plane;
        assert_eq!(got.len(), 4 * per);
        // The first value of each plane: (slice, channel) it came from.
        let planes = |k: usize| -> Vec<f32> {
            (0..CHANNELS + 4)
                .map(|c| got[k * per + c * plane])
                .collect()
        };
        assert_eq!(planes(0), [0.0, 10.0, 20.0, 10.0, 10.0, 110.0, 210.0]);
        assert_eq!(planes(1), [100.0, 110.0, 120.0, 10.0, 10.0, 210.0, 310.0]);
        assert_eq!(planes(3), [300.0, 310.0, 320.0, 210.0, 110.0, 310.0, 310.0]);
        assert_eq!(got[per + 3 * plane + 3], 13.0, "whole planes are copied");
    }

    #[test]
    fn percentile_matches_numpy_linear() {
        let mut v: Vec<f32> = (0..11).map(|i| i as f32).collect();
        assert_eq!(percentile(&mut v, 10.0), 1.0);
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        // numpy.percentile([1,2,3,4], 99) = 3.97
        assert!((percentile(&mut v, 99.0) - 3.97).abs() < 1e-5);
    }

    #[test]
    fn central_statistics_ignore_slices_beyond_the_brain() {
        let n = 4;
        let slice_len = 3 * n * n;
        // 8 "brain" slices, then the same with 4 much brighter slices at each end.
        let brain: Vec<f32> = (0..8 * slice_len)
            .map(|i| ((i * 7919) % 101) as f32 / 100.0)
            .collect();
        let bright = vec![5.0f32; 4 * slice_len];
        let long: Vec<f32> = [bright.clone(), brain.clone(), bright].concat();
        let alone = normalise(brain.clone(), n, false);
        // Version 2 on the long volume gives the brain slices exactly what they get alone.
        let central = normalise(long.clone(), n, true);
        assert_eq!(&central[4 * slice_len..12 * slice_len], &alone[..]);
        // Version 1 does not: the bright slices move every slice's values.
        let whole = normalise(long, n, false);
        let moved = whole[4 * slice_len..12 * slice_len]
            .iter()
            .zip(&alone)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(moved > 0.5, "version 1 moved the brain slices by {moved}");
        // Fewer than 4 slices: every slice counts in both versions.
        let short = brain[..3 * slice_len].to_vec();
        assert_eq!(
            normalise(short.clone(), n, true),
            normalise(short, n, false)
        );
    }

    /// Version 3 is version 2 of the case with its post-contrast channel replaced by the FLAIR:
    /// what the model sees of a scan stored without that sequence.
    #[test]
    fn version_3_is_version_2_without_the_post_contrast_sequence() {
        let case = crate::synthetic::synthetic_case("C", 8, 32, 32, 7);
        let mut stored_without = case.clone();
        for slice in &mut stored_without.slices {
            for p in slice.image.data.chunks_exact_mut(CHANNELS) {
                p[2] = p[1];
            }
        }
        let opts = PrepOptions::native(16);
        let v3 = preprocess(&case, opts.with_version(FLAIR_FOR_POST_CONTRAST)).unwrap();
        let v2 = preprocess(&stored_without, opts.with_version(CENTRAL_STATISTICS)).unwrap();
        assert_eq!(v3.image, v2.image);
        assert_eq!(v3.transform, v2.transform);
        assert_eq!(v3.mask, v2.mask);
        let original = preprocess(&case, opts.with_version(CENTRAL_STATISTICS)).unwrap();
        assert_ne!(v3.image, original.image);
        // Each slice's post-contrast plane is its FLAIR plane; the pre-contrast one is not.
        let plane = 16 * 16;
        for k in 0..v3.slices() {
            let s = v3.slice_image(k);
            assert_eq!(&s[2 * plane..], &s[plane..2 * plane], "slice {k}");
            assert_ne!(&s[..plane], &s[plane..2 * plane], "slice {k}");
        }
    }
}
