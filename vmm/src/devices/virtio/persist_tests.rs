//! Transport save/restore: a virtio-blk transport saved mid-operation and restored onto a
//! new backing file reads back the same registers, serves the request that was pending
//! from the new file, and survives the reset and re-negotiation hull-init's re-probe does;
//! impossible saved states are refused without a panic.

use std::path::PathBuf;
use std::sync::Arc;

use virtio_bindings::virtio_blk::VIRTIO_BLK_T_IN;
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress};
use vmm_sys_util::eventfd::EventFd;

use super::block::request::{RequestHeader, STATUS_OK};
use super::block::{Block, BlockArgs, BlockEventHandler};
use super::mmio::status;
use super::persist::{PersistError, TransportPersist, TransportState};
use super::test_utils::{add_chain, byte_at, test_memory, R, W};
use super::{GuestMemoryMmap, MmioTransport};
use crate::devices::MmioDevice;

const REG_DEVICE_FEATURES: u64 = 0x10;
const REG_DEVICE_FEATURES_SEL: u64 = 0x14;
const REG_DRIVER_FEATURES: u64 = 0x20;
const REG_DRIVER_FEATURES_SEL: u64 = 0x24;
const REG_QUEUE_SEL: u64 = 0x30;
const REG_QUEUE_NUM: u64 = 0x38;
const REG_QUEUE_READY: u64 = 0x44;
const REG_STATUS: u64 = 0x70;
const REG_QUEUE_DESC_LOW: u64 = 0x80;
const REG_QUEUE_DRIVER_LOW: u64 = 0x90;
const REG_QUEUE_DEVICE_LOW: u64 = 0xa0;
const CONFIG: u64 = 0x100;

/// A disk file whose sector `n` is filled with byte `fill + n`.
struct Disk(PathBuf);

impl Disk {
    fn new(name: &str, sectors: usize, fill: u8) -> Self {
        let path = std::env::temp_dir().join(format!("hull-persist-{name}-{}", std::process::id()));
        let data: Vec<u8> = (0..sectors * 512)
            .map(|i| fill.wrapping_add(u8::try_from(i / 512).unwrap()))
            .collect();
        std::fs::write(&path, data).unwrap();
        Self(path)
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn transport(disk: &Disk, mem: &Arc<GuestMemoryMmap>) -> (MmioTransport<Block>, BlockEventHandler) {
    let (dev, events) = Block::new(BlockArgs {
        path: disk.0.clone(),
        read_only: false,
        serial: "w".into(),
    })
    .unwrap();
    let irq = EventFd::new(libc::EFD_NONBLOCK).unwrap();
    (MmioTransport::new(dev, mem.clone(), irq), events)
}

fn read32(t: &mut MmioTransport<Block>, offset: u64) -> u32 {
    let mut data = [0u8; 4];
    t.mmio_read(offset, &mut data);
    u32::from_le_bytes(data)
}

fn write32(t: &mut MmioTransport<Block>, offset: u64, value: u32) {
    t.mmio_write(offset, &value.to_le_bytes());
}

/// The driver's bring-up: features, queue 0 at `vq`'s rings, DRIVER_OK.
fn bring_up(t: &mut MmioTransport<Block>, vq: &MockSplitQueue<'_, GuestMemoryMmap>) {
    write32(t, REG_STATUS, 0);
    write32(t, REG_STATUS, status::ACKNOWLEDGE | status::DRIVER);
    for sel in 0..2 {
        write32(t, REG_DEVICE_FEATURES_SEL, sel);
        let offered = read32(t, REG_DEVICE_FEATURES);
        write32(t, REG_DRIVER_FEATURES_SEL, sel);
        write32(t, REG_DRIVER_FEATURES, offered);
    }
    let features_ok = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
    write32(t, REG_STATUS, features_ok);
    write32(t, REG_QUEUE_SEL, 0);
    write32(t, REG_QUEUE_NUM, 16);
    let low = |addr: GuestAddress| u32::try_from(addr.0).unwrap();
    write32(t, REG_QUEUE_DESC_LOW, low(vq.desc_table_addr()));
    write32(t, REG_QUEUE_DRIVER_LOW, low(vq.avail_addr()));
    write32(t, REG_QUEUE_DEVICE_LOW, low(vq.used_addr()));
    write32(t, REG_QUEUE_READY, 1);
    write32(t, REG_STATUS, features_ok | status::DRIVER_OK);
}

/// Queues a read of `sector` into 0x10000 with its status byte at `status_at`.
fn queue_read(
    mem: &GuestMemoryMmap,
    vq: &MockSplitQueue<'_, GuestMemoryMmap>,
    first: u16,
    sector: u64,
    status_at: u64,
) {
    let header = RequestHeader {
        request_type: VIRTIO_BLK_T_IN,
        reserved: 0,
        sector,
    };
    mem.write_obj(header, GuestAddress(0x1000)).unwrap();
    add_chain(
        vq,
        first,
        &[(0x1000, 16, R), (0x10000, 512, W), (status_at, 1, W)],
    );
}

fn used_idx(mem: &GuestMemoryMmap, vq: &MockSplitQueue<'_, GuestMemoryMmap>) -> u16 {
    mem.read_obj(GuestAddress(vq.used_addr().0 + 2)).unwrap()
}

/// Every register below the config space, for every queue selector the device has.
fn registers(t: &mut MmioTransport<Block>) -> Vec<u32> {
    (0..CONFIG)
        .step_by(4)
        .filter(|r| *r != 0x50)
        .map(|r| read32(t, r))
        .collect()
}

#[test]
fn a_live_disk_restores_mid_operation_onto_its_new_file() {
    let mem = test_memory();
    let vq = MockSplitQueue::new(&*mem, 16);
    let zygote_disk = Disk::new("zygote", 0, 0);
    let (mut zygote, zygote_events) = transport(&zygote_disk, &mem);
    bring_up(&mut zygote, &vq);
    // One request completed (an empty disk: the read fails with IOERR), one still queued.
    queue_read(&mem, &vq, 0, 0, 0x3000);
    assert_eq!(zygote_events.process(), 1);
    queue_read(&mem, &vq, 3, 2, 0x3001);
    let saved = zygote.save_state().unwrap();
    assert_eq!(saved.queues[0].next_used, 1);
    let before = registers(&mut zygote);

    let container_disk = Disk::new("container", 8, 0x40);
    let (mut restored, events) = transport(&container_disk, &mem);
    restored.restore_state(&saved).unwrap();
    assert_eq!(registers(&mut restored), before, "identical register reads");
    // The new file's size, not the placeholder's.
    let mut capacity = [0u8; 8];
    restored.mmio_read(CONFIG, &mut capacity);
    assert_eq!(u64::from_le_bytes(capacity), 8);
    // The pending request is served from the new file, after the completed one.
    assert_eq!(events.process(), 1);
    assert_eq!(used_idx(&mem, &vq), 2);
    assert_eq!(byte_at(&mem, 0x3001), STATUS_OK);
    assert_eq!(byte_at(&mem, 0x10000), 0x42);
    // A save of the restored transport is the same state, one request further.
    let again = restored.save_state().unwrap();
    assert_eq!(again.queues[0].next_used, 2);
    assert_eq!(
        TransportState {
            queues: saved.queues.clone(),
            ..again.clone()
        },
        saved
    );
}

#[test]
fn a_restored_disk_survives_the_re_probe_reset_and_renegotiation() {
    let mem = test_memory();
    let vq = MockSplitQueue::new(&*mem, 16);
    let zygote_disk = Disk::new("probe-zygote", 0, 0);
    let (mut zygote, _) = transport(&zygote_disk, &mem);
    bring_up(&mut zygote, &vq);
    let saved = zygote.save_state().unwrap();

    let container_disk = Disk::new("probe-container", 4, 0x10);
    let (mut restored, events) = transport(&container_disk, &mem);
    restored.restore_state(&saved).unwrap();
    // The driver unbinds (reset) and binds again, on fresh rings.
    write32(&mut restored, REG_STATUS, 0);
    assert_eq!(read32(&mut restored, REG_STATUS), 0);
    let vq2 = MockSplitQueue::create(&*mem, GuestAddress(0x20000), 16);
    bring_up(&mut restored, &vq2);
    assert!(restored.device().is_active());
    queue_read(&mem, &vq2, 0, 3, 0x3002);
    assert_eq!(events.process(), 1);
    assert_eq!(byte_at(&mem, 0x3002), STATUS_OK);
    assert_eq!(byte_at(&mem, 0x10000), 0x13);
}

#[test]
fn impossible_saved_states_are_refused_by_name() {
    let mem = test_memory();
    let vq = MockSplitQueue::new(&*mem, 16);
    let disk = Disk::new("hostile", 4, 0);
    let (mut zygote, _) = transport(&disk, &mem);
    bring_up(&mut zygote, &vq);
    let good = zygote.save_state().unwrap();
    let refuse = |state: TransportState| {
        let (mut t, _) = transport(&disk, &mem);
        t.restore_state(&state).unwrap_err()
    };
    let err = refuse(TransportState {
        device_type: 3,
        ..good.clone()
    });
    assert_eq!(err, PersistError::DeviceType { saved: 3, here: 2 });
    let err = refuse(TransportState {
        queues: vec![],
        ..good.clone()
    });
    assert!(
        matches!(
            err,
            PersistError::QueueCount {
                saved: 0,
                here: 1,
                ..
            }
        ),
        "{err}"
    );
    let err = refuse(TransportState {
        acked_features: u64::MAX,
        ..good.clone()
    });
    assert!(matches!(err, PersistError::Features { .. }), "{err}");
    for size in [0, 3, 512, u16::MAX] {
        let mut state = good.clone();
        state.queues[0].size = size;
        assert!(matches!(refuse(state), PersistError::BadQueue { .. }));
    }
    let mut state = good.clone();
    state.queues[0].used_ring = 1 << 40;
    let err = refuse(state);
    assert!(err.to_string().contains("outside guest memory"), "{err}");
}

#[test]
fn random_saved_states_never_panic() {
    let mem = test_memory();
    let disk = Disk::new("random", 4, 0);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..2000 {
        let mut word = || u32::try_from(next() >> 40).unwrap();
        let state = TransportState {
            device_type: 2,
            status: word() & 0xff,
            queue_select: word() % 3,
            device_features_select: word() % 3,
            driver_features_select: word() % 3,
            acked_features: 0,
            interrupt_status: word() & 3,
            config_generation: word(),
            queues: vec![super::persist::QueueSnapshot {
                size: 1 << (word() % 10),
                ready: word() & 1 == 1,
                desc_table: u64::from(word() & 0x3f_fff0),
                avail_ring: u64::from(word() & 0x3f_fffe),
                used_ring: u64::from(word() & 0x3f_fffc),
                next_used: u16::try_from(word() & 0xffff).unwrap(),
            }],
        };
        let (mut t, events) = transport(&disk, &mem);
        let _ = t.restore_state(&state);
        let _ = events.process();
        let _ = registers(&mut t);
    }
}
