//! Where a response future finds its layer's shared state, without holding
//! a reference count while the first attempt runs.
//!
//! Cloning an `Arc` for every request costs two atomic read-modify-writes
//! (the clone and the drop), more than everything else a retry layer does
//! when the first attempt succeeds. So a future carries only a [`Key`] and
//! looks the state up here, under a read lock, once an attempt has failed.
//! If every layer, service and handle of that state is gone by then, the
//! lookup fails and the future returns the result it has.

use std::sync::{Arc, RwLock, Weak};

use crate::event::Shared;

/// The address of one layer's shared state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    index: usize,
    generation: u64,
}

struct Slot {
    generation: u64,
    shared: Weak<Shared>,
}

struct Registry {
    slots: Vec<Slot>,
    free: Vec<usize>,
    generation: u64,
}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry {
    slots: Vec::new(),
    free: Vec::new(),
    generation: 0,
});

/// Records `shared` (not yet alive: called from `Arc::new_cyclic`).
pub(crate) fn register(shared: Weak<Shared>) -> Key {
    let mut registry = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    registry.generation += 1;
    let generation = registry.generation;
    let slot = Slot { generation, shared };
    let index = match registry.free.pop() {
        Some(index) => {
            registry.slots[index] = slot;
            index
        }
        None => {
            registry.slots.push(slot);
            registry.slots.len() - 1
        }
    };
    Key { index, generation }
}

/// The shared state at `key`, if it is still alive.
pub(crate) fn lookup(key: Key) -> Option<Arc<Shared>> {
    let registry = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    let slot = registry.slots.get(key.index)?;
    if slot.generation != key.generation {
        return None;
    }
    slot.shared.upgrade()
}

/// Frees the slot of `key`, when its state is dropped.
pub(crate) fn release(key: Key) {
    let mut registry = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    if let Some(slot) = registry.slots.get_mut(key.index)
        && slot.generation == key.generation
    {
        slot.generation = 0;
        slot.shared = Weak::new();
        registry.free.push(key.index);
    }
}
