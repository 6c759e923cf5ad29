//! Training augmentation: the reference's scale (±5 %), rotation (±15°) and horizontal flip
//! (p = 0.5), plus optional elastic deformation, missing sequences, fainter lesions, intensity
//! and image-quality changes, applied in one pass that also takes the training crop. The affine
//! part is written here rather than with an image crate because one affine resampling of a
//! 3-channel f32 image (bilinear) and its mask (nearest) over a chosen window is a few lines, and
//! doing crop + scale + rotate + flip (+ the elastic displacement) in a single pass avoids
//! intermediate copies.

use brainseg::resize::{resize_gray, resize_nearest};
use image::{ImageBuffer, Luma};
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
    /// nnU-Net's image-quality transforms, each drawn per slice: Gaussian noise, Gaussian blur
    /// and simulated low resolution ([`quality`]).
    pub quality: bool,
    /// Smooth random displacements of the sampling grid ([`elastic_field`]).
    pub elastic: bool,
    /// Probability that a window's contrast sequences are replaced by its FLAIR, as the data
    /// set does for scans that lack them ([`missing_sequences`]).
    pub missing: f32,
    /// Probability that a window's lesion is made fainter: its mean moved towards its
    /// surroundings' in each sequence ([`fainter_lesion`]).
    #[serde(default)]
    pub lesion_contrast: f32,
}

impl AugConfig {
    #[cfg(test)]
    pub fn none() -> Self {
        Self {
            scale: 0.0,
            rotate: 0.0,
            flip: 0.0,
            intensity: false,
            quality: false,
            elastic: false,
            missing: 0.0,
            lesion_contrast: 0.0,
        }
    }
}

/// Of the windows whose post-contrast channel `--aug-missing` replaces, the share whose
/// pre-contrast channel is replaced too: kaggle_3m's substituted patients, 6 of the 10 among the
/// 100 development patients (`docs/cv/README.md`).
const MISSING_BOTH_SHARE: f32 = 0.6;

/// `--aug-lesion-contrast`: the largest share of a lesion's contrast against its surroundings
/// that is taken away in one sequence (each sequence draws its share from [0, this]). Below 1, so
/// some signal is always left: a window whose lesion cannot be seen at all would ask the model
/// to mark tissue that looks like the brain around it.
const FAINT_MAX: f32 = 0.8;
/// The ring around the lesion whose median stands for "its surroundings", in output pixels.
const FAINT_RING: usize = 6;
/// The Gaussian that softens the lesion's edge, so the change leaves no outline of the mask
/// for a model to learn instead of the lesion.
const FAINT_EDGE_SIGMA: f32 = 1.5;
/// Windows with fewer lesion pixels than this are left alone: a ring median and a lesion mean
/// over a handful of pixels are noise.
const FAINT_MIN_PIXELS: usize = 16;

/// The share of training windows that `--aug-elastic` deforms.
const ELASTIC_P: f32 = 0.5;
/// Control points per side of the coarse displacement grid.
const ELASTIC_GRID: usize = 4;
/// Standard deviation of a control point's displacement, as a share of the window's side.
const ELASTIC_SIGMA: f32 = 0.025;

/// Ronneberger et al. 2015's elastic deformation, the U-Net paper's main augmentation for few
/// training images: displacements drawn at the points of a coarse grid (4 × 4 over the window,
/// each N(0, σ) in both directions with σ = 2.5 % of the window's side, 3.2 pixels at 128²) and
/// interpolated smoothly to every pixel. Returns the (dy, dx) fields, `out × out` each, in
/// output pixels; the image and its mask are both sampled at the displaced points, so they move
/// together.
fn elastic_field(out: usize, rng: &mut impl Rng) -> (Vec<f32>, Vec<f32>) {
    let sigma = ELASTIC_SIGMA * out as f32;
    let g = ELASTIC_GRID;
    let mut draw = || -> Vec<f32> {
        let coarse: Vec<f32> = (0..g * g).map(|_| sigma * standard_normal(rng)).collect();
        resize_gray(&coarse, g, g, out, out)
    };
    let dy = draw();
    let dx = draw();
    (dy, dx)
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
    // Drawn only when enabled, so runs without it keep their random stream.
    let warp = (cfg.elastic && rng.random::<f32>() < ELASTIC_P).then(|| elastic_field(out, rng));
    // Output pixel (oy, ox) → source: undo flip, scale and rotation about the window centre.
    let (sin, cos) = a.sin_cos();
    let half = (out as f32 - 1.0) / 2.0;
    let plane = n * n;
    let channels = image.len() / plane;
    let mut img = vec![0.0f32; channels * out * out];
    let mut msk = vec![0.0f32; out * out];
    for oy in 0..out {
        for ox in 0..out {
            let o = oy * out + ox;
            let (wy, wx) = warp.as_ref().map_or((0.0, 0.0), |(wy, wx)| (wy[o], wx[o]));
            let dx = if flip {
                half - ox as f32
            } else {
                ox as f32 - half
            } + wx;
            let dy = oy as f32 - half + wy;
            let sx = (cos * dx + sin * dy) / s + cx;
            let sy = (-sin * dx + cos * dy) / s + cy;
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
    // Drawn only when enabled, so runs without it keep their random stream. Before the missing
    // sequences, so a copied FLAIR carries the fainter lesion as a substituted scan would.
    if cfg.lesion_contrast > 0.0 && rng.random::<f32>() < cfg.lesion_contrast {
        fainter_lesion(&mut img, &msk, out, rng);
    }
    if cfg.missing > 0.0 && rng.random::<f32>() < cfg.missing {
        let both = rng.random::<f32>() < MISSING_BOTH_SHARE;
        missing_sequences(&mut img, out * out, both);
    }
    if cfg.quality {
        quality(&mut img, out, rng);
    }
    if cfg.intensity {
        intensity(&mut img, out * out, rng);
    }
    (img, msk)
}

/// kaggle_3m fills a missing sequence with the FLAIR: 10 of the 100 development patients have
/// FLAIR in the post-contrast channel, 6 of them in the pre-contrast channel too, and those six
/// score about 0.1 below the rest out of fold. This makes a planar window (channels pre-contrast,
/// FLAIR, post-contrast, then any 2.5-D neighbours) look like theirs: the post-contrast channel,
/// and with `both` the pre-contrast one, become copies of the FLAIR. On z-scored windows a copy
/// is what the preprocessing gives a substituted channel, up to the 10–99th percentile window it
/// pools over the three channels.
fn missing_sequences(img: &mut [f32], plane: usize, both: bool) {
    let (pre, rest) = img.split_at_mut(plane);
    let (flair, rest) = rest.split_at_mut(plane);
    rest[..plane].copy_from_slice(flair);
    if both {
        pre.copy_from_slice(flair);
    }
}

/// Patients whose lesions stand out little from the brain on FLAIR score lower out of fold (the
/// faintest third of the development patients 0.75, the brightest 0.88; `DU_7306`, at 0 in every
/// draw, is the second faintest: `docs/cv/README.md`, "Fainter lesions"). This shows the model
/// such lesions: in each of the window's three sequences (pre-contrast, FLAIR, post-contrast;
/// 2.5-D neighbours are left alone, their lesions are not this mask) the lesion's mean is moved
/// towards the median of a ring around it by a share drawn from [0, `FAINT_MAX`], through a
/// softened copy of the mask. The lesion's texture and shape stay; only its contrast shrinks.
fn fainter_lesion(img: &mut [f32], msk: &[f32], n: usize, rng: &mut impl Rng) {
    let plane = n * n;
    let inside: Vec<usize> = (0..plane).filter(|&o| msk[o] > 0.5).collect();
    if inside.len() < FAINT_MIN_PIXELS {
        return;
    }
    let grown = dilate(msk, n, FAINT_RING);
    let ring: Vec<usize> = (0..plane)
        .filter(|&o| grown[o] > 0.5 && msk[o] <= 0.5)
        .collect();
    if ring.len() < FAINT_MIN_PIXELS {
        return;
    }
    let mut soft = msk.to_vec();
    blur(&mut soft, n, FAINT_EDGE_SIGMA);
    let channels = (img.len() / plane).min(3);
    for c in 0..channels {
        let share = rng.random_range(0.0..=FAINT_MAX);
        let ch = &mut img[c * plane..(c + 1) * plane];
        let lesion = inside.iter().map(|&o| ch[o]).sum::<f32>() / inside.len() as f32;
        let mut around: Vec<f32> = ring.iter().map(|&o| ch[o]).collect();
        let mid = around.len() / 2;
        let (_, &mut median, _) = around.select_nth_unstable_by(mid, f32::total_cmp);
        let shift = share * (lesion - median);
        for (v, w) in ch.iter_mut().zip(&soft) {
            *v -= w * shift;
        }
    }
}

/// Binary dilation of an n × n 0/1 plane by a (2r + 1)² square: a running maximum along rows,
/// then along columns.
fn dilate(msk: &[f32], n: usize, r: usize) -> Vec<f32> {
    let pass = |src: &[f32], at: &dyn Fn(usize, usize) -> usize| -> Vec<f32> {
        let mut dst = vec![0.0f32; n * n];
        for line in 0..n {
            for i in 0..n {
                let (lo, hi) = (i.saturating_sub(r), (i + r).min(n - 1));
                dst[at(line, i)] = (lo..=hi).map(|j| src[at(line, j)]).fold(0.0, f32::max);
            }
        }
        dst
    };
    let rows = pass(msk, &|y, x| y * n + x);
    pass(&rows, &|x, y| y * n + x)
}

/// nnU-Net's image-quality augmentation (Isensee et al. 2021, its default probabilities), on a
/// planar C × n × n window in z-scored units: with p = 0.1 Gaussian noise of variance drawn from
/// [0, 0.1]; with p = 0.2 a Gaussian blur (σ from [0.5, 1] pixels) of each channel with p = 0.5;
/// with p = 0.25 each channel with p = 0.5 resampled to a lower resolution (a factor from
/// [0.5, 1]: nearest down, bilinear up). For scans acquired noisier, blurrier or coarser than
/// most of the training set.
fn quality(img: &mut [f32], n: usize, rng: &mut impl Rng) {
    let plane = n * n;
    if rng.random::<f32>() < 0.1 {
        let std = rng.random_range(0.0f32..=0.1).sqrt();
        for v in img.iter_mut() {
            *v += std * standard_normal(rng);
        }
    }
    if rng.random::<f32>() < 0.2 {
        for ch in img.chunks_mut(plane) {
            if rng.random::<f32>() < 0.5 {
                let sigma = rng.random_range(0.5f32..=1.0);
                blur(ch, n, sigma);
            }
        }
    }
    if rng.random::<f32>() < 0.25 {
        for ch in img.chunks_mut(plane) {
            if rng.random::<f32>() < 0.5 {
                let factor = rng.random_range(0.5f32..=1.0);
                low_resolution(ch, n, factor);
            }
        }
    }
}

/// A standard normal draw (Box–Muller): rand 0.9 has none, and its companion `rand_distr` is
/// not in this workspace's lock at a version that matches.
fn standard_normal(rng: &mut impl Rng) -> f32 {
    let u1 = 1.0 - rng.random::<f32>(); // (0, 1]: ln is finite
    let u2 = rng.random::<f32>();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Gaussian blur of one n × n plane, edges clamped (the `image` crate's separable blur).
fn blur(ch: &mut [f32], n: usize, sigma: f32) {
    let plane: ImageBuffer<Luma<f32>, &[f32]> =
        ImageBuffer::from_raw(n as u32, n as u32, &*ch).expect("an n × n plane");
    let blurred = image::imageops::blur(&plane, sigma);
    ch.copy_from_slice(blurred.as_raw());
}

/// One n × n plane down to m × m (m = round(n · factor), nearest neighbour) and back up to
/// n × n (smooth: bilinear when enlarging), with the core crate's resizers: the detail of an
/// m-pixel acquisition.
fn low_resolution(ch: &mut [f32], n: usize, factor: f32) {
    let m = ((n as f32 * factor).round() as usize).clamp(1, n);
    if m == n {
        return;
    }
    let small = resize_nearest(ch, n, n, m, m);
    ch.copy_from_slice(&resize_gray(&small, m, m, n, n));
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

    #[test]
    fn blur_keeps_constants_and_mass_and_spreads_a_point_symmetrically() {
        let n = 9;
        let mut flat = vec![2.5f32; n * n];
        blur(&mut flat, n, 1.0);
        assert!(flat.iter().all(|&v| (v - 2.5).abs() < 1e-5));
        let mut point = vec![0.0f32; n * n];
        point[4 * n + 4] = 1.0;
        blur(&mut point, n, 1.0);
        let total: f32 = point.iter().sum();
        assert!((total - 1.0).abs() < 1e-5, "mass {total}");
        assert!(point[4 * n + 4] < 0.2 && point[4 * n + 3] > 0.05);
        assert_eq!(point[4 * n + 3], point[4 * n + 5]);
        assert_eq!(point[3 * n + 4], point[4 * n + 3]);
    }

    #[test]
    fn low_resolution_removes_detail_finer_than_its_grid() {
        let n = 8;
        let checker: Vec<f32> = (0..n * n).map(|i| ((i / n + i % n) % 2) as f32).collect();
        let mut full = checker.clone();
        low_resolution(&mut full, n, 1.0);
        assert_eq!(full, checker);
        // At half resolution nearest sampling meets one colour of the checkerboard only.
        let mut half = checker.clone();
        low_resolution(&mut half, n, 0.5);
        assert!(half.iter().all(|&v| v == half[0]), "{half:?}");
        // A ramp stays within its range and keeps its direction.
        let ramp: Vec<f32> = (0..n * n).map(|i| (i % n) as f32).collect();
        let mut coarse = ramp.clone();
        low_resolution(&mut coarse, n, 0.6);
        assert!(coarse.iter().all(|&v| (0.0..=7.0).contains(&v)));
        assert!(coarse[n - 1] > coarse[0]);
    }

    #[test]
    fn quality_changes_some_windows_leaves_the_rest_and_never_the_mask() {
        let n = 16;
        let image: Vec<f32> = (0..3 * n * n)
            .map(|i| ((i * 7) % 13) as f32 / 13.0)
            .collect();
        let mask: Vec<u8> = (0..n * n).map(|i| u8::from(i % 5 == 0)).collect();
        let cfg = AugConfig {
            quality: true,
            ..AugConfig::none()
        };
        let c = (n as f32 - 1.0) / 2.0;
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut changed = 0;
        for _ in 0..400 {
            let (img, msk) = sample_window(&image, &mask, n, n, (c, c), &cfg, &mut rng);
            assert_eq!(msk, mask.iter().map(|&m| m as f32).collect::<Vec<_>>());
            assert!(img.iter().all(|v| v.is_finite()));
            changed += usize::from(img != image);
        }
        // P(unchanged) = 0.9 × (1 − 0.2 × 0.875) × (1 − 0.25 × 0.875) ≈ 0.58.
        assert!((120..220).contains(&changed), "{changed} of 400 changed");
    }

    #[test]
    fn missing_sequences_copy_the_flair_into_the_contrast_channels_of_some_windows() {
        let n = 8;
        let plane = n * n;
        // Four channels (a 2.5-D neighbour last), each a different ramp.
        let image: Vec<f32> = (0..4 * plane).map(|i| (i * 3 % 17) as f32).collect();
        let mask = vec![0u8; plane];
        let c = (n as f32 - 1.0) / 2.0;
        let cfg = AugConfig {
            missing: 0.5,
            ..AugConfig::none()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let (mut untouched, mut post, mut both) = (0, 0, 0);
        for _ in 0..1000 {
            let (img, _) = sample_window(&image, &mask, n, n, (c, c), &cfg, &mut rng);
            let ch = |k: usize| &img[k * plane..(k + 1) * plane];
            // The FLAIR and the neighbour are never changed.
            assert_eq!(ch(1), &image[plane..2 * plane]);
            assert_eq!(ch(3), &image[3 * plane..]);
            match (ch(0) == ch(1), ch(2) == ch(1)) {
                (false, false) => {
                    assert_eq!(img, image);
                    untouched += 1;
                }
                (false, true) => post += 1,
                (true, true) => both += 1,
                (true, false) => panic!("pre-contrast replaced without the post-contrast"),
            }
        }
        // Expected 500 untouched, 200 post-contrast only, 300 both.
        assert!((440..560).contains(&untouched), "{untouched}");
        assert!((150..250).contains(&post), "{post}");
        assert!((240..360).contains(&both), "{both}");
    }

    #[test]
    fn elastic_deforms_half_the_windows_smoothly_and_moves_the_mask_with_the_image() {
        let n = 32;
        // A bright square whose mask is the square itself: channel 0 equals the mask.
        let mask: Vec<u8> = (0..n * n)
            .map(|i| u8::from((8..24).contains(&(i / n)) && (8..24).contains(&(i % n))))
            .collect();
        let mut image: Vec<f32> = mask.iter().map(|&m| f32::from(m)).collect();
        image.extend((0..2 * n * n).map(|i| (i % n) as f32));
        let cfg = AugConfig {
            elastic: true,
            ..AugConfig::none()
        };
        let c = (n as f32 - 1.0) / 2.0;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut changed = 0;
        for _ in 0..200 {
            let (img, msk) = sample_window(&image, &mask, n, n, (c, c), &cfg, &mut rng);
            if msk != mask.iter().map(|&m| f32::from(m)).collect::<Vec<_>>() {
                changed += 1;
            }
            // Image and mask stay registered: the image's channel 0 (bilinear) rounds to the
            // mask (nearest) but where the sampling point lies on the square's edge.
            let disagree = (0..n * n)
                .filter(|&o| (img[o] - msk[o]).abs() > 0.5)
                .count();
            assert!(disagree <= n, "{disagree} pixels disagree");
            // Smooth: neighbouring pixels of the x ramp (channel 1) move by about one pixel.
            let ramp = &img[n * n..2 * n * n];
            for y in 4..n - 4 {
                for x in 4..n - 4 {
                    let step = ramp[y * n + x + 1] - ramp[y * n + x];
                    assert!((0.0..2.0).contains(&step), "step {step} at ({y}, {x})");
                }
            }
        }
        // Half the windows are deformed; a deformed one almost always moves some mask pixel.
        assert!((70..=130).contains(&changed), "{changed} of 200 changed");
    }

    #[test]
    fn dilation_grows_a_point_into_a_square_clipped_at_the_edges() {
        let n = 7;
        let mut point = vec![0.0f32; n * n];
        point[n + 1] = 1.0;
        let grown = dilate(&point, n, 2);
        for y in 0..n {
            for x in 0..n {
                assert_eq!(grown[y * n + x], f32::from(y <= 3 && x <= 3), "({y}, {x})");
            }
        }
    }

    #[test]
    fn fainter_lesions_lose_contrast_keep_texture_and_the_mask_and_leave_the_rest() {
        let n = 32;
        let plane = n * n;
        // A 12 × 12 lesion, bright in every sequence, with a texture inside; the brain around it
        // at 0 with a texture of its own; a fourth (2.5-D) channel.
        let lesion = |o: usize| (10..22).contains(&(o / n)) && (10..22).contains(&(o % n));
        let mask: Vec<u8> = (0..plane).map(|o| u8::from(lesion(o))).collect();
        let texture = |o: usize| ((o * 7) % 5) as f32 * 0.1;
        let image: Vec<f32> = (0..4 * plane)
            .map(|i| {
                let o = i % plane;
                texture(o) + if lesion(o) { 2.0 } else { 0.0 }
            })
            .collect();
        let cfg = AugConfig {
            lesion_contrast: 0.5,
            ..AugConfig::none()
        };
        let c = (n as f32 - 1.0) / 2.0;
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mean = |ch: &[f32], inside: bool| {
            let v: Vec<f32> = (0..plane)
                .filter(|&o| lesion(o) == inside)
                .map(|o| ch[o])
                .collect();
            v.iter().sum::<f32>() / v.len() as f32
        };
        let mut changed = 0;
        for _ in 0..400 {
            let (img, msk) = sample_window(&image, &mask, n, n, (c, c), &cfg, &mut rng);
            assert_eq!(msk, mask.iter().map(|&m| f32::from(m)).collect::<Vec<_>>());
            // The 2.5-D neighbour is never touched.
            assert_eq!(&img[3 * plane..], &image[3 * plane..]);
            if img == image {
                continue;
            }
            changed += 1;
            for ch in 0..3 {
                let (before, after) = (
                    &image[ch * plane..(ch + 1) * plane],
                    &img[ch * plane..(ch + 1) * plane],
                );
                let contrast = mean(after, true) - mean(after, false);
                let was = mean(before, true) - mean(before, false);
                // At most 80 % of the lesion's 2.0 over the ring's median is taken: some
                // contrast is always left, and none is added.
                assert!(
                    contrast > 0.3 && contrast <= was + 1e-4,
                    "{was} → {contrast}"
                );
                // Deep inside, a shift of the whole lesion: its texture is kept.
                let (a, b) = (15 * n + 15, 15 * n + 16);
                let d = (after[a] - after[b]) - (before[a] - before[b]);
                assert!(d.abs() < 1e-3, "texture changed by {d}");
                // Far from the lesion, nothing moves.
                for o in [0, n - 1, plane - n, plane - 1] {
                    assert!((after[o] - before[o]).abs() < 1e-6, "pixel {o} moved");
                }
            }
            // The lesion is fainter in at least one sequence.
            let contrast = |ch: usize, im: &[f32]| {
                let p = &im[ch * plane..(ch + 1) * plane];
                mean(p, true) - mean(p, false)
            };
            assert!((0..3).any(|ch| contrast(ch, &img) < contrast(ch, &image) - 1e-3));
        }
        assert!((160..240).contains(&changed), "{changed} of 400 changed");
        // A window without lesion, or with too little of it, is left alone.
        let blank = vec![0u8; plane];
        let always = AugConfig {
            lesion_contrast: 1.0,
            ..AugConfig::none()
        };
        let (img, _) = sample_window(&image, &blank, n, n, (c, c), &always, &mut rng);
        assert_eq!(img, image);
    }

    #[test]
    fn standard_normal_draws_have_mean_0_and_variance_1() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let draws: Vec<f32> = (0..20_000).map(|_| standard_normal(&mut rng)).collect();
        let mean = draws.iter().sum::<f32>() / draws.len() as f32;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f32>() / draws.len() as f32;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
