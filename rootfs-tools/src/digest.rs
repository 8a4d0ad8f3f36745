//! sha256 digests: hashing readers/writers and `sha256:<hex>` validation.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;

use sha2::{Digest as _, Sha256};

/// Prefix of every digest hull handles (the only algorithm in use for OCI images).
pub const SHA256_PREFIX: &str = "sha256:";

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// `sha256:<hex>` of `data`.
pub(crate) fn sha256_digest(data: &[u8]) -> String {
    format!("{SHA256_PREFIX}{}", hex(&Sha256::digest(data)))
}

/// The hex part of a well-formed `sha256:<64 hex>` digest, or `None`. Only such digests are ever
/// turned into file names, so a hostile manifest cannot name a path.
pub(crate) fn sha256_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix(SHA256_PREFIX)?;
    is_sha256_hex(hex).then_some(hex)
}

/// Whether `s` is exactly 64 lower-case hex digits.
pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Running hash and byte count, shared between a [`HashingReader`] deep inside a decoder chain
/// and the code that needs the result once the chain is consumed. No hasher: it only counts,
/// for readers that enforce a limit on bytes someone else hashes (hashing 200 MiB costs
/// ~0.1 s of CPU).
#[derive(Clone)]
pub(crate) struct HashHandle(Rc<RefCell<(Option<Sha256>, u64)>>);

impl HashHandle {
    fn hashing() -> Self {
        Self(Rc::new(RefCell::new((Some(Sha256::new()), 0))))
    }

    fn counting() -> Self {
        Self(Rc::new(RefCell::new((None, 0))))
    }

    fn update(&self, data: &[u8]) {
        let mut state = self.0.borrow_mut();
        if let Some(hasher) = &mut state.0 {
            hasher.update(data);
        }
        state.1 += data.len() as u64;
    }

    /// Bytes hashed so far.
    pub(crate) fn count(&self) -> u64 {
        self.0.borrow().1
    }

    /// `sha256:<hex>` of everything hashed so far (of nothing, for a counting handle).
    pub(crate) fn digest(&self) -> String {
        let hasher = self.0.borrow().0.clone();
        debug_assert!(hasher.is_some(), "a counting handle has no digest");
        format!(
            "{SHA256_PREFIX}{}",
            hex(&hasher.unwrap_or_default().finalize())
        )
    }
}

/// The error a [`HashingReader`] returns once its byte limit is crossed.
#[derive(Debug)]
pub(crate) struct LimitExceeded;

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("size limit exceeded")
    }
}

impl std::error::Error for LimitExceeded {}

/// Whether an I/O error is a [`LimitExceeded`] from somewhere down a reader chain.
pub(crate) fn is_limit_exceeded(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|e| e.is::<LimitExceeded>())
}

/// Hashes (and counts) everything read through it; optionally fails past `limit` bytes.
pub(crate) struct HashingReader<R> {
    inner: R,
    handle: HashHandle,
    limit: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`; reading more than `limit` bytes fails with [`LimitExceeded`].
    pub(crate) fn new(inner: R, limit: u64) -> (Self, HashHandle) {
        Self::with_handle(inner, limit, HashHandle::hashing())
    }

    /// Like [`HashingReader::new`], but only counting: the limit, without the hash.
    pub(crate) fn counting(inner: R, limit: u64) -> (Self, HashHandle) {
        Self::with_handle(inner, limit, HashHandle::counting())
    }

    fn with_handle(inner: R, limit: u64, handle: HashHandle) -> (Self, HashHandle) {
        let reader = Self {
            inner,
            handle: handle.clone(),
            limit,
        };
        (reader, handle)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.handle.update(&buf[..n]);
        if self.handle.count() > self.limit {
            return Err(io::Error::other(LimitExceeded));
        }
        Ok(n)
    }
}

/// Hashes everything written through it.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The writer, the `sha256:<hex>` of the bytes written and their count.
    pub(crate) fn finish(self) -> (W, String, u64) {
        let digest = format!("{SHA256_PREFIX}{}", hex(&self.hasher.finalize()));
        (self.inner, digest, self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_input_is_the_well_known_one() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn only_well_formed_digests_become_file_names() {
        let good = sha256_digest(b"x");
        assert!(sha256_hex(&good).is_some());
        assert!(sha256_hex("sha256:../../etc/passwd").is_none());
        assert!(sha256_hex(&good.to_uppercase()).is_none());
        assert!(sha256_hex("sha512:abcd").is_none());
    }

    #[test]
    fn hashing_reader_stops_at_the_limit() {
        let data = [0u8; 100];
        let (mut reader, handle) = HashingReader::new(&data[..], 50);
        let err = io::copy(&mut reader, &mut io::sink()).unwrap_err();
        assert!(is_limit_exceeded(&err));
        assert!(handle.count() > 50);
    }

    #[test]
    fn a_counting_reader_enforces_the_same_limit() {
        let data = [7u8; 100];
        let (mut reader, handle) = HashingReader::counting(&data[..], 50);
        let err = io::copy(&mut reader, &mut io::sink()).unwrap_err();
        assert!(is_limit_exceeded(&err));
        let (mut reader, handle_within) = HashingReader::counting(&data[..], 100);
        assert_eq!(io::copy(&mut reader, &mut io::sink()).unwrap(), 100);
        assert_eq!(handle_within.count(), 100);
        assert!(handle.count() > 50);
    }
}
