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

/// Keeps the process off transparent huge pages. mimalloc advises them on its arenas
/// (`madvise(MADV_HUGEPAGE)`), and the kernel then backs every touched 2 MiB of a mostly
/// empty arena whole: a server with no layers held 19 MiB of heap instead of 8, one holding
/// 200 000 parcels 118–123 MiB instead of 98 (RssAnon; benches/columnar.sh measures it).
/// Later page faults take 4 KiB pages; what is already resident stays, so the binary calls
/// this before its first allocation. What mimalloc's own `MIMALLOC_ALLOW_THP=0` does,
/// without asking every deployment to set it.
pub fn avoid_transparent_huge_pages() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE takes plain integers and changes only this process's
        // paging policy; it needs nothing of the Rust runtime (it runs before it).
        if unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
