//! Lua-free fixed-size byte buffer shared between runtimes. Every access is
//! bounds-checked; offsets are 0-based as upstream's; integers are stored in
//! native byte order.

use std::sync::{Mutex, MutexGuard};

/// Largest buffer `data.new`/`resize` accept (1 GiB).
pub const MAX_SIZE: usize = 1 << 30;

/// Errors of this module.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DataError {
    /// Size negative or above [`MAX_SIZE`].
    #[error("size must be between 0 and {MAX_SIZE}")]
    BadSize,
    /// The allocator refused the buffer.
    #[error("not enough memory")]
    NoMemory,
    /// `offset .. offset + len` is not inside the buffer.
    #[error("out of bounds")]
    OutOfBounds,
}

/// The buffer.
pub struct Data {
    bytes: Mutex<Vec<u8>>,
}

fn alloc(size: i64) -> Result<Vec<u8>, DataError> {
    let size = usize::try_from(size).map_err(|_| DataError::BadSize)?;
    if size > MAX_SIZE {
        return Err(DataError::BadSize);
    }
    let mut v = Vec::new();
    v.try_reserve_exact(size).map_err(|_| DataError::NoMemory)?;
    v.resize(size, 0);
    Ok(v)
}

fn range(offset: i64, len: usize, size: usize) -> Result<std::ops::Range<usize>, DataError> {
    let start = usize::try_from(offset).map_err(|_| DataError::OutOfBounds)?;
    let end = start.checked_add(len).ok_or(DataError::OutOfBounds)?;
    if end > size {
        return Err(DataError::OutOfBounds);
    }
    Ok(start..end)
}

impl Data {
    /// A zero-filled buffer of `size` bytes.
    pub fn new(size: i64) -> Result<Self, DataError> {
        Ok(Data {
            bytes: Mutex::new(alloc(size)?),
        })
    }

    fn bytes(&self) -> MutexGuard<'_, Vec<u8>> {
        self.bytes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Current size.
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    /// Whether the size is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads `N` bytes at `offset`.
    pub fn read<const N: usize>(&self, offset: i64) -> Result<[u8; N], DataError> {
        let b = self.bytes();
        let r = range(offset, N, b.len())?;
        let mut out = [0u8; N];
        out.copy_from_slice(&b[r]);
        Ok(out)
    }

    /// Writes `src` at `offset`.
    pub fn write(&self, offset: i64, src: &[u8]) -> Result<(), DataError> {
        let mut b = self.bytes();
        let r = range(offset, src.len(), b.len())?;
        b[r].copy_from_slice(src);
        Ok(())
    }

    /// Copies `len` bytes (default: to the end) from `offset`.
    pub fn get_string(&self, offset: i64, len: Option<i64>) -> Result<Vec<u8>, DataError> {
        let b = self.bytes();
        let start = usize::try_from(offset).map_err(|_| DataError::OutOfBounds)?;
        let len = match len {
            Some(l) => usize::try_from(l).map_err(|_| DataError::OutOfBounds)?,
            None => b.len().checked_sub(start).ok_or(DataError::OutOfBounds)?,
        };
        let r = range(offset, len, b.len())?;
        Ok(b[r].to_vec())
    }

    /// Changes the size, zero-filling new bytes.
    pub fn resize(&self, size: i64) -> Result<(), DataError> {
        let size = usize::try_from(size).map_err(|_| DataError::BadSize)?;
        if size > MAX_SIZE {
            return Err(DataError::BadSize);
        }
        let mut b = self.bytes();
        if size > b.len() {
            let extra = size - b.len();
            b.try_reserve_exact(extra)
                .map_err(|_| DataError::NoMemory)?;
        }
        b.resize(size, 0);
        Ok(())
    }

    /// Internet checksum (RFC 1071) of `len` bytes (default: to the end)
    /// from `offset`, as used for IP/TCP/UDP headers.
    pub fn checksum(&self, offset: i64, len: Option<i64>) -> Result<u16, DataError> {
        let bytes = self.get_string(offset, len)?;
        let mut sum: u64 = 0;
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u64::from(*last) << 8;
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        Ok(!(sum as u16))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        let d = Data::new(4).unwrap();
        d.write(2, &[1, 2]).unwrap();
        assert_eq!(d.read::<2>(2).unwrap(), [1, 2]);
        assert_eq!(d.read::<2>(3), Err(DataError::OutOfBounds));
        assert_eq!(d.read::<1>(-1), Err(DataError::OutOfBounds));
        assert_eq!(d.get_string(1, None).unwrap(), vec![0, 1, 2]);
        assert_eq!(d.get_string(5, None), Err(DataError::OutOfBounds));
        assert_eq!(Data::new(-1).err(), Some(DataError::BadSize));
        d.resize(8).unwrap();
        assert_eq!(d.len(), 8);
    }

    #[test]
    fn checksum() {
        // RFC 1071 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
        let d = Data::new(8).unwrap();
        d.write(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])
            .unwrap();
        assert_eq!(d.checksum(0, None).unwrap(), !0xddf2);
    }
}
