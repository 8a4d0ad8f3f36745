//! Host frames into guest RX buffers.

use super::*;

#[test]
fn rx_frame_fills_one_guest_buffer_with_num_buffers_1() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    let mut f = frame(1500, 4);
    f[10] = 0xaa; // whatever the tap left in num_buffers
    h.backend().incoming.push_back(f.clone());
    add_chain(&r.rxq, 0, &[(0x10000, 1600, W)]);
    assert_eq!(h.process_rx(), RxState::HostDrained);
    assert_eq!(r.used_entry(RX_USED, 0), (0, len32(&f)));
    let got = r.read(0x10000, f.len());
    assert_eq!(&got[10..12], &[1, 0], "num_buffers");
    assert_eq!(got[VNET_HDR_LEN..], f[VNET_HDR_LEN..]);
    assert_eq!(h.signal().0.get(), 1);
    assert_eq!(h.counters().rx_frames, 1);
}

#[test]
fn rx_chain_with_several_buffers_takes_one_frame() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    let f = frame(2000, 1);
    h.backend().incoming.push_back(f.clone());
    // Linux's "big packets" layout: header buffer, then page-sized ones.
    add_chain(
        &r.rxq,
        0,
        &[(0x10000, 12, W), (0x20000, 1000, W), (0x30000, 4096, W)],
    );
    assert_eq!(h.process_rx(), RxState::HostDrained);
    assert_eq!(r.used_entry(RX_USED, 0), (0, len32(&f)));
    let mut got = r.read(0x10000, 12);
    got.extend(r.read(0x20000, 1000));
    got.extend(r.read(0x30000, 1000));
    assert_eq!(got[VNET_HDR_LEN..], f[VNET_HDR_LEN..]);
}

#[test]
fn rx_mergeable_frame_spans_chains_published_at_once() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(OFFERED_FEATURES, false);
    let f = frame(3000, 2);
    h.backend().incoming.push_back(f.clone());
    for i in 0..4u16 {
        add_chain(&r.rxq, i, &[(0x10000 + 0x1000 * u64::from(i), 1024, W)]);
    }
    assert_eq!(h.process_rx(), RxState::HostDrained);
    assert_eq!(r.used_idx(RX_USED), 3);
    assert_eq!(r.used_entry(RX_USED, 0), (0, 1024));
    assert_eq!(r.used_entry(RX_USED, 1), (1, 1024));
    assert_eq!(r.used_entry(RX_USED, 2), (2, 3012 - 2048));
    assert_eq!(&r.read(0x10000 + 10, 2), &[3, 0], "num_buffers");
    let mut got = r.read(0x10000, 1024);
    got.extend(r.read(0x11000, 1024));
    got.extend(r.read(0x12000, 3012 - 2048));
    assert_eq!(got[VNET_HDR_LEN..], f[VNET_HDR_LEN..]);
    // The fourth buffer is left for the next frame.
    h.backend().incoming.push_back(frame(10, 0));
    h.process_rx();
    assert_eq!(r.used_entry(RX_USED, 3), (3, 22));
}

#[test]
fn rx_without_buffers_keeps_the_frame_and_delivers_it_on_the_next_notify() {
    let mem = test_memory();
    let r = rig(&mem);
    for event_idx in [false, true] {
        let mut h = r.handler(PLAIN, event_idx);
        let first = frame(100, 1);
        let second = frame(200, 2);
        h.backend().incoming.push_back(first.clone());
        h.backend().incoming.push_back(second.clone());
        assert_eq!(h.process_rx(), RxState::NoBuffers);
        assert!(h.has_pending_rx());
        assert_eq!(h.backend().reads, 1, "no frame read beyond the one waiting");
        // Asking again without buffers changes nothing and reads nothing.
        assert_eq!(h.process_rx(), RxState::NoBuffers);
        assert_eq!(h.backend().reads, 1);
        assert_eq!(h.signal().0.get(), 0);
        if event_idx {
            // The driver was asked to kick once it adds any buffer.
            let avail_event = GuestAddress(RX_USED + AVAIL_EVENT);
            let want = r.rxq.avail().idx().load();
            assert_eq!(mem.read_obj::<u16>(avail_event).unwrap(), want);
        } else {
            let flags = GuestAddress(RX_USED);
            assert_eq!(mem.read_obj::<u16>(flags).unwrap(), 0, "NO_NOTIFY clear");
        }
        // The guest posts two buffers and kicks: both frames arrive, in order.
        let base = r.rxq.avail().idx().load();
        let slot = base % QSIZE;
        add_chain(&r.rxq, slot, &[(0x10000, 256, W)]);
        add_chain(&r.rxq, (slot + 1) % QSIZE, &[(0x20000, 256, W)]);
        assert_eq!(h.process_rx(), RxState::HostDrained);
        assert!(!h.has_pending_rx());
        assert_eq!(r.read(0x10000 + 12, 100), first[12..]);
        assert_eq!(r.read(0x20000 + 12, 200), second[12..]);
        assert_eq!(h.counters().rx_frames, 2);
        assert_eq!(h.counters().rx_waited_for_buffers, 2);
        // Reset the rings for the next round.
        r.rxq.avail().idx().store(0);
        mem.write_obj(0u16, GuestAddress(RX_USED + 2)).unwrap();
    }
}

#[test]
fn rx_mergeable_frame_waits_until_there_is_room_for_all_of_it() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(OFFERED_FEATURES, true);
    let f = frame(3000, 5);
    h.backend().incoming.push_back(f.clone());
    add_chain(&r.rxq, 0, &[(0x10000, 1024, W)]);
    assert_eq!(h.process_rx(), RxState::NoBuffers);
    assert_eq!(r.used_idx(RX_USED), 0, "nothing half-delivered");
    // Kick requested for the next buffer, past the one already there.
    let avail_event = GuestAddress(RX_USED + AVAIL_EVENT);
    assert_eq!(mem.read_obj::<u16>(avail_event).unwrap(), 1);
    add_chain(&r.rxq, 1, &[(0x11000, 1024, W)]);
    add_chain(&r.rxq, 2, &[(0x12000, 1024, W)]);
    assert_eq!(h.process_rx(), RxState::HostDrained);
    assert_eq!(r.used_idx(RX_USED), 3);
    assert_eq!(&r.read(0x10000 + 10, 2), &[3, 0]);
}

#[test]
fn rx_frames_larger_than_the_guests_buffers_are_dropped_not_stuck() {
    let mem = test_memory();
    let r = rig(&mem);
    // Without MRG_RXBUF a frame must fit one chain.
    let mut h = r.handler(PLAIN, false);
    h.backend().incoming.push_back(frame(1000, 0));
    h.backend().incoming.push_back(frame(50, 6));
    add_chain(&r.rxq, 0, &[(0x10000, 100, W)]);
    assert_eq!(h.process_rx(), RxState::HostDrained);
    assert_eq!(h.counters().rx_oversize, 1);
    // The buffer was kept for the frame that fits.
    assert_eq!(r.used_entry(RX_USED, 0), (0, 62));
    assert_eq!(r.read(0x10000 + 12, 50), frame(50, 6)[12..]);

    // With MRG_RXBUF, a frame larger than the whole ring is dropped once the ring is full.
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(OFFERED_FEATURES, false);
    h.backend().incoming.push_back(frame(MAX_FRAME_LEN - 12, 0));
    for i in 0..QSIZE {
        add_chain(&r.rxq, i, &[(0x10000 + 0x1000 * u64::from(i), 64, W)]);
    }
    assert_eq!(h.process_rx(), RxState::HostDrained);
    assert_eq!(h.counters().rx_oversize, 1);
    assert_eq!(r.used_idx(RX_USED), 0);
}

#[test]
fn rx_buffers_outside_memory_or_read_only_give_no_room() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    h.backend().incoming.push_back(frame(100, 0));
    add_chain(
        &r.rxq,
        0,
        &[
            (0xffff_0000, 4096, W),
            (0x3f_fff0, 4096, W),
            (0x10000, 4096, R),
        ],
    );
    assert_eq!(h.process_rx(), RxState::HostDrained);
    assert_eq!(h.counters().rx_oversize, 1, "{:?}", h.counters());
    assert_eq!(h.counters().rx_frames, 0);
    assert_eq!(r.read(0x10000, 4), [0; 4], "read-only buffer untouched");
}

#[test]
fn short_host_frames_are_counted_and_skipped() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    h.backend().incoming.push_back(vec![1, 2, 3]);
    h.backend().incoming.push_back(frame(10, 0));
    add_chain(&r.rxq, 0, &[(0x10000, 256, W)]);
    h.process_rx();
    assert_eq!(h.counters().rx_malformed, 1);
    assert_eq!(h.counters().rx_frames, 1);
}

#[test]
fn a_failed_host_ends_rx_without_touching_the_guest_or_tx() {
    let mem = test_memory();
    let r = rig(&mem);
    let mut h = r.handler(PLAIN, false);
    h.backend().gone = true;
    add_chain(&r.rxq, 0, &[(0x10000, 256, W)]);
    assert_eq!(h.process_rx(), RxState::HostFailed);
    assert_eq!(h.process_rx(), RxState::HostFailed);
    assert_eq!(r.used_idx(RX_USED), 0);
    let f = frame(20, 0);
    mem.write_slice(&f, GuestAddress(0x20000)).unwrap();
    add_chain(&r.txq, 0, &[(0x20000, len32(&f), R)]);
    assert_eq!(h.process_tx().chains, 1);
    assert_eq!(h.backend().sent.len(), 1);
}
