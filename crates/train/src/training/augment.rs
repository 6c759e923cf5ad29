//! Training augmentation: the reference's scale (±5 %), rotation (±15°) and horizontal flip
//! (p = 0.5), plus optional intensity changes, applied in one pass that also takes the training
//! crop. Written here rather than with an image crate because one affine resampling of a
//! 3-channel f32 image (bilinear) and its mask (nearest) over a chosen window is a few lines,
//! and doing crop + scale + rotate + flip in a single pass avoids three intermediate copies.

use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct AugConfig {
    /// Maximum relative scale change (0.05 = ±5 %).
    pub scale: f32,
    /// Maximum rotation in degrees.
    pub rotate: f32,
    /// Probability of a horizontal flip.
    pub flip: f32,
    /// Random gamma (0.8–1.25) and per-channel contrast/brightness (±10 %).
    pub intensity: bool,
}

impl AugConfig {
    #[cfg(test)]
    pub fn none() -> Self {
        Self {
            scale: 0.0,
            rotate: 0.0,
            flip: 0.0,
            intensity: false,
        }
    }
}

/// Draws the window's scale factor, rotation (radians) and flip, in that order.
fn draw_affine(cfg: &AugConfig, rng: &mut impl Rng) -> (f32, f32, bool) {
    let s = 1.0
        + if cfg.scale > 0.0 {
            rng.random_range(-cfg.scale..=cfg.scale)
        } else {
            0.0
        };
    let a = if cfg.rotate > 0.0 {
        rng.random_range(-cfg.rotate..=cfg.rotate).to_radians()
    } else {
        0.0
    };
    let flip = cfg.flip > 0.0 && rng.random::<f32>() < cfg.flip;
    (s, a, flip)
}

/// Samples an `out × out` window centred on `(cy, cx)` of a planar C × n × n image and its n × n
/// mask, through a random scale/rotation/flip about the window centre. Outside the image the
/// input is 0, as in the reference's constant-mode transforms.
pub fn sample_window(
    image: &[f32],
    mask: &[u8],
    n: usize,
    out: usize,
    (cy, cx): (f32, f32),
    cfg: &AugConfig,
    rng: &mut impl Rng,
) -> (Vec<f32>, Vec<f32>) {
    let (s, a, flip) = draw_affine(cfg, rng);
    // Output pixel (oy, ox) → source: undo flip, scale and rotation about the window centre.
    let (sin, cos) = a.sin_cos();
    let half = (out as f32 - 1.0) / 2.0;
    let plane = n * n;
    let channels = image.len() / plane;
    let mut img = vec![0.0f32; channels * out * out];
    let mut msk = vec![0.0f32; out * out];
    for oy in 0..out {
        for ox in 0..out {
            let dx = if flip {
                half - ox as f32
            } else {
                ox as f32 - half
            };
            let dy = oy as f32 - half;
            let sx = (cos * dx + sin * dy) / s + cx;
            let sy = (-sin * dx + cos * dy) / s + cy;
            let o = oy * out + ox;
            let (ny, nx) = (sy.round(), sx.round());
            if ny >= 0.0 && nx >= 0.0 && (ny as usize) < n && (nx as usize) < n {
                msk[o] = mask[ny as usize * n + nx as usize] as f32;
            }
            let (y0, x0) = (sy.floor(), sx.floor());
            let (fy, fx) = (sy - y0, sx - x0);
            for c in 0..channels {
                let at = |y: f32, x: f32| -> f32 {
                    if y < 0.0 || x < 0.0 || y as usize >= n || x as usize >= n {
                        0.0
                    } else {
                        image[c * plane + y as usize * n + x as usize]
                    }
                };
                let v = (1.0 - fy) * ((1.0 - fx) * at(y0, x0) + fx * at(y0, x0 + 1.0))
                    + fy * ((1.0 - fx) * at(y0 + 1.0, x0) + fx * at(y0 + 1.0, x0 + 1.0));
                img[c * out * out + o] = v;
            }
        }
    }
    if cfg.intensity {
        intensity(&mut img, out * out, rng);
    }
    (img, msk)
}

/// Gamma on the window's min–max range, then per-channel contrast and brightness.
fn intensity(img: &mut [f32], plane: usize, rng: &mut impl Rng) {
    let gamma: f32 = rng.random_range(0.8f32..=1.25);
    for ch in img.chunks_mut(plane) {
        let (lo, hi) = ch
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let contrast: f32 = rng.random_range(0.9f32..=1.1);
        let brightness: f32 = rng.random_range(-0.1f32..=0.1);
        let range = (hi - lo).max(1e-6);
        for v in ch.iter_mut() {
            let g = ((*v - lo) / range).powf(gamma) * range + lo;
            *v = g * contrast + brightness;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn identity_window_copies_and_flip_mirrors() {
        let n = 8;
        let image: Vec<f32> = (0..3 * n * n).map(|i| i as f32).collect();
        let mask: Vec<u8> = (0..n * n).map(|i| (i % 3 == 0) as u8).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let c = (n as f32 - 1.0) / 2.0;
        let (img, msk) = sample_window(&image, &mask, n, n, (c, c), &AugConfig::none(), &mut rng);
        assert_eq!(img, image);
        assert_eq!(msk, mask.iter().map(|&m| m as f32).collect::<Vec<_>>());
        let flip = AugConfig {
            flip: 1.0,
            ..AugConfig::none()
        };
        let (img, _) = sample_window(&image, &mask, n, n, (c, c), &flip, &mut rng);
        assert_eq!(img[0], image[n - 1]);
        // A 4×4 crop at the top-left corner.
        let (img, _) = sample_window(
            &image,
            &mask,
            n,
            4,
            (1.5, 1.5),
            &AugConfig::none(),
            &mut rng,
        );
        assert_eq!(&img[..4], &image[..4]);
    }
}
