//! Lua-free byte FIFO of fixed capacity, shared between threads under a
//! mutex. `push` is all-or-nothing; `pop(n)` takes up to `n` bytes.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Largest capacity `fifo.new` accepts (1 GiB).
pub const MAX_CAPACITY: usize = 1 << 30;

/// Errors of this module.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FifoError {
    /// Capacity zero, negative or above [`MAX_CAPACITY`].
    #[error("size must be between 1 and {MAX_CAPACITY}")]
    BadSize,
    /// The allocator refused the buffer.
    #[error("not enough memory")]
    NoMemory,
    /// The string does not fit in the free space.
    #[error("not enough space")]
    NoSpace,
    /// `close()` was called.
    #[error("fifo is closed")]
    Closed,
}

struct Ring {
    bytes: VecDeque<u8>,
    closed: bool,
}

/// The FIFO.
pub struct Fifo {
    capacity: usize,
    ring: Mutex<Ring>,
}

impl Fifo {
    /// A FIFO holding at most `capacity` bytes.
    pub fn new(capacity: i64) -> Result<Self, FifoError> {
        let capacity = usize::try_from(capacity).map_err(|_| FifoError::BadSize)?;
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(FifoError::BadSize);
        }
        let mut bytes = VecDeque::new();
        bytes
            .try_reserve_exact(capacity)
            .map_err(|_| FifoError::NoMemory)?;
        Ok(Fifo {
            capacity,
            ring: Mutex::new(Ring {
                bytes,
                closed: false,
            }),
        })
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends all of `s` or nothing.
    pub fn push(&self, s: &[u8]) -> Result<(), FifoError> {
        let mut r = self.ring();
        if r.closed {
            return Err(FifoError::Closed);
        }
        if s.len() > self.capacity - r.bytes.len() {
            return Err(FifoError::NoSpace);
        }
        r.bytes.extend(s);
        Ok(())
    }

    /// Removes and returns up to `n` bytes.
    pub fn pop(&self, n: usize) -> Result<Vec<u8>, FifoError> {
        let mut r = self.ring();
        if r.closed {
            return Err(FifoError::Closed);
        }
        let n = n.min(r.bytes.len());
        Ok(r.bytes.drain(..n).collect())
    }

    /// Bytes currently queued.
    pub fn len(&self) -> usize {
        self.ring().bytes.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Frees the buffer; later `push`/`pop` fail with [`FifoError::Closed`].
    pub fn close(&self) {
        let mut r = self.ring();
        r.closed = true;
        r.bytes = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring() {
        let f = Fifo::new(4).unwrap();
        f.push(b"abc").unwrap();
        assert_eq!(f.push(b"de"), Err(FifoError::NoSpace));
        assert_eq!(f.pop(2).unwrap(), b"ab");
        f.push(b"de").unwrap();
        assert_eq!(f.pop(10).unwrap(), b"cde");
        f.close();
        assert_eq!(f.push(b"x"), Err(FifoError::Closed));
        assert_eq!(Fifo::new(-1).err(), Some(FifoError::BadSize));
    }
}
