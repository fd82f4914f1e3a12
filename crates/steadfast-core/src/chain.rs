//! Showing an error together with its causes, on one line.

use std::error::Error;
use std::fmt;
use std::io;

/// The most causes shown after an error; a longer chain ends in `: …`.
const MAX_CAUSES: usize = 16;

/// Shows `": cause: cause of the cause: …"`, for an error whose own
/// message is already written: each error of the chain that starts at the
/// given cause, by its `Display`, skipping a cause whose message the error
/// shown before it already contains (a wrapper that repeats what it wraps)
/// and empty messages.
///
/// An [`io::Error`] that wraps another error shows that error's message but
/// does not return it from `source()`; the chain looks into it, so nothing
/// it holds is lost and nothing is shown twice.
///
/// ```
/// use std::io;
/// use steadfast_core::Causes;
///
/// let refused = io::Error::from_raw_os_error(111);
/// let shown = format!("transport error{}", Causes::new("transport error", Some(&refused)));
/// assert_eq!(shown, "transport error: Connection refused (os error 111)");
///
/// // A cause whose message its parent already showed is not repeated.
/// let parent = format!("connect failed ({refused})");
/// let shown = format!("{parent}{}", Causes::new(&parent, Some(&refused)));
/// assert_eq!(shown, "connect failed (Connection refused (os error 111))");
/// ```
#[derive(Clone, Copy)]
pub struct Causes<'a> {
    parent: &'a str,
    first: Option<&'a (dyn Error + 'static)>,
}

impl<'a> Causes<'a> {
    /// The causes from `first` on, below an error whose message is
    /// `parent`.
    pub fn new(parent: &'a str, first: Option<&'a (dyn Error + 'static)>) -> Self {
        Self { parent, first }
    }
}

impl fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.parent.to_owned();
        let mut next = self.first;
        let mut count = 0;
        while let Some(error) = next {
            if count == MAX_CAUSES {
                return f.write_str(": …");
            }
            let message = error.to_string();
            if !message.is_empty() && !shown.contains(message.as_str()) {
                write!(f, ": {message}")?;
                shown = message;
                count += 1;
            }
            next = cause_of(error);
        }
        Ok(())
    }
}

impl fmt::Debug for Causes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Causes")
            .field("parent", &self.parent)
            .field("first", &self.first)
            .finish()
    }
}

/// The error below `error`: its `source()`, or for an [`io::Error`] the
/// error it wraps (whose message it shows as its own), then that one's
/// source.
pub(crate) fn cause_of<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a (dyn Error + 'static)> {
    if let Some(io) = error.downcast_ref::<io::Error>()
        && let Some(inner) = io.get_ref()
    {
        let inner: &(dyn Error + 'static) = inner;
        return inner.source();
    }
    error.source()
}

/// Every error of the chain that starts at `error`, `error` first, looking
/// into the errors an [`io::Error`] wraps.
pub fn chain<'a>(
    error: &'a (dyn Error + 'static),
) -> impl Iterator<Item = &'a (dyn Error + 'static)> + 'a {
    let mut next = Some(error);
    std::iter::from_fn(move || {
        let current = next?;
        next = match current.downcast_ref::<io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn Error + 'static)),
                None => current.source(),
            },
            None => current.source(),
        };
        Some(current)
    })
    .take(64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper {
        message: &'static str,
        source: io::Error,
    }

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.message)
        }
    }

    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn every_cause_is_shown_once() {
        let error = Wrapper {
            message: "client error (Connect)",
            source: io::Error::other(Wrapper {
                message: "tcp connect error",
                source: io::Error::from_raw_os_error(111),
            }),
        };
        assert_eq!(
            format!(
                "transport error{}",
                Causes::new("transport error", Some(&error))
            ),
            "transport error: client error (Connect): tcp connect error: \
             Connection refused (os error 111)"
        );
        assert_eq!(chain(&error).count(), 4);
    }

    #[test]
    fn no_cause_shows_nothing() {
        assert_eq!(Causes::new("x", None).to_string(), "");
        let empty = io::Error::other("");
        assert_eq!(Causes::new("x", Some(&empty)).to_string(), "");
    }
}
