//! Drives the virtio-balloon queue handler (free page reporting) with a guest whose whole
//! memory — ring, descriptors, reported ranges — is fuzzer-chosen.
//!
//! Invariants checked besides "no panic": every range handed to the discard backend is
//! page-aligned, lies inside guest memory, and its host address is the guest address's
//! own mapping (never memory outside the guest).

#![no_main]

use std::sync::Arc;

use hull_vmm::devices::virtio::balloon::{BalloonQueueHandler, DiscardPages};
use hull_vmm::devices::virtio::{GuestMemoryMmap, SignalUsedQueue};
use libfuzzer_sys::fuzz_target;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend};

/// Two regions with a hole between them, small enough that fuzzer-chosen addresses land
/// inside, at the edges and in the hole.
const REGIONS: [(u64, usize); 2] = [(0, 0x1_0000), (0x2_0000, 0x1_0000)];

struct CheckedDiscard {
    mem: Arc<GuestMemoryMmap>,
}

impl DiscardPages for CheckedDiscard {
    fn discard(&mut self, guest: GuestAddress, host: *mut u8, len: usize) {
        assert_eq!(guest.0 % 4096, 0, "unaligned start");
        assert_eq!(len % 4096, 0, "unaligned length");
        assert!(len > 0);
        let inside = REGIONS
            .iter()
            .any(|&(start, size)| guest.0 >= start && guest.0 + len as u64 <= start + size as u64);
        assert!(inside, "range {:#x}+{len:#x} outside one region", guest.0);
        let expected = self.mem.get_host_address(guest).expect("mapped");
        assert_eq!(expected, host, "host address of another mapping");
    }
}

struct NoSignal;

impl SignalUsedQueue for NoSignal {
    fn signal_used_queue(&self) {}
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (cfg, body) = data.split_at(8);
    let regions: Vec<(GuestAddress, usize)> =
        REGIONS.iter().map(|&(a, s)| (GuestAddress(a), s)).collect();
    let mem = Arc::new(GuestMemoryMmap::from_ranges(&regions).expect("test memory"));
    let n = body.len().min(REGIONS[0].1);
    mem.write_slice(&body[..n], GuestAddress(0))
        .expect("inside memory");

    let word = |i: usize| u32::from(u16::from_le_bytes([cfg[i], cfg[i + 1]]));
    let mut queue = Queue::new(128).expect("valid max size");
    queue.set_size(1 << (cfg[0] % 8));
    queue.set_desc_table_address(Some(word(1) & !0xf), Some(0));
    queue.set_avail_ring_address(Some(word(3) & !1), Some(0));
    queue.set_used_ring_address(Some(word(5) & !3), Some(0));
    queue.set_event_idx(cfg[7] & 1 != 0);
    queue.set_ready(true);
    if !queue.is_valid(&*mem) {
        return;
    }
    let discard = CheckedDiscard { mem: mem.clone() };
    let mut handler = BalloonQueueHandler::new(mem, queue, discard, NoSignal, cfg[7] & 2 == 0);
    handler.process_queue();
    handler.process_queue();
});
