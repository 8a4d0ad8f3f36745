//! Drives the virtio-blk queue handler (and so the request parser) with a guest whose
//! whole memory — rings, descriptors, headers, data — is fuzzer-chosen.
//!
//! Invariants checked besides "no panic": the disk backend is never asked for bytes outside
//! the disk, and a read-only disk is never written.

#![no_main]

use std::io;
use std::sync::Arc;

use hull_vmm::devices::virtio::block::request::{DiskBackend, SERIAL_LEN};
use hull_vmm::devices::virtio::block::{BlockQueueHandler, SEG_MAX};
use hull_vmm::devices::virtio::{GuestMemoryMmap, SignalUsedQueue};
use libfuzzer_sys::fuzz_target;
use virtio_queue::{Queue, QueueT};
use vm_memory::bitmap::BitmapSlice;
use vm_memory::{Bytes, GuestAddress, VolatileSlice};

/// Small, so that fuzzer-chosen addresses often land inside.
const MEM_SIZE: usize = 0x1_0000;
const DISK_SIZE: usize = 16 * 512;

struct CheckedDisk {
    data: Vec<u8>,
    read_only: bool,
}

impl CheckedDisk {
    fn range(&self, offset: u64, len: usize) -> std::ops::Range<usize> {
        let start = usize::try_from(offset).expect("offset fits usize");
        let end = start.checked_add(len).expect("no overflow");
        assert!(
            end <= self.data.len(),
            "disk access {start}..{end} past the end"
        );
        start..end
    }
}

impl DiskBackend for CheckedDisk {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_at<B: BitmapSlice>(&mut self, offset: u64, buf: &VolatileSlice<B>) -> io::Result<()> {
        let range = self.range(offset, buf.len());
        buf.copy_from(&self.data[range]);
        Ok(())
    }

    fn write_at<B: BitmapSlice>(&mut self, offset: u64, buf: &VolatileSlice<B>) -> io::Result<()> {
        assert!(!self.read_only, "write reached a read-only disk");
        let range = self.range(offset, buf.len());
        buf.copy_to(&mut self.data[range]);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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
    let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM_SIZE)]).expect("test memory");
    let n = body.len().min(MEM_SIZE);
    mem.write_slice(&body[..n], GuestAddress(0))
        .expect("inside memory");

    let word = |i: usize| u32::from(u16::from_le_bytes([cfg[i], cfg[i + 1]]));
    let mut queue = Queue::new(256).expect("valid max size");
    queue.set_size(1 << (cfg[0] % 9));
    queue.set_desc_table_address(Some(word(1) & !0xf), Some(0));
    queue.set_avail_ring_address(Some(word(3) & !1), Some(0));
    queue.set_used_ring_address(Some(word(5) & !3), Some(0));
    queue.set_event_idx(cfg[7] & 1 != 0);
    queue.set_ready(true);
    if !queue.is_valid(&mem) {
        return;
    }
    let read_only = cfg[7] & 2 != 0;
    let disk = CheckedDisk {
        data: vec![0x5a; DISK_SIZE],
        read_only,
    };
    let mut handler = BlockQueueHandler::new(
        Arc::new(mem),
        queue,
        disk,
        NoSignal,
        read_only,
        [b'f'; SERIAL_LEN],
        SEG_MAX,
    );
    handler.process_queue();
    // A second notification, starting from whatever state the first pass left.
    handler.process_queue();
});
