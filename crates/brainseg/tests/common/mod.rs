//! Test fixtures: synthetic cases written as real TIFF files, and the path of the real
//! `lgg-mini` sample when this checkout sits beside `shared/`.
#![allow(dead_code)]

pub mod hostile;
mod repo;

pub use repo::repo_root;

use brainseg::ingest::Case;
use brainseg::tiff_io::{Mask, RgbImage};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use tiff::encoder::{Compression, Predictor, TiffEncoder, colortype};

/// How a fixture image is stored.
#[derive(Debug, Clone, Copy)]
pub enum Format {
    Rgb8,
    Rgb8Lzw,
    Rgb8DeflatePredictor,
    Rgba8,
    Gray8,
    Rgb16,
}

pub fn encode_image(img: &RgbImage, format: Format) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let (w, h) = (img.width as u32, img.height as u32);
    let u8s: Vec<u8> = img
        .data
        .iter()
        .map(|&v| (v * 255.0).round() as u8)
        .collect();
    match format {
        Format::Rgb8 => TiffEncoder::new(&mut out)
            .unwrap()
            .write_image::<colortype::RGB8>(w, h, &u8s)
            .unwrap(),
        Format::Rgb8Lzw => TiffEncoder::new(&mut out)
            .unwrap()
            .with_compression(Compression::Lzw)
            .write_image::<colortype::RGB8>(w, h, &u8s)
            .unwrap(),
        Format::Rgb8DeflatePredictor => TiffEncoder::new(&mut out)
            .unwrap()
            .with_compression(Compression::Deflate(Default::default()))
            .with_predictor(Predictor::Horizontal)
            .write_image::<colortype::RGB8>(w, h, &u8s)
            .unwrap(),
        Format::Rgba8 => {
            let rgba: Vec<u8> = u8s
                .chunks(3)
                .flat_map(|p| [p[0], p[1], p[2], 200])
                .collect();
            TiffEncoder::new(&mut out)
                .unwrap()
                .write_image::<colortype::RGBA8>(w, h, &rgba)
                .unwrap()
        }
        Format::Gray8 => {
            let g: Vec<u8> = u8s.chunks(3).map(|p| p[1]).collect();
            TiffEncoder::new(&mut out)
                .unwrap()
                .write_image::<colortype::Gray8>(w, h, &g)
                .unwrap()
        }
        Format::Rgb16 => {
            let v: Vec<u16> = img
                .data
                .iter()
                .map(|&v| (v * 65535.0).round() as u16)
                .collect();
            TiffEncoder::new(&mut out)
                .unwrap()
                .write_image::<colortype::RGB16>(w, h, &v)
                .unwrap()
        }
    }
    out.into_inner()
}

pub fn encode_mask(mask: &Mask) -> Vec<u8> {
    brainseg::tiff_io::encode_mask(mask).unwrap()
}

/// Writes a case in the kaggle_3m layout under `root/<case id>/`.
pub fn write_case(root: &Path, case: &Case, format: Format) -> PathBuf {
    brainseg::synthetic::write_case(root, case, true, |img| encode_image(img, format)).unwrap()
}

/// A fresh empty folder in the system's temp folder (earlier runs' folders are swept).
pub fn temp_dir(name: &str) -> PathBuf {
    brainseg::synthetic::scratch_dir("brainseg-test", name)
}

/// `shared/data/lgg-mini/kaggle_3m` beside the checkout (or `$BRAINSEG_SHARED/data/...`), if present.
pub fn lgg_mini() -> Option<PathBuf> {
    let shared = std::env::var_os("BRAINSEG_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"));
    let p = shared.join("data/lgg-mini/kaggle_3m");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("note: {} not found; real-data checks skipped", p.display());
        None
    }
}
