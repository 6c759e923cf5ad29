//! TIFF decoding of slices and masks, and encoding of predicted masks.
//!
//! Accepted: 8-bit grayscale, RGB and RGBA (alpha dropped), uncompressed or compressed with
//! anything the `tiff` crate decodes (LZW, Deflate, PackBits, with or without predictor).
//! 16-bit input is accepted and rescaled to [0, 1] by the type's range (value / 65535): the
//! preprocessing normalises each volume by its own percentiles, so only relative intensities
//! matter and no precision is lost by keeping it as f32. Grayscale images are replicated to
//! three channels with a warning (the model expects pre-contrast, FLAIR, post-contrast).

use std::io::Cursor;
use tiff::ColorType;
use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::tags::Tag;

/// Why a TIFF could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TiffError {
    #[error("not a TIFF file ({0} bytes)")]
    TooShort(usize),
    #[error("not a TIFF file (no II/MM byte-order mark)")]
    NoByteOrderMark,
    #[error("not a readable TIFF (truncated or corrupt): {0}")]
    Unreadable(String),
    #[error("bad TIFF header (truncated or corrupt): {0}")]
    BadHeader(String),
    #[error("unsupported image size {width}x{height}")]
    UnsupportedSize { width: u32, height: u32 },
    #[error("unsupported colour type {0} (need grayscale, RGB or RGBA)")]
    UnsupportedColour(String),
    #[error("cannot decode pixel data (truncated or corrupt?): {0}")]
    PixelData(String),
    #[error("unsupported sample format: {0} (need 8- or 16-bit unsigned)")]
    SampleFormat(String),
    #[error("pixel data has {got} samples, expected {expected} for {width}x{height}x{samples}")]
    SampleCount {
        got: usize,
        expected: usize,
        width: usize,
        height: usize,
        samples: usize,
    },
    #[error("cannot encode TIFF: {0}")]
    Encode(String),
}

/// A decoded slice: height × width × 3 channels, interleaved, values in [0, 1].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

/// A binary mask, height × width, values 0 or 1.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mask {
    pub width: usize,
    pub height: usize,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

impl Mask {
    pub fn lesion_pixels(&self) -> usize {
        self.data.iter().filter(|&&v| v != 0).count()
    }

    /// 8-bit pixels as the data set stores masks: 0 or 255.
    pub fn to_gray8(&self) -> Vec<u8> {
        self.data
            .iter()
            .map(|&v| if v != 0 { 255 } else { 0 })
            .collect()
    }
}

/// An intensity in [0, 1] (clamped) as an 8-bit value.
pub fn unit_to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Largest side accepted: far above any MR slice, low enough that a forged header cannot make
/// the decoder allocate gigabytes.
pub const MAX_SIDE: u32 = 8192;

/// Most bytes of decoded pixel data a slice may have (64 MiB: e.g. 4096² RGB at 8 bits, or
/// 2896² RGBA at 16 bits). The `tiff` crate refuses a larger image before allocating it.
pub const MAX_DECODED_BYTES: usize = 64 << 20;

struct Raw {
    width: usize,
    height: usize,
    samples: usize,
    /// Samples scaled to [0, 1].
    values: Vec<f32>,
    bits: u8,
    /// The file holds more than one image (only the first is read).
    more_pages: bool,
}

fn decode_raw(bytes: &[u8]) -> Result<Raw, TiffError> {
    if bytes.len() < 8 {
        return Err(TiffError::TooShort(bytes.len()));
    }
    if &bytes[..2] != b"II" && &bytes[..2] != b"MM" {
        return Err(TiffError::NoByteOrderMark);
    }
    let mut limits = Limits::default();
    limits.decoding_buffer_size = MAX_DECODED_BYTES;
    let mut dec = Decoder::new(Cursor::new(bytes))
        .map_err(|e| TiffError::Unreadable(e.to_string()))?
        .with_limits(limits);
    let (width, height, samples, bits) = check_layout(&mut dec)?;
    let more_pages = dec.more_images();
    let result = dec
        .read_image()
        .map_err(|e| TiffError::PixelData(e.to_string()))?;
    let values: Vec<f32> = match result {
        DecodingResult::U8(v) if bits == 8 => v.into_iter().map(|x| x as f32 / 255.0).collect(),
        DecodingResult::U16(v) if bits == 16 => v.into_iter().map(|x| x as f32 / 65535.0).collect(),
        // check_layout admitted only 8- and 16-bit unsigned samples.
        _ => {
            return Err(TiffError::SampleFormat(format!(
                "{bits}-bit samples decoded as another type"
            )));
        }
    };
    if values.len() != width * height * samples {
        return Err(TiffError::SampleCount {
            got: values.len(),
            expected: width * height * samples,
            width,
            height,
            samples,
        });
    }
    Ok(Raw {
        width,
        height,
        samples,
        values,
        bits,
        more_pages,
    })
}

/// Checks the first image's header before any pixel is read: size, colour type, bits and
/// sample format. Returns (width, height, samples per pixel, bits per sample).
fn check_layout(dec: &mut Decoder<Cursor<&[u8]>>) -> Result<(usize, usize, usize, u8), TiffError> {
    let (w, h) = dec
        .dimensions()
        .map_err(|e| TiffError::BadHeader(e.to_string()))?;
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(TiffError::UnsupportedSize {
            width: w,
            height: h,
        });
    }
    let color = dec
        .colortype()
        .map_err(|e| TiffError::BadHeader(e.to_string()))?;
    let (samples, bits) = match color {
        ColorType::Gray(b) => (1, b),
        // Gray + one extra sample (alpha): the `tiff` crate calls it Multiband unless the
        // extra sample is marked as associated alpha.
        ColorType::GrayA(b)
        | ColorType::Multiband {
            bit_depth: b,
            num_samples: 2,
        } => (2, b),
        ColorType::RGB(b) => (3, b),
        ColorType::RGBA(b) => (4, b),
        other => {
            return Err(TiffError::UnsupportedColour(format!("{other:?}")));
        }
    };
    // SampleFormat 1 (or absent) is unsigned integer; 2 signed, 3 floating point. It may be
    // given once or once per sample.
    let formats = dec
        .find_tag_unsigned_vec::<u16>(Tag::SampleFormat)
        .map_err(|e| TiffError::BadHeader(e.to_string()))?
        .unwrap_or_default();
    let format = formats.iter().copied().find(|&f| f != 1).unwrap_or(1);
    if !matches!(bits, 8 | 16) || format != 1 {
        let kind = match format {
            1 => "unsigned integer",
            2 => "signed integer",
            3 => "floating-point",
            _ => "unknown-format",
        };
        return Err(TiffError::SampleFormat(format!(
            "{bits}-bit {kind} samples"
        )));
    }
    Ok((w as usize, h as usize, samples, bits))
}

const MORE_PAGES: &str = "multi-page TIFF: only the first page is used";

/// Decodes an image slice. Returns the image and warnings (conversions that were made).
pub fn decode_image(bytes: &[u8]) -> Result<(RgbImage, Vec<String>), TiffError> {
    let raw = decode_raw(bytes)?;
    let mut warnings = Vec::new();
    if raw.bits == 16 {
        warnings.push("16-bit image rescaled to [0, 1] by value/65535".to_string());
    }
    if raw.more_pages {
        warnings.push(MORE_PAGES.to_string());
    }
    let n = raw.width * raw.height;
    let mut data = Vec::with_capacity(n * 3);
    match raw.samples {
        1 | 2 => {
            warnings.push("grayscale image: replicated to the three channels".to_string());
            for p in raw.values.chunks_exact(raw.samples) {
                data.extend_from_slice(&[p[0], p[0], p[0]]);
            }
        }
        3 => data = raw.values,
        4 => {
            for p in raw.values.chunks_exact(4) {
                data.extend_from_slice(&p[..3]);
            }
        }
        _ => unreachable!("decode_raw only returns 1 to 4 samples"),
    }
    Ok((
        RgbImage {
            width: raw.width,
            height: raw.height,
            data,
        },
        warnings,
    ))
}

/// Decodes a mask: any sample above half the range is lesion. Colour masks use their first
/// channel, with a warning.
pub fn decode_mask(bytes: &[u8]) -> Result<(Mask, Vec<String>), TiffError> {
    let raw = decode_raw(bytes)?;
    let mut warnings = Vec::new();
    if raw.samples > 2 {
        warnings.push("colour mask: using its first channel".to_string());
    }
    if raw.more_pages {
        warnings.push(MORE_PAGES.to_string());
    }
    let data = raw
        .values
        .chunks_exact(raw.samples)
        .map(|p| u8::from(p[0] > 0.5))
        .collect();
    Ok((
        Mask {
            width: raw.width,
            height: raw.height,
            data,
        },
        warnings,
    ))
}

/// Encodes a mask as the data set stores them: 8-bit grayscale, 0 or 255, uncompressed.
pub fn encode_mask(mask: &Mask) -> Result<Vec<u8>, TiffError> {
    let mut out = Cursor::new(Vec::new());
    let pixels = mask.to_gray8();
    let mut enc = tiff::encoder::TiffEncoder::new(&mut out).map_err(encode_error)?;
    enc.write_image::<tiff::encoder::colortype::Gray8>(
        mask.width as u32,
        mask.height as u32,
        &pixels,
    )
    .map_err(encode_error)?;
    Ok(out.into_inner())
}

/// Encodes an image slice as 8-bit RGB, uncompressed (values clamped to [0, 1]).
pub fn encode_image(img: &RgbImage) -> Result<Vec<u8>, TiffError> {
    let mut out = Cursor::new(Vec::new());
    let pixels: Vec<u8> = img.data.iter().map(|&v| unit_to_u8(v)).collect();
    let mut enc = tiff::encoder::TiffEncoder::new(&mut out).map_err(encode_error)?;
    enc.write_image::<tiff::encoder::colortype::RGB8>(img.width as u32, img.height as u32, &pixels)
        .map_err(encode_error)?;
    Ok(out.into_inner())
}

fn encode_error(e: tiff::TiffError) -> TiffError {
    TiffError::Encode(e.to_string())
}
