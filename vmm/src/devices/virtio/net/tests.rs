//! virtio-net unit tests: the device model (features, config space, offloads handed to the
//! host at activation), the pure data path against an in-memory host, the event loop
//! against a datagram socket pair, and one real tap inside a private network namespace.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};

use virtio_bindings::virtio_net::{
    VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_MAC,
    VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM,
};
use virtio_queue::desc::split::Descriptor;
use virtio_queue::mock::MockSplitQueue;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress};
use vmm_sys_util::eventfd::EventFd;

use super::header::{MAX_FRAME_LEN, OFFERED_FEATURES, VNET_HDR_LEN};
use super::*;
use crate::devices::virtio::test_utils::{
    add_chain, add_raw_chain, test_memory, CountingSignal, NEXT, R, W,
};
use crate::devices::virtio::{
    Activation, GuestMemoryMmap, VirtioDevice, VirtioInterrupt, VIRTIO_F_VERSION_1,
};

const QSIZE: u16 = 16;
const RX_RING: u64 = 0;
const TX_RING: u64 = 0x1000;
/// Our own used rings: `MockSplitQueue` places its used ring `len` bytes (not entries)
/// after the avail ring start, overlapping it for queues of more than a few entries.
const RX_USED: u64 = 0x800;
const TX_USED: u64 = 0x1800;
/// Offset of `avail_event` in a used ring of QSIZE entries.
const AVAIL_EVENT: u64 = 4 + 8 * QSIZE as u64;
const MAC: [u8; 6] = [0x02, 0x00, 0x0a, 0x58, 0x00, 0x02];
/// VERSION_1 only: no offloads, one RX chain per frame.
const PLAIN: u64 = 1 << VIRTIO_F_VERSION_1;

const NEEDS_CSUM: u8 = 1;
const DATA_VALID: u8 = 2;
const _: () = assert!(
    NEEDS_CSUM as u32 == VIRTIO_NET_HDR_F_NEEDS_CSUM
        && DATA_VALID as u32 == VIRTIO_NET_HDR_F_DATA_VALID
);

fn len32(bytes: &[u8]) -> u32 {
    u32::try_from(bytes.len()).unwrap()
}

fn u32_of(value: u64) -> u32 {
    u32::try_from(value).unwrap()
}

/// A host that hands out queued frames and records what it is sent.
#[derive(Default)]
struct FakeHost {
    incoming: VecDeque<Vec<u8>>,
    sent: Vec<Vec<u8>>,
    reads: usize,
}

impl NetBackend for FakeHost {
    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
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
fn frame(len: usize, tag: u8) -> Vec<u8> {
    let mut f = vec![0u8; VNET_HDR_LEN];
    f.extend((0..len).map(|i| tag.wrapping_add(u8::try_from(i % 256).unwrap())));
    f
}

struct Rig<'m> {
    mem: Arc<GuestMemoryMmap>,
    rxq: MockSplitQueue<'m, GuestMemoryMmap>,
    txq: MockSplitQueue<'m, GuestMemoryMmap>,
}

fn rig(mem: &Arc<GuestMemoryMmap>) -> Rig<'_> {
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

// --- device model -------------------------------------------------------------------------

/// A datagram socket that records the offloads it is given.
struct RecordingNic {
    socket: UnixDatagram,
    offloads: Arc<Mutex<Vec<u32>>>,
}

impl AsRawFd for RecordingNic {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl NetBackend for RecordingNic {
    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.recv_frame(buf)
    }
    fn send_frame(&mut self, frame: &[u8]) -> io::Result<usize> {
        self.socket.send_frame(frame)
    }
}

impl HostNic for RecordingNic {
    fn set_offload(&self, tun_flags: u32) -> io::Result<()> {
        self.offloads.lock().unwrap().push(tun_flags);
        Ok(())
    }
    fn try_clone_nic(&self) -> io::Result<Box<dyn HostNic>> {
        Ok(Box::new(Self {
            socket: self.socket.try_clone()?,
            offloads: self.offloads.clone(),
        }))
    }
}

fn socket_pair() -> (UnixDatagram, UnixDatagram) {
    let (vmm, host) = UnixDatagram::pair().unwrap();
    vmm.set_nonblocking(true).unwrap();
    host.set_nonblocking(true).unwrap();
    (vmm, host)
}

#[test]
fn offers_mac_and_firecrackers_offloads() {
    let (vmm, _host) = socket_pair();
    let (net, _events) = Net::new(NetArgs {
        host: Box::new(vmm),
        mac: MAC,
    })
    .unwrap();
    assert_eq!(net.device_type(), 1);
    assert_eq!(net.queue_max_sizes(), &[QUEUE_SIZE, QUEUE_SIZE]);
    let features = net.avail_features();
    for bit in [
        VIRTIO_F_VERSION_1,
        VIRTIO_NET_F_MAC,
        VIRTIO_NET_F_CSUM,
        VIRTIO_NET_F_GUEST_CSUM,
        VIRTIO_NET_F_GUEST_TSO4,
        VIRTIO_NET_F_MRG_RXBUF,
    ] {
        assert_ne!(features & (1 << bit), 0, "feature bit {bit}");
    }
    // Nothing that needs a control queue or several queue pairs.
    for bit in [17u32, 22, 16] {
        assert_eq!(features & (1 << bit), 0, "feature bit {bit}");
    }
    let mut config = [0xffu8; 8];
    net.read_config(0, &mut config);
    assert_eq!(config, [2, 0, 0x0a, 0x58, 0, 2, 0, 0]);
    let mut byte = [0u8; 1];
    net.read_config(5, &mut byte);
    assert_eq!(byte, [2]);
    net.read_config(4096, &mut byte);
    assert_eq!(byte, [0]);
    assert!(!net.is_active());
}

#[test]
fn activation_hands_the_negotiated_offloads_to_the_host() {
    let mem = test_memory();
    let r = rig(&mem);
    let (vmm, _host) = socket_pair();
    let offloads = Arc::new(Mutex::new(Vec::new()));
    let (mut net, _events) = Net::new(NetArgs {
        host: Box::new(RecordingNic {
            socket: vmm,
            offloads: offloads.clone(),
        }),
        mac: MAC,
    })
    .unwrap();
    let irq = EventFd::new(libc::EFD_NONBLOCK).unwrap();
    let interrupt = Arc::new(VirtioInterrupt::new(irq));
    let activate = |net: &mut Net, acked: u64| {
        net.activate(Activation {
            mem: mem.clone(),
            queues: {
                let (rx, tx) = r.queues();
                vec![rx, tx]
            },
            acked_features: acked,
            interrupt: interrupt.clone(),
        })
        .unwrap();
    };
    activate(&mut net, OFFERED_FEATURES);
    assert!(net.is_active());
    // Activation kicks both queues so buffers posted before DRIVER_OK are seen.
    assert_eq!(net.queue_events()[0].read().unwrap(), 1);
    assert_eq!(net.queue_events()[1].read().unwrap(), 1);
    net.reset();
    assert!(!net.is_active());
    activate(&mut net, PLAIN | (1 << VIRTIO_NET_F_GUEST_CSUM));
    net.reset();
    activate(&mut net, PLAIN);
    assert_eq!(
        *offloads.lock().unwrap(),
        [
            libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_UFO,
            libc::TUN_F_CSUM,
            0
        ]
    );
    // Only two queues make a NIC.
    let err = net.activate(Activation {
        mem: mem.clone(),
        queues: vec![r.rxq.create_queue().unwrap()],
        acked_features: PLAIN,
        interrupt,
    });
    assert!(err.is_err());
}

// --- TX -----------------------------------------------------------------------------------

#[test]
fn tx_single_descriptor_frame_reaches_the_host() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    let f = frame(60, 1);
    mem.write_slice(&f, GuestAddress(0x10000)).unwrap();
    add_chain(&r.txq, 0, &[(0x10000, len32(&f), R)]);
    let run = h.process_tx();
    assert_eq!(
        run,
        TxRun {
            chains: 1,
            yielded: false
        }
    );
    assert_eq!(h.backend().sent, vec![f.clone()]);
    assert_eq!(r.used_entry(TX_USED, 0), (0, 0));
    assert_eq!(r.used_idx(TX_USED), 1);
    assert_eq!(h.counters().tx_frames, 1);
    assert_eq!(h.counters().tx_bytes, f.len() as u64);
}

#[test]
fn tx_frames_split_anywhere_are_reassembled() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    let f = frame(3000, 7);
    // Splits inside the header, at its end, and across the payload, in scattered buffers.
    let splits = [5usize, 7, 1, 1499, 1500];
    assert_eq!(splits.iter().sum::<usize>(), f.len());
    let mut bufs = Vec::new();
    let mut at = 0;
    for (i, &len) in splits.iter().enumerate() {
        let addr = 0x20000 + 0x3000 * i as u64 + 3;
        mem.write_slice(&f[at..at + len], GuestAddress(addr))
            .unwrap();
        bufs.push((addr, u32::try_from(len).unwrap(), R));
        at += len;
    }
    add_chain(&r.txq, 0, &bufs);
    // A second frame right behind it, header and payload in one buffer.
    let g = frame(100, 9);
    mem.write_slice(&g, GuestAddress(0x40000)).unwrap();
    add_chain(&r.txq, 5, &[(0x40000, len32(&g), R)]);
    assert_eq!(h.process_tx().chains, 2);
    assert_eq!(h.backend().sent, vec![f, g]);
    assert_eq!(r.used_entry(TX_USED, 1), (5, 0));
    assert_eq!(h.signal().0.get(), 1, "one interrupt for the batch");
}

#[test]
fn bad_tx_chains_are_dropped_counted_and_completed() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    // Larger than any frame: two 40000-byte buffers.
    add_chain(&r.txq, 0, &[(0x10000, 40000, R), (0x30000, 40000, R)]);
    // A buffer outside guest memory.
    add_chain(&r.txq, 2, &[(0x10000, 12, R), (0xffff_fff0, 64, R)]);
    // A device-writable buffer in a TX chain.
    add_chain(&r.txq, 4, &[(0x10000, 12, R), (0x20000, 64, W)]);
    // Shorter than the header.
    add_chain(&r.txq, 6, &[(0x10000, 11, R)]);
    // Header asks for checksum offload, which was not negotiated.
    let mut csum = frame(40, 0);
    csum[0] = NEEDS_CSUM;
    mem.write_slice(&csum, GuestAddress(0x50000)).unwrap();
    add_chain(&r.txq, 7, &[(0x50000, len32(&csum), R)]);
    // Buffer length near u32::MAX.
    add_chain(&r.txq, 8, &[(0x10000, u32::MAX, R)]);
    // Then a good frame.
    let good = frame(50, 3);
    mem.write_slice(&good, GuestAddress(0x60000)).unwrap();
    add_chain(&r.txq, 9, &[(0x60000, len32(&good), R)]);
    assert_eq!(h.process_tx().chains, 7);
    let c = h.counters();
    assert_eq!(
        (c.tx_oversize, c.tx_malformed, c.tx_bad_header, c.tx_frames),
        (2, 3, 1, 1),
        "{c:?}"
    );
    assert_eq!(h.backend().sent, vec![good]);
    assert_eq!(r.used_idx(TX_USED), 7, "every chain completed");
    assert_eq!(h.is_broken(), (false, false));
}

#[test]
fn tx_header_offloads_follow_negotiation_and_rx_only_bits_are_cleared() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN | (1 << VIRTIO_NET_F_CSUM), false);
    let mut f = frame(80, 0);
    f[0] = NEEDS_CSUM | DATA_VALID;
    f[6] = 34; // csum_start
    f[8] = 16; // csum_offset
    f[10] = 9; // num_buffers: RX-only
    mem.write_slice(&f, GuestAddress(0x10000)).unwrap();
    add_chain(&r.txq, 0, &[(0x10000, len32(&f), R)]);
    h.process_tx();
    let sent = &h.backend().sent[0];
    assert_eq!(sent[0], NEEDS_CSUM, "DATA_VALID cleared");
    assert_eq!((sent[6], sent[8], sent[10]), (34, 16, 0));
    assert_eq!(sent[VNET_HDR_LEN..], f[VNET_HDR_LEN..]);
}

#[test]
fn tx_event_idx_suppresses_interrupts_the_driver_did_not_ask_for() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, true);
    let f = frame(20, 0);
    mem.write_slice(&f, GuestAddress(0x10000)).unwrap();
    // used_event = 5: the driver wants an interrupt only once entry 5 is used.
    let used_event = GuestAddress(TX_RING + 0x100 + 4 + 2 * u64::from(QSIZE));
    assert_eq!(
        used_event,
        r.txq.avail_addr().unchecked_add(4 + 2 * u64::from(QSIZE))
    );
    mem.write_obj(5u16, used_event).unwrap();
    add_chain(&r.txq, 0, &[(0x10000, len32(&f), R)]);
    h.process_tx();
    assert_eq!(h.signal().0.get(), 0);
    for i in 1..6 {
        add_chain(&r.txq, i, &[(0x10000, len32(&f), R)]);
    }
    h.process_tx();
    assert_eq!(h.signal().0.get(), 1);
    assert_eq!(h.backend().sent.len(), 6);
}

use vm_memory::Address;

// --- RX -----------------------------------------------------------------------------------

#[test]
fn rx_frame_fills_one_guest_buffer_with_num_buffers_1() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    let mut f = frame(1500, 4);
    f[10] = 0xaa; // whatever the tap left in num_buffers
    h.backend().incoming.push_back(f.clone());
    add_chain(&r.rxq, 0, &[(0x10000, 1600, W)]);
    assert_eq!(h.process_rx(), RxState::HostDrained);
    assert_eq!(r.used_entry(RX_USED, 0), (0, len32(&f)));
    let got = r.read(0x10000, f.len());
    assert_eq!(&got[10..12], &[1, 0], "num_buffers");
    assert_eq!(got[VNET_HDR_LEN..], f[VNET_HDR_LEN..]);
    assert_eq!(h.signal().0.get(), 1);
    assert_eq!(h.counters().rx_frames, 1);
}

#[test]
fn rx_chain_with_several_buffers_takes_one_frame() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    let f = frame(2000, 1);
    h.backend().incoming.push_back(f.clone());
    // Linux's "big packets" layout: header buffer, then page-sized ones.
    add_chain(
        &r.rxq,
        0,
        &[(0x10000, 12, W), (0x20000, 1000, W), (0x30000, 4096, W)],
    );
    assert_eq!(h.process_rx(), RxState::HostDrained);
    assert_eq!(r.used_entry(RX_USED, 0), (0, len32(&f)));
    let mut got = r.read(0x10000, 12);
    got.extend(r.read(0x20000, 1000));
    got.extend(r.read(0x30000, 1000));
    assert_eq!(got[VNET_HDR_LEN..], f[VNET_HDR_LEN..]);
}

#[test]
fn rx_mergeable_frame_spans_chains_published_at_once() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(OFFERED_FEATURES, false);
    let f = frame(3000, 2);
    h.backend().incoming.push_back(f.clone());
    for i in 0..4u16 {
        add_chain(&r.rxq, i, &[(0x10000 + 0x1000 * u64::from(i), 1024, W)]);
    }
    assert_eq!(h.process_rx(), RxState::HostDrained);
    assert_eq!(r.used_idx(RX_USED), 3);
    assert_eq!(r.used_entry(RX_USED, 0), (0, 1024));
    assert_eq!(r.used_entry(RX_USED, 1), (1, 1024));
    assert_eq!(r.used_entry(RX_USED, 2), (2, 3012 - 2048));
    assert_eq!(&r.read(0x10000 + 10, 2), &[3, 0], "num_buffers");
    let mut got = r.read(0x10000, 1024);
    got.extend(r.read(0x11000, 1024));
    got.extend(r.read(0x12000, 3012 - 2048));
    assert_eq!(got[VNET_HDR_LEN..], f[VNET_HDR_LEN..]);
    // The fourth buffer is left for the next frame.
    h.backend().incoming.push_back(frame(10, 0));
    h.process_rx();
    assert_eq!(r.used_entry(RX_USED, 3), (3, 22));
}

#[test]
fn rx_without_buffers_keeps_the_frame_and_delivers_it_on_the_next_notify() {
    let mem = test_memory();
    let r = rig(&mem);
    for event_idx in [false, true] {
        let mut h = r.handler(PLAIN, event_idx);
        let first = frame(100, 1);
        let second = frame(200, 2);
        h.backend().incoming.push_back(first.clone());
        h.backend().incoming.push_back(second.clone());
        assert_eq!(h.process_rx(), RxState::NoBuffers);
        assert!(h.has_pending_rx());
        assert_eq!(h.backend().reads, 1, "no frame read beyond the one waiting");
        // Asking again without buffers changes nothing and reads nothing.
        assert_eq!(h.process_rx(), RxState::NoBuffers);
        assert_eq!(h.backend().reads, 1);
        assert_eq!(h.signal().0.get(), 0);
        if event_idx {
            // The driver was asked to kick once it adds any buffer.
            let avail_event = GuestAddress(RX_USED + AVAIL_EVENT);
            let want = r.rxq.avail().idx().load();
            assert_eq!(mem.read_obj::<u16>(avail_event).unwrap(), want);
        } else {
            let flags = GuestAddress(RX_USED);
            assert_eq!(mem.read_obj::<u16>(flags).unwrap(), 0, "NO_NOTIFY clear");
        }
        // The guest posts two buffers and kicks: both frames arrive, in order.
        let base = r.rxq.avail().idx().load();
        let slot = base % QSIZE;
        add_chain(&r.rxq, slot, &[(0x10000, 256, W)]);
        add_chain(&r.rxq, (slot + 1) % QSIZE, &[(0x20000, 256, W)]);
        assert_eq!(h.process_rx(), RxState::HostDrained);
        assert!(!h.has_pending_rx());
        assert_eq!(r.read(0x10000 + 12, 100), first[12..]);
        assert_eq!(r.read(0x20000 + 12, 200), second[12..]);
        assert_eq!(h.counters().rx_frames, 2);
        assert_eq!(h.counters().rx_waited_for_buffers, 2);
        // Reset the rings for the next round.
        r.rxq.avail().idx().store(0);
        mem.write_obj(0u16, GuestAddress(RX_USED + 2)).unwrap();
    }
}

#[test]
fn rx_mergeable_frame_waits_until_there_is_room_for_all_of_it() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(OFFERED_FEATURES, true);
    let f = frame(3000, 5);
    h.backend().incoming.push_back(f.clone());
    add_chain(&r.rxq, 0, &[(0x10000, 1024, W)]);
    assert_eq!(h.process_rx(), RxState::NoBuffers);
    assert_eq!(r.used_idx(RX_USED), 0, "nothing half-delivered");
    // Kick requested for the next buffer, past the one already there.
    let avail_event = GuestAddress(RX_USED + AVAIL_EVENT);
    assert_eq!(mem.read_obj::<u16>(avail_event).unwrap(), 1);
    add_chain(&r.rxq, 1, &[(0x11000, 1024, W)]);
    add_chain(&r.rxq, 2, &[(0x12000, 1024, W)]);
    assert_eq!(h.process_rx(), RxState::HostDrained);
    assert_eq!(r.used_idx(RX_USED), 3);
    assert_eq!(&r.read(0x10000 + 10, 2), &[3, 0]);
}

#[test]
fn rx_frames_larger_than_the_guests_buffers_are_dropped_not_stuck() {
    let mem = test_memory();
    let r = rig(&mem);
    // Without MRG_RXBUF a frame must fit one chain.
    let mut h = r.handler(PLAIN, false);
    h.backend().incoming.push_back(frame(1000, 0));
    h.backend().incoming.push_back(frame(50, 6));
    add_chain(&r.rxq, 0, &[(0x10000, 100, W)]);
    assert_eq!(h.process_rx(), RxState::HostDrained);
    assert_eq!(h.counters().rx_oversize, 1);
    // The buffer was kept for the frame that fits.
    assert_eq!(r.used_entry(RX_USED, 0), (0, 62));
    assert_eq!(r.read(0x10000 + 12, 50), frame(50, 6)[12..]);

    // With MRG_RXBUF, a frame larger than the whole ring is dropped once the ring is full.
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(OFFERED_FEATURES, false);
    h.backend().incoming.push_back(frame(MAX_FRAME_LEN - 12, 0));
    for i in 0..QSIZE {
        add_chain(&r.rxq, i, &[(0x10000 + 0x1000 * u64::from(i), 64, W)]);
    }
    assert_eq!(h.process_rx(), RxState::HostDrained);
    assert_eq!(h.counters().rx_oversize, 1);
    assert_eq!(r.used_idx(RX_USED), 0);
}

#[test]
fn rx_buffers_outside_memory_or_read_only_give_no_room() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    h.backend().incoming.push_back(frame(100, 0));
    add_chain(
        &r.rxq,
        0,
        &[
            (0xffff_0000, 4096, W),
            (0x3f_fff0, 4096, W),
            (0x10000, 4096, R),
        ],
    );
    assert_eq!(h.process_rx(), RxState::HostDrained);
    assert_eq!(h.counters().rx_oversize, 1, "{:?}", h.counters());
    assert_eq!(h.counters().rx_frames, 0);
    assert_eq!(r.read(0x10000, 4), [0; 4], "read-only buffer untouched");
}

#[test]
fn short_host_frames_are_counted_and_skipped() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    h.backend().incoming.push_back(vec![1, 2, 3]);
    h.backend().incoming.push_back(frame(10, 0));
    add_chain(&r.rxq, 0, &[(0x10000, 256, W)]);
    h.process_rx();
    assert_eq!(h.counters().rx_malformed, 1);
    assert_eq!(h.counters().rx_frames, 1);
}

// --- malformed rings ------------------------------------------------------------------------

#[test]
fn looping_and_out_of_table_chains_do_not_hang_or_panic() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    let f = frame(20, 0);
    mem.write_slice(&f, GuestAddress(0x10000)).unwrap();
    // TX: 0 -> 1 -> 0 -> ... (the chain walk stops at the queue size).
    add_raw_chain(
        &r.txq,
        0,
        &[
            Descriptor::new(0x10000, 20, NEXT, 1),
            Descriptor::new(0x10000, 20, NEXT, 0),
        ],
        0,
    );
    // TX: next points outside the table.
    add_raw_chain(&r.txq, 2, &[Descriptor::new(0x10000, 20, NEXT, 999)], 2);
    let run = h.process_tx();
    assert_eq!(run.chains, 2);
    assert!(h.backend().sent.iter().all(|s| s.len() <= MAX_FRAME_LEN));
    // RX: a looping chain of writable buffers.
    h.backend().incoming.push_back(frame(30, 0));
    add_raw_chain(
        &r.rxq,
        0,
        &[
            Descriptor::new(0x20000, 8, W | NEXT, 1),
            Descriptor::new(0x20000, 8, W | NEXT, 0),
        ],
        0,
    );
    h.process_rx();
    assert!(!h.is_broken().0);
    // A head outside the descriptor table breaks the queue for good, without panic.
    add_raw_chain(&r.txq, 3, &[], QSIZE + 5);
    h.process_tx();
    assert!(h.is_broken().1);
    assert_eq!(h.process_tx().chains, 0);
}

#[test]
fn avail_index_running_ahead_breaks_only_that_queue() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    r.rxq.avail().idx().store(QSIZE + 1);
    h.backend().incoming.push_back(frame(10, 0));
    assert_eq!(h.process_rx(), RxState::Broken);
    assert_eq!(h.is_broken(), (true, false));
    let f = frame(20, 0);
    mem.write_slice(&f, GuestAddress(0x10000)).unwrap();
    add_chain(&r.txq, 0, &[(0x10000, 32, R)]);
    assert_eq!(h.process_tx().chains, 1);
}

/// A bounded in-test fuzz loop (the cargo-fuzz target `net_queue` runs the same idea
/// unbounded): random rings, descriptors and host frames must never panic, never send a
/// frame larger than the limit, and never report more used bytes than a frame had.
#[test]
fn random_guests_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const MEM: usize = 0x1_0000;
    for _ in 0..300 {
        let mem =
            Arc::new(GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM)]).expect("test memory"));
        let mut image = vec![0u8; MEM];
        for chunk in image.chunks_mut(8) {
            let v = next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        // Small descriptor lengths and addresses often inside memory.
        for i in (0..0x400).step_by(16) {
            image[i + 8..i + 12].copy_from_slice(&u32_of(next() % 0x3000).to_le_bytes());
            image[i..i + 8].copy_from_slice(&(next() % 0x1_2000).to_le_bytes());
        }
        mem.write_slice(&image, GuestAddress(0)).unwrap();
        let queue = |desc: u64, avail: u64, used: u64, size: u16, event_idx: bool| {
            let mut q = Queue::new(256).unwrap();
            q.set_size(size);
            q.set_desc_table_address(Some(u32_of(desc)), Some(0));
            q.set_avail_ring_address(Some(u32_of(avail)), Some(0));
            q.set_used_ring_address(Some(u32_of(used)), Some(0));
            q.set_event_idx(event_idx);
            q.set_ready(true);
            q
        };
        let size = 1u16 << (next() % 6);
        let ev = next() % 2 == 0;
        let rx = queue(0, 0x800, 0xa00, size, ev);
        let tx = queue(
            0x400,
            0x900 + (next() % 8) * 2,
            0xc00 + (next() % 4) * 4,
            size,
            ev,
        );
        if !rx.is_valid(&*mem) || !tx.is_valid(&*mem) {
            continue;
        }
        let acked = next() & OFFERED_FEATURES;
        let mut host = FakeHost::default();
        for _ in 0..(next() % 4) {
            let len = (next() % 70_000) as usize;
            host.incoming.push_back(vec![0x5a; len]);
        }
        let mut h = NetQueueHandler::new(mem, rx, tx, host, CountingSignal::default(), acked);
        for _ in 0..3 {
            h.process_tx();
            h.process_rx();
        }
        assert!(h.backend().sent.iter().all(|f| f.len() <= MAX_FRAME_LEN));
    }
}
