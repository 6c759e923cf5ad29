//! `train pack` / `train unpack`: a compact copy of a data folder, for carrying the training set
//! to a GPU machine that has a 64 MiB upload limit and no network (scripts/gpu).
//!
//! Each slice's three sequences become three grayscale JPEGs (one per channel: colour JPEG
//! would subsample two of the three sequences) and each mask a PNG, so the pack is lossy for the
//! images at the chosen quality and exact for the masks; `--lossless` stores PNGs instead.
//! `unpack` writes the kaggle_3m layout back (TIFFs), so `train fit` reads it unchanged.
//! The kaggle_3m TIFFs do not compress below ~115 kB a slice losslessly (xz -6 of a case), which
//! puts the 3,439 development slices at ~390 MB: hence JPEG.

use anyhow::{Context, Result, bail};
use brainseg::tiff_io::{Mask, RgbImage, encode_image, encode_mask, unit_to_u8};
use image::codecs::jpeg::JpegEncoder;
use image::{GrayImage, ImageFormat};
use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct PackArgs {
    /// Data folder (kaggle_3m layout).
    #[arg(long)]
    data: PathBuf,
    /// Pack folder to write.
    #[arg(long)]
    out: PathBuf,
    /// JPEG quality, 1–100.
    #[arg(long, default_value_t = 90)]
    quality: u8,
    /// Store PNGs (exact) instead of JPEGs.
    #[arg(long)]
    lossless: bool,
    /// Only these cases (one ID a line); repeatable.
    #[arg(long)]
    cases: Vec<PathBuf>,
}

fn channel(img: &RgbImage, c: usize) -> GrayImage {
    let px = img.data.chunks(3).map(|p| unit_to_u8(p[c])).collect();
    GrayImage::from_raw(img.width as u32, img.height as u32, px).expect("sizes agree")
}

fn encode_gray(img: &GrayImage, quality: Option<u8>) -> Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    match quality {
        Some(q) => JpegEncoder::new_with_quality(&mut out, q).encode_image(img)?,
        None => img.write_to(&mut out, ImageFormat::Png)?,
    }
    Ok(out.into_inner())
}

pub fn pack(args: &PackArgs) -> Result<()> {
    if !(1..=100).contains(&args.quality) {
        bail!("--quality must be 1 to 100");
    }
    let quality = (!args.lossless).then_some(args.quality);
    let ext = if args.lossless { "png" } else { "jpg" };
    let mut wanted: Option<Vec<String>> = None;
    for list in &args.cases {
        wanted
            .get_or_insert_with(Vec::new)
            .extend(crate::cases::read_case_list(list)?);
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let (mut cases, mut slices, mut bytes) = (0usize, 0usize, 0u64);
    for case in crate::cases::load_cases(&args.data, wanted)? {
        let dir = args.out.join(&case.id);
        std::fs::create_dir_all(&dir)?;
        for s in &case.slices {
            let stem = format!("{}_{}", case.id, s.number);
            for c in 0..3 {
                let data = encode_gray(&channel(&s.image, c), quality)?;
                bytes += data.len() as u64;
                std::fs::write(dir.join(format!("{stem}.c{c}.{ext}")), data)?;
            }
            if let Some(m) = &s.mask {
                let gray = GrayImage::from_raw(m.width as u32, m.height as u32, m.to_gray8())
                    .expect("sizes agree");
                let data = encode_gray(&gray, None)?;
                bytes += data.len() as u64;
                std::fs::write(dir.join(format!("{stem}_mask.png")), data)?;
            }
            slices += 1;
        }
        cases += 1;
    }
    if cases == 0 {
        bail!("nothing packed from {}", args.data.display());
    }
    let what = quality.map_or("PNG (lossless)".to_string(), |q| {
        format!("JPEG quality {q} per channel")
    });
    println!(
        "packed {cases} cases, {slices} slices into {}: {:.1} MB, {what}; masks PNG",
        args.out.display(),
        bytes as f64 / 1e6
    );
    Ok(())
}

/// The files of one slice in a pack.
#[derive(Default)]
struct PackedSlice {
    channels: [Option<PathBuf>; 3],
    mask: Option<PathBuf>,
}

fn decode_gray(path: &Path) -> Result<GrayImage> {
    let img = image::open(path).with_context(|| format!("{}: cannot decode", path.display()))?;
    Ok(img.into_luma8())
}

fn unpack_slice(files: &PackedSlice) -> Result<(RgbImage, Option<Mask>)> {
    let mut planes = Vec::with_capacity(3);
    for (c, p) in files.channels.iter().enumerate() {
        let p = p.as_ref().with_context(|| format!("channel {c} missing"))?;
        planes.push(decode_gray(p)?);
    }
    let (w, h) = planes[0].dimensions();
    if planes.iter().any(|p| p.dimensions() != (w, h)) {
        bail!("channels differ in size");
    }
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for i in 0..(w * h) as usize {
        for p in &planes {
            data.push(p.as_raw()[i] as f32 / 255.0);
        }
    }
    let mask = match &files.mask {
        Some(p) => {
            let m = decode_gray(p)?;
            if m.dimensions() != (w, h) {
                bail!("{}: mask size differs from the slice", p.display());
            }
            Some(Mask {
                width: w as usize,
                height: h as usize,
                data: m.as_raw().iter().map(|&v| u8::from(v >= 128)).collect(),
            })
        }
        None => None,
    };
    Ok((
        RgbImage {
            width: w as usize,
            height: h as usize,
            data,
        },
        mask,
    ))
}

#[derive(clap::Args)]
pub struct UnpackArgs {
    /// Pack folder written by `train pack`.
    pack: PathBuf,
    /// Data folder to write (kaggle_3m layout).
    #[arg(long)]
    out: PathBuf,
}

pub fn unpack(args: &UnpackArgs) -> Result<()> {
    let (pack, out) = (args.pack.as_path(), args.out.as_path());
    let (mut cases, mut slices, mut failed) = (0usize, 0usize, 0usize);
    let mut case_dirs: Vec<PathBuf> = std::fs::read_dir(pack)
        .with_context(|| format!("reading {}", pack.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    case_dirs.sort();
    for dir in case_dirs {
        let case = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let target = out.join(&case);
        std::fs::create_dir_all(&target)?;
        for (stem, files) in &packed_slices(&dir)? {
            match unpack_slice(files).and_then(|(img, mask)| write_slice(&target, stem, &img, mask))
            {
                Ok(()) => slices += 1,
                Err(e) => {
                    eprintln!("warning: {case}/{stem}: {e:#}");
                    failed += 1;
                }
            }
        }
        cases += 1;
    }
    println!(
        "unpacked {cases} cases, {slices} slices into {} ({failed} slices failed)",
        out.display()
    );
    if slices == 0 {
        bail!("{}: no slice could be unpacked", pack.display());
    }
    Ok(())
}

/// The files of a packed case folder, by slice stem; other files are warned about and skipped.
fn packed_slices(dir: &Path) -> Result<BTreeMap<String, PackedSlice>> {
    let mut slices: BTreeMap<String, PackedSlice> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if let Some(stem) = name.strip_suffix("_mask.png") {
            slices.entry(stem.to_string()).or_default().mask = Some(path);
        } else if let Some((stem, rest)) = name.rsplit_once(".c") {
            match rest.chars().next().and_then(|c| c.to_digit(10)) {
                Some(c @ 0..=2) => {
                    slices.entry(stem.to_string()).or_default().channels[c as usize] = Some(path)
                }
                _ => eprintln!("warning: {}: not a pack file, skipped", path.display()),
            }
        } else {
            eprintln!("warning: {}: not a pack file, skipped", path.display());
        }
    }
    Ok(slices)
}

/// Writes one unpacked slice (and its mask) as the kaggle_3m layout's TIFFs.
fn write_slice(dir: &Path, stem: &str, img: &RgbImage, mask: Option<Mask>) -> Result<()> {
    std::fs::write(dir.join(format!("{stem}.tif")), encode_image(img)?)?;
    if let Some(m) = mask {
        std::fs::write(dir.join(format!("{stem}_mask.tif")), encode_mask(&m)?)?;
    }
    Ok(())
}
