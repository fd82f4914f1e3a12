use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use steadfast_core::CacheKey;

/// What configuration to load: a name, plus an optional profile and labels.
///
/// The request carries a precomputed, stable [key](ConfigRequest::key)
/// (`name`, `name@profile`, `name@profile[k=v,…]` with labels sorted, and
/// `@ [ ] , = \` inside a part escaped with `\`), so keying a cache on
/// it costs a reference-count increment, not a format. Requests that differ
/// never share a key, and equal keys mean equal requests.
///
/// ```
/// use steadfast_config::ConfigRequest;
///
/// let req = ConfigRequest::new("app")
///     .with_profile("prod")
///     .with_label("region", "eu")
///     .with_label("az", "1");
/// assert_eq!(req.name(), "app");
/// assert_eq!(req.profile(), Some("prod"));
/// assert_eq!(req.key(), "app@prod[az=1,region=eu]");
/// ```
///
/// A request may also ask to be held by the source until its configuration
/// changes ([`with_wait`](ConfigRequest::with_wait)): that is how it is
/// loaded, not what is loaded, so it is no part of the key, and two
/// requests that differ only in it are equal.
///
/// Cloning is one reference-count increment: the parts are shared.
#[derive(Clone)]
pub struct ConfigRequest {
    parts: Arc<Parts>,
}

/// What every clone of a request shares.
#[derive(Clone)]
struct Parts {
    key: Arc<str>,
    name: Arc<str>,
    profile: Option<Arc<str>>,
    labels: Arc<[(Arc<str>, Arc<str>)]>,
    wait: Option<Duration>,
}

impl PartialEq for ConfigRequest {
    fn eq(&self, other: &Self) -> bool {
        // The key names the name, profile and labels, each escaped.
        self.parts.key == other.parts.key
    }
}

impl Eq for ConfigRequest {}

impl Hash for ConfigRequest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts.key.hash(state);
    }
}

impl ConfigRequest {
    /// A request for the configuration called `name`.
    ///
    /// Names are checked by the source that loads them (an empty name or one
    /// that would leave the source's directory is a
    /// [`ConfigError::InvalidRequest`](crate::ConfigError::InvalidRequest)).
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        let name = name.into();
        let key = if name.contains(SPECIAL) {
            let mut key = String::with_capacity(name.len() + 1);
            push_escaped(&mut key, &name);
            key.into()
        } else {
            name.clone()
        };
        Self {
            parts: Arc::new(Parts {
                key,
                name,
                profile: None,
                labels: Arc::new([]),
                wait: None,
            }),
        }
    }

    /// Sets the profile (`dev`, `prod`, …). An empty profile is no profile:
    /// the request is the same as one without [`with_profile`](Self::with_profile),
    /// with the same key, and a source gives it its default profile.
    pub fn with_profile(mut self, profile: impl Into<Arc<str>>) -> Self {
        let profile = profile.into();
        let parts = Arc::make_mut(&mut self.parts);
        parts.profile = (!profile.is_empty()).then_some(profile);
        parts.rekey();
        self
    }

    /// Adds a label; a label of the same name is replaced.
    pub fn with_label(mut self, name: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> Self {
        let name = name.into();
        let parts = Arc::make_mut(&mut self.parts);
        let mut labels: Vec<(Arc<str>, Arc<str>)> = parts
            .labels
            .iter()
            .filter(|(n, _)| *n != name)
            .cloned()
            .collect();
        labels.push((name, value.into()));
        labels.sort();
        parts.labels = labels.into();
        parts.rekey();
        self
    }

    /// Asks the source to hold the request for up to `wait` until the
    /// configuration changes from the version it last answered (a blocking
    /// query, as Consul, Apollo and Nacos offer), instead of answering at
    /// once. A source that cannot hold requests answers at once; an
    /// [`HttpSource`](crate::HttpSource) holds them when built with
    /// [`long_poll`](crate::HttpSourceBuilder::long_poll). The watcher sets
    /// it on its polls; `Duration::ZERO` is no wait.
    pub fn with_wait(mut self, wait: Duration) -> Self {
        let wait = (!wait.is_zero()).then_some(wait);
        if self.parts.wait != wait {
            Arc::make_mut(&mut self.parts).wait = wait;
        }
        self
    }

    /// How long the source may hold the request for a change, if it was
    /// asked to ([`with_wait`](Self::with_wait)).
    pub fn wait(&self) -> Option<Duration> {
        self.parts.wait
    }

    /// The configuration's name.
    pub fn name(&self) -> &str {
        &self.parts.name
    }

    /// The profile, if any.
    pub fn profile(&self) -> Option<&str> {
        self.parts.profile.as_deref()
    }

    /// The labels, sorted by name.
    pub fn labels(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.parts.labels.iter().map(|(n, v)| (&**n, &**v))
    }

    /// The stable key of this request: equal keys name the same
    /// configuration.
    pub fn key(&self) -> &str {
        &self.parts.key
    }

    /// The key as a shared string.
    pub fn shared_key(&self) -> &Arc<str> {
        &self.parts.key
    }
}

impl Parts {
    fn rekey(&mut self) {
        let mut key = String::with_capacity(self.name.len());
        push_escaped(&mut key, &self.name);
        if let Some(profile) = &self.profile {
            key.push('@');
            push_escaped(&mut key, profile);
        }
        if !self.labels.is_empty() {
            if self.profile.is_none() {
                key.push('@');
            }
            key.push('[');
            for (i, (n, v)) in self.labels.iter().enumerate() {
                if i > 0 {
                    key.push(',');
                }
                push_escaped(&mut key, n);
                key.push('=');
                push_escaped(&mut key, v);
            }
            key.push(']');
        }
        self.key = key.into();
    }
}

/// The characters that separate the parts of a key.
const SPECIAL: [char; 6] = ['@', '[', ']', ',', '=', '\\'];

/// Appends `part` to a key with its separators escaped, so that requests
/// that differ never share a key.
fn push_escaped(key: &mut String, part: &str) {
    for c in part.chars() {
        if SPECIAL.contains(&c) {
            key.push('\\');
        }
        key.push(c);
    }
}

impl fmt::Debug for ConfigRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ConfigRequest")
            .field(&self.parts.key)
            .finish()
    }
}

impl fmt::Display for ConfigRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.parts.key)
    }
}

impl From<&str> for ConfigRequest {
    fn from(name: &str) -> Self {
        ConfigRequest::new(name)
    }
}

impl From<String> for ConfigRequest {
    fn from(name: String) -> Self {
        ConfigRequest::new(name)
    }
}

impl CacheKey for ConfigRequest {
    type Key = Arc<str>;

    fn cache_key(&self) -> Arc<str> {
        self.parts.key.clone()
    }

    #[inline]
    fn cache_key_ref(&self) -> Option<&Arc<str>> {
        Some(&self.parts.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        assert_eq!(ConfigRequest::new("app").key(), "app");
        assert_eq!(
            ConfigRequest::new("app").with_profile("dev").key(),
            "app@dev"
        );
        assert_eq!(
            ConfigRequest::new("app")
                .with_label("b", "2")
                .with_label("a", "1")
                .key(),
            "app@[a=1,b=2]"
        );
        assert_eq!(
            ConfigRequest::new("app")
                .with_label("a", "1")
                .with_label("a", "3")
                .key(),
            "app@[a=3]"
        );
        let a = ConfigRequest::new("app")
            .with_label("x", "1")
            .with_label("y", "2");
        let b = ConfigRequest::new("app")
            .with_label("y", "2")
            .with_label("x", "1");
        assert_eq!(a, b);
        assert_eq!(a.cache_key(), b.cache_key());
        assert_eq!(
            ConfigRequest::new("app").with_profile("").key(),
            ConfigRequest::new("app").key()
        );
        assert_eq!(
            ConfigRequest::new("app")
                .with_profile("dev")
                .with_profile("")
                .key(),
            "app"
        );
    }
}
