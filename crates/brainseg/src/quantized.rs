//! The quantised weights formats (`precision: "q8"` and `"q4"`): a model's float tensors in
//! the order the module visits them, the convolution kernels (every tensor of rank ≥ 2) as
//! integers, the rest (biases, BatchNorm parameters and running statistics: a few kB) as f32;
//! `model_io` maps the tensors onto a freshly built model.
//!
//! - `q8`: each kernel as 8-bit integers with one f32 scale per slice of its first dimension
//!   (symmetric, round to nearest): a quarter of f32's bytes.
//! - `q4`: each kernel as 4-bit integers (−7 to 7), a step per group of [`GROUP`] consecutive
//!   values of a slice (the group's largest magnitude / 7, f16): an eighth of f32's bytes, what
//!   the three-seed ensemble would need to fit the page's download budget (out of fold 4 bits
//!   cost one model of the recipe 0.006 DSC, so nothing ships in it yet: docs/cv/README.md).
//!   Even steps rather than a codebook fitted to the weights (Lloyd–Max): on the shipped FPN a
//!   fitted codebook lowered the error at the same raw size (0.086 of the weights' root mean
//!   square against 0.102) but its levels are used more evenly, so gzip shrinks them less (a
//!   file of 685 kB against 630 kB): at equal download, even steps in smaller groups do as
//!   well, and they need no fitting. Nor a step chosen per group to minimise the squared error
//!   (clipping the largest weights): lower error, but on a fold model's held-out patients it
//!   scored lower still (0.775 against 0.796; 8 bits 0.818).
//!
//! Why not burnpack: its adapters map one stored tensor to one loaded tensor whose shape and
//! dtype must be declared before the bytes are read, so a tensor cannot carry its own scales.
//! This format is plain and bounded: every length is checked against the bytes left before
//! anything is allocated, so malformed input is an error, never a panic.
//!
//! Layout (little-endian): `b"BSQ8"` (or `b"BSQ4"`), u32 tensor count, then per tensor: u8 kind
//! (0: f32, 1: q8, 2: q4), u8 rank, u32 per dimension, then
//! - f32: `n` f32 values;
//! - q8: `dims[0]` f32 scales, then `n` i8 values;
//! - q4: u32 group size `g`, `dims[0] × ⌈(n / dims[0]) / g⌉` f16 steps (slice by slice), then
//!   `⌈n / 2⌉` bytes of levels, two a byte (the low nibble first), each the integer + 7 (15 is
//!   never written: refused).

/// A tensor as this format stores it: its shape and values (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// How a file stores its kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bits {
    /// `q8`: 8-bit integers, a scale per slice.
    Eight,
    /// `q4`: 4-bit integers, a step per group.
    Four,
}

impl Bits {
    /// The file's first four bytes.
    fn header(self) -> &'static str {
        match self {
            Bits::Eight => "BSQ8",
            Bits::Four => "BSQ4",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Bits::Eight => "8-bit",
            Bits::Four => "4-bit",
        }
    }

    /// The tensor kind of this file's kernels.
    fn kind(self) -> u8 {
        match self {
            Bits::Eight => 1,
            Bits::Four => 2,
        }
    }
}

/// Values of a kernel slice that share one `q4` step: small enough that a large weight does
/// not flatten its neighbours, large enough that the f16 steps cost 1/4 bit a value.
pub const GROUP: usize = 64;
/// Ranks beyond this are not tensors of these models.
const MAX_RANK: usize = 6;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    #[error("not {0} weights (no {1} header)")]
    Magic(&'static str, &'static str),
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("tensor {index}: {what}")]
    Tensor { index: usize, what: String },
    #[error("{0} bytes after the last tensor")]
    Trailing(usize),
}

/// Serialises `tensors` (values of rank ≥ 2 quantised to `bits`).
pub fn encode(tensors: &[Tensor], bits: Bits) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(bits.header().as_bytes());
    out.extend_from_slice(&(tensors.len() as u32).to_le_bytes());
    for t in tensors {
        let n: usize = t.shape.iter().product();
        // Only whole kernels are quantised (a tensor whose values do not fill its shape is
        // written as it is, and refused when read).
        let quantise = t.shape.len() >= 2 && n > 0 && t.values.len() == n;
        out.push(if quantise { bits.kind() } else { 0 });
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
        match bits {
            Bits::Eight => encode_q8(&mut out, &t.values, t.shape[0]),
            Bits::Four => encode_q4(&mut out, &t.values, t.shape[0]),
        }
    }
    out
}

/// A kernel's values slice by slice (its first dimension).
fn rows(values: &[f32], slices: usize) -> std::slice::Chunks<'_, f32> {
    values.chunks(values.len() / slices)
}

fn largest_magnitude(values: &[f32]) -> f32 {
    values.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// `v` in whole steps of `step`, rounded to nearest and held within ±`top` (0 for a zero step).
fn level(v: f32, step: f32, top: f32) -> i8 {
    let q = if step > 0.0 { (v / step).round() } else { 0.0 };
    q.clamp(-top, top) as i8
}

fn encode_q8(out: &mut Vec<u8>, values: &[f32], slices: usize) {
    let scales: Vec<f32> = rows(values, slices)
        .map(|r| largest_magnitude(r) / 127.0)
        .collect();
    for s in &scales {
        out.extend_from_slice(&s.to_le_bytes());
    }
    for (row, &s) in rows(values, slices).zip(&scales) {
        out.extend(row.iter().map(|&v| level(v, s, 127.0) as u8));
    }
}

/// The groups of a kernel of `n` values in `slices` slices: each slice's values in runs of
/// [`GROUP`] (its last run shorter), in order.
fn groups(values: &[f32], slices: usize) -> impl Iterator<Item = &[f32]> {
    rows(values, slices).flat_map(|row| row.chunks(GROUP))
}

fn encode_q4(out: &mut Vec<u8>, values: &[f32], slices: usize) {
    out.extend_from_slice(&(GROUP as u32).to_le_bytes());
    // Each group's step as the decoder will read it (f16): its largest magnitude / 7.
    let steps: Vec<half::f16> = groups(values, slices)
        .map(|g| half::f16::from_f32(largest_magnitude(g) / 7.0))
        .collect();
    for s in &steps {
        out.extend_from_slice(&s.to_le_bytes());
    }
    let levels: Vec<u8> = groups(values, slices)
        .zip(&steps)
        .flat_map(|(g, s)| {
            let s = s.to_f32();
            g.iter().map(move |&v| (level(v, s, 7.0) + 7) as u8)
        })
        .collect();
    for pair in levels.chunks(2) {
        out.push(pair[0] | (pair.get(1).copied().unwrap_or(7) << 4));
    }
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

/// Parses bytes that [`encode`] wrote with `bits`: the tensors with their values dequantised.
pub fn decode(bytes: &[u8], bits: Bits) -> Result<Vec<Tensor>, QuantError> {
    let wrong = || QuantError::Magic(bits.name(), bits.header());
    let mut r = Reader { bytes, at: 0 };
    if r.take(4).map_err(|_| wrong())? != bits.header().as_bytes() {
        return Err(wrong());
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
        // The smallest stored value is half a byte (q4).
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&n| n / 2 <= r.left())
            .ok_or_else(|| bad(format!("shape {shape:?} is larger than the file")))?;
        let kernel = rank >= 2 && shape[0] > 0 && kind == bits.kind();
        let values = match kind {
            0 => r.f32s(n)?,
            1 if kernel => {
                let scales = r.f32s(shape[0])?;
                let q = r.take(n)?;
                let per = n / shape[0];
                q.iter()
                    .enumerate()
                    .map(|(i, &b)| f32::from(b as i8) * scales[i / per.max(1)])
                    .collect()
            }
            2 if kernel => decode_q4(&mut r, n, shape[0]).map_err(|e| match e {
                QuantError::Tensor { what, .. } => bad(what),
                other => other,
            })?,
            other => {
                return Err(bad(format!(
                    "kind {other} with shape {shape:?} in {} weights",
                    bits.name()
                )));
            }
        };
        out.push(Tensor { shape, values });
    }
    match r.left() {
        0 => Ok(out),
        n => Err(QuantError::Trailing(n)),
    }
}

/// A `q4` kernel's body: `n` values in `slices` slices.
fn decode_q4(r: &mut Reader, n: usize, slices: usize) -> Result<Vec<f32>, QuantError> {
    let bad = |what: String| QuantError::Tensor { index: 0, what };
    let group = r.u32()? as usize;
    if group == 0 {
        return Err(bad("group size 0".into()));
    }
    let per = n / slices;
    let per_slice = per.div_ceil(group);
    let count = per_slice
        .checked_mul(slices)
        .filter(|c| c.saturating_mul(2) <= r.left())
        .ok_or(QuantError::Truncated(r.bytes.len()))?;
    let steps: Vec<f32> = r
        .take(count * 2)?
        .chunks_exact(2)
        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
        .collect();
    let packed = r.take(n.div_ceil(2))?;
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        let byte = packed[i / 2];
        let level = if i % 2 == 0 { byte & 15 } else { byte >> 4 };
        if level == 15 {
            return Err(bad(format!("value {i}: level 15 (0 to 14)")));
        }
        let (slice, at) = (i / per, i % per);
        values.push(f32::from(level as i8 - 7) * steps[slice * per_slice + at / group]);
    }
    Ok(values)
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
        let bytes = encode(&tensors, Bits::Eight);
        // 4 + 4 header; kernel 2 + 16 + 8 scales + 8; bias 2 + 4 + 8; zeros 2 + 8 + 4 + 3.
        assert_eq!(bytes.len(), 8 + 34 + 14 + 17);
        let back = decode(&bytes, Bits::Eight).unwrap();
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
        for bits in [Bits::Eight, Bits::Four] {
            let other = if bits == Bits::Eight {
                Bits::Four
            } else {
                Bits::Eight
            };
            let good = encode(
                &[Tensor {
                    shape: vec![2, 3],
                    values: vec![1.0, -0.5, 0.0, 0.25, 1.0, 2.0],
                }],
                bits,
            );
            let magic =
                |r: Result<Vec<Tensor>, QuantError>| matches!(r, Err(QuantError::Magic(..)));
            assert!(magic(decode(b"BSQ", bits)));
            assert!(magic(decode(b"XXXX\0\0\0\0", bits)));
            // A file of the other width is refused by its header, not misread.
            assert!(magic(decode(&good, other)));
            for cut in 4..good.len() {
                assert!(
                    decode(&good[..cut], bits).is_err(),
                    "{bits:?}: cut at {cut}"
                );
            }
            let mut long = good.clone();
            long.push(0);
            assert_eq!(decode(&long, bits), Err(QuantError::Trailing(1)));
            // A huge count or shape is refused before anything is allocated.
            let mut count = good.clone();
            count[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
            assert!(decode(&count, bits).is_err());
            let mut shape = good.clone();
            shape[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
            assert!(decode(&shape, bits).is_err());
            // Another width's kernel kind, or an unknown one, inside the file.
            for k in [other.kind(), 7] {
                let mut kind = good.clone();
                kind[8] = k;
                assert!(
                    matches!(
                        decode(&kind, bits),
                        Err(QuantError::Tensor { index: 0, .. })
                    ),
                    "{bits:?}: kind {k}"
                );
            }
        }
        // A q4 group size of 0, or one whose scales outrun the file (1: six scales, not two).
        let good = encode(
            &[Tensor {
                shape: vec![2, 3],
                values: vec![1.0; 6],
            }],
            Bits::Four,
        );
        for group in [0u32, 1] {
            let mut g = good.clone();
            g[18..22].copy_from_slice(&group.to_le_bytes());
            assert!(decode(&g, Bits::Four).is_err(), "group {group}");
        }
    }

    #[test]
    fn every_single_byte_change_is_read_or_refused_never_a_panic() {
        let t = kernel(3, 27);
        let bias = Tensor {
            shape: vec![3],
            values: vec![0.5; 3],
        };
        for bits in [Bits::Eight, Bits::Four] {
            let good = encode(&[t.clone(), bias.clone()], bits);
            for at in 0..good.len() {
                for value in [0u8, 1, 2, 0x7f, 0x80, 0xff] {
                    let mut bad = good.clone();
                    bad[at] = value;
                    if let Ok(tensors) = decode(&bad, bits) {
                        let n: Vec<usize> = tensors.iter().map(|t| t.values.len()).collect();
                        let want: Vec<usize> =
                            tensors.iter().map(|t| t.shape.iter().product()).collect();
                        assert_eq!(n, want, "{bits:?}: byte {at} = {value}");
                    }
                }
            }
        }
    }

    /// A deterministic stand-in for a trained kernel: bell-shaped values, a few large ones.
    fn kernel(slices: usize, per: usize) -> Tensor {
        let mut state = 12345u64;
        let mut uniform = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 + 0.5) / (1u64 << 31) as f32
        };
        let values = (0..slices * per)
            .map(|_| (0..4).map(|_| uniform() - 0.5).sum::<f32>() * 0.1)
            .collect();
        Tensor {
            shape: vec![slices, per / 9, 3, 3],
            values,
        }
    }

    #[test]
    fn four_bit_kernels_keep_their_values_within_half_a_step_in_an_eighth_of_the_bytes() {
        // 150 values a slice: two full groups and a short one.
        let t = kernel(8, 150 - 150 % 9);
        let bias = Tensor {
            shape: vec![8],
            values: (0..8).map(|i| i as f32 - 3.5).collect(),
        };
        let bytes = encode(&[t.clone(), bias.clone()], Bits::Four);
        let back = decode(&bytes, Bits::Four).unwrap();
        assert_eq!(back[1], bias);
        assert_eq!(back[0].shape, t.shape);
        let n = t.values.len();
        // Half a byte a value, an f16 step per group, headers.
        let per = n / 8;
        let expected =
            8 + (2 + 16 + 4 + 8 * per.div_ceil(GROUP) * 2 + n.div_ceil(2)) + (2 + 4 + 32);
        assert_eq!(bytes.len(), expected);
        // Under a sixth of f32's bytes with this small kernel's headers; an eighth on the
        // shipped models (0.55 bytes a weight).
        assert!(
            bytes.len() * 6 < n * 4,
            "{} bytes for {n} values",
            bytes.len()
        );
        // No value off by more than half its group's step (the step: the group's largest
        // magnitude / 7, as f16); about a tenth of the weights' size overall.
        let (mut err, mut total) = (0.0f64, 0.0f64);
        for (slice, (a, b)) in back[0]
            .values
            .chunks(per)
            .zip(t.values.chunks(per))
            .enumerate()
        {
            for (ga, gb) in a.chunks(GROUP).zip(b.chunks(GROUP)) {
                let top = gb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let step = half::f16::from_f32(top / 7.0).to_f32();
                for (x, y) in ga.iter().zip(gb) {
                    let off = (x - y).abs();
                    assert!(off <= step * 0.501 + 1e-6, "slice {slice}: {x} vs {y}");
                    err += f64::from(x - y).powi(2);
                    total += f64::from(*y).powi(2);
                }
            }
        }
        let relative = (err / total).sqrt();
        assert!(relative < 0.12, "relative error {relative}");
    }

    #[test]
    fn four_bit_kernels_of_few_levels_round_trip_exactly() {
        // Every group's values are whole multiples (−7 to 7) of an f16-exact step, ±7 among
        // them: each group's step is that step, so nothing is lost.
        let values: Vec<f32> = (0..4 * 64)
            .map(|i| ((i * 5 + i / 3) % 15) as f32 - 7.0)
            .enumerate()
            .map(|(i, k)| k * if i < 128 { 0.03125 } else { 2.0 })
            .collect();
        let t = Tensor {
            shape: vec![4, 2, 32],
            values,
        };
        let back = decode(&encode(std::slice::from_ref(&t), Bits::Four), Bits::Four).unwrap();
        assert_eq!(back[0], t);
        // All zeros: every step 0, every value back at 0.
        let zeros = Tensor {
            shape: vec![2, 5],
            values: vec![0.0; 10],
        };
        let back = decode(
            &encode(std::slice::from_ref(&zeros), Bits::Four),
            Bits::Four,
        )
        .unwrap();
        assert_eq!(back[0], zeros);
    }
}
