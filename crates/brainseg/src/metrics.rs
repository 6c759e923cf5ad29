//! Dice similarity coefficient and its summaries.

/// DSC = 2|P∩T| / (|P| + |T|) over two binary volumes; two empty volumes score 1.
pub fn dice(pred: &[u8], truth: &[u8]) -> f64 {
    assert_eq!(pred.len(), truth.len(), "volumes must have the same size");
    let (mut inter, mut p, mut t) = (0u64, 0u64, 0u64);
    for (&a, &b) in pred.iter().zip(truth) {
        let (a, b) = (u64::from(a != 0), u64::from(b != 0));
        inter += a & b;
        p += a;
        t += b;
    }
    if p + t == 0 {
        1.0
    } else {
        2.0 * inter as f64 / (p + t) as f64
    }
}

/// Mean, median and worst of a set of scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub mean: f64,
    pub median: f64,
    pub min: f64,
    pub count: usize,
}

pub fn summarize(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Summary {
        mean: v.iter().sum::<f64>() / n as f64,
        median,
        min: v[0],
        count: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dice_by_hand() {
        assert_eq!(dice(&[1, 1, 0, 0], &[1, 0, 1, 0]), 0.5);
        assert_eq!(dice(&[0, 0], &[0, 0]), 1.0);
        assert_eq!(dice(&[1, 0], &[0, 0]), 0.0);
        assert_eq!(dice(&[1, 1, 1], &[1, 1, 0]), 0.8);
    }

    #[test]
    fn summary_mean_median_min() {
        let s = summarize(&[0.9, 0.5, 0.7, 1.0]).unwrap();
        assert!((s.mean - 0.775).abs() < 1e-12);
        assert!((s.median - 0.8).abs() < 1e-12);
        assert_eq!(s.min, 0.5);
        assert!(summarize(&[]).is_none());
    }
}
