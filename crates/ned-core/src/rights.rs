//! Rights masks of capability references, with upstream L4Re's bit values.

/// A rights mask. `r` is always part of a mask that a script can build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rights(pub u32);

impl Rights {
    pub const W: u32 = 1;
    pub const S: u32 = 2;
    pub const R: u32 = 4;
    pub const D: u32 = 8;
    pub const N: u32 = 16;
    pub const C: u32 = 32;
    /// `r` only: what `create()` and `query()` hand out.
    pub const READ: Rights = Rights(Self::R);
    /// `rws`: what ned's own `L4.Env` caps carry.
    pub const RWS: Rights = Rights(Self::R | Self::W | Self::S);
    /// `svr()`: the server view of a channel.
    pub const SERVER: Rights = Rights(Self::R | Self::W | Self::S | Self::D | Self::C);

    /// Parses a rights string as `mode("...")` does: start from `r`, OR one bit
    /// per known letter (either case), ignore every other character.
    pub fn parse(letters: &[u8]) -> Rights {
        let bits = letters.iter().fold(Self::R, |acc, c| {
            acc | match c.to_ascii_lowercase() {
                b'r' => Self::R,
                b'w' => Self::W,
                b's' => Self::S,
                b'd' => Self::D,
                b'n' => Self::N,
                b'c' => Self::C,
                _ => 0,
            }
        });
        Rights(bits)
    }

    /// A numeric mask as `mode(n)` takes it: the number with `r` added.
    pub fn from_bits(bits: u32) -> Rights {
        Rights(bits | Self::R)
    }

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit == bit
    }
}

#[cfg(test)]
mod tests {
    use super::Rights;

    #[test]
    fn letters_start_from_read_and_ignore_unknown() {
        assert_eq!(Rights::parse(b""), Rights(4));
        assert_eq!(Rights::parse(b"w"), Rights(5));
        assert_eq!(Rights::parse(b"rsnc"), Rights(4 | 2 | 16 | 32));
        assert_eq!(Rights::parse(b"WXYZ?"), Rights(5));
        assert_eq!(Rights::parse(b"rwsdnc"), Rights(63));
    }

    #[test]
    fn numbers_always_gain_read() {
        assert_eq!(Rights::from_bits(0), Rights(4));
        assert_eq!(Rights::from_bits(3), Rights(7));
        assert!(Rights::SERVER.has(Rights::C));
        assert!(!Rights::READ.has(Rights::W));
    }
}
