//! A value on cache lines of its own.

use std::ops::Deref;

/// A value on cache lines of its own (128 bytes, two lines, since CPUs
/// fetch lines in pairs), so that writes to it and to its neighbours do not
/// slow down the threads that use the other.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CacheLine<T>(pub(crate) T);

impl<T> Deref for CacheLine<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}
