//! Guest TX chains to the host.

use vm_memory::Address;

use super::*;

#[test]
fn tx_single_descriptor_frame_reaches_the_host() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    let f = frame(60, 1);
    mem.write_slice(&f, GuestAddress(0x10000)).unwrap();
    add_chain(&r.txq, 0, &[(0x10000, len32(&f), R)]);
    let run = h.process_tx();
    assert_eq!(
        run,
        TxRun {
            chains: 1,
            yielded: false
        }
    );
    assert_eq!(h.backend().sent, vec![f.clone()]);
    assert_eq!(r.used_entry(TX_USED, 0), (0, 0));
    assert_eq!(r.used_idx(TX_USED), 1);
    assert_eq!(h.counters().tx_frames, 1);
    assert_eq!(h.counters().tx_bytes, f.len() as u64);
}

#[test]
fn tx_frames_split_anywhere_are_reassembled() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    let f = frame(3000, 7);
    // Splits inside the header, at its end, and across the payload, in scattered buffers.
    let splits = [5usize, 7, 1, 1499, 1500];
    assert_eq!(splits.iter().sum::<usize>(), f.len());
    let mut bufs = Vec::new();
    let mut at = 0;
    for (i, &len) in splits.iter().enumerate() {
        let addr = 0x20000 + 0x3000 * i as u64 + 3;
        mem.write_slice(&f[at..at + len], GuestAddress(addr))
            .unwrap();
        bufs.push((addr, u32::try_from(len).unwrap(), R));
        at += len;
    }
    add_chain(&r.txq, 0, &bufs);
    // A second frame right behind it, header and payload in one buffer.
    let g = frame(100, 9);
    mem.write_slice(&g, GuestAddress(0x40000)).unwrap();
    add_chain(&r.txq, 5, &[(0x40000, len32(&g), R)]);
    assert_eq!(h.process_tx().chains, 2);
    assert_eq!(h.backend().sent, vec![f, g]);
    assert_eq!(r.used_entry(TX_USED, 1), (5, 0));
    assert_eq!(h.signal().0.get(), 1, "one interrupt for the batch");
}

#[test]
fn bad_tx_chains_are_dropped_counted_and_completed() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    // Larger than any frame: two 40000-byte buffers.
    add_chain(&r.txq, 0, &[(0x10000, 40000, R), (0x30000, 40000, R)]);
    // A buffer outside guest memory.
    add_chain(&r.txq, 2, &[(0x10000, 12, R), (0xffff_fff0, 64, R)]);
    // A device-writable buffer in a TX chain.
    add_chain(&r.txq, 4, &[(0x10000, 12, R), (0x20000, 64, W)]);
    // Shorter than the header.
    add_chain(&r.txq, 6, &[(0x10000, 11, R)]);
    // Header asks for checksum offload, which was not negotiated.
    let mut csum = frame(40, 0);
    csum[0] = NEEDS_CSUM;
    mem.write_slice(&csum, GuestAddress(0x50000)).unwrap();
    add_chain(&r.txq, 7, &[(0x50000, len32(&csum), R)]);
    // Buffer length near u32::MAX.
    add_chain(&r.txq, 8, &[(0x10000, u32::MAX, R)]);
    // Then a good frame.
    let good = frame(50, 3);
    mem.write_slice(&good, GuestAddress(0x60000)).unwrap();
    add_chain(&r.txq, 9, &[(0x60000, len32(&good), R)]);
    assert_eq!(h.process_tx().chains, 7);
    let c = h.counters();
    assert_eq!(
        (c.tx_oversize, c.tx_malformed, c.tx_bad_header, c.tx_frames),
        (2, 3, 1, 1),
        "{c:?}"
    );
    assert_eq!(h.backend().sent, vec![good]);
    assert_eq!(r.used_idx(TX_USED), 7, "every chain completed");
    assert_eq!(h.is_broken(), (false, false));
}

#[test]
fn tx_header_offloads_follow_negotiation_and_rx_only_bits_are_cleared() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN | (1 << VIRTIO_NET_F_CSUM), false);
    let mut f = frame(80, 0);
    f[0] = NEEDS_CSUM | DATA_VALID;
    f[6] = 34; // csum_start
    f[8] = 16; // csum_offset
    f[10] = 9; // num_buffers: RX-only
    mem.write_slice(&f, GuestAddress(0x10000)).unwrap();
    add_chain(&r.txq, 0, &[(0x10000, len32(&f), R)]);
    h.process_tx();
    let sent = &h.backend().sent[0];
    assert_eq!(sent[0], NEEDS_CSUM, "DATA_VALID cleared");
    assert_eq!((sent[6], sent[8], sent[10]), (34, 16, 0));
    assert_eq!(sent[VNET_HDR_LEN..], f[VNET_HDR_LEN..]);
}

#[test]
fn tx_event_idx_suppresses_interrupts_the_driver_did_not_ask_for() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, true);
    let f = frame(20, 0);
    mem.write_slice(&f, GuestAddress(0x10000)).unwrap();
    // used_event = 5: the driver wants an interrupt only once entry 5 is used.
    let used_event = GuestAddress(TX_RING + 0x100 + 4 + 2 * u64::from(QSIZE));
    assert_eq!(
        used_event,
        r.txq.avail_addr().unchecked_add(4 + 2 * u64::from(QSIZE))
    );
    mem.write_obj(5u16, used_event).unwrap();
    add_chain(&r.txq, 0, &[(0x10000, len32(&f), R)]);
    h.process_tx();
    assert_eq!(h.signal().0.get(), 0);
    for i in 1..6 {
        add_chain(&r.txq, i, &[(0x10000, len32(&f), R)]);
    }
    h.process_tx();
    assert_eq!(h.signal().0.get(), 1);
    assert_eq!(h.backend().sent.len(), 6);
}
