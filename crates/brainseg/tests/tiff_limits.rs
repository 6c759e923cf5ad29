//! Limits instead of out-of-memory: every hostile TIFF (`common::hostile`) either decodes to the
//! right pixels or is refused with a clear error, and a refusal allocates next to nothing (a
//! counting allocator watches the peak). One test in this binary, so the peak is its own.

mod common;

use brainseg::ingest::{InputFile, ingest_files};
use brainseg::tiff_io::decode_image;
use common::hostile::{Expect, hostile_tiffs, pattern};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The 16×16 images' expected first three channels, as decoded values.
fn expected_rgb(name: &str) -> Option<Vec<f32>> {
    let (channels, gray) = match name {
        "gray-alpha-2-channels" => (2, true),
        "rgba-4-channels" => (4, false),
        "tiled-4-tiles" | "packbits" => (3, false),
        _ => return None,
    };
    let p = pattern(channels);
    Some(
        p.chunks(channels)
            .flat_map(|px| {
                let rgb = if gray {
                    [px[0]; 3]
                } else {
                    [px[0], px[1], px[2]]
                };
                rgb.map(|v| v as f32 / 255.0)
            })
            .collect(),
    )
}

#[test]
fn hostile_tiffs_decode_right_or_are_refused_before_allocating() {
    let hostile = hostile_tiffs();
    for (name, bytes, expect) in &hostile {
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let got = decode_image(bytes);
        let grew = PEAK.load(Ordering::Relaxed) - before;
        match (expect, got) {
            (Expect::Decodes(warning), Ok((img, warnings))) => {
                assert!(
                    warning.is_empty() || warnings.iter().any(|w| w.contains(warning)),
                    "{name}: warnings {warnings:?}"
                );
                if let Some(rgb) = expected_rgb(name) {
                    assert_eq!((img.width, img.height), (16, 16), "{name}");
                    assert_eq!(img.data, rgb, "{name}: pixels differ");
                }
            }
            (Expect::Refused(text), Err(e)) => {
                let msg = e.to_string();
                assert!(msg.contains(text), "{name}: {msg}");
                // The file's own bytes are ~1 kB; the 60000² and 8000² headers would need
                // 10.8 GB and 384 MB: a refusal must come before any of that is allocated.
                assert!(
                    grew < 4 << 20,
                    "{name}: refused after allocating {grew} bytes"
                );
                eprintln!("{name}: refused ({msg}); peak allocation {grew} bytes");
            }
            (expect, got) => panic!("{name}: expected {expect:?}, got {:?}", got.map(|_| ())),
        }
    }
    // The same files in one drop, beside a good slice: each bad one is named, the rest load.
    let mut files: Vec<InputFile> = hostile
        .iter()
        .map(|(name, bytes, _)| InputFile::from_bytes(format!("H-{name}_1.tif"), bytes.clone()))
        .collect();
    files.push(InputFile::from_bytes(
        "GOOD_1.tif",
        hostile
            .iter()
            .find(|h| h.0 == "packbits")
            .unwrap()
            .1
            .clone(),
    ));
    let got = ingest_files(files);
    for (name, _, expect) in &hostile {
        let file = format!("H-{name}_1.tif");
        let refused = got.errors.iter().any(|e| e.file == file);
        assert_eq!(
            refused,
            matches!(expect, Expect::Refused(_)),
            "{file}: {:?}",
            got.errors
        );
    }
    assert!(got.cases.iter().any(|c| c.id == "GOOD"), "{:?}", got.errors);
}
