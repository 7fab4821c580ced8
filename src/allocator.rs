//! The binary's allocator is mimalloc (see `main`): it keeps pages freed by a thread for a
//! while before returning them to the system (one second by default, longer when that thread
//! goes idle). A server whose analysis frames are loaded and brought forward in large buffers
//! then holds far more memory than it uses; freed pages are returned at once instead.

/// `mi_option_purge_delay`: its position in mimalloc's `mi_option_e` (mimalloc.h of the
/// library libmimalloc-sys builds; the bindings do not name this option).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Has mimalloc return freed pages to the system at once, unless the operator chose a delay
/// (`MIMALLOC_PURGE_DELAY`, milliseconds, which mimalloc reads itself). Harmless when
/// mimalloc is linked but not the global allocator.
pub fn return_freed_pages_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets one integer option of the allocator; mimalloc reads options at any time
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_option_set_is_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads an integer option
        let before = unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) };
        // the documented default of the purge delay (milliseconds), which no other option has
        assert_eq!(before, 1000);
        super::return_freed_pages_at_once();
        // SAFETY: as above
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) },
            0
        );
    }
}
