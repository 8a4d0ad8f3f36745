//! Drives the virtio-net data path (TX and RX queues) with a guest whose whole memory —
//! rings, descriptors, headers, frames — is fuzzer-chosen, and a host whose frames (sizes
//! up to past the largest frame, would-block, failures) come from a fuzzer-chosen script.
//!
//! Invariants checked besides "no panic / no hang / no out-of-bounds": every frame handed
//! to the host is a whole header plus at most the largest frame, and its header only asks
//! for offloads the driver negotiated; the guest is never given more bytes than the host
//! produced.

#![no_main]

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use hull_vmm::devices::virtio::net::header::{MAX_FRAME_LEN, OFFERED_FEATURES, VNET_HDR_LEN};
use hull_vmm::devices::virtio::net::{NetBackend, NetQueueHandler};
use hull_vmm::devices::virtio::{GuestMemoryMmap, SignalUsedQueue};
use libfuzzer_sys::fuzz_target;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress};

/// Two regions with a hole, small enough that fuzzer-chosen addresses land inside, at the
/// edges and in the hole.
const REGIONS: [(u64, usize); 2] = [(0, 0x1_0000), (0x2_0000, 0x1_0000)];

/// Feature bits as the virtio-net spec numbers them.
const F_CSUM: u32 = 0;
const F_HOST_TSO4: u32 = 11;
const F_HOST_TSO6: u32 = 12;
const F_HOST_UFO: u32 = 14;

struct ScriptedHost {
    /// Frame lengths to hand out; None = would block, Some(0) = a hard failure.
    script: VecDeque<Option<usize>>,
    produced: u64,
    acked: u64,
}

impl NetBackend for ScriptedHost {
    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.script.pop_front() {
            None | Some(None) => Err(io::ErrorKind::WouldBlock.into()),
            Some(Some(0)) => Err(io::Error::other("host gone")),
            Some(Some(len)) => {
                // Like a tap: a frame longer than the buffer is cut to it.
                let n = len.min(buf.len());
                buf[..n].fill(0x5a);
                buf[..n.min(VNET_HDR_LEN)].fill(0);
                self.produced += n as u64;
                Ok(n)
            }
        }
    }

    fn send_frame(&mut self, frame: &[u8]) -> io::Result<usize> {
        assert!(frame.len() >= VNET_HDR_LEN, "frame without a header");
        assert!(frame.len() <= MAX_FRAME_LEN, "oversize frame reached the host");
        let has = |bit: u32| self.acked & (1 << bit) != 0;
        assert_eq!(frame[0] & !1, 0, "flags other than NEEDS_CSUM reached the host");
        assert!(frame[0] == 0 || has(F_CSUM), "partial checksum not negotiated");
        let gso_ok = match frame[1] {
            0 => true,
            1 => has(F_HOST_TSO4),
            3 => has(F_HOST_UFO),
            4 => has(F_HOST_TSO6),
            _ => false,
        };
        assert!(gso_ok, "GSO type {} not negotiated", frame[1]);
        assert_eq!(&frame[10..12], &[0, 0], "num_buffers leaked to the host");
        Ok(frame.len())
    }
}

struct NoSignal;

impl SignalUsedQueue for NoSignal {
    fn signal_used_queue(&self) {}
}

fn queue(cfg: &[u8]) -> Queue {
    let word = |i: usize| u32::from(u16::from_le_bytes([cfg[i], cfg[i + 1]]));
    let mut queue = Queue::new(256).expect("valid max size");
    queue.set_size(1 << (cfg[0] % 9));
    queue.set_desc_table_address(Some(word(1) & !0xf), Some(0));
    queue.set_avail_ring_address(Some(word(3) & !1), Some(0));
    queue.set_used_ring_address(Some(word(5) & !3), Some(0));
    queue.set_event_idx(cfg[7] & 1 != 0);
    queue.set_ready(true);
    queue
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 40 {
        return;
    }
    let (cfg, rest) = data.split_at(16);
    let (features, rest) = rest.split_at(8);
    let (script, body) = rest.split_at(16);
    let regions: Vec<(GuestAddress, usize)> =
        REGIONS.iter().map(|&(a, s)| (GuestAddress(a), s)).collect();
    let mem = GuestMemoryMmap::from_ranges(&regions).expect("test memory");
    let n = body.len().min(REGIONS[0].1);
    mem.write_slice(&body[..n], GuestAddress(0))
        .expect("inside memory");
    let (rx, tx) = (queue(&cfg[..8]), queue(&cfg[8..]));
    if !rx.is_valid(&mem) || !tx.is_valid(&mem) {
        return;
    }
    let acked = u64::from_le_bytes(features.try_into().expect("8 bytes")) & OFFERED_FEATURES;
    let host = ScriptedHost {
        // 0: would block, 255: failure, else up to ~76 KB (past the largest frame).
        script: script
            .iter()
            .map(|&b| match b {
                0 => None,
                255 => Some(0),
                b => Some(usize::from(b) * 300),
            })
            .collect(),
        produced: 0,
        acked,
    };
    let mut handler = NetQueueHandler::new(Arc::new(mem), rx, tx, host, NoSignal, acked);
    for _ in 0..4 {
        handler.process_tx();
        handler.process_rx();
    }
    let counters = handler.counters();
    let produced = handler.backend().produced;
    assert!(counters.rx_bytes <= produced, "guest got bytes the host never sent");
});
