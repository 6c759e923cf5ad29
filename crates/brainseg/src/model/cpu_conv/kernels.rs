//! "Same" 2-D convolutions on contiguous NCHW `f32` slices — an odd k×k kernel, stride 1, zero
//! padding k/2, no groups, no bias — with their input and weight gradients, as im2col and matrix
//! products from the `gemm` crate (the one burn's flex backend uses too).
//!
//! The work is split into (image, band of output rows) items run on rayon's pool. A band's
//! im2col columns (`Cin·k²` rows of `band·W` values) are sized to stay in a core's L2 cache:
//! without the bands the U-Net's first level (16 output channels over 128² pixels) wrote and
//! re-read columns of 9–19 MB per image and ran at memory speed. The input gradient is the
//! forward convolution of the output gradient with the weights transposed and flipped; the weight
//! gradient sums `grad_out · columnsᵀ` over the items in a fixed number of partial sums (the
//! result does not depend on the machine's thread count). Without the `cpu-kernels` feature (the
//! page's wasm, one thread per worker) the items run in turn on the calling thread and only the
//! forward convolution is built.

use gemm::{Parallelism, gemm};
#[cfg(feature = "cpu-kernels")]
use rayon::prelude::*;

/// The shape of one convolution: the input is `[batch, cin, h, w]`, the weight
/// `[cout, cin, k, k]`, the output `[batch, cout, h, w]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub batch: usize,
    pub cin: usize,
    pub cout: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
}

/// Bytes of im2col columns one band may use (a quarter to half of a current core's L2; 256 to
/// 1,024 KB measured the same on this project's machine).
const BAND_BYTES: usize = 512 * 1024;

/// Partial sums of the weight gradient: fixed, so the sum's order is the same on every machine.
#[cfg(feature = "cpu-kernels")]
const PARTIAL_SUMS: usize = 16;

impl Geometry {
    fn plane(&self) -> usize {
        self.h * self.w
    }

    /// Length of one im2col column: `cin · k²`.
    fn depth(&self) -> usize {
        self.cin * self.k * self.k
    }

    /// Output rows per band.
    fn band_rows(&self) -> usize {
        (BAND_BYTES / (4 * self.depth() * self.w).max(1)).clamp(1, self.h)
    }

    /// Every (image, first row of a band) item.
    fn items(&self) -> Vec<(usize, usize)> {
        let rows = self.band_rows();
        (0..self.batch)
            .flat_map(|b| (0..self.h).step_by(rows).map(move |y0| (b, y0)))
            .collect()
    }

    fn band_end(&self, y0: usize) -> usize {
        (y0 + self.band_rows()).min(self.h)
    }

    fn check(&self, input: &[f32], input_channels: usize, weight_or_out: &[f32], len: usize) {
        assert_eq!(
            self.k % 2,
            1,
            "same convolution needs an odd kernel, got {}",
            self.k
        );
        assert_eq!(
            input.len(),
            self.batch * input_channels * self.plane(),
            "input length"
        );
        assert_eq!(weight_or_out.len(), len, "weight or gradient length");
    }
}

/// A raw pointer the items of one call write through, each to its own disjoint part.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: every item writes a region no other item touches (its image, its band of rows), and
// the buffer outlives the parallel loop that uses the pointer.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// The element at `offset` (a method, so closures capture the whole `Sync` wrapper).
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// im2col of the output rows `y0..y1` of one image `x` (`[cin, h, w]`) into `col`:
/// `col[(c·k² + t)·n + (y − y0)·w + x] = x[c, y + dy, x + dx]` (0 outside the image), where
/// tap `t` is the offset `(dy, dx) = (t / k − k/2, t % k − k/2)` and `n = (y1 − y0)·w`.
fn im2col(g: &Geometry, x: &[f32], y0: usize, y1: usize, col: &mut [f32]) {
    let (h, w, k) = (g.h as isize, g.w, g.k);
    let p = (k / 2) as isize;
    let n = (y1 - y0) * w;
    for (c, plane) in x.chunks_exact(g.plane()).enumerate() {
        for t in 0..k * k {
            let (dy, dx) = ((t / k) as isize - p, (t % k) as isize - p);
            let dst = &mut col[(c * k * k + t) * n..][..n];
            // Output columns whose source column x + dx lies inside the row.
            let x0 = (-dx).max(0) as usize;
            let x1 = (w as isize - dx).min(w as isize) as usize;
            for (y, row) in (y0..y1).zip(dst.chunks_exact_mut(w)) {
                let sy = y as isize + dy;
                if sy < 0 || sy >= h {
                    row.fill(0.0);
                    continue;
                }
                let src = &plane[sy as usize * w..][..w];
                row[..x0].fill(0.0);
                row[x1..].fill(0.0);
                row[x0..x1].copy_from_slice(&src[(x0 as isize + dx) as usize..][..x1 - x0]);
            }
        }
    }
}

/// The matrix whose columns are the band's input patches, as (pointer, row stride): for a 1×1
/// kernel the input itself (no copy), otherwise the im2col columns written into `col`.
fn patches(g: &Geometry, xb: &[f32], y0: usize, y1: usize, col: &mut [f32]) -> (*const f32, usize) {
    if g.k == 1 {
        (xb[y0 * g.w..].as_ptr(), g.plane())
    } else {
        let n = (y1 - y0) * g.w;
        im2col(g, xb, y0, y1, &mut col[..g.depth() * n]);
        (col.as_ptr(), n)
    }
}

thread_local! {
    /// This thread's im2col columns, kept from call to call: allocating (and zeroing) a new
    /// buffer for every parallel job cost a memset per job on the step's hot path.
    static COLUMNS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `work` with this thread's column buffer, at least as long as one band of `g` needs
/// (`im2col` writes every value it hands on, so old contents never leak into a result).
fn with_columns<R>(g: &Geometry, work: impl FnOnce(&mut [f32]) -> R) -> R {
    let len = if g.k == 1 {
        0
    } else {
        g.depth() * g.band_rows() * g.w
    };
    COLUMNS.with_borrow_mut(|col| {
        if col.len() < len {
            col.resize(len, 0.0);
        }
        work(&mut col[..len])
    })
}

/// Runs `work(columns, item)` for every (image, band) item of `g`, with this thread's column
/// buffer: on rayon's pool with `cpu-kernels`, in turn on this thread without.
fn for_each_item(g: &Geometry, work: impl Fn(&mut [f32], (usize, usize)) + Send + Sync) {
    #[cfg(feature = "cpu-kernels")]
    g.items()
        .par_iter()
        .for_each(|&item| with_columns(g, |col| work(col, item)));
    #[cfg(not(feature = "cpu-kernels"))]
    for item in g.items() {
        with_columns(g, |col| work(col, item));
    }
}

/// What the forward convolution applies to its output before returning it: a per-output-channel
/// bias, then a ReLU (both while the band is in cache, instead of a pass of their own each).
#[derive(Debug, Clone, Copy, Default)]
pub struct Epilogue<'a> {
    /// `[cout]` added to every output pixel of its channel.
    pub bias: Option<&'a [f32]>,
    pub relu: bool,
}

/// The convolution `[batch, cout, h, w]` of `x` (`[batch, cin, h, w]`) with `weight`
/// (`[cout, cin, k, k]`), then `epilogue`.
pub fn forward(g: &Geometry, x: &[f32], weight: &[f32], epilogue: Epilogue) -> Vec<f32> {
    g.check(x, g.cin, weight, g.cout * g.depth());
    if let Some(bias) = epilogue.bias {
        assert_eq!(bias.len(), g.cout, "bias length");
    }
    let (plane, depth) = (g.plane(), g.depth());
    // Not zeroed: every value is written by the items' matrix products (`read_dst` false, so
    // gemm never reads it), and a zeroing pass ran on this thread alone while the pool waited.
    let len = g.batch * g.cout * plane;
    let mut out = Vec::<f32>::with_capacity(len);
    let dst = SharedOut(out.as_mut_ptr());
    for_each_item(g, |col, (b, y0)| {
        let y1 = g.band_end(y0);
        let n = (y1 - y0) * g.w;
        let (rhs, rhs_rs) = patches(g, &x[b * g.cin * plane..][..g.cin * plane], y0, y1, col);
        let band = b * g.cout * plane + y0 * g.w;
        // out[b, :, band] = weight[cout, depth] · patches[depth, n]
        // SAFETY: the destination is rows y0..y1 of image b in every output channel (row
        // stride `plane`, inside `out`); the operands are `depth × n` and `cout × depth`
        // matrices inside `col`/`x` and `weight`, as `check` and `patches` established.
        unsafe {
            gemm(
                g.cout,
                n,
                depth,
                dst.at(band),
                1,
                plane as isize,
                false,
                weight.as_ptr(),
                1,
                depth as isize,
                rhs,
                1,
                rhs_rs as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                Parallelism::None,
            );
        }
        if epilogue.bias.is_none() && !epilogue.relu {
            return;
        }
        for o in 0..g.cout {
            // SAFETY: this item's own `n` values of output channel `o` (see above).
            let row = unsafe { std::slice::from_raw_parts_mut(dst.at(band + o * plane), n) };
            let add = epilogue.bias.map_or(0.0, |bias| bias[o]);
            if epilogue.relu {
                row.iter_mut().for_each(|v| *v = (*v + add).max(0.0));
            } else {
                row.iter_mut().for_each(|v| *v += add);
            }
        }
    });
    // SAFETY: the items are every (image, band) of the output and each wrote its band of every
    // output channel above.
    unsafe { out.set_len(len) };
    out
}

/// The gradient of the forward convolution's input, for the output gradient `grad_out`
/// (`[batch, cout, h, w]`): the forward convolution of `grad_out` with the weight transposed
/// (`[cin, cout, k, k]`) and flipped in both spatial axes.
#[cfg(feature = "cpu-kernels")]
pub fn input_grad(g: &Geometry, grad_out: &[f32], weight: &[f32]) -> Vec<f32> {
    g.check(grad_out, g.cout, weight, g.cout * g.depth());
    let k2 = g.k * g.k;
    let mut flipped = vec![0.0f32; weight.len()];
    for o in 0..g.cout {
        for i in 0..g.cin {
            for t in 0..k2 {
                flipped[(i * g.cout + o) * k2 + (k2 - 1 - t)] = weight[(o * g.cin + i) * k2 + t];
            }
        }
    }
    let transposed = Geometry {
        cin: g.cout,
        cout: g.cin,
        ..*g
    };
    forward(&transposed, grad_out, &flipped, Epilogue::default())
}

/// The gradient of the forward convolution's weight (`[cout, cin, k, k]`), for input `x` and
/// output gradient `grad_out`.
#[cfg(feature = "cpu-kernels")]
pub fn weight_grad(g: &Geometry, x: &[f32], grad_out: &[f32]) -> Vec<f32> {
    g.check(x, g.cin, grad_out, g.batch * g.cout * g.plane());
    let (plane, depth) = (g.plane(), g.depth());
    let items = g.items();
    let per_sum = items.len().div_ceil(PARTIAL_SUMS).max(1);
    let partials: Vec<Vec<f32>> = items
        .par_chunks(per_sum)
        .map(|chunk| {
            with_columns(g, |col| {
                let mut acc = vec![0.0f32; g.cout * depth];
                for (i, &(b, y0)) in chunk.iter().enumerate() {
                    let y1 = g.band_end(y0);
                    let n = (y1 - y0) * g.w;
                    let (rhs, rhs_rs) =
                        patches(g, &x[b * g.cin * plane..][..g.cin * plane], y0, y1, col);
                    // acc[cout, depth] (+)= grad_out[b, :, band] · patches[depth, n]ᵀ
                    // SAFETY: `acc` is `cout × depth`; the gradient's band is `cout × n` with row
                    // stride `plane` inside `grad_out`; the patches are `depth × n` with row stride
                    // `rhs_rs`, read transposed (column stride `rhs_rs`, row stride 1).
                    unsafe {
                        gemm(
                            g.cout,
                            depth,
                            n,
                            acc.as_mut_ptr(),
                            1,
                            depth as isize,
                            i > 0,
                            grad_out[b * g.cout * plane + y0 * g.w..].as_ptr(),
                            1,
                            plane as isize,
                            rhs,
                            rhs_rs as isize,
                            1,
                            1.0,
                            1.0,
                            false,
                            false,
                            false,
                            Parallelism::None,
                        );
                    }
                }
                acc
            })
        })
        .collect();
    let mut sum = vec![0.0f32; g.cout * depth];
    for partial in &partials {
        for (s, p) in sum.iter_mut().zip(partial) {
            *s += p;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one output value at a time.
    fn direct(g: &Geometry, x: &[f32], weight: &[f32]) -> Vec<f32> {
        let p = (g.k / 2) as isize;
        let mut out = vec![0.0; g.batch * g.cout * g.plane()];
        for b in 0..g.batch {
            for o in 0..g.cout {
                for y in 0..g.h {
                    for xx in 0..g.w {
                        let mut acc = 0.0;
                        for i in 0..g.cin {
                            for t in 0..g.k * g.k {
                                let sy = y as isize + (t / g.k) as isize - p;
                                let sx = xx as isize + (t % g.k) as isize - p;
                                if (0..g.h as isize).contains(&sy)
                                    && (0..g.w as isize).contains(&sx)
                                {
                                    acc += weight[(o * g.cin + i) * g.k * g.k + t]
                                        * x[((b * g.cin + i) * g.h + sy as usize) * g.w
                                            + sx as usize];
                                }
                            }
                        }
                        out[((b * g.cout + o) * g.h + y) * g.w + xx] = acc;
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32
                    / (1 << 24) as f32
                    - 0.5
            })
            .collect()
    }

    #[cfg(feature = "cpu-kernels")]
    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum()
    }

    /// Odd sizes, a 1×1 and a 5×5 kernel, and a first layer wide enough to need several bands.
    fn geometries() -> Vec<Geometry> {
        let g = |batch, cin, cout, h, w, k| Geometry {
            batch,
            cin,
            cout,
            h,
            w,
            k,
        };
        vec![
            g(2, 3, 4, 7, 5, 3),
            g(1, 2, 3, 6, 9, 1),
            g(3, 2, 2, 5, 4, 5),
            g(2, 3, 16, 40, 600, 3),
        ]
    }

    #[test]
    fn forward_equals_the_definition() {
        assert!(
            geometries().iter().any(|g| g.items().len() > g.batch),
            "no banded case"
        );
        for g in geometries() {
            let x = values(g.batch * g.cin * g.plane(), 1);
            let w = values(g.cout * g.depth(), 2);
            let bias = values(g.cout, 6);
            let slow = direct(&g, &x, &w);
            // The same convolution with the epilogue: + bias[channel], then ReLU.
            let plane = g.plane();
            let slow_biased: Vec<f32> = (0..slow.len())
                .map(|i| (slow[i] + bias[(i / plane) % g.cout]).max(0.0))
                .collect();
            let epilogue = Epilogue {
                bias: Some(&bias),
                relu: true,
            };
            for (fast, slow) in [
                (forward(&g, &x, &w, Epilogue::default()), &slow),
                (forward(&g, &x, &w, epilogue), &slow_biased),
            ] {
                let worst = fast
                    .iter()
                    .zip(slow)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(worst < 1e-4, "{g:?}: {worst}");
            }
            assert!(slow_biased.contains(&0.0) && slow_biased.iter().any(|&v| v > 0.0));
        }
    }

    /// The convolution is linear in `x` and in `w`, so for any output gradient `d`:
    /// `⟨d, conv(x, w)⟩ = ⟨input_grad(d), x⟩ = ⟨weight_grad(x, d), w⟩`. (tests/models.rs also
    /// compares both gradients with burn's element by element.)
    #[test]
    #[cfg(feature = "cpu-kernels")]
    fn gradients_are_the_adjoints_of_the_forward_convolution() {
        for g in geometries() {
            let x = values(g.batch * g.cin * g.plane(), 3);
            let w = values(g.cout * g.depth(), 4);
            let d = values(g.batch * g.cout * g.plane(), 5);
            let through_output = dot(&d, &direct(&g, &x, &w));
            let through_input = dot(&input_grad(&g, &d, &w), &x);
            let through_weight = dot(&weight_grad(&g, &x, &d), &w);
            let scale = through_output.abs().max(1.0);
            assert!(
                (through_input - through_output).abs() < 1e-4 * scale,
                "{g:?} input"
            );
            assert!(
                (through_weight - through_output).abs() < 1e-4 * scale,
                "{g:?} weight"
            );
        }
    }
}
