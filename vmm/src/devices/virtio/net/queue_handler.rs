//! The virtio-net data path: guest TX chains become host frames, host frames fill guest RX
//! chains. Pure (the host side is a [`NetBackend`], interrupts a [`SignalUsedQueue`]) so it
//! is unit-tested and fuzzed without a tap or an eventfd.
//!
//! The guest is hostile. Every guest buffer is bounds-checked by vm-memory; a TX frame is
//! gathered into one host buffer of [`MAX_FRAME_LEN`] bytes and a longer one is dropped and
//! counted; chain walks are bounded by the queue size (virtio-queue) and by
//! [`MAX_SEGMENTS`]; each call does a bounded amount of work and says when it yielded.
//!
//! RX never loses a frame for lack of guest buffers: the frame read from the host waits in
//! the handler (and no further frame is read) until the driver posts room for it; the
//! driver is asked to kick the RX queue when it does.

use std::io;
use std::sync::Arc;

use virtio_queue::{Queue, QueueOwnedT, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemory, Permissions};

use super::backend::NetBackend;
use super::header::{
    mergeable_rx, sanitize_tx_header, set_num_buffers, MAX_FRAME_LEN, VNET_HDR_LEN,
};
use super::used_ring::{needs_interrupt, publish_used, request_kick};
use crate::devices::virtio::SignalUsedQueue;

/// Most chains (TX) or frames (RX) one call handles before yielding to the event loop.
pub const CHAINS_PER_RUN: usize = 256;
/// Most notification re-enable rounds per call (overlapping rings can make our own ring
/// writes look like new work; see the blk fuzz findings).
pub const ROUNDS_PER_RUN: usize = 64;
/// Buffers of one chain looked at; Linux uses at most MAX_SKB_FRAGS + 2 (19).
pub const MAX_SEGMENTS: usize = 64;

/// What the data path counted; drops never stop the device.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NetCounters {
    /// Frames sent to the host.
    pub tx_frames: u64,
    /// Bytes sent to the host (headers included).
    pub tx_bytes: u64,
    /// TX chains dropped: longer than [`MAX_FRAME_LEN`].
    pub tx_oversize: u64,
    /// TX chains dropped: a buffer outside guest memory, a device-writable buffer, too many
    /// buffers, or shorter than the header.
    pub tx_malformed: u64,
    /// TX frames dropped: their header asks for offloads that were not negotiated.
    pub tx_bad_header: u64,
    /// TX frames the host refused (full queue, interface down, bad GSO header).
    pub tx_host_errors: u64,
    /// Frames delivered to the guest.
    pub rx_frames: u64,
    /// Bytes delivered to the guest (headers included).
    pub rx_bytes: u64,
    /// Host frames dropped: larger than the guest's buffers can ever hold.
    pub rx_oversize: u64,
    /// Host frames dropped: shorter than the header.
    pub rx_malformed: u64,
    /// Frames dropped because a guest buffer could not be written.
    pub rx_bad_buffer: u64,
    /// Times a frame had to wait for the guest to post RX buffers.
    pub rx_waited_for_buffers: u64,
}

/// Result of one [`NetQueueHandler::process_tx`] call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TxRun {
    /// Chains completed (sent or dropped).
    pub chains: usize,
    /// The budget ran out with work possibly left: run again after other events.
    pub yielded: bool,
}

/// Result of one [`NetQueueHandler::process_rx`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxState {
    /// The host has no more frames: wait for it to become readable.
    HostDrained,
    /// A frame waits for guest buffers; the driver was asked to kick the RX queue. Stop
    /// reading the host until then.
    NoBuffers,
    /// Budget used up: run again after other events.
    Yielded,
    /// The host side failed for good (e.g. the tap was deleted): stop watching it.
    HostFailed,
    /// The driver broke the RX queue: nothing is served until reset.
    Broken,
}

/// Where one popped RX chain's writable buffers sit in the segment scratch list.
#[derive(Debug, Clone, Copy)]
struct RxChain {
    head: u16,
    start: usize,
    end: usize,
}

/// Why a TX chain was dropped.
enum TxDrop {
    Oversize,
    Malformed,
}

/// Serves one RX/TX queue pair.
pub struct NetQueueHandler<M: GuestMemory, B: NetBackend, S: SignalUsedQueue> {
    mem: Arc<M>,
    rx: Queue,
    tx: Queue,
    backend: B,
    signal: S,
    acked_features: u64,
    /// The frame read from the host, `rx_pending` bytes of it waiting for guest buffers.
    rx_frame: Box<[u8]>,
    rx_pending: usize,
    tx_frame: Box<[u8]>,
    rx_broken: bool,
    tx_broken: bool,
    /// Reading the host failed (logged once).
    host_failed: bool,
    counters: NetCounters,
    /// Scratch (reused, so the hot path does not allocate): used entries of this round,
    /// popped RX chains and their buffers.
    used: Vec<(u16, u32)>,
    rx_chains: Vec<RxChain>,
    rx_segments: Vec<(GuestAddress, usize)>,
}

impl<M: GuestMemory, B: NetBackend, S: SignalUsedQueue> NetQueueHandler<M, B, S> {
    /// The used index of the RX and TX queues, for a snapshot. RX chains taken for a frame
    /// not yet delivered are taken again after a restore; the frame is lost, as on a reset.
    pub fn used_indices(&self) -> [u16; 2] {
        [self.rx.next_used(), self.tx.next_used()]
    }

    /// Serves `rx` (receiveq1) and `tx` (transmitq1) with the features the driver acked.
    pub fn new(mem: Arc<M>, rx: Queue, tx: Queue, backend: B, signal: S, acked: u64) -> Self {
        Self {
            mem,
            rx,
            tx,
            backend,
            signal,
            acked_features: acked,
            rx_frame: vec![0u8; MAX_FRAME_LEN].into_boxed_slice(),
            rx_pending: 0,
            tx_frame: vec![0u8; MAX_FRAME_LEN].into_boxed_slice(),
            rx_broken: false,
            tx_broken: false,
            host_failed: false,
            counters: NetCounters::default(),
            used: Vec::new(),
            rx_chains: Vec::new(),
            rx_segments: Vec::new(),
        }
    }

    /// What was sent, received and dropped so far.
    pub fn counters(&self) -> NetCounters {
        self.counters
    }

    /// The host backend.
    pub fn backend(&mut self) -> &mut B {
        &mut self.backend
    }

    /// How the handler interrupts the guest.
    pub fn signal(&self) -> &S {
        &self.signal
    }

    /// Whether a host frame is waiting for guest RX buffers.
    pub fn has_pending_rx(&self) -> bool {
        self.rx_pending > 0
    }

    /// Whether the driver broke (RX, TX) queues.
    pub fn is_broken(&self) -> (bool, bool) {
        (self.rx_broken, self.tx_broken)
    }

    /// Sends what the driver made available on the TX queue, re-enabling notifications and
    /// looking again until it adds nothing more, within the per-call budget. Every chain
    /// is completed, sent or dropped: a bad frame never stalls the queue.
    pub fn process_tx(&mut self) -> TxRun {
        let mem = Arc::clone(&self.mem);
        let mem = &*mem;
        let mut run = TxRun::default();
        let mut rounds = 0;
        while !self.tx_broken {
            if rounds == ROUNDS_PER_RUN || run.chains >= CHAINS_PER_RUN {
                run.yielded = true;
                break;
            }
            rounds += 1;
            if let Err(err) = self.tx.disable_notification(mem) {
                self.give_up_tx(&err);
                break;
            }
            let used_before = self.tx.next_used();
            self.used.clear();
            while run.chains + self.used.len() < CHAINS_PER_RUN {
                let chain = match self.tx.iter(mem) {
                    Ok(mut avail) => avail.next(),
                    Err(err) => {
                        self.give_up_tx(&err);
                        break;
                    }
                };
                let Some(chain) = chain else {
                    break;
                };
                self.used.push((chain.head_index(), 0));
                match gather(mem, chain, &mut self.tx_frame) {
                    Ok(len) => self.send(len),
                    Err(TxDrop::Oversize) => self.counters.tx_oversize += 1,
                    Err(TxDrop::Malformed) => self.counters.tx_malformed += 1,
                }
            }
            run.chains += self.used.len();
            let published = publish_used(mem, &mut self.tx, &self.used)
                .and_then(|()| needs_interrupt(mem, &self.tx, used_before));
            match published {
                Ok(true) => self.signal.signal_used_queue(),
                Ok(false) => {}
                Err(err) => self.give_up_tx(&err),
            }
            if self.tx_broken {
                break;
            }
            match self.tx.enable_notification(mem) {
                Ok(true) => continue,
                Ok(false) => break,
                Err(err) => self.give_up_tx(&err),
            }
        }
        run
    }

    fn send(&mut self, len: usize) {
        let frame = &mut self.tx_frame[..len];
        if len < VNET_HDR_LEN {
            self.counters.tx_malformed += 1;
            return;
        }
        if let Err(err) = sanitize_tx_header(frame, self.acked_features) {
            tracing::debug!("virtio-net: dropping a TX frame: {err}");
            self.counters.tx_bad_header += 1;
            return;
        }
        match self.backend.send_frame(frame) {
            Ok(_) => {
                self.counters.tx_frames += 1;
                self.counters.tx_bytes += len as u64;
            }
            Err(err) => {
                // A full tap queue (EAGAIN) drops the frame like a busy wire would; the
                // guest's TCP retransmits.
                if err.kind() != io::ErrorKind::WouldBlock {
                    tracing::debug!("virtio-net: host refused a TX frame: {err}");
                }
                self.counters.tx_host_errors += 1;
            }
        }
    }

    /// Moves host frames into guest RX buffers until the host has none, the guest has no
    /// room (the frame then waits), or the budget runs out.
    pub fn process_rx(&mut self) -> RxState {
        let mem = Arc::clone(&self.mem);
        let mem = &*mem;
        let used_before = self.rx.next_used();
        self.used.clear();
        let mut frames = 0;
        let mut rounds = 0;
        let state = loop {
            if self.rx_broken {
                break RxState::Broken;
            }
            if frames == CHAINS_PER_RUN || rounds == ROUNDS_PER_RUN {
                break RxState::Yielded;
            }
            if self.rx_pending == 0 {
                frames += 1;
                match self.backend.recv_frame(&mut self.rx_frame) {
                    Ok(len) if len >= VNET_HDR_LEN => self.rx_pending = len,
                    Ok(_) => {
                        self.counters.rx_malformed += 1;
                        continue;
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        break RxState::HostDrained;
                    }
                    Err(err) => {
                        // Said once: a guest kicking RX afterwards must not flood the log.
                        if !self.host_failed {
                            tracing::warn!(
                                "virtio-net: host side failed, no more frames for the guest: {err}"
                            );
                        }
                        self.host_failed = true;
                        break RxState::HostFailed;
                    }
                }
            }
            match self.place_rx_frame(mem) {
                Ok(true) => self.rx_pending = 0,
                Ok(false) => {
                    rounds += 1;
                    self.counters.rx_waited_for_buffers += 1;
                    match request_kick(mem, &mut self.rx) {
                        Ok(true) => continue,
                        Ok(false) => break RxState::NoBuffers,
                        Err(err) => self.give_up_rx(&err),
                    }
                }
                Err(err) => self.give_up_rx(&err),
            }
        };
        let published = publish_used(mem, &mut self.rx, &self.used)
            .and_then(|()| needs_interrupt(mem, &self.rx, used_before));
        match published {
            Ok(true) => self.signal.signal_used_queue(),
            Ok(false) => {}
            Err(err) => {
                self.give_up_rx(&err);
                return RxState::Broken;
            }
        }
        state
    }

    /// Puts the pending frame into guest RX chains (one, or as many as it needs with
    /// MRG_RXBUF), queueing their used entries. Ok(false): not enough room yet, nothing
    /// consumed. A frame that can never fit is dropped (Ok(true)).
    fn place_rx_frame(&mut self, mem: &M) -> Result<bool, virtio_queue::Error> {
        let needed = self.rx_pending;
        let mergeable = mergeable_rx(self.acked_features);
        self.rx_chains.clear();
        self.rx_segments.clear();
        let mut capacity = 0usize;
        {
            let mut avail = self.rx.iter(mem)?;
            while capacity < needed && (mergeable || self.rx_chains.is_empty()) {
                let Some(chain) = avail.next() else {
                    break;
                };
                let start = self.rx_segments.len();
                let head = chain.head_index();
                for desc in chain.filter(|d| d.is_write_only()).take(MAX_SEGMENTS) {
                    let len = usize::try_from(desc.len()).unwrap_or(0);
                    // Only buffers wholly inside guest RAM count as room.
                    if len > 0 && mem.check_range(desc.addr(), len, Permissions::Write) {
                        self.rx_segments.push((desc.addr(), len));
                        capacity = capacity.saturating_add(len);
                    }
                }
                self.rx_chains.push(RxChain {
                    head,
                    start,
                    end: self.rx_segments.len(),
                });
            }
        }
        if capacity < needed {
            // At most the queue size chains were popped.
            let popped = u16::try_from(self.rx_chains.len()).unwrap_or(u16::MAX);
            // Not consumed: the chains stay available for this frame or the next.
            self.rx
                .set_next_avail(self.rx.next_avail().wrapping_sub(popped));
            let ring_full = popped >= self.rx.size();
            if (!mergeable && popped > 0) || ring_full {
                // The guest's buffers are smaller than this frame and will stay so.
                tracing::debug!(
                    "virtio-net: dropping a {needed}-byte frame the guest has no room for"
                );
                self.counters.rx_oversize += 1;
                return Ok(true);
            }
            return Ok(false);
        }
        // At most the queue size (<= 32768) chains.
        set_num_buffers(
            &mut self.rx_frame,
            u16::try_from(self.rx_chains.len()).unwrap_or(u16::MAX),
        );
        let frame = &self.rx_frame[..needed];
        let mut offset = 0;
        let mut failed = false;
        for chain in &self.rx_chains {
            let mut written = 0usize;
            for &(addr, len) in &self.rx_segments[chain.start..chain.end] {
                if offset == needed || failed {
                    break;
                }
                let n = len.min(needed - offset);
                if mem.write_slice(&frame[offset..offset + n], addr).is_err() {
                    failed = true;
                    break;
                }
                offset += n;
                written += n;
            }
            // written <= MAX_FRAME_LEN.
            self.used
                .push((chain.head, u32::try_from(written).unwrap_or(0)));
        }
        if failed {
            self.counters.rx_bad_buffer += 1;
        } else {
            self.counters.rx_frames += 1;
            self.counters.rx_bytes += needed as u64;
        }
        Ok(true)
    }

    fn give_up_tx(&mut self, err: &virtio_queue::Error) {
        tracing::warn!("virtio-net: TX queue broken by the guest driver ({err}); ignoring it until the device is reset");
        self.tx_broken = true;
    }

    fn give_up_rx(&mut self, err: &virtio_queue::Error) {
        tracing::warn!("virtio-net: RX queue broken by the guest driver ({err}); ignoring it until the device is reset");
        self.rx_broken = true;
    }
}

/// Copies the device-readable buffers of a TX chain into `frame`; returns the length.
fn gather<M: GuestMemory>(
    mem: &M,
    chain: virtio_queue::DescriptorChain<&M>,
    frame: &mut [u8],
) -> Result<usize, TxDrop> {
    let mut len = 0usize;
    for (count, desc) in chain.enumerate() {
        if count == MAX_SEGMENTS || desc.is_write_only() {
            return Err(TxDrop::Malformed);
        }
        let part = usize::try_from(desc.len()).map_err(|_| TxDrop::Oversize)?;
        let end = len
            .checked_add(part)
            .filter(|&end| end <= frame.len())
            .ok_or(TxDrop::Oversize)?;
        mem.read_slice(&mut frame[len..end], desc.addr())
            .map_err(|_| TxDrop::Malformed)?;
        len = end;
    }
    Ok(len)
}
