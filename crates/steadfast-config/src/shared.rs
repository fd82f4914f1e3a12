//! The decoded values of one version of a body: one `Arc<T>` per type,
//! built once however many callers ask at once, kept beside the bytes by
//! every clone of the [`ConfigResponse`] that carries them.

use std::any::{Any, TypeId};
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;

use crate::decode::{self, BLOCKING_DECODE_SIZE, Validate, decode_blocking};
use crate::{ConfigError, ConfigResponse};

/// A decoded value, or why the body is not one, as every caller gets it.
type Decoded = Result<Arc<dyn Any + Send + Sync>, ConfigError>;

/// The key of the validated value of `T` (the same `Arc<T>` as the plain
/// one, once its check has passed).
struct Validated<T>(PhantomData<fn() -> T>);

/// The decoded values of one body, by type.
///
/// An append-only list of slots, one per type, each filled once: a look-up
/// reads one atomic per slot passed, takes no lock and allocates nothing.
/// A slot's list link and value are set once and never change, so no
/// reader can see a value older than the body it sits beside.
#[derive(Default)]
pub(crate) struct Slots {
    head: OnceLock<Box<Slot>>,
}

struct Slot {
    type_id: TypeId,
    /// Set once, by the first caller whose decode finished.
    value: OnceLock<Decoded>,
    /// Lets one asynchronous caller at a time decode; the others wait for
    /// it without holding a thread.
    gate: tokio::sync::Mutex<()>,
    next: OnceLock<Box<Slot>>,
}

impl Slot {
    fn new(type_id: TypeId) -> Self {
        Self {
            type_id,
            value: OnceLock::new(),
            gate: tokio::sync::Mutex::const_new(()),
            next: OnceLock::new(),
        }
    }
}

impl Slots {
    /// The slot of `type_id`, added at the end of the list when missing.
    fn slot(&self, type_id: TypeId) -> &Slot {
        let mut link = &self.head;
        loop {
            let slot = link.get_or_init(|| Box::new(Slot::new(type_id)));
            if slot.type_id == type_id {
                return slot;
            }
            link = &slot.next;
        }
    }

    /// The slot of `type_id`, if one was added.
    fn find(&self, type_id: TypeId) -> Option<&Slot> {
        let mut link = &self.head;
        loop {
            let slot = link.get()?;
            if slot.type_id == type_id {
                return Some(slot);
            }
            link = &slot.next;
        }
    }
}

impl fmt::Debug for Slots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut filled = 0;
        let mut link = &self.head;
        while let Some(slot) = link.get() {
            filled += usize::from(slot.value.get().is_some());
            link = &slot.next;
        }
        f.debug_struct("Slots")
            .field("filled", &filled)
            .finish_non_exhaustive()
    }
}

/// The `Arc<T>` in `decoded`, or its error.
fn typed<T: Send + Sync + 'static>(decoded: &Decoded) -> Result<Arc<T>, ConfigError> {
    match decoded {
        Ok(value) => Arc::clone(value)
            .downcast::<T>()
            .map_err(|_| ConfigError::invalid_request("decoded value of another type")),
        Err(error) => Err(error.clone()),
    }
}

fn erase<T: Send + Sync + 'static>(value: Arc<T>) -> Arc<dyn Any + Send + Sync> {
    value
}

/// Decodes `response` as `T` into its slot, on this thread, unless a value
/// is there already (or another thread is writing one: then waits for it).
fn fill<T>(response: &ConfigResponse) -> Result<Arc<T>, ConfigError>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let slot = response.slots().slot(TypeId::of::<T>());
    typed(slot.value.get_or_init(|| {
        decode::decode::<T>(response.format(), response.body()).map(|value| erase(Arc::new(value)))
    }))
}

/// Validates the decoded `value` into the slot of `Validated<T>`, unless a
/// result is there already.
fn fill_validated<T>(response: &ConfigResponse, value: Arc<T>) -> Result<Arc<T>, ConfigError>
where
    T: Validate + Send + Sync + 'static,
{
    let slot = response.slots().slot(TypeId::of::<Validated<T>>());
    typed(
        slot.value
            .get_or_init(|| decode::validate(&*value).map(|()| erase(value))),
    )
}

impl ConfigResponse {
    /// The body decoded as `T`, shared: decoded on the first call for this
    /// version and type, then a clone of the same `Arc<T>` for every call
    /// on this response and on each of its clones.
    ///
    /// However many callers ask at once, one decodes; the others wait for
    /// it without holding a thread. A body of at least
    /// [`BLOCKING_DECODE_SIZE`] bytes is decoded on tokio's blocking pool
    /// (within a runtime). A body that does not decode as `T` is the same
    /// [`ConfigError::Decode`] for every caller, decoded once too; other
    /// types of the same body are not affected.
    ///
    /// A response built anew (a new version, one read back from a shared
    /// store) starts with no decoded value, so the value can never be older
    /// than the bytes beside it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use steadfast_config::{ConfigResponse, Format};
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct App {
    ///     port: u16,
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), steadfast_config::ConfigError> {
    /// let response = ConfigResponse::new(r#"{"port": 8080}"#, Format::Json);
    /// let first = response.decode_shared::<App>().await?;
    /// let again = response.clone().decode_shared::<App>().await?;
    /// assert_eq!(first.port, 8080);
    /// assert!(Arc::ptr_eq(&first, &again));
    /// # Ok(())
    /// # }
    /// ```
    pub fn decode_shared<T>(&self) -> impl Future<Output = Result<Arc<T>, ConfigError>> + Send + '_
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let slot = self.slots().slot(TypeId::of::<T>());
        let state = match slot.value.get() {
            Some(decoded) => Ok(typed(decoded)),
            // Boxed: once per version and type, and a hit should not
            // carry (and move) the decode's future.
            None => Err(Box::pin(self.decode_shared_slow::<T>(slot))),
        };
        async move {
            match state {
                Ok(done) => done,
                Err(decode) => decode.await,
            }
        }
    }

    async fn decode_shared_slow<T>(&self, slot: &Slot) -> Result<Arc<T>, ConfigError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let _turn = slot.gate.lock().await;
        if let Some(decoded) = slot.value.get() {
            return typed(decoded);
        }
        if self.body().len() < BLOCKING_DECODE_SIZE {
            return fill::<T>(self);
        }
        // A caller that gives up meanwhile leaves the blocking decode
        // running: it still fills the slot, and the next caller waits on
        // it in `fill` rather than decoding again.
        let (_, decoded) = decode_blocking(self.clone(), fill::<T>).await?;
        decoded
    }

    /// [`decode_shared`](Self::decode_shared), then `T`'s [`Validate`]
    /// check, run once per version too. The value is the same `Arc<T>` as
    /// `decode_shared` gives; a failed check is a
    /// [`ConfigError::Validation`] for every caller.
    pub async fn decode_shared_validated<T>(&self) -> Result<Arc<T>, ConfigError>
    where
        T: DeserializeOwned + Validate + Send + Sync + 'static,
    {
        if let Some(decoded) = self.slots().find(TypeId::of::<Validated<T>>())
            && let Some(decoded) = decoded.value.get()
        {
            return typed(decoded);
        }
        let value = self.decode_shared::<T>().await?;
        fill_validated(self, value)
    }

    /// The shared value of [`decode_shared`](Self::decode_shared), decoded
    /// on the calling thread if no caller has yet (a caller decoding it on
    /// another thread is waited for, blocking): for code that is already
    /// off the runtime's threads, or whose bodies are small.
    pub fn decode_shared_sync<T>(&self) -> Result<Arc<T>, ConfigError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        fill::<T>(self)
    }

    /// [`decode_shared_validated`](Self::decode_shared_validated) on the
    /// calling thread, as [`decode_shared_sync`](Self::decode_shared_sync)
    /// does.
    pub fn decode_shared_validated_sync<T>(&self) -> Result<Arc<T>, ConfigError>
    where
        T: DeserializeOwned + Validate + Send + Sync + 'static,
    {
        let value = fill::<T>(self)?;
        fill_validated(self, value)
    }

    /// The shared value of `T` if this version was already decoded as `T`
    /// (or failed to be): never decodes.
    pub fn peek_shared<T>(&self) -> Option<Result<Arc<T>, ConfigError>>
    where
        T: Send + Sync + 'static,
    {
        let decoded = self.slots().find(TypeId::of::<T>())?.value.get()?;
        Some(typed(decoded))
    }
}
