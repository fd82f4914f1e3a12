use std::fmt;
use std::hash::Hash;

/// Where a response came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Source {
    /// Loaded from the origin (the HTTP server, the file) just now.
    #[default]
    Origin,
    /// Served from the cache while fresh.
    Cache,
    /// Served from the cache after its fresh window: while it revalidates
    /// (stale-while-revalidate) or because the origin failed
    /// (stale-if-error).
    Stale,
    /// A fallback answer: neither a fresh nor a stale value was available.
    Fallback,
}

impl Source {
    /// A short lowercase name: `origin`, `cache`, `stale` or `fallback`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Source::Origin => "origin",
            Source::Cache => "cache",
            Source::Stale => "stale",
            Source::Fallback => "fallback",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A response that records where it came from.
///
/// The cache layer marks what it serves as [`Source::Cache`] or
/// [`Source::Stale`]; the fallback layer marks its answers
/// [`Source::Fallback`].
pub trait Provenance {
    /// Where this response came from.
    fn source(&self) -> Source;

    /// Records where this response came from.
    fn set_source(&mut self, source: Source);
}

/// A request with a stable cache key: equal keys mean the same resource.
pub trait CacheKey {
    /// The key. Cloning it should be cheap (an `Arc<str>`, an integer).
    type Key: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static;

    /// The key of this request.
    fn cache_key(&self) -> Self::Key;

    /// The key as the request holds it, where it holds one: a cache hit
    /// then looks it up without cloning it.
    #[inline]
    fn cache_key_ref(&self) -> Option<&Self::Key> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names() {
        assert_eq!(Source::default(), Source::Origin);
        let names: Vec<String> = [
            Source::Origin,
            Source::Cache,
            Source::Stale,
            Source::Fallback,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(names, ["origin", "cache", "stale", "fallback"]);
    }
}
