//! Handing freed memory back to the system after bursts of work that freed much of it.

/// Gives the pages freed so far back to the system now (this thread's heap, and the purges
/// mimalloc, the binary's allocator, had delayed). Loading a layer frees the decoded rows and
/// lon/lat geometries it built from, writing the snapshot or a download file the features it
/// decoded; without this the process stayed 60–70 MB above its live heap after loading
/// 200 000 polygons (`benches/memory.sh`), and each download's scratch stacked on the last's.
/// Harmless under another global allocator (mimalloc's heap is then empty).
pub(crate) fn release_freed() {
    // SAFETY: `mi_collect` takes no pointers; it may be called from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
