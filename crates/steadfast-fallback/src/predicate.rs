//! [`Predicate`]: which errors the fallback answers.

/// Decides which errors the fallback answers; the others are returned as
/// they are.
///
/// Implemented by [`AnyError`] (the default) and by every `Fn(&E) -> bool`.
pub trait Predicate<E> {
    /// Whether the fallback answers in place of `error`.
    fn answers(&self, error: &E) -> bool;
}

/// Answers every error.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyError;

impl<E> Predicate<E> for AnyError {
    fn answers(&self, _error: &E) -> bool {
        true
    }
}

impl<E, F> Predicate<E> for F
where
    F: Fn(&E) -> bool,
{
    fn answers(&self, error: &E) -> bool {
        self(error)
    }
}
