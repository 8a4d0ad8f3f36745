//! The balloon's queue loop: pop chains, discard reported ranges, fill the used ring,
//! signal. Pure (the discarding is a trait) so it can be unit-tested and fuzzed.
//!
//! The guest is not trusted: a reported range is discarded only if it lies entirely inside
//! one region of guest RAM, and only the whole host pages inside it; anything else (outside
//! memory, crossing regions, overflowing, device-readable descriptors) is skipped. A chain
//! always gets its used entry, so a hostile chain cannot stall the queue.

use std::sync::Arc;

use virtio_queue::{Queue, QueueOwnedT, QueueT};
use vm_memory::{GuestAddress, GuestMemory, GuestMemoryBackend, GuestMemoryRegion};

use crate::devices::virtio::SignalUsedQueue;

/// Most chains one `process_queue` call serves before yielding to the event loop.
pub const CHAINS_PER_RUN: usize = 256;
/// Buffers of one chain looked at (Linux reports at most 32 ranges per chain).
const MAX_SEGMENTS: usize = 256;
/// Host page size for `madvise` alignment.
const PAGE: u64 = 4096;

/// Gives host memory back.
pub trait DiscardPages {
    /// Discards `len` bytes at host address `host` (page-aligned, inside guest memory).
    fn discard(&mut self, guest: GuestAddress, host: *mut u8, len: usize);
}

/// The real backend: `madvise(MADV_DONTNEED)` on the anonymous private guest mapping, or
/// `MADV_REMOVE` on a shared (memfd) one, where DONTNEED would free nothing; either way
/// the guest reads zeroes if it ever touches the range again, which page reporting allows.
#[derive(Debug, Default)]
pub struct MadviseDiscard {
    /// Bytes discarded so far.
    pub discarded: u64,
    /// Guest RAM is a shared memfd mapping (a vhost-user device maps it too).
    pub shared: bool,
}

impl DiscardPages for MadviseDiscard {
    fn discard(&mut self, _guest: GuestAddress, host: *mut u8, len: usize) {
        let advice = if self.shared {
            libc::MADV_REMOVE
        } else {
            libc::MADV_DONTNEED
        };
        // SAFETY: `discardable` checked that [host, host + len) lies inside one mapped region
        // of guest memory and is page-aligned; MADV_DONTNEED / MADV_REMOVE on it only drop
        // its contents (guest RAM the guest reported free), never unmap it.
        let rc = unsafe { libc::madvise(host.cast(), len, advice) };
        if rc == 0 {
            self.discarded += len as u64;
        } else {
            tracing::debug!(
                "virtio-balloon: madvise failed: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// The part of `[addr, addr + len)` that may be discarded: the whole pages inside it, when it
/// lies within one region of `mem`. Returns the guest address, host address and length.
pub fn discardable<M: GuestMemory>(
    mem: &M,
    addr: GuestAddress,
    len: u64,
) -> Option<(GuestAddress, *mut u8, usize)> {
    let raw_end = addr.0.checked_add(len)?;
    let phys = mem.physical_memory()?;
    // The whole range as reported inside one region, else nothing of it.
    let region = phys.find_region(addr)?;
    let region_end = region.start_addr().0.checked_add(region.len())?;
    if raw_end > region_end {
        return None;
    }
    let start = addr.0.checked_add(PAGE - 1)? & !(PAGE - 1);
    let end = raw_end & !(PAGE - 1);
    if end <= start {
        return None;
    }
    let len = usize::try_from(end - start).ok()?;
    let slice = phys.get_slice(GuestAddress(start), len).ok()?;
    let host = slice.ptr_guard_mut().as_ptr();
    Some((GuestAddress(start), host, len))
}

/// Serves one balloon queue (inflate, deflate or reporting).
pub struct BalloonQueueHandler<M: GuestMemory, D: DiscardPages, S: SignalUsedQueue> {
    mem: Arc<M>,
    queue: Queue,
    discard: D,
    signal: S,
    /// Whether this is the reporting queue (the others are only acknowledged).
    reporting: bool,
    broken: bool,
}

impl<M: GuestMemory, D: DiscardPages, S: SignalUsedQueue> BalloonQueueHandler<M, D, S> {
    /// The queue's used index, for a snapshot.
    pub fn used_index(&self) -> u16 {
        self.queue.next_used()
    }

    /// A handler for a live queue; `reporting` selects free page reporting semantics.
    pub fn new(mem: Arc<M>, queue: Queue, discard: D, signal: S, reporting: bool) -> Self {
        Self {
            mem,
            queue,
            discard,
            signal,
            reporting,
            broken: false,
        }
    }

    /// The discard backend.
    pub fn discarder(&self) -> &D {
        &self.discard
    }

    /// Whether the driver broke the queue (nothing is trusted until reset).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Serves what the driver made available, at most [`CHAINS_PER_RUN`] chains; returns
    /// (chains completed, yielded: run again later).
    pub fn process_queue(&mut self) -> (usize, bool) {
        let mut done = 0;
        while !self.broken {
            if done >= CHAINS_PER_RUN {
                return (done, true);
            }
            let chain = match self.queue.iter(&*self.mem) {
                Ok(mut avail) => avail.next(),
                Err(err) => {
                    self.give_up(&err);
                    break;
                }
            };
            let Some(chain) = chain else {
                break;
            };
            let head = chain.head_index();
            let ranges: Vec<(GuestAddress, u32)> = chain
                .filter(|d| d.is_write_only())
                .take(MAX_SEGMENTS)
                .map(|d| (d.addr(), d.len()))
                .collect();
            if self.reporting {
                for (addr, len) in ranges {
                    if let Some((guest, host, n)) = discardable(&*self.mem, addr, u64::from(len)) {
                        self.discard.discard(guest, host, n);
                    }
                }
            }
            if let Err(err) = self.queue.add_used(&*self.mem, head, 0) {
                self.give_up(&err);
                break;
            }
            done += 1;
        }
        if done > 0 && !self.broken {
            match self.queue.needs_notification(&*self.mem) {
                Ok(true) => self.signal.signal_used_queue(),
                Ok(false) => {}
                Err(err) => self.give_up(&err),
            }
        }
        (done, false)
    }

    fn give_up(&mut self, err: &virtio_queue::Error) {
        tracing::warn!("virtio-balloon: queue broken by the guest driver ({err}); ignoring it until the device is reset");
        self.broken = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::virtio::test_utils::{
        add_chain, add_raw_chain, desc, test_memory, used_entry, CountingSignal, R, TEST_MEM_SIZE,
        W,
    };
    use crate::devices::virtio::GuestMemoryMmap;
    use virtio_queue::mock::MockSplitQueue;
    use vm_memory::Bytes;

    #[test]
    fn discarding_shared_guest_memory_really_frees_it() {
        use vm_memory::GuestMemoryBackend;
        for shared in [false, true] {
            let mem = crate::memory::create_guest_memory(2 << 20, shared).unwrap();
            mem.write_obj(0xabcd_u32, GuestAddress(0x3000)).unwrap();
            let host = mem.get_host_address(GuestAddress(0x3000)).unwrap();
            let mut discard = MadviseDiscard {
                discarded: 0,
                shared,
            };
            discard.discard(GuestAddress(0x3000), host, 4096);
            assert_eq!(discard.discarded, 4096);
            // DONTNEED on a shared mapping would keep the memfd's page (and its data).
            assert_eq!(
                mem.read_obj::<u32>(GuestAddress(0x3000)).unwrap(),
                0,
                "{shared}"
            );
        }
    }

    /// Records what was discarded, and checks it lies inside the test memory.
    #[derive(Default)]
    struct Recorder(Vec<(u64, usize)>);

    impl DiscardPages for Recorder {
        fn discard(&mut self, guest: GuestAddress, _host: *mut u8, len: usize) {
            assert!(guest.0.is_multiple_of(PAGE) && (len as u64).is_multiple_of(PAGE));
            assert!(guest.0 + len as u64 <= TEST_MEM_SIZE as u64);
            self.0.push((guest.0, len));
        }
    }

    fn handler<'a>(
        mem: &'a Arc<GuestMemoryMmap>,
        reporting: bool,
    ) -> (
        MockSplitQueue<'a, GuestMemoryMmap>,
        BalloonQueueHandler<GuestMemoryMmap, Recorder, CountingSignal>,
    ) {
        let vq = MockSplitQueue::create(&**mem, GuestAddress(0), 16);
        let h = BalloonQueueHandler::new(
            mem.clone(),
            vq.create_queue().unwrap(),
            Recorder::default(),
            CountingSignal::default(),
            reporting,
        );
        (vq, h)
    }

    #[test]
    fn reported_ranges_are_discarded_and_returned() {
        let mem = test_memory();
        let (vq, mut h) = handler(&mem, true);
        add_chain(&vq, 0, &[(0x20_0000, 0x20_0000, W)]);
        add_chain(&vq, 1, &[(0x10_0000, 0x1000, W), (0x11_0000, 0x2000, W)]);
        assert_eq!(h.process_queue(), (2, false));
        assert_eq!(
            h.discarder().0,
            vec![
                (0x20_0000, 0x20_0000),
                (0x10_0000, 0x1000),
                (0x11_0000, 0x2000)
            ]
        );
        assert_eq!(used_entry(&vq, 0), (0, 0));
        assert_eq!(used_entry(&vq, 1), (1, 0));
        assert_eq!(h.signal.0.get(), 1);
    }

    #[test]
    fn real_madvise_zeroes_the_reported_pages_only() {
        let mem = test_memory();
        mem.write_slice(&[0xaa; 0x3000], GuestAddress(0x10_0000))
            .unwrap();
        let vq = MockSplitQueue::create(&*mem, GuestAddress(0), 16);
        let mut h = BalloonQueueHandler::new(
            mem.clone(),
            vq.create_queue().unwrap(),
            MadviseDiscard::default(),
            CountingSignal::default(),
            true,
        );
        add_chain(&vq, 0, &[(0x10_1000, 0x1000, W)]);
        h.process_queue();
        assert_eq!(h.discarder().discarded, 0x1000);
        let mut buf = [0u8; 0x3000];
        mem.read_slice(&mut buf, GuestAddress(0x10_0000)).unwrap();
        assert!(buf[..0x1000].iter().all(|&b| b == 0xaa));
        assert!(buf[0x1000..0x2000].iter().all(|&b| b == 0));
        assert!(buf[0x2000..].iter().all(|&b| b == 0xaa));
    }

    #[test]
    fn hostile_ranges_are_skipped_but_completed() {
        let mem = test_memory();
        let (vq, mut h) = handler(&mem, true);
        let end = TEST_MEM_SIZE as u64;
        add_chain(&vq, 0, &[(end - 0x1000, 0x2000, W)]); // runs past the end
        add_chain(&vq, 1, &[(end, 0x1000, W)]); // outside
        add_chain(&vq, 2, &[(u64::MAX - 0xfff, 0x1000, W)]); // overflows
        add_chain(&vq, 3, &[(0x10_0800, 0x1000, W)]); // no whole page inside
        add_chain(&vq, 4, &[(0x10_0000, 0x1000, R)]); // device-readable: not a report
        add_chain(&vq, 5, &[(0x10_0800, 0x2000, W)]); // one whole page inside
        assert_eq!(h.process_queue(), (6, false));
        assert_eq!(h.discarder().0, vec![(0x10_1000, 0x1000)]);
        for i in 0..6 {
            assert_eq!(used_entry(&vq, i), (u32::from(i), 0));
        }
    }

    #[test]
    fn inflate_and_deflate_queues_only_acknowledge() {
        let mem = test_memory();
        let (vq, mut h) = handler(&mem, false);
        add_chain(&vq, 0, &[(0x10_0000, 0x1000, R)]);
        assert_eq!(h.process_queue(), (1, false));
        assert!(h.discarder().0.is_empty());
    }

    #[test]
    fn a_bad_head_breaks_the_queue_without_panicking() {
        let mem = test_memory();
        let (vq, mut h) = handler(&mem, true);
        add_raw_chain(&vq, 0, &[desc(0x10_0000, 0x1000, W)], 200);
        h.process_queue();
        assert!(h.is_broken());
        assert!(h.discarder().0.is_empty());
        assert_eq!(h.process_queue(), (0, false));
    }

    #[test]
    fn regions_are_respected() {
        let mem: GuestMemoryMmap = GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0), 0x10000),
            (GuestAddress(0x10000), 0x10000),
        ])
        .unwrap();
        assert!(discardable(&mem, GuestAddress(0xf000), 0x2000).is_none());
        assert!(discardable(&mem, GuestAddress(0x10000), 0x10000).is_some());
        assert!(discardable(&mem, GuestAddress(0x10000), 0x10001).is_none());
        assert!(discardable(&mem, GuestAddress(0), 0).is_none());
    }
}
