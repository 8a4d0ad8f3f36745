//! virtio-net unit tests: the device model (features, config space, offloads handed to the
//! host at activation) and the event loop against a datagram socket pair (`device.rs`), the
//! pure data path against an in-memory host (`tx.rs`, `rx.rs`, `malformed.rs`), and one real
//! tap inside a private network namespace (`real_tap.rs`). Shared helpers here.

mod device;
mod malformed;
mod real_tap;
mod rx;
mod tx;

pub(super) use std::collections::VecDeque;
pub(super) use std::io;
pub(super) use std::os::fd::{AsRawFd, RawFd};
pub(super) use std::os::unix::net::UnixDatagram;
pub(super) use std::sync::{Arc, Mutex};

pub(super) use virtio_bindings::virtio_net::{
    VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_MAC,
    VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM,
};
pub(super) use virtio_queue::desc::split::Descriptor;
pub(super) use virtio_queue::mock::MockSplitQueue;
pub(super) use virtio_queue::{Queue, QueueT};
pub(super) use vm_memory::{Bytes, GuestAddress};
pub(super) use vmm_sys_util::eventfd::EventFd;

pub(super) use super::header::{MAX_FRAME_LEN, OFFERED_FEATURES, VNET_HDR_LEN};
pub(super) use super::*;
pub(super) use crate::devices::virtio::test_utils::{
    add_chain, add_raw_chain, test_memory, CountingSignal, NEXT, R, W,
};
pub(super) use crate::devices::virtio::{
    Activation, GuestMemoryMmap, VirtioDevice, VirtioInterrupt, VIRTIO_F_VERSION_1,
};

pub(super) const QSIZE: u16 = 16;
pub(super) const RX_RING: u64 = 0;
pub(super) const TX_RING: u64 = 0x1000;
/// Our own used rings: `MockSplitQueue` places its used ring `len` bytes (not entries)
/// after the avail ring start, overlapping it for queues of more than a few entries.
pub(super) const RX_USED: u64 = 0x800;
pub(super) const TX_USED: u64 = 0x1800;
/// Offset of `avail_event` in a used ring of QSIZE entries.
pub(super) const AVAIL_EVENT: u64 = 4 + 8 * QSIZE as u64;
pub(super) const MAC: [u8; 6] = [0x02, 0x00, 0x0a, 0x58, 0x00, 0x02];
/// VERSION_1 only: no offloads, one RX chain per frame.
pub(super) const PLAIN: u64 = 1 << VIRTIO_F_VERSION_1;

pub(super) const NEEDS_CSUM: u8 = 1;
pub(super) const DATA_VALID: u8 = 2;
const _: () = assert!(
    NEEDS_CSUM as u32 == VIRTIO_NET_HDR_F_NEEDS_CSUM
        && DATA_VALID as u32 == VIRTIO_NET_HDR_F_DATA_VALID
);

pub(super) fn len32(bytes: &[u8]) -> u32 {
    u32::try_from(bytes.len()).unwrap()
}

pub(super) fn u32_of(value: u64) -> u32 {
    u32::try_from(value).unwrap()
}

/// A host that hands out queued frames and records what it is sent.
#[derive(Default)]
pub(super) struct FakeHost {
    incoming: VecDeque<Vec<u8>>,
    sent: Vec<Vec<u8>>,
    reads: usize,
    /// Reads fail as on a deleted tap.
    gone: bool,
}

impl NetBackend for FakeHost {
    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        if self.gone {
            return Err(io::Error::from_raw_os_error(libc::EBADFD));
        }
        let frame = self.incoming.pop_front().ok_or(io::ErrorKind::WouldBlock)?;
        let n = frame.len().min(buf.len());
        buf[..n].copy_from_slice(&frame[..n]);
        Ok(n)
    }

    fn send_frame(&mut self, frame: &[u8]) -> io::Result<usize> {
        self.sent.push(frame.to_vec());
        Ok(frame.len())
    }
}

/// A header plus `len` payload bytes `tag, tag+1, ...`.
pub(super) fn frame(len: usize, tag: u8) -> Vec<u8> {
    let mut f = vec![0u8; VNET_HDR_LEN];
    f.extend((0..len).map(|i| tag.wrapping_add(u8::try_from(i % 256).unwrap())));
    f
}

pub(super) struct Rig<'m> {
    mem: Arc<GuestMemoryMmap>,
    rxq: MockSplitQueue<'m, GuestMemoryMmap>,
    txq: MockSplitQueue<'m, GuestMemoryMmap>,
}

pub(super) fn rig(mem: &Arc<GuestMemoryMmap>) -> Rig<'_> {
    Rig {
        mem: mem.clone(),
        rxq: MockSplitQueue::create(&**mem, GuestAddress(RX_RING), QSIZE),
        txq: MockSplitQueue::create(&**mem, GuestAddress(TX_RING), QSIZE),
    }
}

impl Rig<'_> {
    fn handler(
        &self,
        acked: u64,
        event_idx: bool,
    ) -> NetQueueHandler<GuestMemoryMmap, FakeHost, CountingSignal> {
        let (rx, tx) = self.queues();
        let (mut rx, mut tx) = (rx, tx);
        rx.set_event_idx(event_idx);
        tx.set_event_idx(event_idx);
        NetQueueHandler::new(
            self.mem.clone(),
            rx,
            tx,
            FakeHost::default(),
            CountingSignal::default(),
            acked,
        )
    }

    fn queues(&self) -> (Queue, Queue) {
        let mut rx: Queue = self.rxq.create_queue().unwrap();
        let mut tx: Queue = self.txq.create_queue().unwrap();
        rx.set_used_ring_address(Some(u32_of(RX_USED)), Some(0));
        tx.set_used_ring_address(Some(u32_of(TX_USED)), Some(0));
        (rx, tx)
    }

    /// The used index of the ring at `used`.
    fn used_idx(&self, used: u64) -> u16 {
        self.mem.read_obj(GuestAddress(used + 2)).unwrap()
    }

    /// Used entry `index` (id, len) of the ring at `used`.
    fn used_entry(&self, used: u64, index: u16) -> (u32, u32) {
        let at = used + 4 + 8 * u64::from(index % QSIZE);
        (
            self.mem.read_obj(GuestAddress(at)).unwrap(),
            self.mem.read_obj(GuestAddress(at + 4)).unwrap(),
        )
    }

    fn read(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        self.mem.read_slice(&mut buf, GuestAddress(addr)).unwrap();
        buf
    }
}
