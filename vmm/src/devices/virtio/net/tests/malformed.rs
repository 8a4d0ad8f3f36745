//! Hostile rings and chains.

use super::*;

#[test]
fn looping_and_out_of_table_chains_do_not_hang_or_panic() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    let f = frame(20, 0);
    mem.write_slice(&f, GuestAddress(0x10000)).unwrap();
    // TX: 0 -> 1 -> 0 -> ... (the chain walk stops at the queue size).
    add_raw_chain(
        &r.txq,
        0,
        &[
            Descriptor::new(0x10000, 20, NEXT, 1),
            Descriptor::new(0x10000, 20, NEXT, 0),
        ],
        0,
    );
    // TX: next points outside the table.
    add_raw_chain(&r.txq, 2, &[Descriptor::new(0x10000, 20, NEXT, 999)], 2);
    let run = h.process_tx();
    assert_eq!(run.chains, 2);
    assert!(h.backend().sent.iter().all(|s| s.len() <= MAX_FRAME_LEN));
    // RX: a looping chain of writable buffers.
    h.backend().incoming.push_back(frame(30, 0));
    add_raw_chain(
        &r.rxq,
        0,
        &[
            Descriptor::new(0x20000, 8, W | NEXT, 1),
            Descriptor::new(0x20000, 8, W | NEXT, 0),
        ],
        0,
    );
    h.process_rx();
    assert!(!h.is_broken().0);
    // A head outside the descriptor table breaks the queue for good, without panic.
    add_raw_chain(&r.txq, 3, &[], QSIZE + 5);
    h.process_tx();
    assert!(h.is_broken().1);
    assert_eq!(h.process_tx().chains, 0);
}

#[test]
fn avail_index_running_ahead_breaks_only_that_queue() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    r.rxq.avail().idx().store(QSIZE + 1);
    h.backend().incoming.push_back(frame(10, 0));
    assert_eq!(h.process_rx(), RxState::Broken);
    assert_eq!(h.is_broken(), (true, false));
    let f = frame(20, 0);
    mem.write_slice(&f, GuestAddress(0x10000)).unwrap();
    add_chain(&r.txq, 0, &[(0x10000, 32, R)]);
    assert_eq!(h.process_tx().chains, 1);
}

/// A bounded in-test fuzz loop (the cargo-fuzz target `net_queue` runs the same idea
/// unbounded): random rings, descriptors and host frames must never panic, never send a
/// frame larger than the limit, and never report more used bytes than a frame had.
#[test]
fn random_guests_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const MEM: usize = 0x1_0000;
    for _ in 0..300 {
        let mem =
            Arc::new(GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM)]).expect("test memory"));
        let mut image = vec![0u8; MEM];
        for chunk in image.chunks_mut(8) {
            let v = next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        // Small descriptor lengths and addresses often inside memory.
        for i in (0..0x400).step_by(16) {
            image[i + 8..i + 12].copy_from_slice(&u32_of(next() % 0x3000).to_le_bytes());
            image[i..i + 8].copy_from_slice(&(next() % 0x1_2000).to_le_bytes());
        }
        mem.write_slice(&image, GuestAddress(0)).unwrap();
        let queue = |desc: u64, avail: u64, used: u64, size: u16, event_idx: bool| {
            let mut q = Queue::new(256).unwrap();
            q.set_size(size);
            q.set_desc_table_address(Some(u32_of(desc)), Some(0));
            q.set_avail_ring_address(Some(u32_of(avail)), Some(0));
            q.set_used_ring_address(Some(u32_of(used)), Some(0));
            q.set_event_idx(event_idx);
            q.set_ready(true);
            q
        };
        let size = 1u16 << (next() % 6);
        let ev = next() % 2 == 0;
        let rx = queue(0, 0x800, 0xa00, size, ev);
        let tx = queue(
            0x400,
            0x900 + (next() % 8) * 2,
            0xc00 + (next() % 4) * 4,
            size,
            ev,
        );
        if !rx.is_valid(&*mem) || !tx.is_valid(&*mem) {
            continue;
        }
        let acked = next() & OFFERED_FEATURES;
        let mut host = FakeHost::default();
        for _ in 0..(next() % 4) {
            let len = (next() % 70_000) as usize;
            host.incoming.push_back(vec![0x5a; len]);
        }
        let mut h = NetQueueHandler::new(mem, rx, tx, host, CountingSignal::default(), acked);
        for _ in 0..3 {
            h.process_tx();
            h.process_rx();
        }
        assert!(h.backend().sent.iter().all(|f| f.len() <= MAX_FRAME_LEN));
    }
}
