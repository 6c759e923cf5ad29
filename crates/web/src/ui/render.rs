//! Pixels of the slice view: the chosen channel(s), each shown model's predicted mask in its own
//! colour (filled, as a contour, or with the pixels where the models disagree marked), and the
//! ground truth as a contour in a colour no model gets.

use crate::protocol::SliceView;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    Flair,
    Rgb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlayStyle {
    Fill,
    Contour,
    /// The pixels some shown models call lesion and others do not, filled; each model's contour.
    Disagreement,
}

impl OverlayStyle {
    /// The value of the overlay `<select>`.
    pub fn attr(self) -> &'static str {
        match self {
            OverlayStyle::Fill => "fill",
            OverlayStyle::Contour => "contour",
            OverlayStyle::Disagreement => "disagreement",
        }
    }

    pub fn from_attr(s: &str) -> Self {
        match s {
            "contour" => OverlayStyle::Contour,
            "disagreement" => OverlayStyle::Disagreement,
            _ => OverlayStyle::Fill,
        }
    }
}

/// The models' colours, by their place in `models/index.json` (so a model keeps its colour
/// whatever else is ticked); the first is the default model's red.
pub const PALETTE: [[u8; 3]; 6] = [
    [255, 60, 60],
    [60, 140, 255],
    [255, 170, 0],
    [220, 80, 230],
    [0, 215, 215],
    [150, 110, 60],
];
pub const TRUTH_RGB: [u8; 3] = [60, 255, 90];
pub const DISAGREE_RGB: [u8; 3] = [255, 240, 0];

/// The colour of the model listed at `index`.
pub fn model_rgb(index: usize) -> [u8; 3] {
    PALETTE[index % PALETTE.len()]
}

/// CSS for a colour.
pub fn css(rgb: [u8; 3]) -> String {
    format!("rgb({}, {}, {})", rgb[0], rgb[1], rgb[2])
}

/// One shown model's predicted mask of the slice and its colour.
pub struct Layer<'a> {
    pub mask: &'a [u8],
    pub rgb: [u8; 3],
}

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

/// Whether the layers do not all agree at pixel `i` (some lesion, some not).
fn disagree(layers: &[&Layer], i: usize) -> bool {
    let hits = layers.iter().filter(|l| l.mask[i] != 0).count();
    hits > 0 && hits < layers.len()
}

fn blend(rgb: &mut [f32; 3], over: [u8; 3], a: f32) {
    for c in 0..3 {
        rgb[c] = rgb[c] * (1.0 - a) + f32::from(over[c]) * a;
    }
}

/// RGBA pixels (width × height × 4) of one slice with overlays. Layers whose mask is not the
/// slice's size are not drawn.
pub fn compose(
    img: &SliceView,
    layers: &[Layer],
    truth: Option<&[u8]>,
    channels: Channels,
    style: OverlayStyle,
    opacity: f32,
) -> Vec<u8> {
    let (w, h) = (img.width, img.height);
    let layers: Vec<&Layer> = layers.iter().filter(|l| l.mask.len() == w * h).collect();
    let mut out = Vec::with_capacity(w * h * 4);
    for i in 0..w * h {
        let p = &img.rgb[i * 3..i * 3 + 3];
        let mut rgb = match channels {
            Channels::Flair => [p[1]; 3],
            Channels::Rgb => [p[0], p[1], p[2]],
        }
        .map(f32::from);
        if style == OverlayStyle::Disagreement && disagree(&layers, i) {
            blend(&mut rgb, DISAGREE_RGB, opacity.max(0.6));
        }
        for l in &layers {
            match style {
                OverlayStyle::Fill if l.mask[i] != 0 => blend(&mut rgb, l.rgb, opacity),
                OverlayStyle::Contour | OverlayStyle::Disagreement if is_edge(l.mask, w, h, i) => {
                    rgb = l.rgb.map(f32::from)
                }
                _ => {}
            }
        }
        if truth.is_some_and(|t| t.len() == w * h && is_edge(t, w, h, i)) {
            rgb = TRUTH_RGB.map(f32::from);
        }
        out.extend([rgb[0] as u8, rgb[1] as u8, rgb[2] as u8, 255]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn pixel(out: &[u8], i: usize) -> [u8; 3] {
        [out[i * 4], out[i * 4 + 1], out[i * 4 + 2]]
    }

    #[wasm_bindgen_test]
    fn models_are_drawn_in_their_colours_and_disagreement_is_marked() {
        // A 4×4 black slice; model A marks the middle 2×2, model B only its left column.
        let img = SliceView {
            number: 1,
            file: "A_1.tif".into(),
            width: 4,
            height: 4,
            rgb: vec![0; 48],
            mask: None,
        };
        let mut a = vec![0u8; 16];
        let mut b = vec![0u8; 16];
        for i in [5, 6, 9, 10] {
            a[i] = 1;
        }
        for i in [5, 9] {
            b[i] = 1;
        }
        let (ra, rb) = (model_rgb(0), model_rgb(1));
        let layers = [Layer { mask: &a, rgb: ra }, Layer { mask: &b, rgb: rb }];
        let contour = compose(
            &img,
            &layers,
            None,
            Channels::Flair,
            OverlayStyle::Contour,
            0.5,
        );
        // B is drawn after A: where both have an edge, B's colour shows; A's alone at 6.
        assert_eq!(pixel(&contour, 5), rb);
        assert_eq!(pixel(&contour, 6), ra);
        assert_eq!(pixel(&contour, 0), [0, 0, 0]);
        let fill = compose(
            &img,
            &layers[..1],
            None,
            Channels::Flair,
            OverlayStyle::Fill,
            1.0,
        );
        assert_eq!(pixel(&fill, 10), ra);
        // Disagreement: a 3×3 mask of A against an empty B; its centre is no edge, so only the
        // mark shows there.
        let mut big = vec![0u8; 16];
        for i in [0, 1, 2, 4, 5, 6, 8, 9, 10] {
            big[i] = 1;
        }
        let empty = vec![0u8; 16];
        let layers = [
            Layer {
                mask: &big,
                rgb: ra,
            },
            Layer {
                mask: &empty,
                rgb: rb,
            },
        ];
        let dis = compose(
            &img,
            &layers,
            None,
            Channels::Flair,
            OverlayStyle::Disagreement,
            1.0,
        );
        assert_eq!(pixel(&dis, 5), DISAGREE_RGB);
        assert_eq!(pixel(&dis, 0), ra);
        assert_eq!(pixel(&dis, 15), [0, 0, 0]);
        // The ground truth's contour is drawn last, in its own colour.
        let truth = vec![1u8; 16];
        let t = compose(
            &img,
            &layers,
            Some(&truth),
            Channels::Flair,
            OverlayStyle::Fill,
            1.0,
        );
        assert_eq!(pixel(&t, 0), TRUTH_RGB);
        // A mask of another size is not drawn (no panic).
        let wrong = [Layer {
            mask: &[1, 1],
            rgb: ra,
        }];
        let none = compose(&img, &wrong, None, Channels::Flair, OverlayStyle::Fill, 1.0);
        assert_eq!(pixel(&none, 0), [0, 0, 0]);
    }
}
