//! The virtio-blk request loop: pop chains, run them in order, fill the used ring, signal.
//! Pure (no eventfds, no threads) so it can be unit-tested and fuzzed.
//!
//! Chains are taken in batches: one read of the avail index pops up to [`BATCH_CHAINS`]
//! chains, their requests run in ring order, then their used entries are written and the used
//! index is published once. At most one interrupt goes out per round, and none when the
//! driver's `used_event` (VIRTIO_F_EVENT_IDX) says it does not want one.

use std::num::Wrapping;
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

use virtio_queue::desc::split::Descriptor;
use virtio_queue::{Queue, QueueOwnedT, QueueT};
use vm_memory::{Address, Bytes, GuestAddress, GuestMemory};

use super::request::{append_descriptors, write_status, DiskBackend, Request, SERIAL_LEN};
use crate::devices::virtio::host_slice::host_slice;
use crate::devices::virtio::SignalUsedQueue;

/// Most chains one `process_queue` call serves before yielding to the event loop.
pub const CHAINS_PER_RUN: usize = 1024;
/// Most notification re-enable rounds in one `process_queue` call.
pub const ROUNDS_PER_RUN: usize = 64;
/// Most chains popped per avail-index read (and published per used-index write).
pub const BATCH_CHAINS: usize = 64;
/// A batch stops growing past this many kept descriptors (bounds the scratch buffer at
/// ~70 KiB whatever the guest puts in its rings).
const BATCH_DESCRIPTORS: usize = 4096;

/// Split-ring layout (virtio 1.2, 2.7): flags and idx (u16 each) head both rings; avail
/// entries are u16 heads, used entries are (u32 id, u32 len); `used_event` follows the last
/// avail entry.
const RING_HEADER: u64 = 4;
const AVAIL_ENTRY: u64 = 2;
const USED_ENTRY: u64 = 8;

/// What one `process_queue` call did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueRun {
    /// Requests completed (used-ring entries added).
    pub completed: usize,
    /// The budget ran out with work possibly left: run again after other events.
    pub yielded: bool,
}

/// One popped chain: its head and where its descriptors sit in the scratch buffer.
#[derive(Debug, Clone, Copy)]
struct PoppedChain {
    head: u16,
    start: usize,
    end: usize,
    /// Bytes written into guest buffers, once the request ran.
    used_len: u32,
}

/// The driver broke the queue protocol (see [`BlockQueueHandler`]).
#[derive(Debug, thiserror::Error)]
enum QueueBroken {
    #[error(transparent)]
    Queue(#[from] virtio_queue::Error),
    #[error("used-ring entry for head {0} outside the descriptor table")]
    BadHead(u16),
    #[error("used ring outside guest memory")]
    UsedRing(#[from] vm_memory::GuestMemoryError),
}

/// Serves one virtio-blk request queue.
pub struct BlockQueueHandler<M: GuestMemory, D: DiskBackend, S: SignalUsedQueue> {
    mem: Arc<M>,
    queue: Queue,
    disk: D,
    signal: S,
    read_only: bool,
    serial: [u8; SERIAL_LEN],
    seg_max: u32,
    /// Set when the driver broke the queue protocol itself (avail index runs ahead by more
    /// than the queue size, head index out of the table, rings outside memory): nothing on
    /// this queue is trusted until the driver resets the device.
    broken: bool,
    /// Descriptors of the current batch, reused between batches so the hot path does not
    /// allocate.
    scratch: Vec<Descriptor>,
    /// The current batch, reused likewise.
    batch: Vec<PoppedChain>,
}

impl<M: GuestMemory, D: DiskBackend, S: SignalUsedQueue> BlockQueueHandler<M, D, S> {
    /// A handler for a queue the driver made live.
    pub fn new(
        mem: Arc<M>,
        queue: Queue,
        disk: D,
        signal: S,
        read_only: bool,
        serial: [u8; SERIAL_LEN],
        seg_max: u32,
    ) -> Self {
        Self {
            mem,
            queue,
            disk,
            signal,
            read_only,
            serial,
            seg_max,
            broken: false,
            scratch: Vec::new(),
            batch: Vec::new(),
        }
    }

    /// The queue's used index (requests completed, wrapping), for a snapshot.
    pub fn used_index(&self) -> u16 {
        self.queue.next_used()
    }

    /// Whether the queue was given up on (see [`BlockQueueHandler`]).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// The disk backend.
    pub fn disk(&self) -> &D {
        &self.disk
    }

    /// Processes what the driver made available, re-enabling notifications and looping if
    /// it added more meanwhile — but at most [`CHAINS_PER_RUN`] chains and
    /// [`ROUNDS_PER_RUN`] rounds, so a guest whose rings overlap (our own used-ring and
    /// notification writes then keep "adding" work) cannot pin the event loop. When the
    /// budget runs out, `yielded` is set and the caller must schedule another run.
    pub fn process_queue(&mut self) -> QueueRun {
        let mut run = QueueRun::default();
        let mut rounds = 0;
        while !self.broken {
            if rounds == ROUNDS_PER_RUN || run.completed >= CHAINS_PER_RUN {
                run.yielded = true;
                break;
            }
            rounds += 1;
            if let Err(err) = self.queue.disable_notification(&*self.mem) {
                self.give_up(&err.into());
                break;
            }
            let used_before = self.queue.next_used();
            run.completed += self.drain_available(CHAINS_PER_RUN - run.completed);
            match self.needs_interrupt(used_before) {
                Ok(true) => self.signal.signal_used_queue(),
                Ok(false) => {}
                Err(err) => self.give_up(&err),
            }
            match self.queue.enable_notification(&*self.mem) {
                Ok(true) => continue,
                Ok(false) => break,
                Err(err) => self.give_up(&err.into()),
            }
        }
        run
    }

    fn drain_available(&mut self, limit: usize) -> usize {
        let mut completed = 0;
        while !self.broken && completed < limit {
            match self.pop_batch((limit - completed).min(BATCH_CHAINS)) {
                Ok(0) => return completed,
                Ok(_) => {}
                Err(err) => {
                    self.give_up(&err);
                    return completed;
                }
            }
            self.run_batch();
            match self.publish_used() {
                Ok(published) => completed += published,
                Err((published, err)) => {
                    self.give_up(&err);
                    return completed + published;
                }
            }
        }
        completed
    }

    /// Pops up to `max` chains with one read of the avail index, collecting their
    /// descriptors into `scratch`.
    fn pop_batch(&mut self, max: usize) -> Result<usize, QueueBroken> {
        self.batch.clear();
        self.scratch.clear();
        let mut avail = self.queue.iter(&*self.mem)?;
        while self.batch.len() < max && self.scratch.len() < BATCH_DESCRIPTORS {
            let Some(chain) = avail.next() else {
                break;
            };
            let head = chain.head_index();
            let start = self.scratch.len();
            append_descriptors(chain, self.seg_max, &mut self.scratch);
            self.batch.push(PoppedChain {
                head,
                start,
                end: self.scratch.len(),
                used_len: 0,
            });
        }
        Ok(self.batch.len())
    }

    /// Runs the batch's requests in ring order (a FLUSH sees every write popped before it).
    fn run_batch(&mut self) {
        let mem = &*self.mem;
        for popped in &mut self.batch {
            let descriptors = &self.scratch[popped.start..popped.end];
            let parsed = Request::parse(mem, descriptors, self.seg_max, self.disk.size());
            popped.used_len = match parsed {
                Ok(request) => request.execute(mem, &mut self.disk, self.read_only, &self.serial),
                Err(err) => {
                    tracing::debug!("virtio-blk: refusing request {}: {err}", popped.head);
                    match err.status() {
                        Some((addr, status)) => {
                            write_status(mem, addr, status);
                            1
                        }
                        None => 0,
                    }
                }
            };
        }
    }

    /// Writes the batch's used entries, then publishes them with one used-index store.
    /// Returns how many were published; on error, also those before the bad entry.
    fn publish_used(&mut self) -> Result<usize, (usize, QueueBroken)> {
        let mem = &*self.mem;
        let size = self.queue.size();
        let ring = GuestAddress(self.queue.used_ring());
        let ring_len = RING_HEADER + USED_ENTRY * u64::from(size);
        // The used ring was checked to be inside guest memory when the queue went live; one
        // host slice for it avoids a region lookup per entry.
        let slice = usize::try_from(ring_len)
            .ok()
            .and_then(|len| host_slice(mem, ring, len));
        let mut next = Wrapping(self.queue.next_used());
        let mut failure = None;
        let mut written = 0;
        for popped in &self.batch {
            if popped.head >= size {
                failure = Some(QueueBroken::BadHead(popped.head));
                break;
            }
            let offset = RING_HEADER + USED_ENTRY * u64::from(next.0 % size);
            let entry = [u32::from(popped.head).to_le(), popped.used_len.to_le()];
            let result = match &slice {
                Some(slice) => usize::try_from(offset)
                    .map_err(|_| vm_memory::GuestMemoryError::InvalidBackendAddress)
                    .and_then(|off| slice.write_obj(entry, off).map_err(Into::into)),
                None => ring
                    .checked_add(offset)
                    .ok_or(vm_memory::GuestMemoryError::InvalidBackendAddress)
                    .and_then(|addr| mem.write_obj(entry, addr)),
            };
            if let Err(err) = result {
                failure = Some(err.into());
                break;
            }
            next += Wrapping(1);
            written += 1;
        }
        if written > 0 {
            self.queue.set_next_used(next.0);
            // Release: the guest must see the entries (and the data) before the index.
            let stored = ring
                .checked_add(2)
                .ok_or(vm_memory::GuestMemoryError::InvalidBackendAddress)
                .and_then(|idx| mem.store(next.0.to_le(), idx, Ordering::Release));
            if let Err(err) = stored {
                return Err((written, err.into()));
            }
        }
        match failure {
            Some(err) => Err((written, err)),
            None => Ok(written),
        }
    }

    /// Whether the driver wants an interrupt for the entries added since `used_before`:
    /// always, unless nothing was added or VIRTIO_F_EVENT_IDX is on and its `used_event`
    /// lies outside the entries just added (the Linux ring's `vring_need_event` test).
    fn needs_interrupt(&self, used_before: u16) -> Result<bool, QueueBroken> {
        let used_now = Wrapping(self.queue.next_used());
        let old = Wrapping(used_before);
        if used_now == old {
            return Ok(false);
        }
        if !self.queue.event_idx_enabled() {
            return Ok(true);
        }
        // Our used-index store must be visible before we read the driver's used_event.
        fence(Ordering::SeqCst);
        let event_addr = GuestAddress(self.queue.avail_ring())
            .checked_add(RING_HEADER + AVAIL_ENTRY * u64::from(self.queue.size()))
            .ok_or(virtio_queue::Error::AddressOverflow)?;
        let used_event = Wrapping(u16::from_le(
            self.mem.load::<u16>(event_addr, Ordering::Relaxed)?,
        ));
        Ok(used_now - used_event - Wrapping(1) < used_now - old)
    }

    fn give_up(&mut self, err: &QueueBroken) {
        tracing::warn!("virtio-blk: queue broken by the guest driver ({err}); ignoring it until the device is reset");
        self.broken = true;
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use virtio_bindings::virtio_blk::{
        VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT,
    };
    use virtio_queue::mock::MockSplitQueue;
    use vm_memory::bitmap::BitmapSlice;
    use vm_memory::{Bytes, GuestAddress, VolatileSlice};

    use super::*;
    use crate::devices::virtio::block::request::{
        FileDisk, RequestHeader, STATUS_IOERR, STATUS_OK, STATUS_UNSUPP,
    };
    use crate::devices::virtio::test_utils::{
        add_chain, add_raw_chain, byte_at, test_memory, used_entry, CountingSignal, NEXT, R, W,
    };
    use crate::devices::virtio::GuestMemoryMmap;

    /// An in-memory disk that records the order of operations.
    #[derive(Default)]
    struct RecordingDisk {
        data: Vec<u8>,
        log: Vec<String>,
    }

    impl DiskBackend for RecordingDisk {
        fn size(&self) -> u64 {
            self.data.len() as u64
        }
        fn read_at<B: BitmapSlice>(
            &mut self,
            offset: u64,
            buf: &VolatileSlice<B>,
        ) -> io::Result<()> {
            let start = usize::try_from(offset).unwrap();
            buf.copy_from(&self.data[start..start + buf.len()]);
            self.log.push(format!("read {offset}"));
            Ok(())
        }
        fn write_at<B: BitmapSlice>(
            &mut self,
            offset: u64,
            buf: &VolatileSlice<B>,
        ) -> io::Result<()> {
            let start = usize::try_from(offset).unwrap();
            buf.copy_to(&mut self.data[start..start + buf.len()]);
            self.log.push(format!("write {offset}"));
            Ok(())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.log.push("flush".into());
            Ok(())
        }
    }

    const QSIZE: u16 = 32;
    const STATUS: u64 = 0x3000;

    fn serial() -> [u8; SERIAL_LEN] {
        let mut s = [0u8; SERIAL_LEN];
        s[..11].copy_from_slice(b"hull-config");
        s
    }

    fn write_header(mem: &GuestMemoryMmap, addr: u64, t: u32, sector: u64) {
        let h = RequestHeader {
            request_type: t,
            reserved: 0,
            sector,
        };
        mem.write_obj(h, GuestAddress(addr)).unwrap();
    }

    fn handler<D: DiskBackend>(
        mem: &Arc<GuestMemoryMmap>,
        vq: &MockSplitQueue<'_, GuestMemoryMmap>,
        disk: D,
        read_only: bool,
    ) -> BlockQueueHandler<GuestMemoryMmap, D, CountingSignal> {
        let queue: Queue = vq.create_queue().unwrap();
        BlockQueueHandler::new(
            mem.clone(),
            queue,
            disk,
            CountingSignal::default(),
            read_only,
            serial(),
            4,
        )
    }

    fn disk_with_pattern(sectors: usize) -> RecordingDisk {
        RecordingDisk {
            data: (0..sectors * 512)
                .map(|i| u8::try_from(i / 512 + 1).unwrap())
                .collect(),
            log: Vec::new(),
        }
    }

    #[test]
    fn read_write_flush_getid_complete_with_ok() {
        let mem = test_memory();
        let vq = MockSplitQueue::new(&*mem, QSIZE);
        let mut h = handler(&mem, &vq, disk_with_pattern(8), false);

        // Read sectors 2..4 into two buffers.
        write_header(&mem, 0x1000, VIRTIO_BLK_T_IN, 2);
        add_chain(
            &vq,
            0,
            &[
                (0x1000, 16, R),
                (0x10000, 512, W),
                (0x20000, 512, W),
                (STATUS, 1, W),
            ],
        );
        // Write 512 bytes of 0xaa at sector 5.
        write_header(&mem, 0x1100, VIRTIO_BLK_T_OUT, 5);
        mem.write_slice(&[0xaa; 512], GuestAddress(0x30000))
            .unwrap();
        add_chain(
            &vq,
            4,
            &[(0x1100, 16, R), (0x30000, 512, R), (STATUS + 1, 1, W)],
        );
        write_header(&mem, 0x1200, VIRTIO_BLK_T_FLUSH, 0);
        add_chain(&vq, 7, &[(0x1200, 16, R), (STATUS + 2, 1, W)]);
        write_header(&mem, 0x1300, VIRTIO_BLK_T_GET_ID, 0);
        add_chain(
            &vq,
            9,
            &[(0x1300, 16, R), (0x40000, 20, W), (STATUS + 3, 1, W)],
        );

        assert_eq!(h.process_queue().completed, 4);
        assert_eq!(h.signal.0.get(), 1, "one interrupt for the batch");
        for i in 0..4 {
            assert_eq!(byte_at(&mem, STATUS + i), STATUS_OK);
        }
        assert_eq!(byte_at(&mem, 0x10000), 3);
        assert_eq!(byte_at(&mem, 0x20000 + 511), 4);
        assert_eq!(h.disk.data[5 * 512..6 * 512], [0xaa; 512]);
        let mut id = [0u8; 20];
        mem.read_slice(&mut id, GuestAddress(0x40000)).unwrap();
        assert_eq!(id, serial());
        assert_eq!(used_entry(&vq, 0), (0, 1025));
        assert_eq!(used_entry(&vq, 1), (4, 1));
        assert_eq!(used_entry(&vq, 2), (7, 1));
        assert_eq!(used_entry(&vq, 3), (9, 21));
    }

    /// Batching keeps VIRTIO_F_EVENT_IDX exact: the driver asks for an interrupt once its
    /// `used_event` entry is used, and gets none for a round that stays before it.
    #[test]
    fn event_idx_suppresses_interrupts_until_used_event() {
        let mem = test_memory();
        let vq = MockSplitQueue::new(&*mem, QSIZE);
        let mut queue: Queue = vq.create_queue().unwrap();
        // The mock puts its used ring over the avail ring's `used_event` (it sizes the avail
        // ring in entries, not bytes): give the used ring room of its own.
        const USED: u64 = 0x8000;
        queue.set_ready(false);
        queue.set_used_ring_address(Some(u32::try_from(USED).unwrap()), Some(0));
        queue.set_ready(true);
        queue.set_event_idx(true);
        let mut h = BlockQueueHandler::new(
            mem.clone(),
            queue,
            disk_with_pattern(8),
            CountingSignal::default(),
            false,
            serial(),
            4,
        );
        let used_event = vq
            .avail_addr()
            .checked_add(4 + 2 * u64::from(QSIZE))
            .unwrap();
        let post = |first: u16, n: u16| {
            for i in 0..n {
                let slot = first + i;
                write_header(&mem, 0x1000 + u64::from(slot) * 16, VIRTIO_BLK_T_FLUSH, 0);
                add_chain(
                    &vq,
                    slot * 2,
                    &[
                        (0x1000 + u64::from(slot) * 16, 16, R),
                        (STATUS + u64::from(slot), 1, W),
                    ],
                );
            }
        };
        // The driver wants to hear once entry 4 (the fifth) is used.
        mem.write_obj(4u16.to_le(), used_event).unwrap();
        post(0, 3);
        assert_eq!(h.process_queue().completed, 3);
        assert_eq!(h.signal.0.get(), 0, "used_event not reached");
        let used_idx = || mem.read_obj::<u16>(GuestAddress(USED + 2)).unwrap();
        assert_eq!(used_idx(), 3, "all three published");
        post(3, 3);
        assert_eq!(h.process_queue().completed, 3);
        assert_eq!(h.signal.0.get(), 1, "used_event 4 is among entries 3..6");
        // A notification with nothing new raises nothing.
        assert_eq!(h.process_queue().completed, 0);
        assert_eq!(h.signal.0.get(), 1);
        for slot in 0..6 {
            assert_eq!(byte_at(&mem, STATUS + slot), STATUS_OK);
            let id: u32 = mem.read_obj(GuestAddress(USED + 4 + 8 * slot)).unwrap();
            assert_eq!(u64::from(id), slot * 2);
        }
    }

    #[test]
    fn flush_runs_after_the_writes_queued_before_it() {
        let mem = test_memory();
        let vq = MockSplitQueue::new(&*mem, QSIZE);
        let mut h = handler(&mem, &vq, disk_with_pattern(8), false);
        write_header(&mem, 0x1000, VIRTIO_BLK_T_OUT, 1);
        add_chain(
            &vq,
            0,
            &[(0x1000, 16, R), (0x10000, 512, R), (STATUS, 1, W)],
        );
        write_header(&mem, 0x1100, VIRTIO_BLK_T_FLUSH, 0);
        add_chain(&vq, 3, &[(0x1100, 16, R), (STATUS + 1, 1, W)]);
        write_header(&mem, 0x1200, VIRTIO_BLK_T_OUT, 2);
        add_chain(
            &vq,
            5,
            &[(0x1200, 16, R), (0x10000, 512, R), (STATUS + 2, 1, W)],
        );
        assert_eq!(h.process_queue().completed, 3);
        assert_eq!(h.disk.log, ["write 512", "flush", "write 1024"]);
    }

    #[test]
    fn read_only_disk_refuses_writes_but_serves_reads() {
        let mem = test_memory();
        let vq = MockSplitQueue::new(&*mem, QSIZE);
        let mut h = handler(&mem, &vq, disk_with_pattern(8), true);
        write_header(&mem, 0x1000, VIRTIO_BLK_T_OUT, 0);
        mem.write_slice(&[0xaa; 512], GuestAddress(0x10000))
            .unwrap();
        add_chain(
            &vq,
            0,
            &[(0x1000, 16, R), (0x10000, 512, R), (STATUS, 1, W)],
        );
        write_header(&mem, 0x1100, VIRTIO_BLK_T_IN, 0);
        add_chain(
            &vq,
            3,
            &[(0x1100, 16, R), (0x20000, 512, W), (STATUS + 1, 1, W)],
        );
        assert_eq!(h.process_queue().completed, 2);
        assert_eq!(byte_at(&mem, STATUS), STATUS_IOERR);
        assert_eq!(byte_at(&mem, STATUS + 1), STATUS_OK);
        assert_eq!(h.disk.data[..512], [1; 512], "disk unchanged");
        assert_eq!(h.disk.log, ["read 0"]);
    }

    #[test]
    fn hostile_requests_fail_without_io() {
        let mem = test_memory();
        let vq = MockSplitQueue::new(&*mem, QSIZE);
        let mut h = handler(&mem, &vq, disk_with_pattern(8), false);
        // Sector past the end.
        write_header(&mem, 0x1000, VIRTIO_BLK_T_IN, 8);
        add_chain(
            &vq,
            0,
            &[(0x1000, 16, R), (0x10000, 512, W), (STATUS, 1, W)],
        );
        // Data outside guest memory.
        write_header(&mem, 0x1100, VIRTIO_BLK_T_OUT, 0);
        add_chain(
            &vq,
            3,
            &[(0x1100, 16, R), (0xffff_0000, 512, R), (STATUS + 1, 1, W)],
        );
        // Wrong direction (device asked to write into a read-only buffer).
        write_header(&mem, 0x1200, VIRTIO_BLK_T_IN, 0);
        add_chain(
            &vq,
            6,
            &[(0x1200, 16, R), (0x10000, 512, R), (STATUS + 2, 1, W)],
        );
        // Too many segments (seg_max is 4 in these tests).
        write_header(&mem, 0x1300, VIRTIO_BLK_T_IN, 0);
        let mut many = vec![(0x1300, 16, R)];
        many.extend((0..5).map(|i| (0x10000 + i * 512, 512, W)));
        many.push((STATUS + 3, 1, W));
        add_chain(&vq, 9, &many);
        // Unsupported type.
        write_header(&mem, 0x1400, 13 /* WRITE_ZEROES, not offered */, 0);
        add_chain(&vq, 16, &[(0x1400, 16, R), (STATUS + 4, 1, W)]);
        assert_eq!(h.process_queue().completed, 5);
        for i in 0..4 {
            assert_eq!(byte_at(&mem, STATUS + i), STATUS_IOERR, "request {i}");
        }
        assert_eq!(byte_at(&mem, STATUS + 4), STATUS_UNSUPP);
        assert!(h.disk.log.is_empty(), "no I/O: {:?}", h.disk.log);
        assert!(!h.is_broken());
    }

    #[test]
    fn looping_chain_is_completed_without_status_and_queue_keeps_working() {
        let mem = test_memory();
        let vq = MockSplitQueue::new(&*mem, QSIZE);
        let mut h = handler(&mem, &vq, disk_with_pattern(8), false);
        write_header(&mem, 0x1000, VIRTIO_BLK_T_IN, 0);
        let next = NEXT;
        // 0 -> 1 -> 0 -> ...
        add_raw_chain(
            &vq,
            0,
            &[
                Descriptor::new(0x1000, 16, next, 1),
                Descriptor::new(0x10000, 512, W | next, 0),
            ],
            0,
        );
        // Then a valid read.
        write_header(&mem, 0x1100, VIRTIO_BLK_T_IN, 1);
        add_chain(
            &vq,
            2,
            &[(0x1100, 16, R), (0x20000, 512, W), (STATUS, 1, W)],
        );
        assert_eq!(h.process_queue().completed, 2);
        assert_eq!(used_entry(&vq, 0), (0, 0));
        assert_eq!(byte_at(&mem, STATUS), STATUS_OK);
        assert_eq!(byte_at(&mem, 0x20000), 2);
    }

    #[test]
    fn head_index_outside_the_table_breaks_the_queue() {
        let mem = test_memory();
        let vq = MockSplitQueue::new(&*mem, QSIZE);
        let mut h = handler(&mem, &vq, disk_with_pattern(8), false);
        add_raw_chain(&vq, 0, &[], QSIZE + 3);
        assert_eq!(h.process_queue().completed, 0);
        assert!(h.is_broken());
        // Further notifications do nothing.
        assert_eq!(h.process_queue().completed, 0);
    }

    /// Found by the blk_queue fuzz target: the used ring's flags overlap the avail ring's
    /// index, so every enable/disable of notifications "adds" a request and the loop used to
    /// spin forever on the event-loop thread.
    #[test]
    fn overlapping_rings_cannot_pin_the_event_loop() {
        let mem = test_memory();
        let mut queue = Queue::new(256).unwrap();
        queue.set_size(1);
        queue.set_desc_table_address(Some(0xff00), Some(0));
        queue.set_avail_ring_address(Some(0x39fe), Some(0));
        queue.set_used_ring_address(Some(0x3a00), Some(0));
        queue.set_ready(true);
        assert!(queue.is_valid(&*mem));
        let mut h = BlockQueueHandler::new(
            mem.clone(),
            queue,
            disk_with_pattern(8),
            CountingSignal::default(),
            false,
            serial(),
            4,
        );
        let run = h.process_queue();
        assert!(run.yielded, "{run:?}");
        assert!(run.completed <= CHAINS_PER_RUN);
    }

    #[test]
    fn avail_index_running_ahead_breaks_the_queue() {
        let mem = test_memory();
        let vq = MockSplitQueue::new(&*mem, QSIZE);
        let mut h = handler(&mem, &vq, disk_with_pattern(8), false);
        vq.avail().idx().store(QSIZE + 1);
        assert_eq!(h.process_queue().completed, 0);
        assert!(h.is_broken());
    }

    #[test]
    fn file_disk_reads_and_writes_the_real_file() {
        let path = std::env::temp_dir().join(format!("hull-blk-test-{}", std::process::id()));
        std::fs::write(&path, vec![7u8; 4 * 512]).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mem = test_memory();
        let vq = MockSplitQueue::new(&*mem, QSIZE);
        let mut h = handler(&mem, &vq, FileDisk::new(file).unwrap(), false);
        write_header(&mem, 0x1000, VIRTIO_BLK_T_OUT, 3);
        mem.write_slice(&[9u8; 512], GuestAddress(0x10000)).unwrap();
        add_chain(
            &vq,
            0,
            &[(0x1000, 16, R), (0x10000, 512, R), (STATUS, 1, W)],
        );
        write_header(&mem, 0x1100, VIRTIO_BLK_T_FLUSH, 0);
        add_chain(&vq, 3, &[(0x1100, 16, R), (STATUS + 1, 1, W)]);
        // A read crossing into the last sector sees the write.
        write_header(&mem, 0x1200, VIRTIO_BLK_T_IN, 2);
        add_chain(
            &vq,
            5,
            &[(0x1200, 16, R), (0x20000, 1024, W), (STATUS + 2, 1, W)],
        );
        // One sector past the end of the 4-sector file.
        write_header(&mem, 0x1300, VIRTIO_BLK_T_OUT, 4);
        add_chain(
            &vq,
            8,
            &[(0x1300, 16, R), (0x10000, 512, R), (STATUS + 3, 1, W)],
        );
        // Vectored paths: write sectors 0-1 from two buffers, read them back into three.
        write_header(&mem, 0x1400, VIRTIO_BLK_T_OUT, 0);
        mem.write_slice(&[1u8; 512], GuestAddress(0x30000)).unwrap();
        mem.write_slice(&[2u8; 512], GuestAddress(0x31000)).unwrap();
        add_chain(
            &vq,
            11,
            &[
                (0x1400, 16, R),
                (0x30000, 512, R),
                (0x31000, 512, R),
                (STATUS + 4, 1, W),
            ],
        );
        write_header(&mem, 0x1500, VIRTIO_BLK_T_IN, 0);
        add_chain(
            &vq,
            15,
            &[
                (0x1500, 16, R),
                (0x40000, 256, W),
                (0x41000, 512, W),
                (0x42000, 256, W),
                (STATUS + 5, 1, W),
            ],
        );
        assert_eq!(h.process_queue().completed, 6);
        assert_eq!(byte_at(&mem, STATUS + 4), STATUS_OK);
        assert_eq!(byte_at(&mem, STATUS + 5), STATUS_OK);
        assert_eq!(used_entry(&vq, 5), (15, 1025));
        assert_eq!(byte_at(&mem, 0x40000 + 255), 1);
        assert_eq!(byte_at(&mem, 0x41000 + 255), 1);
        assert_eq!(byte_at(&mem, 0x41000 + 256), 2);
        assert_eq!(byte_at(&mem, 0x42000 + 255), 2);
        assert_eq!(byte_at(&mem, STATUS + 2), STATUS_OK);
        assert_eq!(byte_at(&mem, 0x20000), 7);
        assert_eq!(byte_at(&mem, 0x20000 + 512), 9);
        assert_eq!(byte_at(&mem, STATUS + 3), STATUS_IOERR);
        let on_disk = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(on_disk.len(), 4 * 512, "file never grows");
        assert_eq!(on_disk[3 * 512..], [9u8; 512]);
    }
}
