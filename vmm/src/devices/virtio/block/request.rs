//! virtio-blk requests: parsing a descriptor chain the guest handed us (hostile input) and
//! executing it against a disk backend.
//!
//! Everything is validated before any I/O happens: every data descriptor must lie inside
//! guest memory with the right direction, and the whole transfer inside the disk. A request
//! that fails validation does no I/O at all.

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;

use virtio_bindings::virtio_blk::{
    VIRTIO_BLK_ID_BYTES, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP,
    VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT,
};
use virtio_queue::desc::split::Descriptor;
use vm_memory::bitmap::{BitmapSlice, BS};
use vm_memory::{
    Address, ByteValued, Bytes, GuestAddress, GuestMemory, GuestMemoryError, Permissions,
    VolatileSlice,
};

use crate::devices::virtio::host_slice::{host_slice, HostSlice};

/// virtio-blk sectors are always 512 bytes, whatever the advertised block size.
pub const SECTOR_SIZE: u64 = 512;
/// Status byte: success.
pub const STATUS_OK: u8 = 0;
/// Status byte: the request failed (or was malformed).
pub const STATUS_IOERR: u8 = 1;
/// Status byte: request type not supported.
pub const STATUS_UNSUPP: u8 = 2;
const _: () = assert!(
    STATUS_OK as u32 == VIRTIO_BLK_S_OK
        && STATUS_IOERR as u32 == VIRTIO_BLK_S_IOERR
        && STATUS_UNSUPP as u32 == VIRTIO_BLK_S_UNSUPP
);

/// Length of the serial returned by GET_ID (zero padded, not NUL terminated when full).
pub const SERIAL_LEN: usize = VIRTIO_BLK_ID_BYTES as usize;

/// The request header the driver puts first in every chain (virtio 1.2, 5.2.6).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct RequestHeader {
    /// VIRTIO_BLK_T_*.
    pub request_type: u32,
    /// Reserved (was ioprio).
    pub reserved: u32,
    /// First 512-byte sector of the transfer.
    pub sector: u64,
}

// SAFETY: RequestHeader is repr(C) plain data (two u32 and one u64, no padding); every bit
// pattern is a valid value.
unsafe impl ByteValued for RequestHeader {}

const HEADER_LEN: u32 = 16;

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestType {
    /// Read sectors into the data buffers.
    In,
    /// Write the data buffers to sectors.
    Out,
    /// Make everything written so far durable.
    Flush,
    /// Return the disk's serial.
    GetId,
    /// Anything else (answered with UNSUPP).
    Unsupported(u32),
}

impl From<u32> for RequestType {
    fn from(value: u32) -> Self {
        match value {
            VIRTIO_BLK_T_IN => Self::In,
            VIRTIO_BLK_T_OUT => Self::Out,
            VIRTIO_BLK_T_FLUSH => Self::Flush,
            VIRTIO_BLK_T_GET_ID => Self::GetId,
            other => Self::Unsupported(other),
        }
    }
}

/// A validated request, ready to execute. It borrows the data descriptors from the chain
/// (no allocation per request).
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// What to do.
    pub request_type: RequestType,
    /// First sector (IN/OUT only).
    pub sector: u64,
    /// Data buffers, in order. Their guest addresses are checked when the request runs,
    /// before any I/O.
    pub data: &'a [Descriptor],
    /// Where the status byte goes.
    pub status_addr: GuestAddress,
}

/// Why a chain is not a valid request. The first group cannot report a status (there is no
/// usable status byte), the second answers with IOERR or UNSUPP in the status byte.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// The head index points outside the descriptor table, or the first descriptor is
    /// outside guest memory.
    #[error("descriptor chain is empty")]
    EmptyChain,
    /// The chain loops, is longer than the queue, or a `next` points outside the table.
    #[error("descriptor chain is cut short (loop or bad next index)")]
    BrokenChain,
    /// The last descriptor is not a writable buffer inside guest memory.
    #[error("status descriptor is not writable guest memory")]
    BadStatus,
    /// The header is missing, too short, writable or outside guest memory.
    #[error("request header is malformed")]
    BadHeader(GuestAddress),
    /// A data buffer has the wrong direction.
    #[error("data descriptor has the wrong direction")]
    WrongDirection(GuestAddress),
    /// More data buffers than the SEG_MAX we advertised.
    #[error("request has more data segments than SEG_MAX")]
    TooManySegments(GuestAddress),
    /// The transfer is not a whole number of sectors, or ends past the end of the disk.
    #[error("transfer is misaligned or past the end of the disk")]
    OutOfRange(GuestAddress),
    /// A request type we do not implement.
    #[error("request type {0} is not supported")]
    Unsupported(u32, GuestAddress),
}

impl RequestError {
    /// The status byte to report and where, when the chain has a usable one.
    pub fn status(&self) -> Option<(GuestAddress, u8)> {
        match *self {
            Self::EmptyChain | Self::BrokenChain | Self::BadStatus => None,
            Self::Unsupported(_, addr) => Some((addr, STATUS_UNSUPP)),
            Self::BadHeader(addr)
            | Self::WrongDirection(addr)
            | Self::TooManySegments(addr)
            | Self::OutOfRange(addr) => Some((addr, STATUS_IOERR)),
        }
    }
}

/// Collects a chain's descriptors into `out` for [`Request::parse`], keeping memory bounded
/// whatever the chain length (indirect tables can hold 65535 entries): past
/// `seg_max + 2` entries only the last descriptor is kept, in one extra slot, which is enough
/// for `parse` to see "too many segments" and still find the status byte.
pub fn collect_descriptors<I>(chain: I, seg_max: u32, out: &mut Vec<Descriptor>)
where
    I: Iterator<Item = Descriptor>,
{
    out.clear();
    append_descriptors(chain, seg_max, out);
}

/// [`collect_descriptors`] appending to `out` (several chains in one buffer); the chain's
/// descriptors are `out[len_before..]`.
pub fn append_descriptors<I>(chain: I, seg_max: u32, out: &mut Vec<Descriptor>)
where
    I: Iterator<Item = Descriptor>,
{
    let start = out.len();
    let keep = usize_len(seg_max).saturating_add(2);
    for desc in chain {
        if out.len() - start <= keep {
            out.push(desc);
        } else if let Some(slot) = out.last_mut() {
            *slot = desc;
        }
    }
}

impl<'a> Request<'a> {
    /// Parses the descriptors of one chain. `descriptors` is what the chain iterator
    /// yielded: the iterator stops silently on loops and bad indices, so a last descriptor
    /// that still says "next" means the chain was cut.
    pub fn parse<M: GuestMemory>(
        mem: &M,
        descriptors: &'a [Descriptor],
        seg_max: u32,
        disk_size: u64,
    ) -> Result<Self, RequestError> {
        let (first, last) = match (descriptors.first(), descriptors.last()) {
            (Some(first), Some(last)) => (first, last),
            _ => return Err(RequestError::EmptyChain),
        };
        if last.has_next() {
            return Err(RequestError::BrokenChain);
        }
        if !last.is_write_only()
            || last.len() == 0
            || !(host_slice(mem, last.addr(), usize_len(last.len())).is_some()
                || mem.check_range(last.addr(), usize_len(last.len()), Permissions::Write))
        {
            return Err(RequestError::BadStatus);
        }
        // The status byte is the last byte of the last descriptor (5.2.6: it is the final
        // byte the device writes).
        let status_addr = last
            .addr()
            .checked_add(u64::from(last.len()) - 1)
            .ok_or(RequestError::BadStatus)?;
        if descriptors.len() < 2 || first.is_write_only() || first.len() < HEADER_LEN {
            return Err(RequestError::BadHeader(status_addr));
        }
        let header = read_header(mem, first.addr()).ok_or(RequestError::BadHeader(status_addr))?;
        let request_type = RequestType::from(u32::from_le(header.request_type));
        let sector = u64::from_le(header.sector);

        let data_descriptors = &descriptors[1..descriptors.len() - 1];
        let writes_guest = match request_type {
            RequestType::In | RequestType::GetId => true,
            RequestType::Out => false,
            // FLUSH carries no data; any buffers the driver attached are ignored.
            RequestType::Flush => {
                return Ok(Self {
                    request_type,
                    sector: 0,
                    data: &[],
                    status_addr,
                });
            }
            RequestType::Unsupported(t) => return Err(RequestError::Unsupported(t, status_addr)),
        };
        if data_descriptors.len() > usize_len(seg_max) {
            return Err(RequestError::TooManySegments(status_addr));
        }
        let mut total: u64 = 0;
        for desc in data_descriptors {
            if desc.is_write_only() != writes_guest {
                return Err(RequestError::WrongDirection(status_addr));
            }
            total += u64::from(desc.len());
        }
        if request_type != RequestType::GetId {
            let end = sector
                .checked_mul(SECTOR_SIZE)
                .and_then(|start| start.checked_add(total));
            let in_range = end.is_some_and(|end| end <= disk_size);
            if !total.is_multiple_of(SECTOR_SIZE) || !in_range {
                return Err(RequestError::OutOfRange(status_addr));
            }
        }
        Ok(Self {
            request_type,
            sector,
            data: data_descriptors,
            status_addr,
        })
    }

    /// Runs the request and writes its status byte. Returns the number of bytes written
    /// into guest buffers (the used-ring length), status byte included.
    pub fn execute<M: GuestMemory, D: DiskBackend>(
        &self,
        mem: &M,
        disk: &mut D,
        read_only: bool,
        serial: &[u8; SERIAL_LEN],
    ) -> u32 {
        let (status, written) = match self.run(mem, disk, read_only, serial) {
            Ok(written) => (STATUS_OK, written),
            Err(err) => {
                tracing::debug!("virtio-blk: {:?} request failed: {err}", self.request_type);
                (STATUS_IOERR, 0)
            }
        };
        write_status(mem, self.status_addr, status);
        // Transfers are bounded by the chain length (< 4 GiB, enforced by virtio-queue).
        written.saturating_add(1)
    }

    fn run<M: GuestMemory, D: DiskBackend>(
        &self,
        mem: &M,
        disk: &mut D,
        read_only: bool,
        serial: &[u8; SERIAL_LEN],
    ) -> Result<u32, IoError> {
        match self.request_type {
            RequestType::In => {
                let offset = self.sector * SECTOR_SIZE;
                if let Some(slice) = self.single_slice(mem) {
                    disk.read_at(offset, &slice)?;
                } else {
                    // Every buffer is resolved (and so checked) before any I/O starts.
                    let slices = self.guest_slices(mem, Permissions::Write)?;
                    disk.read_vectored_at(offset, &slices)?;
                }
                Ok(self.data_len())
            }
            RequestType::Out => {
                if read_only {
                    return Err(IoError::ReadOnly);
                }
                let offset = self.sector * SECTOR_SIZE;
                if let Some(slice) = self.single_slice(mem) {
                    disk.write_at(offset, &slice)?;
                } else {
                    let slices = self.guest_slices(mem, Permissions::Read)?;
                    disk.write_vectored_at(offset, &slices)?;
                }
                Ok(0)
            }
            RequestType::Flush => {
                if !read_only {
                    disk.flush()?;
                }
                Ok(0)
            }
            RequestType::GetId => {
                let mut rest: &[u8] = serial;
                let mut written = 0u32;
                for seg in self.data {
                    let n = rest.len().min(usize_len(seg.len()));
                    mem.write_slice(&rest[..n], seg.addr())?;
                    rest = &rest[n..];
                    // n <= SERIAL_LEN.
                    written += u32::try_from(n).unwrap_or(0);
                }
                Ok(written)
            }
            // parse() answers these with UNSUPP before we get here.
            RequestType::Unsupported(t) => Err(IoError::Unsupported(t)),
        }
    }

    /// The data buffers as host-mapped slices (a buffer crossing a region boundary gives
    /// two), so the whole transfer is one vectored syscall.
    fn guest_slices<'m, M: GuestMemory>(
        &self,
        mem: &'m M,
        access: Permissions,
    ) -> Result<Vec<VolatileSlice<'m, BS<'m, M::Bitmap>>>, GuestMemoryError> {
        let mut slices = Vec::with_capacity(self.data.len());
        for seg in self.data {
            for slice in mem.get_slices(seg.addr(), usize_len(seg.len()), access)? {
                slices.push(slice?);
            }
        }
        Ok(slices)
    }

    /// The common case without allocating: one buffer inside one memory region. `None`
    /// for anything else (including bad addresses, which `guest_slices` then reports).
    fn single_slice<'m, M: GuestMemory>(&self, mem: &'m M) -> Option<HostSlice<'m, M>> {
        let [seg] = self.data else {
            return None;
        };
        host_slice(mem, seg.addr(), usize_len(seg.len()))
    }

    fn data_len(&self) -> u32 {
        self.data
            .iter()
            .fold(0u32, |acc, seg| acc.saturating_add(seg.len()))
    }
}

/// Writes a status byte; a failure means the guest pulled its own memory away, and there is
/// nobody else to tell.
pub fn write_status<M: GuestMemory>(mem: &M, addr: GuestAddress, status: u8) {
    let done = host_slice(mem, addr, 1).is_some_and(|slice| slice.write_obj(status, 0).is_ok());
    if done {
        return;
    }
    if let Err(err) = mem.write_obj(status, addr) {
        tracing::debug!("virtio-blk: cannot write status byte: {err}");
    }
}

/// Reads the request header (fast path first, see [`host_slice`]); `None` when it is not
/// all inside guest memory.
fn read_header<M: GuestMemory>(mem: &M, addr: GuestAddress) -> Option<RequestHeader> {
    match host_slice(mem, addr, std::mem::size_of::<RequestHeader>()) {
        Some(slice) => slice.read_obj(0).ok(),
        None => mem.read_obj(addr).ok(),
    }
}

/// Why a validated request still failed.
#[derive(Debug, thiserror::Error)]
enum IoError {
    #[error("write to a read-only disk")]
    ReadOnly,
    #[error("request type {0} is not supported")]
    Unsupported(u32),
    #[error("guest memory access failed")]
    Memory(#[from] GuestMemoryError),
    #[error("disk I/O failed")]
    Disk(#[from] io::Error),
}

fn usize_len(len: u32) -> usize {
    // usize is 64-bit on every target hull supports.
    usize::try_from(len).unwrap_or(usize::MAX)
}

/// What a virtio-blk disk needs from its host side. Offsets are bytes; the caller has already
/// checked that `offset + buf.len()` is within `size()`.
pub trait DiskBackend {
    /// Size in bytes (the device exposes `size / 512` sectors).
    fn size(&self) -> u64;
    /// Fills `buf` from the disk at `offset`.
    fn read_at<B: BitmapSlice>(&mut self, offset: u64, buf: &VolatileSlice<B>) -> io::Result<()>;
    /// Writes `buf` to the disk at `offset`.
    fn write_at<B: BitmapSlice>(&mut self, offset: u64, buf: &VolatileSlice<B>) -> io::Result<()>;
    /// Makes completed writes durable.
    fn flush(&mut self) -> io::Result<()>;

    /// Fills `bufs`, in order, from the disk starting at `offset`.
    fn read_vectored_at<B: BitmapSlice>(
        &mut self,
        offset: u64,
        bufs: &[VolatileSlice<B>],
    ) -> io::Result<()> {
        let mut offset = offset;
        for buf in bufs {
            self.read_at(offset, buf)?;
            offset += buf.len() as u64;
        }
        Ok(())
    }

    /// Writes `bufs`, in order, to the disk starting at `offset`.
    fn write_vectored_at<B: BitmapSlice>(
        &mut self,
        offset: u64,
        bufs: &[VolatileSlice<B>],
    ) -> io::Result<()> {
        let mut offset = offset;
        for buf in bufs {
            self.write_at(offset, buf)?;
            offset += buf.len() as u64;
        }
        Ok(())
    }
}

/// A disk backed by a host file, accessed with pread/pwrite straight into guest memory.
#[derive(Debug)]
pub struct FileDisk {
    file: File,
    size: u64,
}

impl FileDisk {
    /// Wraps an open file; the disk size is the file size at this moment.
    pub fn new(file: File) -> io::Result<Self> {
        let size = file.metadata()?.len();
        Ok(Self { file, size })
    }

    /// The underlying file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl DiskBackend for FileDisk {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at<B: BitmapSlice>(&mut self, offset: u64, buf: &VolatileSlice<B>) -> io::Result<()> {
        self.transfer(offset, buf, Direction::Read)
    }

    fn write_at<B: BitmapSlice>(&mut self, offset: u64, buf: &VolatileSlice<B>) -> io::Result<()> {
        self.transfer(offset, buf, Direction::Write)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn read_vectored_at<B: BitmapSlice>(
        &mut self,
        offset: u64,
        bufs: &[VolatileSlice<B>],
    ) -> io::Result<()> {
        if let [buf] = bufs {
            return self.read_at(offset, buf);
        }
        let done = self.vectored(offset, bufs, Direction::Read)?;
        let mut pos = offset;
        for (buf, part) in bufs.iter().zip(split_done(bufs, done)) {
            buf.bitmap().mark_dirty(0, part);
            if part < buf.len() {
                let rest = buf
                    .subslice(part, buf.len() - part)
                    .map_err(io::Error::other)?;
                self.read_at(pos + part as u64, &rest)?;
            }
            pos += buf.len() as u64;
        }
        Ok(())
    }

    fn write_vectored_at<B: BitmapSlice>(
        &mut self,
        offset: u64,
        bufs: &[VolatileSlice<B>],
    ) -> io::Result<()> {
        if let [buf] = bufs {
            return self.write_at(offset, buf);
        }
        let done = self.vectored(offset, bufs, Direction::Write)?;
        let mut pos = offset;
        for (buf, part) in bufs.iter().zip(split_done(bufs, done)) {
            if part < buf.len() {
                let rest = buf
                    .subslice(part, buf.len() - part)
                    .map_err(io::Error::other)?;
                self.write_at(pos + part as u64, &rest)?;
            }
            pos += buf.len() as u64;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Read,
    Write,
}

/// Most buffers one preadv/pwritev takes (Linux's UIO_MAXIOV).
const MAX_IOVECS: usize = 1024;

impl FileDisk {
    /// All of `buf` read from (or written to) the file at `offset`, with pread/pwrite
    /// straight into guest memory, retried until done.
    fn transfer<B: BitmapSlice>(
        &self,
        offset: u64,
        buf: &VolatileSlice<B>,
        direction: Direction,
    ) -> io::Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let chunk = buf
                .subslice(done, buf.len() - done)
                .map_err(io::Error::other)?;
            let guard = chunk.ptr_guard_mut();
            let pos = libc::off_t::try_from(offset + done as u64).map_err(io::Error::other)?;
            let fd = self.file.as_raw_fd();
            let n = match direction {
                // SAFETY: `guard` points at `chunk.len()` bytes of mapped guest memory that
                // stay mapped while the guard lives; the kernel writes at most that many
                // bytes there. Guest memory is shared with the vCPUs anyway, so nobody holds
                // a Rust reference to it that this write could invalidate.
                Direction::Read => unsafe {
                    libc::pread(fd, guard.as_ptr().cast(), chunk.len(), pos)
                },
                // SAFETY: as above; the kernel only reads the bytes.
                Direction::Write => unsafe {
                    libc::pwrite(fd, guard.as_ptr().cast(), chunk.len(), pos)
                },
            };
            match n {
                n if n > 0 => {
                    let n = n.unsigned_abs();
                    if direction == Direction::Read {
                        chunk.bitmap().mark_dirty(0, n);
                    }
                    done += n;
                }
                // A read at EOF means the file shrank under us: the guest must not see stale
                // memory as data.
                0 if direction == Direction::Read => {
                    return Err(io::ErrorKind::UnexpectedEof.into())
                }
                0 => return Err(io::ErrorKind::WriteZero.into()),
                _ => {
                    let err = io::Error::last_os_error();
                    if err.kind() != io::ErrorKind::Interrupted {
                        return Err(err);
                    }
                }
            }
        }
        Ok(())
    }

    /// One preadv/pwritev over all of `bufs`; returns the bytes transferred. A short
    /// transfer (signal, EOF) is finished buffer by buffer by the caller.
    fn vectored<B: BitmapSlice>(
        &self,
        offset: u64,
        bufs: &[VolatileSlice<B>],
        direction: Direction,
    ) -> io::Result<usize> {
        if bufs.len() < 2 || bufs.len() > MAX_IOVECS {
            return Ok(0);
        }
        let pos = libc::off_t::try_from(offset).map_err(io::Error::other)?;
        // Guards keep the mappings pinned while the kernel uses the pointers.
        let guards: Vec<_> = bufs.iter().map(VolatileSlice::ptr_guard_mut).collect();
        let iovecs: Vec<libc::iovec> = guards
            .iter()
            .zip(bufs)
            .map(|(guard, buf)| libc::iovec {
                iov_base: guard.as_ptr().cast(),
                iov_len: buf.len(),
            })
            .collect();
        // bufs.len() <= MAX_IOVECS, so this fits.
        let count = libc::c_int::try_from(iovecs.len()).map_err(io::Error::other)?;
        let fd = self.file.as_raw_fd();
        let n = match direction {
            // SAFETY: every iovec points at `iov_len` bytes of mapped guest memory, kept
            // mapped by `guards` until after the call; the kernel writes at most that much
            // into each. No Rust reference to guest memory exists that this could alias.
            Direction::Read => unsafe { libc::preadv(fd, iovecs.as_ptr(), count, pos) },
            // SAFETY: as above; the kernel only reads the buffers.
            Direction::Write => unsafe { libc::pwritev(fd, iovecs.as_ptr(), count, pos) },
        };
        if n >= 0 {
            return Ok(n.unsigned_abs());
        }
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            Ok(0)
        } else {
            Err(err)
        }
    }
}

/// How many bytes of each buffer the first `done` bytes of a vectored transfer covered.
fn split_done<B: BitmapSlice>(bufs: &[VolatileSlice<B>], done: usize) -> Vec<usize> {
    let mut left = done;
    bufs.iter()
        .map(|buf| {
            let part = left.min(buf.len());
            left -= part;
            part
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::virtio::test_utils::{desc, test_memory, R, W};
    use crate::devices::virtio::GuestMemoryMmap;

    const DISK: u64 = 8 * SECTOR_SIZE;

    fn header(mem: &GuestMemoryMmap, addr: u64, t: u32, sector: u64) {
        let h = RequestHeader {
            request_type: t.to_le(),
            reserved: 0,
            sector: sector.to_le(),
        };
        mem.write_obj(h, GuestAddress(addr)).unwrap();
    }

    fn parse_err(mem: &GuestMemoryMmap, chain: &[Descriptor], seg_max: u32) -> RequestError {
        Request::parse(mem, chain, seg_max, DISK).unwrap_err()
    }

    #[test]
    fn parses_a_read() {
        let mem = test_memory();
        header(&mem, 0x1000, VIRTIO_BLK_T_IN, 2);
        let chain = [
            desc(0x1000, 16, R),
            desc(0x2000, 1024, W),
            desc(0x3000, 1, W),
        ];
        let req = Request::parse(&*mem, &chain, 8, DISK).unwrap();
        assert_eq!(req.request_type, RequestType::In);
        assert_eq!(req.sector, 2);
        assert_eq!(req.data.len(), 1);
        assert_eq!(
            (req.data[0].addr(), req.data[0].len()),
            (GuestAddress(0x2000), 1024)
        );
        assert_eq!(req.status_addr, GuestAddress(0x3000));
    }

    #[test]
    fn malformed_chains_are_refused_with_the_right_status() {
        let mem = test_memory();
        let mem = &*mem;
        header(mem, 0x1000, VIRTIO_BLK_T_IN, 0);
        let st = GuestAddress(0x3000);
        // Empty chain: nothing to report to.
        assert_eq!(parse_err(mem, &[], 8), RequestError::EmptyChain);
        // Status descriptor read-only or outside memory.
        let bad = [desc(0x1000, 16, R), desc(0x3000, 1, R)];
        assert_eq!(parse_err(mem, &bad, 8), RequestError::BadStatus);
        let bad = [desc(0x1000, 16, R), desc(u64::MAX - 1, 1, W)];
        assert_eq!(parse_err(mem, &bad, 8), RequestError::BadStatus);
        // Header writable, short, or alone with the status.
        let bad = [desc(0x1000, 16, W), desc(0x3000, 1, W)];
        assert_eq!(parse_err(mem, &bad, 8), RequestError::BadHeader(st));
        let bad = [desc(0x1000, 8, R), desc(0x3000, 1, W)];
        assert_eq!(parse_err(mem, &bad, 8), RequestError::BadHeader(st));
        let bad = [desc(0x3000, 1, W)];
        assert_eq!(parse_err(mem, &bad, 8), RequestError::BadHeader(st));
        // Header outside guest memory.
        let bad = [desc(0xffff_0000, 16, R), desc(0x3000, 1, W)];
        assert_eq!(parse_err(mem, &bad, 8), RequestError::BadHeader(st));
        // Read into a read-only buffer.
        let bad = [
            desc(0x1000, 16, R),
            desc(0x2000, 512, R),
            desc(0x3000, 1, W),
        ];
        assert_eq!(parse_err(mem, &bad, 8), RequestError::WrongDirection(st));
        // A huge length is past the end of the disk.
        let bad = [
            desc(0x1000, 16, R),
            desc(0x2000, u32::MAX, W),
            desc(0x3000, 1, W),
        ];
        assert_eq!(parse_err(mem, &bad, 8), RequestError::OutOfRange(st));
        // Too many segments.
        let bad = [
            desc(0x1000, 16, R),
            desc(0x2000, 512, W),
            desc(0x2200, 512, W),
            desc(0x3000, 1, W),
        ];
        assert_eq!(parse_err(mem, &bad, 1), RequestError::TooManySegments(st));
        // Past the end of the disk, sector overflow, partial sector.
        header(mem, 0x1000, VIRTIO_BLK_T_IN, 7);
        let bad = [
            desc(0x1000, 16, R),
            desc(0x2000, 1024, W),
            desc(0x3000, 1, W),
        ];
        assert_eq!(parse_err(mem, &bad, 8), RequestError::OutOfRange(st));
        header(mem, 0x1000, VIRTIO_BLK_T_IN, u64::MAX / 256);
        assert_eq!(parse_err(mem, &bad, 8), RequestError::OutOfRange(st));
        header(mem, 0x1000, VIRTIO_BLK_T_IN, 0);
        let bad = [
            desc(0x1000, 16, R),
            desc(0x2000, 100, W),
            desc(0x3000, 1, W),
        ];
        assert_eq!(parse_err(mem, &bad, 8), RequestError::OutOfRange(st));
        // Unknown request types.
        header(mem, 0x1000, 11 /* DISCARD, not offered */, 0);
        let bad = [desc(0x1000, 16, R), desc(0x3000, 1, W)];
        assert_eq!(parse_err(mem, &bad, 8).status(), Some((st, STATUS_UNSUPP)));
        assert_eq!(
            RequestError::OutOfRange(st).status(),
            Some((st, STATUS_IOERR))
        );
    }

    #[test]
    fn collecting_a_long_chain_keeps_memory_bounded_and_the_last_descriptor() {
        let chain: Vec<Descriptor> = (0..1000).map(|i| desc(i * 16, 16, R)).collect();
        let mut out = Vec::new();
        collect_descriptors(chain.iter().copied(), 4, &mut out);
        assert_eq!(out.len(), 7);
        assert_eq!(out[6].addr(), GuestAddress(999 * 16));
    }
}
