//! Drives the virtio-console data path with fuzzer-chosen guest memory (both rings) and a
//! host that reads and writes in fuzzer-chosen bursts, including WouldBlock and EOF.

#![no_main]

use std::io::{self, Read, Write};
use std::sync::Arc;

use hull_vmm::devices::virtio::console::ConsoleQueueHandler;
use hull_vmm::devices::virtio::{GuestMemoryMmap, SignalUsedQueue};
use libfuzzer_sys::fuzz_target;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress};

const MEM_SIZE: usize = 0x1_0000;

struct NoSignal;

impl SignalUsedQueue for NoSignal {
    fn signal_used_queue(&self) {}
}

/// A host whose read/write sizes come from a script; 0 in the script means WouldBlock.
struct Host {
    script: Vec<u8>,
    pos: usize,
    written: usize,
}

impl Host {
    fn next(&mut self) -> u8 {
        let v = self.script.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        v
    }
}

impl Read for Host {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.next() {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            255 => Ok(0),
            n => {
                let n = usize::from(n).min(buf.len());
                buf[..n].fill(b'i');
                Ok(n)
            }
        }
    }
}

impl Write for Host {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.next() {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            n => {
                let n = usize::from(n).min(buf.len());
                self.written += n;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn queue(cfg: &[u8]) -> Queue {
    let word = |i: usize| u32::from(u16::from_le_bytes([cfg[i], cfg[i + 1]]));
    let mut queue = Queue::new(128).expect("valid max size");
    queue.set_size(1 << (cfg[0] % 8));
    queue.set_desc_table_address(Some(word(1) & !0xf), Some(0));
    queue.set_avail_ring_address(Some(word(3) & !1), Some(0));
    queue.set_used_ring_address(Some(word(5) & !3), Some(0));
    queue.set_ready(true);
    queue
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 48 {
        return;
    }
    let (cfg, rest) = data.split_at(16);
    let (script, body) = rest.split_at(32);
    let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM_SIZE)]).expect("test memory");
    let n = body.len().min(MEM_SIZE);
    mem.write_slice(&body[..n], GuestAddress(0))
        .expect("inside memory");
    let (rx, tx) = (queue(&cfg[..8]), queue(&cfg[8..]));
    if !rx.is_valid(&mem) || !tx.is_valid(&mem) {
        return;
    }
    let mut handler = ConsoleQueueHandler::new(Arc::new(mem), rx, tx, NoSignal);
    let mut host = Host {
        script: script.to_vec(),
        pos: 0,
        written: 0,
    };
    for _ in 0..4 {
        handler.process_tx(&mut host);
        handler.process_rx(&mut host);
    }
    // Nothing is ever buffered on the host side beyond what the guest offered.
    assert!(host.written <= 32 * 255);
});
