//! [`EntryTooLarge`]: the cause of a put that a bounded store refused.

use std::error::Error;
use std::fmt;

/// An entry larger than a bounded store can ever hold, refused at
/// [`Store::put`](crate::Store::put).
///
/// It arrives as the [`source`](Error::source) of a
/// [`StoreError`](crate::StoreError) of kind
/// [`Backend`](crate::StoreErrorKind::Backend), so the cache layer counts
/// it in `store_errors`, logs it and reports it as
/// [`Event::StoreFailed`](crate::Event::StoreFailed) with
/// [`StoreOp::Put`](crate::StoreOp::Put); the value is still handed to its
/// callers. Any copy the store held for the key before is dropped with it,
/// so no older value outlives the refused one. The size is in the store's
/// own unit: weight for a [`MemoryStore`](crate::MemoryStore), bytes for a
/// [`FileStore`](crate::FileStore).
///
/// ```
/// use std::error::Error;
/// use std::time::Duration;
/// use steadfast_cache::{Entry, EntryTooLarge, MemoryStore, Store};
/// use tokio::time::Instant;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::<u32, String, _>::with_weigher(8, 4, |_: &u32, v: &String| {
///     v.len() as u64
/// })
/// .unwrap();
/// let later = Instant::now() + Duration::from_secs(60);
/// let entry = Entry {
///     value: "nine bytes".to_owned(),
///     fresh_until: later,
///     revalidate_until: later,
///     expires_at: later,
/// };
/// let error = store.put(1, entry).await.unwrap_err();
/// let cause = error.source().unwrap().downcast_ref::<EntryTooLarge>().unwrap();
/// assert_eq!((cause.size(), cause.limit()), (10, 8));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryTooLarge {
    size: u64,
    limit: u64,
}

impl EntryTooLarge {
    pub(crate) fn new(size: u64, limit: u64) -> Self {
        Self { size, limit }
    }

    /// The size of the refused entry.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The largest entry the store accepts.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

impl fmt::Display for EntryTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "entry of size {} is larger than the store's limit of {}",
            self.size, self.limit
        )
    }
}

impl Error for EntryTooLarge {}
