//! Pixels of the slice view: the chosen channel(s), the predicted mask as a filled overlay or a
//! contour, and the ground truth as a contour in another colour.

use brainseg::tiff_io::RgbImage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    Flair,
    Rgb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlayStyle {
    Fill,
    Contour,
}

pub const PRED_RGB: [u8; 3] = [255, 60, 60];
pub const TRUTH_RGB: [u8; 3] = [60, 255, 90];

/// True for mask pixels with a 4-neighbour outside the mask (or on the border).
fn is_edge(mask: &[u8], w: usize, h: usize, i: usize) -> bool {
    if mask[i] == 0 {
        return false;
    }
    let (y, x) = (i / w, i % w);
    x == 0
        || y == 0
        || x + 1 == w
        || y + 1 == h
        || mask[i - 1] == 0
        || mask[i + 1] == 0
        || mask[i - w] == 0
        || mask[i + w] == 0
}

/// RGBA pixels (width × height × 4) of one slice with overlays.
pub fn compose(
    img: &RgbImage,
    pred: Option<&[u8]>,
    truth: Option<&[u8]>,
    channels: Channels,
    style: OverlayStyle,
    opacity: f32,
) -> Vec<u8> {
    let (w, h) = (img.width, img.height);
    let mut out = Vec::with_capacity(w * h * 4);
    for i in 0..w * h {
        let p = &img.data[i * 3..i * 3 + 3];
        let mut rgb = match channels {
            Channels::Flair => [p[1]; 3],
            Channels::Rgb => [p[0], p[1], p[2]],
        }
        .map(|v| v * 255.0);
        if let Some(m) = pred {
            let hit = match style {
                OverlayStyle::Fill => m[i] != 0,
                OverlayStyle::Contour => is_edge(m, w, h, i),
            };
            if hit {
                let a = if style == OverlayStyle::Fill {
                    opacity
                } else {
                    1.0
                };
                for c in 0..3 {
                    rgb[c] = rgb[c] * (1.0 - a) + PRED_RGB[c] as f32 * a;
                }
            }
        }
        if truth.is_some_and(|t| is_edge(t, w, h, i)) {
            rgb = TRUTH_RGB.map(|v| v as f32);
        }
        out.extend([rgb[0] as u8, rgb[1] as u8, rgb[2] as u8, 255]);
    }
    out
}
