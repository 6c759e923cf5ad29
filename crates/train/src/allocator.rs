//! The process's allocator: mimalloc, told never to give freed memory back to the OS.
//!
//! A training step allocates and frees the same large activations and gradients every time
//! (U-Net f=32 at 256², batch 8: about 2 GB a step). glibc's malloc serves blocks above 32 MB
//! with fresh `mmap`s and unmaps them when freed, and mimalloc by default purges freed pages
//! after 1 s (shorter than a step), so each step page-faults its working set in again: 450,000 page faults and
//! 19–26 s of kernel time in a 4-step benchmark. With purging off (a process that keeps its peak,
//! ≈ 35 % more resident memory) the same benchmark trains 1.37–1.40 img/s against 0.81–0.89 with
//! mimalloc's default and 1.08 with glibc's (docs/benchmarks.md, "Memory that stays mapped").

use libmimalloc_sys as ffi;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (include/mimalloc.h): the Rust
/// bindings (libmimalloc-sys 0.1.49) name the options around it but not this one.
const PURGE_DELAY: ffi::mi_option_t = 15;

/// Turns purging off; call first thing in `main` (mimalloc reads its options when it needs them).
pub fn keep_freed_memory() {
    // SAFETY: sets an option in mimalloc's option table; called before any other thread starts.
    unsafe { ffi::mi_option_set(PURGE_DELAY, -1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Option 15 is the purge delay: its default is 1,000 ms (src/options.c), where its
    /// neighbours' are 1 (the deprecated eager-commit delay, 14) and 0 (NUMA nodes, 16).
    #[test]
    fn option_15_is_the_purge_delay() {
        unsafe {
            assert_eq!(ffi::mi_option_get(14), 1);
            assert_eq!(ffi::mi_option_get(16), 0);
            assert_eq!(ffi::mi_option_get(PURGE_DELAY), 1000);
            keep_freed_memory();
            assert_eq!(ffi::mi_option_get(PURGE_DELAY), -1);
        }
    }
}
