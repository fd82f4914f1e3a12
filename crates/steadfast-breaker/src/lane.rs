//! How a layer, its services and their response futures reach a circuit's
//! shared state without fighting over one reference count.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use steadfast_core::counter::thread_slot;

use crate::cache_line::CacheLine;
use crate::state::Shared;

/// How many lanes a contended circuit can spread its futures over.
const LANES: usize = 16;

/// A lane: a reference to the state, counted on cache lines of its own.
pub(crate) type Lane<C> = Arc<CacheLine<Arc<Shared<C>>>>;

/// The reference a response future holds to its circuit: the state's own
/// `Arc` while no two threads have collided on the circuit, then the lane of
/// the thread that made the call, so that threads calling at once each bump
/// a reference count of their own.
pub(crate) enum Link<C> {
    Shared(Arc<Shared<C>>),
    Lane(Lane<C>),
}

impl<C> Deref for Link<C> {
    type Target = Shared<C>;

    #[inline]
    fn deref(&self) -> &Shared<C> {
        match self {
            Link::Shared(shared) => shared,
            Link::Lane(lane) => &lane.0,
        }
    }
}

/// The lanes of a circuit, made on first need, each when a thread first
/// needs it.
type Lanes<C> = OnceLock<Box<[OnceLock<Lane<C>>]>>;

/// A circuit's state and its lanes, as a layer and its services hold them.
/// The lanes are made only once the circuit is contended (see
/// [`Core::contended`](crate::state::Core::contended)), one at a time as
/// threads need them.
pub(crate) struct Circuit<C> {
    pub(crate) shared: Arc<Shared<C>>,
    lanes: Arc<Lanes<C>>,
}

impl<C> Circuit<C> {
    pub(crate) fn new(shared: Shared<C>) -> Self {
        Self {
            shared: Arc::new(shared),
            lanes: Arc::new(OnceLock::new()),
        }
    }

    /// A reference to the state for a response future made on this thread.
    #[inline]
    pub(crate) fn link(&self) -> Link<C> {
        if self.shared.core.contended() {
            self.lane()
        } else {
            Link::Shared(self.shared.clone())
        }
    }

    #[inline]
    fn lane(&self) -> Link<C> {
        let lanes = self
            .lanes
            .get_or_init(|| (0..LANES).map(|_| OnceLock::new()).collect());
        let lane =
            lanes[thread_slot() % LANES].get_or_init(|| Arc::new(CacheLine(self.shared.clone())));
        Link::Lane(lane.clone())
    }
}

impl<C> Clone for Circuit<C> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            lanes: self.lanes.clone(),
        }
    }
}
