//! Never backwards: how a watch tells a new version from one it already
//! saw, by a bounded memory of versions or by an ordering hook.

use std::collections::VecDeque;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use steadfast_core::Source;

use crate::{ConfigError, ConfigResponse};

/// How many versions a watch remembers unless set: 64.
pub const DEFAULT_REMEMBERED_VERSIONS: usize = 64;

/// An ordering hook: the rank of a response's version, higher is newer
/// (a numeric version header, a field of the body, etcd's mod revision).
/// `None` when the response has no rank: it is refused as an invalid
/// config.
pub type Rank = Arc<dyn Fn(&ConfigResponse) -> Option<u64> + Send + Sync>;

/// What an answer is, next to the published version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The published version again.
    Same,
    /// A version after the published one: publish it.
    Newer,
    /// A version the published one superseded: refuse it.
    Older,
}

/// How a version is told apart: its tag, or without one, its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Id {
    Tag(Arc<str>),
    Body(u64),
}

fn id_of(response: &ConfigResponse) -> Id {
    match response.version() {
        Some(version) => Id::Tag(Arc::from(version)),
        None => {
            let mut hasher = DefaultHasher::new();
            response.body().hash(&mut hasher);
            Id::Body(hasher.finish())
        }
    }
}

/// The published version, as the ordering knows it.
#[derive(Debug)]
struct Current {
    id: Id,
    rank: Option<u64>,
    fallback: bool,
}

/// The versions a watch saw: the published one, and either its rank (with
/// a hook) or the last versions it superseded (without one).
pub(crate) struct Versions {
    rank: Option<Rank>,
    capacity: usize,
    seen: VecDeque<Id>,
    current: Option<Current>,
}

impl fmt::Debug for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Versions")
            .field("ranked", &self.rank.is_some())
            .field("capacity", &self.capacity)
            .field("seen", &self.seen.len())
            .field("current", &self.current)
            .finish()
    }
}

impl Versions {
    pub(crate) fn new(rank: Option<Rank>, capacity: usize) -> Self {
        Self {
            rank,
            capacity: capacity.max(1),
            seen: VecDeque::new(),
            current: None,
        }
    }

    /// Whether what is published is a fallback answer.
    pub(crate) fn on_fallback(&self) -> bool {
        self.current.as_ref().is_none_or(|current| current.fallback)
    }

    /// What `response` is next to the published version; an error when the
    /// ordering hook cannot rank it.
    pub(crate) fn judge(&self, response: &ConfigResponse) -> Result<Verdict, ConfigError> {
        let fallback = response.source() == Source::Fallback;
        let Some(current) = &self.current else {
            return Ok(Verdict::Newer);
        };
        match (current.fallback, fallback) {
            (true, true) => return Ok(Verdict::Same),
            // Any real value replaces a fallback answer, however old.
            (true, false) => return self.ranked(response).map(|_| Verdict::Newer),
            (false, true) => return Ok(Verdict::Older),
            (false, false) => {}
        }
        if self.rank.is_some() {
            let rank = self.ranked(response)?;
            return Ok(match rank.cmp(&current.rank.unwrap_or(0)) {
                std::cmp::Ordering::Greater => Verdict::Newer,
                std::cmp::Ordering::Equal => Verdict::Same,
                std::cmp::Ordering::Less => Verdict::Older,
            });
        }
        let id = id_of(response);
        Ok(if id == current.id {
            Verdict::Same
        } else if self.seen.contains(&id) {
            Verdict::Older
        } else {
            Verdict::Newer
        })
    }

    fn ranked(&self, response: &ConfigResponse) -> Result<u64, ConfigError> {
        match &self.rank {
            None => Ok(0),
            Some(rank) => rank(response).ok_or_else(|| {
                ConfigError::validation(format!(
                    "the version {:?} has no rank in the watch's order",
                    response.version().unwrap_or("")
                ))
            }),
        }
    }

    /// Makes `response` the published version; the one it replaces is
    /// remembered as superseded.
    pub(crate) fn accept(&mut self, response: &ConfigResponse) {
        let fallback = response.source() == Source::Fallback;
        let id = id_of(response);
        let rank = if fallback {
            None
        } else {
            self.ranked(response).ok()
        };
        if let Some(previous) = self.current.take()
            && !previous.fallback
        {
            self.remember(previous.id);
        }
        if !fallback {
            // A version published once is never published again, even if
            // it comes back after its successor.
            self.remember(id.clone());
        }
        self.current = Some(Current { id, rank, fallback });
    }

    fn remember(&mut self, id: Id) {
        if self.seen.contains(&id) {
            return;
        }
        if self.seen.len() == self.capacity {
            self.seen.pop_front();
        }
        self.seen.push_back(id);
    }
}

/// The rank of a response whose version is a number (quotes around it, as
/// an `ETag` has them, are ignored).
pub(crate) fn numeric_version(response: &ConfigResponse) -> Option<u64> {
    let version = response.version()?;
    let version = version.strip_prefix("W/").unwrap_or(version);
    version.trim_matches('"').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Format;

    fn tagged(tag: &str) -> ConfigResponse {
        ConfigResponse::new(tag.to_owned(), Format::Json).with_version(tag)
    }

    #[test]
    fn a_superseded_version_is_older() {
        let mut versions = Versions::new(None, 4);
        assert_eq!(versions.judge(&tagged("1")).unwrap(), Verdict::Newer);
        versions.accept(&tagged("1"));
        assert_eq!(versions.judge(&tagged("1")).unwrap(), Verdict::Same);
        versions.accept(&tagged("2"));
        assert_eq!(versions.judge(&tagged("1")).unwrap(), Verdict::Older);
        assert_eq!(versions.judge(&tagged("3")).unwrap(), Verdict::Newer);
    }

    #[test]
    fn the_memory_is_bounded() {
        let mut versions = Versions::new(None, 2);
        for tag in ["1", "2", "3", "4"] {
            versions.accept(&tagged(tag));
        }
        assert_eq!(versions.seen.len(), 2);
        assert_eq!(versions.judge(&tagged("3")).unwrap(), Verdict::Older);
        // Forgotten: it looks new again.
        assert_eq!(versions.judge(&tagged("1")).unwrap(), Verdict::Newer);
    }

    #[test]
    fn a_rank_decides_exactly() {
        let rank: Rank = Arc::new(numeric_version);
        let mut versions = Versions::new(Some(rank), 1);
        versions.accept(&tagged("\"7\""));
        assert_eq!(versions.judge(&tagged("5")).unwrap(), Verdict::Older);
        assert_eq!(versions.judge(&tagged("7")).unwrap(), Verdict::Same);
        assert_eq!(versions.judge(&tagged("W/\"8\"")).unwrap(), Verdict::Newer);
        assert!(versions.judge(&tagged("abc")).is_err());
    }
}
