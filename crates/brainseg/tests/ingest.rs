mod common;

use brainseg::ingest::{InputFile, ingest_files, scan_dir};
use brainseg::synthetic::synthetic_case;
use common::*;

#[test]
fn loads_a_folder_of_case_folders_in_numeric_slice_order() {
    let root = temp_dir("folder");
    let a = synthetic_case("TCGA_AA_0001_20000101", 12, 40, 48, 1);
    let b = synthetic_case("TCGA_BB_0002_20000101", 11, 40, 40, 2);
    write_case(&root, &a, Format::Rgb8);
    write_case(&root, &b, Format::Rgb8);
    let got = ingest_files(scan_dir(&root).unwrap());
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert_eq!(got.cases.len(), 2);
    let ca = &got.cases[0];
    assert_eq!(ca.id, a.id);
    assert_eq!(
        ca.slices.iter().map(|s| s.number).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    for (x, y) in ca.slices.iter().zip(&a.slices) {
        assert_eq!(x.image, y.image);
        assert_eq!(x.mask, y.mask);
    }
    // One case folder alone works too.
    let one = ingest_files(scan_dir(&root.join(&b.id)).unwrap());
    assert_eq!(one.cases.len(), 1);
    assert_eq!(one.cases[0].slices.len(), 11);
}

#[test]
fn compressed_and_converted_formats_decode_to_the_same_pixels() {
    let case = synthetic_case("C_1", 3, 20, 24, 3);
    let img = &case.slices[1].image;
    for format in [
        Format::Rgb8Lzw,
        Format::Rgb8DeflatePredictor,
        Format::Rgba8,
        Format::Rgb16,
    ] {
        let bytes = encode_image(img, format);
        let got = ingest_files(vec![InputFile::from_bytes("C_1_2.tif", bytes)]);
        assert!(got.errors.is_empty(), "{format:?}: {:?}", got.errors);
        let dec = &got.cases[0].slices[0].image;
        let max_err = dec
            .data
            .iter()
            .zip(&img.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(max_err < 1e-4, "{format:?}: max error {max_err}");
        let warned = got.warnings.iter().any(|w| w.message.contains("16-bit"));
        assert_eq!(warned, matches!(format, Format::Rgb16), "{format:?}");
    }
    let got = ingest_files(vec![InputFile::from_bytes(
        "C_1_2.tif",
        encode_image(img, Format::Gray8),
    )]);
    let dec = &got.cases[0].slices[0].image;
    assert!(dec.data.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]));
    assert!(
        got.warnings
            .iter()
            .any(|w| w.file == "C_1_2.tif" && w.message.contains("grayscale"))
    );
}

#[test]
fn every_bad_file_is_named_and_the_good_files_still_load() {
    let case = synthetic_case("GOOD_CASE", 4, 16, 16, 4);
    let mut files: Vec<InputFile> = Vec::new();
    for s in &case.slices {
        files.push(InputFile::from_bytes(
            format!("GOOD_CASE_{}.tif", s.number),
            encode_image(&s.image, Format::Rgb8),
        ));
        files.push(InputFile::from_bytes(
            format!("GOOD_CASE_{}_mask.tif", s.number),
            encode_mask(s.mask.as_ref().unwrap()),
        ));
    }
    let full = encode_image(&case.slices[0].image, Format::Rgb8);
    let small = synthetic_case("X", 1, 8, 8, 5);
    let bad = vec![
        (
            "BAD_1.tif",
            b"this is not a tiff at all".to_vec(),
            "not a TIFF",
        ),
        ("BAD_2.tif", full[..full.len() / 2].to_vec(), "truncated"),
        ("BAD_3.tif", full.clone(), ""),
        (
            "BAD_3_mask.tif",
            encode_mask(small.slices[0].mask.as_ref().unwrap()),
            "mask size 8x8 differs",
        ),
        ("GOOD_CASE_2.tif", full.clone(), "duplicate slice number 2"),
        (
            "GOOD_CASE_9_mask.tif",
            encode_mask(case.slices[0].mask.as_ref().unwrap()),
            "mask without image",
        ),
        ("notes_about_case.tif", full.clone(), "unparseable name"),
        ("BAD_4.tif", Vec::new(), "not a TIFF"),
    ];
    for (name, bytes, _) in &bad {
        files.push(InputFile::from_bytes(*name, bytes.clone()));
    }
    let got = ingest_files(files);
    for (name, _, expect) in &bad {
        if expect.is_empty() {
            continue;
        }
        let e = got
            .errors
            .iter()
            .find(|e| e.file == *name)
            .unwrap_or_else(|| panic!("no error for {name}: {:?}", got.errors));
        assert!(
            e.message.contains(expect),
            "{name}: {} (expected {expect:?})",
            e.message
        );
    }
    assert_eq!(got.errors.len(), 7, "{:?}", got.errors);
    let good = got.cases.iter().find(|c| c.id == "GOOD_CASE").unwrap();
    assert_eq!(good.slices.len(), 4);
    assert!(good.has_masks());
    assert_eq!(
        good.slices[1].image, case.slices[1].image,
        "the first of the duplicates is kept"
    );
    // BAD_3 loads as an image whose mask was refused: prediction only.
    let b3 = got.cases.iter().find(|c| c.id == "BAD").unwrap();
    assert_eq!(b3.slices.len(), 1);
    assert!(!b3.has_masks());
}

#[test]
fn a_slice_of_another_size_is_refused_not_resized_into_the_volume() {
    let a = synthetic_case("S", 2, 16, 16, 6);
    let b = synthetic_case("S", 1, 12, 16, 6);
    let files = vec![
        InputFile::from_bytes("S_1.tif", encode_image(&a.slices[0].image, Format::Rgb8)),
        InputFile::from_bytes("S_2.tif", encode_image(&b.slices[0].image, Format::Rgb8)),
    ];
    let got = ingest_files(files);
    assert_eq!(got.cases[0].slices.len(), 1);
    assert!(
        got.errors[0].file == "S_2.tif"
            && got.errors[0]
                .message
                .contains("differs from the case's 16x16")
    );
}

#[test]
fn lgg_mini_has_3_cases_60_slices_21_lesion_slices() {
    let Some(dir) = lgg_mini() else { return };
    let got = ingest_files(scan_dir(&dir).unwrap());
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert_eq!(got.cases.len(), 3);
    let slices: usize = got.cases.iter().map(|c| c.slices.len()).sum();
    let lesion: usize = got
        .cases
        .iter()
        .flat_map(|c| &c.slices)
        .filter(|s| s.mask.as_ref().unwrap().lesion_pixels() > 0)
        .count();
    assert_eq!((slices, lesion), (60, 21));
    assert!(
        got.cases
            .iter()
            .all(|c| c.has_masks() && c.height() == 256 && c.width() == 256)
    );
}
