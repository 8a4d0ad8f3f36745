//! The virtio-console data path for port 0: guest TX buffers go to a host `Write`, host
//! `Read` bytes go into guest RX buffers. Pure (no eventfds) so it can be unit-tested.
//!
//! Memory stays bounded whatever the host does: bytes move through one 4 KiB stack buffer.
//! A host that stops reading makes `write` return `WouldBlock`; the chain being sent is then
//! kept (by reference into guest memory, not copied) and no further TX chain is taken until
//! the host drains. Symmetrically, host input is only read when the guest has an RX buffer
//! to put it in.

use std::io::{self, Read, Write};
use std::sync::Arc;

use virtio_queue::{Queue, QueueOwnedT, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemory};

use crate::devices::virtio::SignalUsedQueue;

/// Bytes moved per read/write call.
const CHUNK: usize = 4096;
/// Buffers of one chain we look at; the rest of an oversized chain is ignored. Linux's hvc
/// driver uses one buffer per chain.
const MAX_SEGMENTS: usize = 64;

/// Chains one `process_tx`/`process_rx` call handles before yielding to the event loop
/// (a guest with overlapping rings could otherwise feed it forever).
pub const CHAINS_PER_RUN: usize = 256;

/// Result of pushing guest output to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxState {
    /// Every available TX chain was written out.
    Idle,
    /// The host is not reading: wait for the output to become writable.
    Blocked,
    /// Budget used up: run again after other events.
    Yielded,
}

/// Result of pulling host input into the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxState {
    /// The host has nothing more right now.
    InputDrained,
    /// The guest has no RX buffer: stop watching the input until it posts one.
    NoBuffers,
    /// The host input is closed (or failed): stop watching it for good.
    InputClosed,
    /// Budget used up: run again after other events.
    Yielded,
}

/// A TX chain partly written to a host that stopped reading.
#[derive(Debug)]
struct PendingTx {
    head: u16,
    segments: Vec<(GuestAddress, u32)>,
    /// Bytes of `segments` already written.
    done: u64,
}

/// The live queues of port 0.
pub struct ConsoleQueueHandler<M: GuestMemory, S: SignalUsedQueue> {
    mem: Arc<M>,
    rx: Queue,
    tx: Queue,
    signal: S,
    pending_tx: Option<PendingTx>,
    broken: bool,
}

impl<M: GuestMemory, S: SignalUsedQueue> ConsoleQueueHandler<M, S> {
    /// The used index of the RX and TX queues, for a snapshot. A TX chain half written to
    /// the host is not counted: a restore takes it again (the new host side gets it whole).
    pub fn used_indices(&self) -> [u16; 2] {
        [self.rx.next_used(), self.tx.next_used()]
    }

    /// Serves `rx` (receiveq0) and `tx` (transmitq0).
    pub fn new(mem: Arc<M>, rx: Queue, tx: Queue, signal: S) -> Self {
        Self {
            mem,
            rx,
            tx,
            signal,
            pending_tx: None,
            broken: false,
        }
    }

    /// Whether the driver broke the queue protocol (nothing is served until reset).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Writes guest output to `out` until the guest has no more or `out` would block.
    pub fn process_tx<W: Write + ?Sized>(&mut self, out: &mut W) -> TxState {
        let mut used = false;
        let mut chains = 0;
        let state = loop {
            if self.broken {
                break TxState::Idle;
            }
            if chains == CHAINS_PER_RUN {
                break TxState::Yielded;
            }
            chains += 1;
            let pending = match self.pending_tx.take() {
                Some(pending) => pending,
                None => match self.pop_tx() {
                    Some(pending) => pending,
                    None => break TxState::Idle,
                },
            };
            match self.send(pending, out) {
                Ok(head) => {
                    used = true;
                    self.add_used(true, head, 0);
                }
                Err(pending) => {
                    self.pending_tx = Some(pending);
                    break TxState::Blocked;
                }
            }
        };
        if used {
            self.notify(true);
        }
        // A buffered host writer (e.g. std's line-buffered stdout) must not sit on a prompt
        // that has no newline yet. Its buffer is bounded, so a flush that would block just
        // means waiting for the host like any other blocked write.
        match flush_retrying(out) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => TxState::Blocked,
            Err(err) => {
                tracing::debug!("virtio-console: host output flush failed: {err}");
                state
            }
            Ok(()) => state,
        }
    }

    /// Moves host input into guest RX buffers until one side runs dry.
    pub fn process_rx<R: Read + ?Sized>(&mut self, input: &mut R) -> RxState {
        let mut buf = [0u8; CHUNK];
        let mut used = false;
        let mut chains = 0;
        let state = loop {
            if self.broken {
                break RxState::NoBuffers;
            }
            if chains == CHAINS_PER_RUN {
                break RxState::Yielded;
            }
            chains += 1;
            let Some((head, segments)) = self.pop(false) else {
                break RxState::NoBuffers;
            };
            let capacity: u64 = segments.iter().map(|&(_, len)| u64::from(len)).sum();
            if capacity == 0 {
                // Nothing fits in it; hand it back empty rather than stall.
                used = true;
                self.add_used(false, head, 0);
                continue;
            }
            let want = usize::try_from(capacity).unwrap_or(CHUNK).min(CHUNK);
            let n = match read_retrying(input, &mut buf[..want]) {
                Ok(0) => {
                    self.unpop_rx();
                    break RxState::InputClosed;
                }
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.unpop_rx();
                    break RxState::InputDrained;
                }
                Err(err) => {
                    tracing::warn!("virtio-console: host input failed, detaching it: {err}");
                    self.unpop_rx();
                    break RxState::InputClosed;
                }
            };
            let written = self.scatter(&segments, &buf[..n]);
            used = true;
            self.add_used(false, head, written);
        };
        if used {
            self.notify(false);
        }
        state
    }

    fn pop_tx(&mut self) -> Option<PendingTx> {
        self.pop(true).map(|(head, segments)| PendingTx {
            head,
            segments,
            done: 0,
        })
    }

    /// Pops the next chain of `tx` (device-readable buffers) or `rx` (device-writable ones).
    fn pop(&mut self, tx: bool) -> Option<(u16, Vec<(GuestAddress, u32)>)> {
        let mem = &*self.mem;
        let queue = if tx { &mut self.tx } else { &mut self.rx };
        let chain = match queue.iter(mem) {
            Ok(mut avail) => avail.next(),
            Err(err) => {
                self.give_up(&err);
                return None;
            }
        }?;
        let head = chain.head_index();
        let segments = chain
            .filter(|d| d.is_write_only() != tx)
            .take(MAX_SEGMENTS)
            .map(|d| (d.addr(), d.len()))
            .collect();
        Some((head, segments))
    }

    fn unpop_rx(&mut self) {
        self.rx.set_next_avail(self.rx.next_avail().wrapping_sub(1));
    }

    /// Writes what is left of `pending`; gives it back if the host would block.
    fn send<W: Write + ?Sized>(
        &self,
        mut pending: PendingTx,
        out: &mut W,
    ) -> Result<u16, PendingTx> {
        let mut buf = [0u8; CHUNK];
        let mut start = 0u64;
        for &(addr, len) in &pending.segments {
            let seg_end = start + u64::from(len);
            while pending.done < seg_end {
                let offset = pending.done - start;
                let n = usize::try_from(seg_end - pending.done)
                    .unwrap_or(CHUNK)
                    .min(CHUNK);
                let Some(src) = addr.0.checked_add(offset) else {
                    return Ok(pending.head);
                };
                if self
                    .mem
                    .read_slice(&mut buf[..n], GuestAddress(src))
                    .is_err()
                {
                    // A buffer outside guest memory: drop the rest of this chain.
                    tracing::debug!("virtio-console: TX buffer outside guest memory");
                    return Ok(pending.head);
                }
                match write_retrying(out, &buf[..n]) {
                    Ok(0) => return Ok(pending.head),
                    Ok(k) => pending.done += k as u64,
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Err(pending),
                    Err(err) => {
                        // The host side is gone; keep the guest running, output is lost.
                        tracing::debug!("virtio-console: host output failed: {err}");
                        return Ok(pending.head);
                    }
                }
            }
            start = seg_end;
        }
        Ok(pending.head)
    }

    /// Copies `data` into the RX buffers; returns the bytes placed.
    fn scatter(&self, segments: &[(GuestAddress, u32)], mut data: &[u8]) -> u32 {
        let mut written = 0u32;
        for &(addr, len) in segments {
            if data.is_empty() {
                break;
            }
            let n = data.len().min(usize::try_from(len).unwrap_or(usize::MAX));
            if self.mem.write_slice(&data[..n], addr).is_err() {
                tracing::debug!("virtio-console: RX buffer outside guest memory");
                break;
            }
            data = &data[n..];
            // n <= CHUNK.
            written += u32::try_from(n).unwrap_or(0);
        }
        written
    }

    fn add_used(&mut self, tx: bool, head: u16, len: u32) {
        let mem = &*self.mem;
        let queue = if tx { &mut self.tx } else { &mut self.rx };
        if let Err(err) = queue.add_used(mem, head, len) {
            self.give_up(&err);
        }
    }

    fn notify(&mut self, tx: bool) {
        let mem = &*self.mem;
        let queue = if tx { &mut self.tx } else { &mut self.rx };
        match queue.needs_notification(mem) {
            Ok(true) => self.signal.signal_used_queue(),
            Ok(false) => {}
            Err(err) => self.give_up(&err),
        }
    }

    fn give_up(&mut self, err: &virtio_queue::Error) {
        tracing::warn!("virtio-console: queue broken by the guest driver ({err}); ignoring it until the device is reset");
        self.broken = true;
    }
}

fn read_retrying<R: Read + ?Sized>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn flush_retrying<W: Write + ?Sized>(out: &mut W) -> io::Result<()> {
    loop {
        match out.flush() {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn write_retrying<W: Write + ?Sized>(out: &mut W, buf: &[u8]) -> io::Result<usize> {
    loop {
        match out.write(buf) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use virtio_queue::mock::MockSplitQueue;

    use super::*;
    use crate::devices::virtio::test_utils::{
        add_chain, test_memory, used_entry, CountingSignal, R, W,
    };
    use crate::devices::virtio::GuestMemoryMmap;

    /// A host output that accepts at most `room` bytes, then says WouldBlock.
    struct SlowHost {
        got: Vec<u8>,
        room: usize,
    }

    impl Write for SlowHost {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Host input with a script of reads.
    struct ScriptedInput(VecDeque<io::Result<Vec<u8>>>);

    impl Read for ScriptedInput {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.pop_front() {
                None => Err(io::ErrorKind::WouldBlock.into()),
                Some(Ok(mut data)) => {
                    let n = data.len().min(buf.len());
                    buf[..n].copy_from_slice(&data[..n]);
                    if n < data.len() {
                        self.0.push_front(Ok(data.split_off(n)));
                    }
                    Ok(n)
                }
                Some(Err(err)) => Err(err),
            }
        }
    }

    fn queues<'a>(
        mem: &'a Arc<GuestMemoryMmap>,
    ) -> (
        MockSplitQueue<'a, GuestMemoryMmap>,
        MockSplitQueue<'a, GuestMemoryMmap>,
    ) {
        let rx = MockSplitQueue::create(&**mem, GuestAddress(0), 16);
        let tx = MockSplitQueue::create(&**mem, GuestAddress(0x1000), 16);
        (rx, tx)
    }

    fn handler(
        mem: &Arc<GuestMemoryMmap>,
        rx: &MockSplitQueue<'_, GuestMemoryMmap>,
        tx: &MockSplitQueue<'_, GuestMemoryMmap>,
    ) -> ConsoleQueueHandler<GuestMemoryMmap, CountingSignal> {
        ConsoleQueueHandler::new(
            mem.clone(),
            rx.create_queue().unwrap(),
            tx.create_queue().unwrap(),
            CountingSignal::default(),
        )
    }

    #[test]
    fn tx_reaches_the_host_in_order() {
        let mem = test_memory();
        let (rxq, txq) = queues(&mem);
        let mut h = handler(&mem, &rxq, &txq);
        mem.write_slice(b"hello ", GuestAddress(0x10000)).unwrap();
        mem.write_slice(b"world\n", GuestAddress(0x11000)).unwrap();
        add_chain(&txq, 0, &[(0x10000, 6, R)]);
        add_chain(&txq, 1, &[(0x11000, 6, R)]);
        let mut out = SlowHost {
            got: Vec::new(),
            room: usize::MAX,
        };
        assert_eq!(h.process_tx(&mut out), TxState::Idle);
        assert_eq!(out.got, b"hello world\n");
        assert_eq!(used_entry(&txq, 1), (1, 0));
        assert_eq!(h.signal.0.get(), 1);
    }

    #[test]
    fn buffered_host_output_is_flushed() {
        let mem = test_memory();
        let (rxq, txq) = queues(&mem);
        let mut h = handler(&mem, &rxq, &txq);
        mem.write_slice(b"# ", GuestAddress(0x10000)).unwrap();
        add_chain(&txq, 0, &[(0x10000, 2, R)]);
        let mut out = io::LineWriter::new(Vec::new());
        assert_eq!(h.process_tx(&mut out), TxState::Idle);
        assert_eq!(
            out.get_ref(),
            b"# ",
            "a prompt without newline reaches the host"
        );
    }

    #[test]
    fn a_host_that_stops_reading_stops_tx_without_buffering() {
        let mem = test_memory();
        let (rxq, txq) = queues(&mem);
        let mut h = handler(&mem, &rxq, &txq);
        // 3 chains of 64 KiB each; the host takes 10 000 bytes, then blocks.
        for i in 0..3u16 {
            let addr = 0x10_0000 + u64::from(i) * 0x1_0000;
            mem.write_slice(
                &[b'a' + u8::try_from(i).unwrap(); 0x1_0000],
                GuestAddress(addr),
            )
            .unwrap();
            add_chain(&txq, i, &[(addr, 0x1_0000, R)]);
        }
        let mut out = SlowHost {
            got: Vec::new(),
            room: 10_000,
        };
        assert_eq!(h.process_tx(&mut out), TxState::Blocked);
        assert_eq!(out.got.len(), 10_000);
        assert_eq!(
            txq.used().idx().load(),
            0,
            "nothing completed while blocked"
        );
        // Still blocked: no progress, no growth.
        assert_eq!(h.process_tx(&mut out), TxState::Blocked);
        assert_eq!(h.pending_tx.as_ref().unwrap().done, 10_000);
        // The host drains: everything arrives exactly once, in order.
        out.room = usize::MAX;
        assert_eq!(h.process_tx(&mut out), TxState::Idle);
        assert_eq!(out.got.len(), 3 * 0x1_0000);
        assert!(out.got[..0x1_0000].iter().all(|&b| b == b'a'));
        assert!(out.got[2 * 0x1_0000..].iter().all(|&b| b == b'c'));
        assert_eq!(txq.used().idx().load(), 3);
    }

    #[test]
    fn rx_only_reads_when_the_guest_has_buffers() {
        let mem = test_memory();
        let (rxq, txq) = queues(&mem);
        let mut h = handler(&mem, &rxq, &txq);
        let mut input = ScriptedInput(VecDeque::from([Ok(b"ls -l\n".to_vec()), Ok(b"x".to_vec())]));
        assert_eq!(h.process_rx(&mut input), RxState::NoBuffers);
        assert_eq!(input.0.len(), 2, "no input consumed without a guest buffer");
        // A 4-byte buffer takes part of the line; the rest waits for the next buffer.
        add_chain(&rxq, 0, &[(0x20000, 4, W)]);
        assert_eq!(h.process_rx(&mut input), RxState::NoBuffers);
        add_chain(&rxq, 1, &[(0x21000, 64, W)]);
        assert_eq!(h.process_rx(&mut input), RxState::NoBuffers);
        let mut got = [0u8; 4];
        mem.read_slice(&mut got, GuestAddress(0x20000)).unwrap();
        assert_eq!(&got, b"ls -");
        assert_eq!(used_entry(&rxq, 0), (0, 4));
        assert_eq!(used_entry(&rxq, 1), (1, 2));
        // "x" goes into chain 2; chain 3 stays available when the host has nothing more.
        add_chain(&rxq, 2, &[(0x22000, 64, W)]);
        add_chain(&rxq, 3, &[(0x23000, 64, W)]);
        assert_eq!(h.process_rx(&mut input), RxState::InputDrained);
        assert_eq!(used_entry(&rxq, 2), (2, 1));
        assert_eq!(h.rx.next_avail(), 3);
        input.0.push_back(Ok(Vec::new()));
        assert_eq!(h.process_rx(&mut input), RxState::InputClosed);
        assert_eq!(rxq.used().idx().load(), 3);
        assert_eq!(h.rx.next_avail(), 3, "chain 3 is still the guest's");
    }

    #[test]
    fn hostile_buffers_do_not_stall_or_panic() {
        let mem = test_memory();
        let (rxq, txq) = queues(&mem);
        let mut h = handler(&mem, &rxq, &txq);
        // TX buffer outside memory, a writable TX buffer, then a good one.
        add_chain(&txq, 0, &[(0xffff_ff00, 0x1000, R)]);
        add_chain(&txq, 1, &[(0x10000, 16, W)]);
        mem.write_slice(b"ok", GuestAddress(0x11000)).unwrap();
        add_chain(&txq, 2, &[(0x11000, 2, R)]);
        let mut out = SlowHost {
            got: Vec::new(),
            room: usize::MAX,
        };
        assert_eq!(h.process_tx(&mut out), TxState::Idle);
        assert_eq!(out.got, b"ok");
        assert_eq!(txq.used().idx().load(), 3);
        // RX buffer outside memory gets nothing; read-only RX buffer has no capacity.
        add_chain(&rxq, 0, &[(0xffff_ff00, 16, W)]);
        add_chain(&rxq, 1, &[(0x20000, 16, R)]);
        let mut input = ScriptedInput(VecDeque::from([Ok(b"abc".to_vec())]));
        assert_eq!(h.process_rx(&mut input), RxState::NoBuffers);
        assert_eq!(used_entry(&rxq, 0), (0, 0));
        assert_eq!(used_entry(&rxq, 1), (1, 0));
        // Avail index far ahead of the queue: queue broken, no panic.
        txq.avail().idx().store(200);
        assert_eq!(h.process_tx(&mut out), TxState::Idle);
        assert!(h.is_broken());
    }
}
