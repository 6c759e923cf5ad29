//! The 8-bit weights format (`precision: "q8"`): a model's float tensors in the order the
//! module visits them, the convolution kernels (every tensor of rank ≥ 2) as 8-bit integers
//! with one f32 scale per slice of their first dimension (symmetric, round to nearest), the
//! rest (biases, BatchNorm parameters and running statistics: a few kB) as f32. Half the bytes
//! of f16 for the page to download; `model_io` maps the tensors onto a freshly built model.
//!
//! Why not burnpack: its adapters map one stored tensor to one loaded tensor whose shape and
//! dtype must be declared before the bytes are read, so a tensor cannot carry its own scales.
//! This format is plain and bounded: every length is checked against the bytes left before
//! anything is allocated, so malformed input is an error, never a panic.
//!
//! Layout (little-endian): `b"BSQ8"`, u32 tensor count, then per tensor: u8 kind (0: f32,
//! 1: q8), u8 rank, u32 per dimension, then for f32 `n` f32 values, for q8 `dims[0]` f32
//! scales followed by `n` i8 values.

/// A tensor as this format stores it: its shape and values (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

const MAGIC: &[u8; 4] = b"BSQ8";
/// Ranks beyond this are not tensors of these models.
const MAX_RANK: usize = 6;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    #[error("not 8-bit weights (no BSQ8 header)")]
    Magic,
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("tensor {index}: {what}")]
    Tensor { index: usize, what: String },
    #[error("{0} bytes after the last tensor")]
    Trailing(usize),
}

/// Serialises `tensors` (values of rank ≥ 2 quantised).
pub fn encode(tensors: &[Tensor]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(tensors.len() as u32).to_le_bytes());
    for t in tensors {
        let n: usize = t.shape.iter().product();
        // Only whole kernels are quantised (a tensor whose values do not fill its shape is
        // written as it is, and refused when read).
        let quantise = t.shape.len() >= 2 && n > 0 && t.values.len() == n;
        out.push(u8::from(quantise));
        out.push(t.shape.len() as u8);
        for &d in &t.shape {
            out.extend_from_slice(&(d as u32).to_le_bytes());
        }
        if !quantise {
            for v in &t.values {
                out.extend_from_slice(&v.to_le_bytes());
            }
            continue;
        }
        let rows = t.values.chunks(t.values.len() / t.shape[0]);
        let scales: Vec<f32> = rows
            .clone()
            .map(|r| r.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0)
            .collect();
        for s in &scales {
            out.extend_from_slice(&s.to_le_bytes());
        }
        for (row, &s) in rows.zip(&scales) {
            for &v in row {
                let q = if s > 0.0 { (v / s).round() } else { 0.0 };
                out.push(q.clamp(-127.0, 127.0) as i8 as u8);
            }
        }
    }
    out
}

/// Reads bytes, checking each length against what is left.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], QuantError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(QuantError::Truncated(self.bytes.len()))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, QuantError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, QuantError> {
        let bytes = self.take(n.checked_mul(4).ok_or(QuantError::Truncated(self.at))?)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }
}

/// Parses bytes written by [`encode`]: the tensors with their values dequantised.
pub fn decode(bytes: &[u8]) -> Result<Vec<Tensor>, QuantError> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4).map_err(|_| QuantError::Magic)? != MAGIC {
        return Err(QuantError::Magic);
    }
    let count = r.u32()? as usize;
    // Every tensor takes at least 2 bytes: a count beyond that is a lie, not an allocation.
    if count > r.left() / 2 {
        return Err(QuantError::Truncated(bytes.len()));
    }
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        let bad = |what: String| QuantError::Tensor { index, what };
        let head = r.take(2)?;
        let (kind, rank) = (head[0], head[1] as usize);
        if rank > MAX_RANK {
            return Err(bad(format!("rank {rank} (at most {MAX_RANK})")));
        }
        let mut shape = Vec::with_capacity(rank);
        for _ in 0..rank {
            shape.push(r.u32()? as usize);
        }
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&n| n <= r.left())
            .ok_or_else(|| bad(format!("shape {shape:?} is larger than the file")))?;
        let values = match kind {
            0 => r.f32s(n)?,
            1 if rank >= 2 && shape[0] > 0 => {
                let scales = r.f32s(shape[0])?;
                let q = r.take(n)?;
                let per = n / shape[0];
                q.iter()
                    .enumerate()
                    .map(|(i, &b)| f32::from(b as i8) * scales[i / per.max(1)])
                    .collect()
            }
            other => return Err(bad(format!("kind {other} with shape {shape:?}"))),
        };
        out.push(Tensor { shape, values });
    }
    match r.left() {
        0 => Ok(out),
        n => Err(QuantError::Trailing(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_round_trip_within_half_a_step_and_the_rest_exactly() {
        let kernel = Tensor {
            shape: vec![2, 1, 2, 2],
            values: vec![0.5, -1.0, 0.25, 0.0, 0.01, 0.02, -0.03, 0.0],
        };
        let bias = Tensor {
            shape: vec![2],
            values: vec![1e-7, -3.5],
        };
        let zeros = Tensor {
            shape: vec![1, 3],
            values: vec![0.0; 3],
        };
        let tensors = vec![kernel.clone(), bias.clone(), zeros.clone()];
        let bytes = encode(&tensors);
        // 4 + 4 header; kernel 2 + 16 + 8 scales + 8; bias 2 + 4 + 8; zeros 2 + 8 + 4 + 3.
        assert_eq!(bytes.len(), 8 + 34 + 14 + 17);
        let back = decode(&bytes).unwrap();
        assert_eq!(back[1], bias);
        assert_eq!(back[2], zeros);
        assert_eq!(back[0].shape, kernel.shape);
        // Each row's step is its largest magnitude / 127.
        for (i, (a, b)) in back[0].values.iter().zip(&kernel.values).enumerate() {
            let step = if i < 4 { 1.0 / 127.0 } else { 0.03 / 127.0 };
            assert!((a - b).abs() <= step / 2.0 + 1e-7, "{i}: {a} vs {b}");
        }
    }

    #[test]
    fn malformed_bytes_are_errors() {
        let good = encode(&[Tensor {
            shape: vec![2, 3],
            values: vec![1.0; 6],
        }]);
        assert_eq!(decode(b"BSQ"), Err(QuantError::Magic));
        assert_eq!(decode(b"XXXX\0\0\0\0"), Err(QuantError::Magic));
        for cut in 4..good.len() {
            assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = good.clone();
        long.push(0);
        assert_eq!(decode(&long), Err(QuantError::Trailing(1)));
        // A huge count or shape is refused before anything is allocated.
        let mut count = good.clone();
        count[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&count).is_err());
        let mut shape = good.clone();
        shape[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&shape).is_err());
        let mut kind = good;
        kind[8] = 7;
        assert!(matches!(
            decode(&kind),
            Err(QuantError::Tensor { index: 0, .. })
        ));
    }
}
