//! Post-processing of predictions: threshold, then keep the largest 3-D connected component
//! (face connectivity: 6 neighbours), as the evaluation protocols prescribe. Other selections
//! ([`Components`]) are measured against it (`train eval --components`), and a model's
//! manifest may name one for the product to apply (`Manifest::components`).

/// Which of the thresholded volume's 3-D components a prediction keeps. Written (CLI, manifest)
/// as `largest`, `most-probable`, `all` or `relative:F`.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Components {
    /// The largest by voxel count: the evaluation protocols' rule.
    #[default]
    Largest,
    /// The one whose probabilities sum highest (size weighted by confidence): a large, faint
    /// false positive loses to a smaller, confident lesion.
    MostProbable,
    /// Every component of at least this fraction (0 < F ≤ 1) of the largest one's voxels: a
    /// lesion in two pieces, or a lesion beside a false positive of similar size, keeps both
    /// (cross-validation chose 0.3: `docs/cv/README.md`).
    Relative(f64),
    /// Every component (no selection).
    All,
}

impl Components {
    pub fn is_largest(&self) -> bool {
        *self == Components::Largest
    }
}

impl std::fmt::Display for Components {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Components::Largest => f.write_str("largest"),
            Components::MostProbable => f.write_str("most-probable"),
            Components::Relative(x) => write!(f, "relative:{x}"),
            Components::All => f.write_str("all"),
        }
    }
}

impl std::str::FromStr for Components {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "largest" => Ok(Components::Largest),
            "most-probable" => Ok(Components::MostProbable),
            "all" => Ok(Components::All),
            _ => {
                let fraction = s.strip_prefix("relative:").ok_or_else(|| {
                    format!(
                        "components {s:?}: expected largest, most-probable, all or relative:F \
                         (F a fraction of the largest component's size, e.g. relative:0.3)"
                    )
                })?;
                match fraction.parse::<f64>() {
                    Ok(x) if x > 0.0 && x <= 1.0 => Ok(Components::Relative(x)),
                    _ => Err(format!(
                        "components {s:?}: the fraction must be a number above 0 and at most 1"
                    )),
                }
            }
        }
    }
}

impl TryFrom<String> for Components {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Components> for String {
    fn from(c: Components) -> String {
        c.to_string()
    }
}

/// The protocols' threshold: a probability of at least this is lesion.
pub const THRESHOLD: f32 = 0.5;

/// Probabilities to a binary mask at the protocols' threshold (`p >= 0.5` is lesion).
pub fn threshold(probs: &[f32]) -> Vec<u8> {
    threshold_at(probs, THRESHOLD)
}

/// Probabilities to a binary mask: `p >= t` is lesion (other thresholds are measured against
/// the protocols' 0.5 by `train eval --threshold-sweep`).
pub fn threshold_at(probs: &[f32], t: f32) -> Vec<u8> {
    probs.iter().map(|&p| u8::from(p >= t)).collect()
}

/// Labels the 6-connected components of a binary volume (depth × height × width), in raster
/// order of their first voxel: each voxel's label (0: background) and each label's size
/// (`sizes[0]` unused).
fn label_components(
    mask: &[u8],
    depth: usize,
    height: usize,
    width: usize,
) -> (Vec<u32>, Vec<usize>) {
    assert_eq!(mask.len(), depth * height * width, "volume size");
    // Label with an explicit stack (no recursion: lesions can span most of a volume).
    let mut label = vec![0u32; mask.len()];
    let mut sizes = vec![0usize]; // sizes[l] of label l; label 0 is background
    let mut stack = Vec::new();
    let plane = height * width;
    for start in 0..mask.len() {
        if mask[start] == 0 || label[start] != 0 {
            continue;
        }
        let l = sizes.len() as u32;
        sizes.push(0);
        label[start] = l;
        stack.push(start);
        while let Some(i) = stack.pop() {
            sizes[l as usize] += 1;
            let (z, r) = (i / plane, i % plane);
            let (y, x) = (r / width, r % width);
            let mut visit = |j: usize| {
                if mask[j] != 0 && label[j] == 0 {
                    label[j] = l;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1)
            }
            if x + 1 < width {
                visit(i + 1)
            }
            if y > 0 {
                visit(i - width)
            }
            if y + 1 < height {
                visit(i + width)
            }
            if z > 0 {
                visit(i - plane)
            }
            if z + 1 < depth {
                visit(i + plane)
            }
        }
    }
    (label, sizes)
}

/// The volume with only label `keep` (none: empty).
fn only(label: &[u32], keep: Option<usize>) -> Vec<u8> {
    match keep {
        None => vec![0; label.len()],
        Some(k) => label.iter().map(|&l| u8::from(l as usize == k)).collect(),
    }
}

/// The label with the largest score; ties go to the first.
fn best_label(scores: &[f64]) -> Option<usize> {
    (1..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(b.cmp(&a)))
}

/// Keeps the largest 6-connected component of a binary volume (depth × height × width). Ties go
/// to the component found first in raster order. An empty volume stays empty.
pub fn largest_component(mask: &[u8], depth: usize, height: usize, width: usize) -> Vec<u8> {
    let (label, sizes) = label_components(mask, depth, height, width);
    let sizes: Vec<f64> = sizes.iter().map(|&s| s as f64).collect();
    only(&label, best_label(&sizes))
}

/// Threshold, then keep the components `keep` says.
pub fn postprocess_with(
    probs: &[f32],
    depth: usize,
    height: usize,
    width: usize,
    keep: Components,
) -> Vec<u8> {
    let mask = threshold(probs);
    match keep {
        Components::Largest => largest_component(&mask, depth, height, width),
        Components::All => mask,
        Components::Relative(fraction) => {
            let (label, sizes) = label_components(&mask, depth, height, width);
            let largest = sizes.iter().skip(1).copied().max().unwrap_or(0);
            // "At least": a component of exactly F × the largest is kept, whatever the
            // rounding of F × size (0.3 × 10 is 3.0000000000000004 in f64).
            let bound = fraction * largest as f64 * (1.0 - 1e-9);
            let keep: Vec<bool> = sizes
                .iter()
                .enumerate()
                .map(|(l, &n)| l > 0 && n as f64 >= bound)
                .collect();
            label.iter().map(|&l| u8::from(keep[l as usize])).collect()
        }
        Components::MostProbable => {
            let (label, sizes) = label_components(&mask, depth, height, width);
            let mut sums = vec![0.0f64; sizes.len()];
            for (&l, &p) in label.iter().zip(probs) {
                sums[l as usize] += f64::from(p);
            }
            only(&label, best_label(&sums))
        }
    }
}

/// One 3-D component of a thresholded prediction, to study which component a selection rule
/// should keep (`train eval --components-csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentStats {
    pub voxels: usize,
    /// Its probabilities summed, and the highest.
    pub prob_sum: f64,
    pub prob_max: f32,
    /// Its voxels that are lesion in the ground truth (None without one).
    pub in_truth: Option<usize>,
    /// The first and last slice it reaches (0-based; the volume has `depth` slices): a
    /// component that lies in an end slice only is what the reference protocol, which drops
    /// the end slices, never sees.
    pub slices: (usize, usize),
}

/// The components of `probs` thresholded (depth × height × width), largest first (ties: first
/// in raster order), each with its overlap with `truth` when given.
pub fn component_stats(
    probs: &[f32],
    truth: Option<&[u8]>,
    depth: usize,
    height: usize,
    width: usize,
) -> Vec<ComponentStats> {
    let (label, sizes) = label_components(&threshold(probs), depth, height, width);
    let mut stats: Vec<ComponentStats> = sizes
        .iter()
        .map(|&voxels| ComponentStats {
            voxels,
            prob_sum: 0.0,
            prob_max: 0.0,
            in_truth: truth.map(|_| 0),
            slices: (usize::MAX, 0),
        })
        .collect();
    let plane = height * width;
    for (i, (&l, &p)) in label.iter().zip(probs).enumerate() {
        if l == 0 {
            continue;
        }
        let c = &mut stats[l as usize];
        let z = i / plane;
        c.slices = (c.slices.0.min(z), c.slices.1.max(z));
        c.prob_sum += f64::from(p);
        c.prob_max = c.prob_max.max(p);
        if let (Some(n), Some(t)) = (c.in_truth.as_mut(), truth) {
            *n += usize::from(t.get(i).copied().unwrap_or(0) != 0);
        }
    }
    stats.remove(0);
    // Stable: equal sizes keep raster order.
    stats.sort_by_key(|c| std::cmp::Reverse(c.voxels));
    stats
}

/// Threshold at `t` and keep the largest component in one step: the protocols' post-processing
/// at `THRESHOLD`, at other thresholds for `train eval --threshold-sweep`.
pub fn postprocess_at(probs: &[f32], t: f32, depth: usize, height: usize, width: usize) -> Vec<u8> {
    largest_component(&threshold_at(probs, t), depth, height, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_largest_face_connected_component() {
        // 2 slices of 3×3. Component A: (0,0,0),(1,0,0) = 2 voxels through z.
        // Component B: (0,2,1),(0,2,2),(1,2,2) = 3 voxels. (0,1,1)… diagonal-only to B is separate.
        #[rustfmt::skip]
        let m = vec![
            1, 0, 0,
            0, 0, 1,
            0, 1, 1,

            1, 0, 0,
            0, 0, 0,
            0, 0, 1,
        ];
        #[rustfmt::skip]
        let want = vec![
            0, 0, 0,
            0, 0, 1,
            0, 1, 1,

            0, 0, 0,
            0, 0, 0,
            0, 0, 1,
        ];
        assert_eq!(largest_component(&m, 2, 3, 3), want);
    }

    #[test]
    fn diagonal_voxels_are_not_connected_and_ties_keep_the_first() {
        let m = vec![1, 0, 0, 1];
        assert_eq!(largest_component(&m, 1, 2, 2), vec![1, 0, 0, 0]);
        assert_eq!(largest_component(&[0, 0], 1, 1, 2), vec![0, 0]);
    }

    #[test]
    fn components_are_kept_by_size_by_summed_probability_or_all() {
        // Along one row: a faint 3-voxel component and a confident 2-voxel one.
        let probs = [0.55, 0.6, 0.55, 0.0, 0.99, 0.98];
        let by = |keep| postprocess_with(&probs, 1, 1, 6, keep);
        assert_eq!(by(Components::Largest), [1, 1, 1, 0, 0, 0]);
        // 1.70 against 1.97 summed.
        assert_eq!(by(Components::MostProbable), [0, 0, 0, 0, 1, 1]);
        assert_eq!(by(Components::All), [1, 1, 1, 0, 1, 1]);
        assert_eq!(
            postprocess_at(&probs, THRESHOLD, 1, 1, 6),
            by(Components::Largest)
        );
        // 2 voxels against 3: kept at 2/3 of the largest, not above.
        assert_eq!(by(Components::Relative(0.3)), [1, 1, 1, 0, 1, 1]);
        assert_eq!(by(Components::Relative(2.0 / 3.0)), [1, 1, 1, 0, 1, 1]);
        assert_eq!(by(Components::Relative(0.7)), [1, 1, 1, 0, 0, 0]);
        assert_eq!(by(Components::Relative(1.0)), by(Components::Largest));
        // Exactly 0.3 × 10 voxels is "at least 0.3 × the largest".
        let mut row = [0.9f32; 14];
        row[10] = 0.0;
        let mut kept = [1u8; 14];
        kept[10] = 0;
        assert_eq!(
            postprocess_with(&row, 1, 1, 14, Components::Relative(0.3)),
            kept
        );
        assert_eq!(
            postprocess_with(&[0.1; 4], 1, 2, 2, Components::Relative(0.3)),
            [0; 4]
        );
        assert_eq!(
            postprocess_with(&[0.1; 4], 1, 2, 2, Components::MostProbable),
            [0; 4]
        );
    }

    #[test]
    fn selections_are_written_and_read_as_words() {
        for c in [
            Components::Largest,
            Components::MostProbable,
            Components::All,
            Components::Relative(0.3),
            Components::Relative(1.0),
        ] {
            assert_eq!(c.to_string().parse::<Components>(), Ok(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<Components>(&json).unwrap(), c);
        }
        assert_eq!(Components::Relative(0.3).to_string(), "relative:0.3");
        for bad in [
            "",
            "biggest",
            "relative:",
            "relative:0",
            "relative:1.5",
            "relative:-1",
            "relative:NaN",
        ] {
            let err = bad.parse::<Components>().unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
        assert!(serde_json::from_str::<Components>("\"relative:2\"").is_err());
    }

    #[test]
    fn component_stats_list_components_largest_first_with_their_overlap() {
        let probs = [0.55, 0.6, 0.55, 0.0, 0.99, 0.98];
        let truth = [0, 0, 1, 0, 1, 1];
        let stats = component_stats(&probs, Some(&truth), 1, 1, 6);
        assert_eq!(stats.len(), 2);
        assert_eq!((stats[0].voxels, stats[0].in_truth), (3, Some(1)));
        assert!((stats[0].prob_sum - 1.70).abs() < 1e-6 && stats[0].prob_max == 0.6);
        assert_eq!((stats[1].voxels, stats[1].in_truth), (2, Some(2)));
        assert_eq!(stats[1].prob_max, 0.99);
        assert_eq!((stats[0].slices, stats[1].slices), ((0, 0), (0, 0)));
        assert_eq!(component_stats(&probs, None, 1, 1, 6)[1].in_truth, None);
        // Three slices of 1×2: one component through slices 0–1, one in slice 2 only.
        let stacked = component_stats(&[0.9, 0.0, 0.9, 0.0, 0.0, 0.9], None, 3, 1, 2);
        assert_eq!((stacked[0].slices, stacked[1].slices), ((0, 1), (2, 2)));
        assert!(component_stats(&[0.1; 4], None, 1, 2, 2).is_empty());
    }

    #[test]
    fn threshold_is_inclusive_at_half() {
        assert_eq!(threshold(&[0.49, 0.5, 0.9]), vec![0, 1, 1]);
    }
}
