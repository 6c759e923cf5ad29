//! Post-processing of predictions: threshold, then keep the largest 3-D connected component
//! (face connectivity: 6 neighbours), as the evaluation protocol prescribes.

/// Probabilities to a binary mask: `p >= 0.5` is lesion.
pub fn threshold(probs: &[f32]) -> Vec<u8> {
    probs.iter().map(|&p| u8::from(p >= 0.5)).collect()
}

/// Keeps the largest 6-connected component of a binary volume (depth × height × width). Ties go
/// to the component found first in raster order. An empty volume stays empty.
pub fn largest_component(mask: &[u8], depth: usize, height: usize, width: usize) -> Vec<u8> {
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
    let best = (1..sizes.len()).max_by(|&a, &b| sizes[a].cmp(&sizes[b]).then(b.cmp(&a)));
    match best {
        None => vec![0; mask.len()],
        Some(best) => label.iter().map(|&l| u8::from(l == best as u32)).collect(),
    }
}

/// Threshold and largest component in one step.
pub fn postprocess(probs: &[f32], depth: usize, height: usize, width: usize) -> Vec<u8> {
    largest_component(&threshold(probs), depth, height, width)
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
    fn threshold_is_inclusive_at_half() {
        assert_eq!(threshold(&[0.49, 0.5, 0.9]), vec![0, 1, 1]);
    }
}
