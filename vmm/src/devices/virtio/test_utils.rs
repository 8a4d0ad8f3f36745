//! Helpers shared by the virtio unit tests: guest memory, descriptors, and chains laid out in
//! a `MockSplitQueue`.

use std::cell::Cell;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::Arc;

use virtio_bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use virtio_queue::desc::split::Descriptor;
use virtio_queue::desc::RawDescriptor;
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress};

use super::{GuestMemoryMmap, SignalUsedQueue};

/// Size of the test guest memory (one region at 0).
pub const TEST_MEM_SIZE: usize = 0x40_0000;

/// Descriptor flag shorthand: device reads this buffer.
pub const R: u16 = 0;
/// Descriptor flag shorthand: device writes this buffer.
pub const W: u16 = 2;
/// Descriptor flag: the chain continues at `next`.
pub const NEXT: u16 = 1;
const _: () = assert!(W as u32 == VRING_DESC_F_WRITE && NEXT as u32 == VRING_DESC_F_NEXT);

/// 4 MiB of guest memory at address 0.
pub fn test_memory() -> Arc<GuestMemoryMmap> {
    Arc::new(
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), TEST_MEM_SIZE)])
            .expect("anonymous test memory"),
    )
}

/// A descriptor as the chain iterator yields it (no NEXT flag, `next` = 0).
pub fn desc(addr: u64, len: u32, flags: u16) -> Descriptor {
    Descriptor::new(addr, len, flags, 0)
}

/// Puts one chain of `(addr, len, flags)` buffers into the descriptor table starting at
/// `first_index` and makes it available. Returns the head index.
pub fn add_chain(
    vq: &MockSplitQueue<'_, GuestMemoryMmap>,
    first_index: u16,
    bufs: &[(u64, u32, u16)],
) -> u16 {
    let last = bufs.len() - 1;
    let descs: Vec<RawDescriptor> = bufs
        .iter()
        .enumerate()
        .map(|(i, &(addr, len, flags))| {
            let index = first_index + u16::try_from(i).unwrap();
            let (flags, next) = if i == last {
                (flags, 0)
            } else {
                (flags | NEXT, index + 1)
            };
            RawDescriptor::from(Descriptor::new(addr, len, flags, next))
        })
        .collect();
    vq.add_desc_chains(&descs, first_index)
        .expect("chain fits the mock queue");
    first_index
}

/// Writes raw descriptors (flags and next as given) at `first_index` and makes `head`
/// available, for chains the helper above refuses to build (loops, bad indices).
pub fn add_raw_chain(
    vq: &MockSplitQueue<'_, GuestMemoryMmap>,
    first_index: u16,
    descs: &[Descriptor],
    head: u16,
) {
    for (i, d) in descs.iter().enumerate() {
        vq.desc_table()
            .store(
                first_index + u16::try_from(i).unwrap(),
                RawDescriptor::from(*d),
            )
            .expect("index inside the table");
    }
    let idx = vq.avail().idx().load();
    vq.avail()
        .ring()
        .ref_at(usize::from(idx))
        .expect("ring slot")
        .store(head);
    vq.avail().idx().store(idx.wrapping_add(1));
}

/// The `(id, len)` of used ring entry `index`.
pub fn used_entry(vq: &MockSplitQueue<'_, GuestMemoryMmap>, index: u16) -> (u32, u32) {
    let elem = vq
        .used()
        .ring()
        .ref_at(usize::from(index))
        .expect("used slot")
        .load();
    (elem.id(), elem.len())
}

/// Reads one byte of guest memory.
pub fn byte_at(mem: &GuestMemoryMmap, addr: u64) -> u8 {
    mem.read_obj(GuestAddress(addr))
        .expect("inside test memory")
}

/// Counts used-queue signals instead of raising an interrupt.
#[derive(Debug, Default)]
pub struct CountingSignal(pub Cell<u32>);

impl SignalUsedQueue for CountingSignal {
    fn signal_used_queue(&self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A pty pair: (master, slave), both blocking, like a terminal shared with a shell.
pub fn pty() -> Option<(File, File)> {
    // SAFETY: posix_openpt returns a fresh fd or -1.
    let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY) };
    if master < 0 {
        return None;
    }
    // SAFETY: `master` is fresh and owned by nobody else.
    let master = unsafe { File::from_raw_fd(master) };
    let fd = master.as_raw_fd();
    let mut name = [0u8; 64];
    // SAFETY: grantpt/unlockpt act on the master fd only; ptsname_r writes at most
    // `name.len()` bytes into `name`.
    let ok = unsafe {
        libc::grantpt(fd) == 0
            && libc::unlockpt(fd) == 0
            && libc::ptsname_r(fd, name.as_mut_ptr().cast(), name.len()) == 0
    };
    if !ok {
        return None;
    }
    let end = name.iter().position(|&b| b == 0)?;
    let path = std::str::from_utf8(&name[..end]).ok()?;
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .ok()?;
    Some((master, slave))
}

/// Whether `fd`'s open file description has O_NONBLOCK set.
pub fn is_nonblocking(fd: std::os::fd::RawFd) -> bool {
    // SAFETY: F_GETFL only reads the status flags of `fd`.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0, "F_GETFL on fd {fd}");
    flags & libc::O_NONBLOCK != 0
}
