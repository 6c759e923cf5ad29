//! Synthetic cases that look enough like the data set for tests, demos and benchmarks: a
//! textured ellipsoid "brain" on a dark background with a brighter-in-FLAIR ellipsoid "lesion".
//! Deterministic for a given seed.

use crate::ingest::{Case, Slice};
use crate::tiff_io::{Mask, RgbImage};

/// Cheap deterministic noise in [0, 1).
fn hash01(mut x: u64) -> f32 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    (x >> 40) as f32 / (1u64 << 24) as f32
}

/// A synthetic case of `depth` slices of `height × width`. Intensities are multiples of 1/255,
/// so 8-bit TIFF round trips are lossless.
pub fn synthetic_case(id: &str, depth: usize, height: usize, width: usize, seed: u64) -> Case {
    let (cz, cy, cx) = (depth as f32 / 2.0, height as f32 / 2.0, width as f32 / 2.0);
    let (rz, ry, rx) = (
        depth as f32 * 0.45,
        height as f32 * 0.38,
        width as f32 * 0.3,
    );
    let off = (hash01(seed) - 0.5) * 0.4;
    let (lz, ly, lx) = (cz + off * rz, cy - 0.3 * ry, cx + (0.3 + off) * rx);
    let (lrz, lry, lrx) = (rz * 0.45, ry * 0.3, rx * 0.35);
    let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() / 255.0;
    let slices = (0..depth)
        .map(|z| {
            let mut data = Vec::with_capacity(height * width * 3);
            let mut mask = Vec::with_capacity(height * width);
            for y in 0..height {
                for x in 0..width {
                    let d = ((z as f32 + 0.5 - cz) / rz).powi(2)
                        + ((y as f32 - cy) / ry).powi(2)
                        + ((x as f32 - cx) / rx).powi(2);
                    let l = ((z as f32 + 0.5 - lz) / lrz).powi(2)
                        + ((y as f32 - ly) / lry).powi(2)
                        + ((x as f32 - lx) / lrx).powi(2);
                    let n = hash01(seed ^ (((z * height + y) * width + x) as u64 * 0x9e37_79b9));
                    let (px, lesion) = if d <= 1.0 {
                        let base = 0.35 + 0.15 * (1.0 - d) + 0.1 * n;
                        if l <= 1.0 {
                            ([base, 0.85 + 0.1 * n, base + 0.05], true)
                        } else {
                            ([base, base, base + 0.05], false)
                        }
                    } else {
                        ([0.02 * n; 3], false)
                    };
                    data.extend(px.map(q));
                    mask.push(u8::from(lesion));
                }
            }
            Slice {
                number: z as u32 + 1,
                file: format!("{id}_{}.tif", z + 1),
                image: RgbImage {
                    width,
                    height,
                    data,
                },
                mask: Some(Mask {
                    width,
                    height,
                    data: mask,
                }),
            }
        })
        .collect();
    Case {
        id: id.to_string(),
        slices,
    }
}

/// Writes a case in the kaggle_3m layout under `root/<case id>/` (for tests and demos): each
/// slice's image encoded by `encode` (e.g. `tiff_io::encode_image`), and its mask (8-bit TIFF)
/// when `masks` is set and the slice has one. Returns the case folder.
pub fn write_case(
    root: &std::path::Path,
    case: &Case,
    masks: bool,
    encode: impl Fn(&RgbImage) -> Vec<u8>,
) -> std::io::Result<std::path::PathBuf> {
    let dir = root.join(&case.id);
    std::fs::create_dir_all(&dir)?;
    for s in &case.slices {
        std::fs::write(
            dir.join(format!("{}_{}.tif", case.id, s.number)),
            encode(&s.image),
        )?;
        if let Some(m) = s.mask.as_ref().filter(|_| masks) {
            let bytes = crate::tiff_io::encode_mask(m).map_err(std::io::Error::other)?;
            std::fs::write(
                dir.join(crate::naming::mask_file_name(&case.id, s.number)),
                bytes,
            )?;
        }
    }
    Ok(dir)
}

/// A fresh empty folder `PREFIX-PID-NAME` in the system's temp folder, for tests. The first call
/// in a process removes the `PREFIX-*` folders of processes that are gone (where `/proc` says
/// so): test runs leave their folders behind (a killed training run's 80 MB among them), and
/// without this they add up run after run.
pub fn scratch_dir(prefix: &str, name: &str) -> std::path::PathBuf {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let tmp = std::env::temp_dir();
    SWEPT.call_once(|| sweep_dead(&tmp, prefix));
    let dir = tmp.join(format!("{prefix}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

fn sweep_dead(tmp: &std::path::Path, prefix: &str) {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if pid.parse::<u32>().is_ok() && !proc.join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
