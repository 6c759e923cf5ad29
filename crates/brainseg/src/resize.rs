//! Slice resizing. Smooth resizing uses the `image` crate (triangle filter: bilinear when
//! enlarging, area-weighted when shrinking). Nearest-neighbour is written here because its exact
//! sampling rule matters: with `src = floor((dst + 0.5) * in / out)`, enlarging a mask and
//! shrinking it back returns it unchanged, which is what makes the inverse mapping exact.

use image::imageops::{FilterType, resize};
use image::{ImageBuffer, Luma, Pixel, Rgb};

fn resize_smooth<P: Pixel<Subpixel = f32> + 'static>(
    data: &[f32],
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
) -> Vec<f32> {
    if (h, w) == (out_h, out_w) {
        return data.to_vec();
    }
    let img: ImageBuffer<P, Vec<f32>> =
        ImageBuffer::from_raw(w as u32, h as u32, data.to_vec()).expect("buffer matches its size");
    resize(&img, out_w as u32, out_h as u32, FilterType::Triangle).into_raw()
}

/// Resizes an interleaved 3-channel f32 image (h × w × 3).
pub fn resize_rgb(data: &[f32], h: usize, w: usize, out_h: usize, out_w: usize) -> Vec<f32> {
    resize_smooth::<Rgb<f32>>(data, h, w, out_h, out_w)
}

/// Resizes a single-channel f32 map (h × w) smoothly.
pub fn resize_gray(data: &[f32], h: usize, w: usize, out_h: usize, out_w: usize) -> Vec<f32> {
    resize_smooth::<Luma<f32>>(data, h, w, out_h, out_w)
}

/// Nearest-neighbour resize of any single-channel map (h × w).
pub fn resize_nearest<T: Copy>(
    data: &[T],
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
) -> Vec<T> {
    let ys: Vec<usize> = (0..out_h)
        .map(|y| ((2 * y + 1) * h / (2 * out_h)).min(h - 1))
        .collect();
    let xs: Vec<usize> = (0..out_w)
        .map(|x| ((2 * x + 1) * w / (2 * out_w)).min(w - 1))
        .collect();
    let mut out = Vec::with_capacity(out_h * out_w);
    for &sy in &ys {
        let row = &data[sy * w..(sy + 1) * w];
        out.extend(xs.iter().map(|&sx| row[sx]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_up_then_down_is_identity() {
        for (h, w) in [(5, 7), (100, 256), (1, 1), (255, 3)] {
            let data: Vec<u8> = (0..h * w).map(|i| (i * 7 % 5) as u8).collect();
            let up = resize_nearest(&data, h, w, 256, 256);
            assert_eq!(resize_nearest(&up, 256, 256, h, w), data, "{h}x{w}");
        }
    }

    #[test]
    fn smooth_resize_keeps_constants() {
        let data = vec![0.25f32; 10 * 6 * 3];
        let out = resize_rgb(&data, 10, 6, 32, 32);
        assert_eq!(out.len(), 32 * 32 * 3);
        assert!(out.iter().all(|v| (v - 0.25).abs() < 1e-6));
    }
}
