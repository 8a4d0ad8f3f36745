//! virtio-blk request path throughput vs. a plain `pread` loop, same file, same run.
//!
//! Run: `cargo bench -p hull-vmm --bench blk_throughput` (release build; ~10 s).
//! Knobs: `HULL_BENCH_FILE_MIB` (default 256), `HULL_BENCH_SECONDS` per measurement
//! (default 3), `HULL_BENCH_ONLY` (run only workloads whose name contains it, e.g. `4 KiB`).
//!
//! The device side is driven in-process exactly as the event loop does it: a driver writes
//! descriptor chains into guest memory and publishes them in the avail ring, then
//! `BlockQueueHandler::process_queue` parses, preads straight into guest memory, writes the
//! status byte and fills the used ring. Only `process_queue` is timed (posting requests is
//! the guest's work). The file is in the page cache for both sides, so the numbers compare
//! the VMM's per-request overhead against the bare syscall.
//!
//! Measured 2026-11-28 on this shared 2-core host (5 runs each, baseline and new binary
//! alternating, ratio = median of 7 rounds within one process): 4 KiB random read 72%
//! (69-73%) of pread before the vmmperf pass, 90% (83-92%) after; 1 MiB sequential ~100%
//! (95-107%) both. What closed the gap: guest buffers resolved with one region lookup instead of
//! vm-memory's generic slice iterator (`host_slice.rs`), chains popped and used entries
//! published in batches (one avail-index read and one used-index store per batch).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hull_vmm::devices::virtio::block::request::{FileDisk, RequestHeader, STATUS_OK};
use hull_vmm::devices::virtio::block::{BlockQueueHandler, QUEUE_SIZE, SEG_MAX};
use hull_vmm::devices::virtio::{GuestMemoryMmap, SignalUsedQueue};
use virtio_queue::desc::split::Descriptor;
use virtio_queue::desc::RawDescriptor;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress};

const DESC_TABLE: u64 = 0x0;
const AVAIL_RING: u64 = 0x1000;
const USED_RING: u64 = 0x2000;
const HEADERS: u64 = 0x4000;
const STATUSES: u64 = 0x8000;
const DATA: u64 = 0x10_0000;
const MEM_SIZE: usize = 64 << 20;
const F_NEXT: u16 = 1;
const F_WRITE: u16 = 2;

struct NoSignal;

impl SignalUsedQueue for NoSignal {
    fn signal_used_queue(&self) {}
}

/// The guest driver side: fixed chains ("slots"), re-posted with a new sector each time.
struct Driver {
    mem: Arc<GuestMemoryMmap>,
    avail_idx: u16,
    slots: u16,
}

impl Driver {
    /// Lays out `slots` read chains of `segments` x `seg_len` bytes each.
    fn new(mem: Arc<GuestMemoryMmap>, slots: u16, segments: u16, seg_len: u32) -> Self {
        let per_chain = segments + 2;
        assert!(slots * per_chain <= QUEUE_SIZE && u32::from(segments) <= SEG_MAX);
        let mut data = DATA;
        for slot in 0..slots {
            let first = slot * per_chain;
            let mut descs = vec![Descriptor::new(
                HEADERS + u64::from(slot) * 16,
                16,
                F_NEXT,
                first + 1,
            )];
            for s in 0..segments {
                descs.push(Descriptor::new(
                    data,
                    seg_len,
                    F_WRITE | F_NEXT,
                    first + 2 + s,
                ));
                data += u64::from(seg_len);
            }
            descs.push(Descriptor::new(STATUSES + u64::from(slot), 1, F_WRITE, 0));
            for (i, d) in descs.into_iter().enumerate() {
                let addr = DESC_TABLE + (u64::from(first) + i as u64) * 16;
                mem.write_obj(RawDescriptor::from(d), GuestAddress(addr))
                    .unwrap();
            }
        }
        assert!(
            data <= MEM_SIZE as u64,
            "guest memory too small for the slots"
        );
        Self {
            mem,
            avail_idx: 0,
            slots,
        }
    }

    fn queue(&self) -> Queue {
        let mut q = Queue::new(QUEUE_SIZE).unwrap();
        q.set_size(QUEUE_SIZE);
        q.set_desc_table_address(Some(u32::try_from(DESC_TABLE).unwrap()), Some(0));
        q.set_avail_ring_address(Some(u32::try_from(AVAIL_RING).unwrap()), Some(0));
        q.set_used_ring_address(Some(u32::try_from(USED_RING).unwrap()), Some(0));
        q.set_ready(true);
        assert!(q.is_valid(&*self.mem));
        q
    }

    /// Posts one read of `sector` on `slot`.
    fn post(&mut self, slot: u16, sector: u64, per_chain: u16) {
        let header = RequestHeader {
            request_type: 0,
            reserved: 0,
            sector,
        };
        self.mem
            .write_obj(header, GuestAddress(HEADERS + u64::from(slot) * 16))
            .unwrap();
        self.mem
            .write_obj(0xffu8, GuestAddress(STATUSES + u64::from(slot)))
            .unwrap();
        let ring_slot = u64::from(self.avail_idx % QUEUE_SIZE);
        self.mem
            .write_obj(
                slot * per_chain,
                GuestAddress(AVAIL_RING + 4 + ring_slot * 2),
            )
            .unwrap();
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.mem
            .store(
                self.avail_idx,
                GuestAddress(AVAIL_RING + 2),
                Ordering::Release,
            )
            .unwrap();
    }

    fn all_ok(&self) -> bool {
        (0..self.slots).all(|s| {
            self.mem
                .read_obj::<u8>(GuestAddress(STATUSES + u64::from(s)))
                .unwrap()
                == STATUS_OK
        })
    }
}

/// A tiny deterministic PRNG (xorshift), the same stream for both sides.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

struct Result {
    bytes: u64,
    ops: u64,
    elapsed: Duration,
}

impl Result {
    fn mb_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64()
    }
    fn iops(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// Offsets (in bytes) of the next request: random 4 KiB-aligned or sequential.
fn offsets(random: bool, file_size: u64, io_size: u64) -> impl FnMut() -> u64 {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut pos = 0u64;
    move || {
        let blocks = file_size / io_size;
        if random {
            (rng.next() % blocks) * io_size
        } else {
            let off = pos;
            pos = (pos + io_size) % (blocks * io_size);
            off
        }
    }
}

fn run_device(file: &File, random: bool, segments: u16, seg_len: u32, budget: Duration) -> Result {
    let mem = Arc::new(GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM_SIZE)]).unwrap());
    let per_chain = segments + 2;
    let slots = slots_for(segments);
    let mut driver = Driver::new(mem.clone(), slots, segments, seg_len);
    let disk = FileDisk::new(file.try_clone().unwrap()).unwrap();
    let size = disk.file().metadata().unwrap().len();
    let io_size = u64::from(segments) * u64::from(seg_len);
    let mut handler =
        BlockQueueHandler::new(mem, driver.queue(), disk, NoSignal, true, [0; 20], SEG_MAX);
    let mut next = offsets(random, size, io_size);
    let start = Instant::now();
    let mut ops = 0u64;
    // Only the device's work is timed: posting requests is the guest driver's job (its vCPU
    // pays for it), not the VMM's.
    let mut elapsed = Duration::ZERO;
    while start.elapsed() < budget {
        for slot in 0..slots {
            driver.post(slot, next() / 512, per_chain);
        }
        let device_start = Instant::now();
        let done = handler.process_queue().completed;
        elapsed += device_start.elapsed();
        assert_eq!(done, usize::from(slots));
        ops += u64::from(slots);
    }
    assert!(
        driver.all_ok(),
        "every request completed with VIRTIO_BLK_S_OK"
    );
    Result {
        bytes: ops * io_size,
        ops,
        elapsed,
    }
}

/// The baseline: the same offsets, `pread` into as many distinct buffers as the device has
/// request slots (so both sides touch the same amount of destination memory).
fn run_pread(file: &File, random: bool, segments: u16, seg_len: u32, budget: Duration) -> Result {
    let size = file.metadata().unwrap().len();
    let io_size = u64::from(segments) * u64::from(seg_len);
    let slots = usize::from(slots_for(segments));
    let io = usize::try_from(io_size).unwrap();
    let mut buf = vec![0u8; io * slots];
    let mut next = offsets(random, size, io_size);
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < budget {
        for dst in buf.chunks_exact_mut(io) {
            file.read_exact_at(dst, next()).unwrap();
        }
        ops += slots as u64;
    }
    let elapsed = start.elapsed();
    Result {
        bytes: ops * io_size,
        ops,
        elapsed,
    }
}

/// Requests in flight per batch: as many chains as fit the queue, at most 64.
fn slots_for(segments: u16) -> u16 {
    (QUEUE_SIZE / (segments + 2)).min(64)
}

const ROUNDS: u32 = 7;

fn median(mut runs: Vec<Result>) -> Result {
    runs.sort_by(|a, b| a.mb_s().total_cmp(&b.mb_s()));
    runs.swap_remove(runs.len() / 2)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs us with no args: keep that
    // run short so the test tier stays fast.
    let quick = !std::env::args().any(|a| a == "--bench");
    let file_mib = env_u64("HULL_BENCH_FILE_MIB", if quick { 16 } else { 256 });
    let budget = Duration::from_millis(if quick {
        100
    } else {
        env_u64("HULL_BENCH_SECONDS", 3) * 1000
    });

    let path = std::env::temp_dir().join(format!("hull-blk-bench-{}", std::process::id()));
    {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .unwrap();
        let chunk: Vec<u8> = (0..1 << 20)
            .map(|i: u32| u8::try_from(i % 253).unwrap())
            .collect();
        for _ in 0..file_mib {
            f.write_all(&chunk).unwrap();
        }
    }
    let file = File::open(&path).unwrap();
    if quick {
        println!(
            "smoke run (cargo test, unoptimized): numbers are not meaningful; use cargo bench"
        );
    }
    // Warm the page cache so both sides read from memory.
    let _ = run_pread(&file, false, 16, 64 << 10, Duration::from_millis(300));

    println!("blk request path vs pread, {file_mib} MiB file (page cache), {budget:?} per side, median of {ROUNDS} alternating rounds");
    println!(
        "{:<28} {:>10} {:>12} {:>10} {:>12} {:>8}",
        "workload", "dev MB/s", "dev IOPS", "pread MB/s", "pread IOPS", "ratio"
    );
    let workloads: [(&str, bool, u16, u32); 2] = [
        ("4 KiB random read", true, 1, 4096),
        ("1 MiB seq read (16x64 KiB)", false, 16, 64 << 10),
    ];
    let only = std::env::var("HULL_BENCH_ONLY").unwrap_or_default();
    for (name, random, segments, seg_len) in workloads {
        if !name.contains(only.as_str()) {
            continue;
        }
        // The machine is shared: alternate the two sides in short rounds and compare
        // medians, so a noisy neighbour hits both alike.
        let mut dev = Vec::new();
        let mut pread = Vec::new();
        for _ in 0..ROUNDS {
            pread.push(run_pread(&file, random, segments, seg_len, budget / ROUNDS));
            dev.push(run_device(
                &file,
                random,
                segments,
                seg_len,
                budget / ROUNDS,
            ));
        }
        let (dev, pread) = (median(dev), median(pread));
        println!(
            "{:<28} {:>10.0} {:>12.0} {:>10.0} {:>12.0} {:>7.0}%",
            name,
            dev.mb_s(),
            dev.iops(),
            pread.mb_s(),
            pread.iops(),
            100.0 * dev.mb_s() / pread.mb_s()
        );
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
}
