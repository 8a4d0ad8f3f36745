//! The state file's envelope: a fixed header, then a postcard-encoded body.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "HULLSNAP"
//!      8     4  format version (u32 LE), FORMAT_VERSION
//!     12     8  body length in bytes (u64 LE)
//!     20     4  CRC-32 (IEEE) of the body (u32 LE)
//!     24     n  body: postcard(T)
//! ```
//!
//! Decoding checks every field before it parses the body, so a truncated, corrupt or
//! foreign file is an error naming what is wrong, never a half-restored VM. The version is
//! bumped on any change to the body's types: postcard is not self-describing, so an old
//! reader must refuse a new body rather than misread it.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// First bytes of every hull-vmm state file.
pub const MAGIC: [u8; 8] = *b"HULLSNAP";
/// The body layout this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Header bytes before the body.
pub const HEADER_LEN: usize = 24;
/// Largest body accepted (a VM's state is tens of KiB; this only bounds hostile files).
pub const MAX_BODY_LEN: u64 = 64 << 20;

/// Why a state file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    /// Shorter than the header or than the body length it announces.
    #[error("the state file is truncated ({got} bytes, {want} expected)")]
    Truncated {
        /// Bytes present.
        got: u64,
        /// Bytes the header needs.
        want: u64,
    },
    /// Longer than the header says: something appended or two files mixed.
    #[error("the state file has {0} bytes after its body")]
    TrailingBytes(u64),
    /// Not a hull-vmm state file.
    #[error("not a hull-vmm snapshot state file (bad magic)")]
    Magic,
    /// Written by a build with another format.
    #[error("snapshot format version {found}, this hull-vmm reads version {FORMAT_VERSION}: take the snapshot again")]
    Version {
        /// The file's version.
        found: u32,
    },
    /// Body larger than any real VM state.
    #[error("the state file announces a {0}-byte body, more than the {MAX_BODY_LEN} accepted")]
    TooLarge(u64),
    /// The body does not match its checksum.
    #[error("the state file is corrupt (checksum {found:#010x}, header says {expected:#010x})")]
    Checksum {
        /// CRC of the body read.
        found: u32,
        /// CRC the header records.
        expected: u32,
    },
    /// The checksum matched but the body does not decode (a writer bug).
    #[error("the state file's body does not decode: {0}")]
    Decode(String),
    /// Encoding failed (a hull-vmm bug).
    #[error("cannot encode the VM state: {0}")]
    Encode(String),
}

/// `value` as a complete state file.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, FormatError> {
    let body = postcard::to_stdvec(value).map_err(|e| FormatError::Encode(e.to_string()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// The value in a complete state file, after checking its header and checksum.
pub fn decode<T: DeserializeOwned>(file: &[u8]) -> Result<T, FormatError> {
    let len = file.len() as u64;
    let header = file.get(..HEADER_LEN).ok_or(FormatError::Truncated {
        got: len,
        want: HEADER_LEN as u64,
    })?;
    let (magic, rest) = header.split_at(8);
    if magic != MAGIC {
        return Err(FormatError::Magic);
    }
    let (version, rest) = rest.split_at(4);
    let (body_len, crc) = rest.split_at(8);
    let version = u32::from_le_bytes(version.try_into().unwrap_or_default());
    if version != FORMAT_VERSION {
        return Err(FormatError::Version { found: version });
    }
    let body_len = u64::from_le_bytes(body_len.try_into().unwrap_or_default());
    if body_len > MAX_BODY_LEN {
        return Err(FormatError::TooLarge(body_len));
    }
    let want = HEADER_LEN as u64 + body_len;
    if len < want {
        return Err(FormatError::Truncated { got: len, want });
    }
    if len > want {
        return Err(FormatError::TrailingBytes(len - want));
    }
    let body = &file[HEADER_LEN..];
    let expected = u32::from_le_bytes(crc.try_into().unwrap_or_default());
    let found = crc32fast::hash(body);
    if found != expected {
        return Err(FormatError::Checksum { found, expected });
    }
    postcard::from_bytes(body).map_err(|e| FormatError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        name: String,
        values: Vec<u64>,
        regs: kvm_bindings::kvm_regs,
    }

    fn sample() -> Sample {
        Sample {
            name: "vcpu0".into(),
            values: vec![1, u64::MAX, 0],
            regs: kvm_bindings::kvm_regs {
                rip: 0x10_0000,
                rflags: 2,
                ..Default::default()
            },
        }
    }

    #[test]
    fn a_value_round_trips() {
        let file = encode(&sample()).unwrap();
        assert_eq!(&file[..8], b"HULLSNAP");
        assert_eq!(decode::<Sample>(&file).unwrap(), sample());
    }

    #[test]
    fn every_truncation_is_refused() {
        let file = encode(&sample()).unwrap();
        for cut in 0..file.len() {
            let err = decode::<Sample>(&file[..cut]).unwrap_err();
            assert!(
                matches!(err, FormatError::Truncated { .. }),
                "cut at {cut}: {err}"
            );
        }
        let mut longer = file.clone();
        longer.push(0);
        assert_eq!(
            decode::<Sample>(&longer).unwrap_err(),
            FormatError::TrailingBytes(1)
        );
    }

    #[test]
    fn any_flipped_body_bit_is_a_checksum_error() {
        let file = encode(&sample()).unwrap();
        for byte in HEADER_LEN..file.len() {
            let mut bad = file.clone();
            bad[byte] ^= 0x10;
            let err = decode::<Sample>(&bad).unwrap_err();
            assert!(matches!(err, FormatError::Checksum { .. }), "{err}");
        }
    }

    #[test]
    fn wrong_magic_version_or_size_are_named() {
        let file = encode(&sample()).unwrap();
        let mut bad = file.clone();
        bad[0] = b'X';
        assert_eq!(decode::<Sample>(&bad).unwrap_err(), FormatError::Magic);
        let mut bad = file.clone();
        bad[8..12].copy_from_slice(&2u32.to_le_bytes());
        let err = decode::<Sample>(&bad).unwrap_err();
        assert_eq!(err, FormatError::Version { found: 2 });
        assert!(err.to_string().contains("take the snapshot again"));
        let mut bad = file;
        bad[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            decode::<Sample>(&bad).unwrap_err(),
            FormatError::TooLarge(u64::MAX)
        );
    }

    #[test]
    fn a_body_of_another_type_is_a_decode_error_not_a_panic() {
        let file = encode(&vec![1u8, 2, 3]).unwrap();
        let err = decode::<Sample>(&file).unwrap_err();
        assert!(matches!(err, FormatError::Decode(_)), "{err}");
    }
}
