//! Hostile TIFFs: forged headers (sizes, pages, sample formats, channel counts, tiles,
//! compressions) that a scanner export or a careless converter could produce. The limits test
//! checks each outcome; the fuzz seed writer puts them in the `slice_tiff` corpus, from which
//! the page's bad-input test also drops them.

use std::io::Cursor;
use tiff::encoder::{Compression, TiffEncoder, colortype};

/// A field of a forged IFD: tag, TIFF type (3 SHORT, 4 LONG) and values.
pub type Field = (u16, u16, Vec<u32>);

const STRIP_OFFSETS: u16 = 273;
const STRIP_BYTE_COUNTS: u16 = 279;
const TILE_OFFSETS: u16 = 324;
const TILE_BYTE_COUNTS: u16 = 325;

/// A little-endian TIFF with one IFD of `fields` and the pixel data `chunks` (strips, or tiles
/// when `tiled`): the offset and byte-count fields are added. Written by hand because the
/// `tiff` encoder cannot write tiles, forged sizes or arbitrary sample formats.
pub fn forge_tiff(mut fields: Vec<Field>, chunks: &[Vec<u8>], tiled: bool) -> Vec<u8> {
    let (offsets_tag, counts_tag) = if tiled {
        (TILE_OFFSETS, TILE_BYTE_COUNTS)
    } else {
        (STRIP_OFFSETS, STRIP_BYTE_COUNTS)
    };
    let counts: Vec<u32> = chunks.iter().map(|c| c.len() as u32).collect();
    fields.push((counts_tag, 4, counts));
    fields.push((offsets_tag, 4, vec![0; chunks.len()]));
    fields.sort_by_key(|f| f.0);
    let ifd_len = 2 + 12 * fields.len() + 4;
    let size = |f: &Field| f.2.len() * if f.1 == 3 { 2 } else { 4 };
    let extra_len: usize = fields.iter().map(size).filter(|&s| s > 4).sum();
    let data_start = 8 + ifd_len + extra_len;
    let mut offsets = Vec::with_capacity(chunks.len());
    let mut at = data_start as u32;
    for c in chunks {
        offsets.push(at);
        at += c.len() as u32;
    }
    for f in fields.iter_mut().filter(|f| f.0 == offsets_tag) {
        f.2 = offsets.clone();
    }
    let mut out = b"II*\0".to_vec();
    out.extend(8u32.to_le_bytes());
    out.extend((fields.len() as u16).to_le_bytes());
    let mut extra: Vec<u8> = Vec::new();
    let value_bytes = |f: &Field| -> Vec<u8> {
        f.2.iter()
            .flat_map(|&v| {
                if f.1 == 3 {
                    (v as u16).to_le_bytes().to_vec()
                } else {
                    v.to_le_bytes().to_vec()
                }
            })
            .collect()
    };
    for f in &fields {
        out.extend(f.0.to_le_bytes());
        out.extend(f.1.to_le_bytes());
        out.extend((f.2.len() as u32).to_le_bytes());
        let mut bytes = value_bytes(f);
        if bytes.len() > 4 {
            let offset = (8 + ifd_len + extra.len()) as u32;
            extra.extend(&bytes);
            out.extend(offset.to_le_bytes());
        } else {
            bytes.resize(4, 0);
            out.extend(bytes);
        }
    }
    out.extend(0u32.to_le_bytes());
    out.extend(extra);
    for c in chunks {
        out.extend(c);
    }
    out
}

/// The fields of an uncompressed, single-strip image.
pub fn fields(width: u32, height: u32, bits: &[u32], photometric: u32, format: u32) -> Vec<Field> {
    vec![
        (256, 4, vec![width]),
        (257, 4, vec![height]),
        (258, 3, bits.to_vec()),
        (259, 3, vec![1]),
        (262, 3, vec![photometric]),
        (277, 3, vec![bits.len() as u32]),
        (278, 4, vec![height]),
        (339, 3, vec![format; bits.len()]),
    ]
}

/// What decoding a hostile file must give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Decoded, with a warning containing this text (or none when empty).
    Decodes(&'static str),
    /// Refused with an error containing this text.
    Refused(&'static str),
}

/// A 16×16 test pattern: pixel (y, x) channel c = (y * 16 + x + 40 * c) mod 256.
pub fn pattern(channels: usize) -> Vec<u8> {
    (0..16 * 16)
        .flat_map(|i| (0..channels).map(move |c| ((i + 40 * c) % 256) as u8))
        .collect()
}

/// The hostile files: name (without extension), bytes, expected outcome.
pub fn hostile_tiffs() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let rgb = pattern(3);
    let mut out = vec![
        (
            "declares-60000x60000",
            forge_tiff(
                fields(60000, 60000, &[8, 8, 8], 2, 1),
                std::slice::from_ref(&rgb),
                false,
            ),
            Expect::Refused("unsupported image size 60000x60000"),
        ),
        (
            "8000x8000-rgb16-over-the-decode-limit",
            forge_tiff(
                fields(8000, 8000, &[16, 16, 16], 2, 1),
                std::slice::from_ref(&rgb),
                false,
            ),
            Expect::Refused("limits"),
        ),
        (
            "float32-gray",
            forge_tiff(fields(16, 16, &[32], 1, 3), &[vec![0; 16 * 16 * 4]], false),
            Expect::Refused("32-bit floating-point samples"),
        ),
        (
            "int16-signed-gray",
            forge_tiff(fields(16, 16, &[16], 1, 2), &[vec![0; 16 * 16 * 2]], false),
            Expect::Refused("16-bit signed integer samples"),
        ),
        (
            "bilevel-1-bit",
            forge_tiff(fields(16, 16, &[1], 1, 1), &[vec![0; 16 * 2]], false),
            Expect::Refused("1-bit"),
        ),
        (
            "gray-alpha-2-channels",
            forge_tiff(
                [fields(16, 16, &[8, 8], 1, 1), vec![(338, 3, vec![2])]].concat(),
                &[pattern(2)],
                false,
            ),
            Expect::Decodes("grayscale"),
        ),
        (
            "rgba-4-channels",
            forge_tiff(
                [fields(16, 16, &[8, 8, 8, 8], 2, 1), vec![(338, 3, vec![2])]].concat(),
                &[pattern(4)],
                false,
            ),
            Expect::Decodes(""),
        ),
        ("tiled-4-tiles", tiled_rgb8(), Expect::Decodes("")),
        (
            "jpeg2000-compression",
            forge_tiff(
                fields(16, 16, &[8, 8, 8], 2, 1)
                    .into_iter()
                    .map(|f| if f.0 == 259 { (259, 3, vec![34712]) } else { f })
                    .collect(),
                std::slice::from_ref(&rgb),
                false,
            ),
            Expect::Refused("compression"),
        ),
        (
            "truncated-strip",
            forge_tiff(
                fields(16, 16, &[8, 8, 8], 2, 1),
                &[rgb[..100].to_vec()],
                false,
            ),
            Expect::Refused(""),
        ),
        ("packbits", packbits_rgb8(), Expect::Decodes("")),
    ];
    out.push((
        "2000-pages",
        many_pages(2000),
        Expect::Decodes("multi-page"),
    ));
    out
}

/// The 16×16 RGB pattern as four 8×8 tiles.
fn tiled_rgb8() -> Vec<u8> {
    let rgb = pattern(3);
    let tile = |ty: usize, tx: usize| -> Vec<u8> {
        (0..8)
            .flat_map(|y| {
                let row = (ty * 8 + y) * 16 + tx * 8;
                rgb[row * 3..(row + 8) * 3].to_vec()
            })
            .collect()
    };
    let mut f: Vec<Field> = fields(16, 16, &[8, 8, 8], 2, 1)
        .into_iter()
        .filter(|f| f.0 != 278)
        .collect();
    f.extend([(322, 4, vec![8]), (323, 4, vec![8])]);
    forge_tiff(f, &[tile(0, 0), tile(0, 1), tile(1, 0), tile(1, 1)], true)
}

fn packbits_rgb8() -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    TiffEncoder::new(&mut out)
        .unwrap()
        .with_compression(Compression::Packbits)
        .write_image::<colortype::RGB8>(16, 16, &pattern(3))
        .unwrap();
    out.into_inner()
}

/// `pages` images of 2×2 RGB in one file.
fn many_pages(pages: usize) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    {
        let mut enc = TiffEncoder::new(&mut out).unwrap();
        for _ in 0..pages {
            enc.write_image::<colortype::RGB8>(2, 2, &[9; 12]).unwrap();
        }
    }
    out.into_inner()
}
