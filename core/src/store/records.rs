//! Decoded user and token records kept in memory, in front of sled: authentication reads a
//! token and its owner on every request, and decoding them costs more than the rest of the
//! decision. The store is the only writer of its database, so dropping an entry after every
//! write to it keeps the copies exact; a generation number stops a read that raced a write
//! from caching the value the write replaced.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Entries per kind; beyond it the map starts over (it refills from the hot records at once).
const CAPACITY: usize = 10_000;

pub(super) struct Records<T> {
    inner: Mutex<Inner<T>>,
}

struct Inner<T> {
    map: HashMap<String, Arc<T>>,
    generation: u64,
}

impl<T> Records<T> {
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                generation: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached record, or `load`'s answer (cached unless a write happened meanwhile).
    /// Shared, not copied (issue 21): a token and its owner were nine strings cloned on every
    /// authenticated request.
    pub fn get<E>(
        &self,
        key: &str,
        load: impl FnOnce() -> Result<Option<T>, E>,
    ) -> Result<Option<Arc<T>>, E> {
        let generation = {
            let inner = self.lock();
            if let Some(v) = inner.map.get(key) {
                return Ok(Some(Arc::clone(v)));
            }
            inner.generation
        };
        let Some(loaded) = load()?.map(Arc::new) else {
            return Ok(None);
        };
        let mut inner = self.lock();
        if inner.generation == generation {
            if inner.map.len() >= CAPACITY {
                inner.map.clear();
            }
            inner.map.insert(key.to_owned(), Arc::clone(&loaded));
        }
        Ok(Some(loaded))
    }

    /// Called after every committed write of `keys`.
    pub fn forget<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let mut inner = self.lock();
        inner.generation += 1;
        for k in keys {
            inner.map.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_raced_a_write_is_not_cached() {
        let r: Records<u32> = Records::new();
        let got = r.get::<()>("k", || {
            // A write commits and forgets "k" while this read is loading the old value.
            r.forget(["k"]);
            Ok(Some(1))
        });
        assert_eq!(got, Ok(Some(Arc::new(1))));
        assert_eq!(
            r.get::<()>("k", || Ok(Some(2))),
            Ok(Some(Arc::new(2))),
            "the old value was not kept"
        );
        assert_eq!(
            r.get::<()>("k", || Ok(Some(3))),
            Ok(Some(Arc::new(2))),
            "now it is cached"
        );
        r.forget(["k"]);
        assert_eq!(r.get::<()>("k", || Ok(None)), Ok(None));
    }
}
