//! The device model and its event loop.

use super::*;

/// A datagram socket that records the offloads it is given.
struct RecordingNic {
    socket: UnixDatagram,
    offloads: Arc<Mutex<Vec<u32>>>,
}

impl AsRawFd for RecordingNic {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl NetBackend for RecordingNic {
    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.recv_frame(buf)
    }
    fn send_frame(&mut self, frame: &[u8]) -> io::Result<usize> {
        self.socket.send_frame(frame)
    }
}

impl HostNic for RecordingNic {
    fn set_offload(&self, tun_flags: u32) -> io::Result<()> {
        self.offloads.lock().unwrap().push(tun_flags);
        Ok(())
    }
    fn try_clone_nic(&self) -> io::Result<Box<dyn HostNic>> {
        Ok(Box::new(Self {
            socket: self.socket.try_clone()?,
            offloads: self.offloads.clone(),
        }))
    }
}

fn socket_pair() -> (UnixDatagram, UnixDatagram) {
    let (vmm, host) = UnixDatagram::pair().unwrap();
    vmm.set_nonblocking(true).unwrap();
    host.set_nonblocking(true).unwrap();
    (vmm, host)
}

#[test]
fn offers_mac_and_firecrackers_offloads() {
    let (vmm, _host) = socket_pair();
    let (net, _events) = Net::new(NetArgs {
        host: Box::new(vmm),
        mac: MAC,
    })
    .unwrap();
    assert_eq!(net.device_type(), 1);
    assert_eq!(net.queue_max_sizes(), &[QUEUE_SIZE, QUEUE_SIZE]);
    let features = net.avail_features();
    for bit in [
        VIRTIO_F_VERSION_1,
        VIRTIO_NET_F_MAC,
        VIRTIO_NET_F_CSUM,
        VIRTIO_NET_F_GUEST_CSUM,
        VIRTIO_NET_F_GUEST_TSO4,
        VIRTIO_NET_F_MRG_RXBUF,
    ] {
        assert_ne!(features & (1 << bit), 0, "feature bit {bit}");
    }
    // Nothing that needs a control queue or several queue pairs.
    for bit in [17u32, 22, 16] {
        assert_eq!(features & (1 << bit), 0, "feature bit {bit}");
    }
    let mut config = [0xffu8; 8];
    net.read_config(0, &mut config);
    assert_eq!(config, [2, 0, 0x0a, 0x58, 0, 2, 0, 0]);
    let mut byte = [0u8; 1];
    net.read_config(5, &mut byte);
    assert_eq!(byte, [2]);
    net.read_config(4096, &mut byte);
    assert_eq!(byte, [0]);
    assert!(!net.is_active());
}

#[test]
fn activation_hands_the_negotiated_offloads_to_the_host() {
    let mem = test_memory();
    let r = rig(&mem);
    let (vmm, _host) = socket_pair();
    let offloads = Arc::new(Mutex::new(Vec::new()));
    let (mut net, _events) = Net::new(NetArgs {
        host: Box::new(RecordingNic {
            socket: vmm,
            offloads: offloads.clone(),
        }),
        mac: MAC,
    })
    .unwrap();
    let irq = EventFd::new(libc::EFD_NONBLOCK).unwrap();
    let interrupt = Arc::new(VirtioInterrupt::new(irq));
    let activate = |net: &mut Net, acked: u64| {
        net.activate(Activation {
            mem: mem.clone(),
            queues: {
                let (rx, tx) = r.queues();
                vec![rx, tx]
            },
            acked_features: acked,
            interrupt: interrupt.clone(),
        })
        .unwrap();
    };
    activate(&mut net, OFFERED_FEATURES);
    assert!(net.is_active());
    // Activation kicks both queues so buffers posted before DRIVER_OK are seen.
    assert_eq!(net.queue_events()[0].read().unwrap(), 1);
    assert_eq!(net.queue_events()[1].read().unwrap(), 1);
    net.reset();
    assert!(!net.is_active());
    activate(&mut net, PLAIN | (1 << VIRTIO_NET_F_GUEST_CSUM));
    net.reset();
    activate(&mut net, PLAIN);
    assert_eq!(
        *offloads.lock().unwrap(),
        [
            libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_UFO,
            libc::TUN_F_CSUM,
            0
        ]
    );
    // Only two queues make a NIC.
    let err = net.activate(Activation {
        mem: mem.clone(),
        queues: vec![r.rxq.create_queue().unwrap()],
        acked_features: PLAIN,
        interrupt,
    });
    assert!(err.is_err());
}

#[test]
fn event_loop_moves_frames_both_ways_and_retries_rx_on_the_queue_notify() {
    use event_manager::{EventManager, SubscriberOps};

    let mem = test_memory();
    let r = rig(&mem);
    let (vmm, host) = socket_pair();
    let (mut net, events) = Net::new(NetArgs {
        host: Box::new(vmm),
        mac: MAC,
    })
    .unwrap();
    let irq = EventFd::new(libc::EFD_NONBLOCK).unwrap();
    let interrupt = Arc::new(VirtioInterrupt::new(irq.try_clone().unwrap()));
    let (rx, tx) = r.queues();
    net.activate(Activation {
        mem: mem.clone(),
        queues: vec![rx, tx],
        acked_features: PLAIN,
        interrupt,
    })
    .unwrap();
    let mut manager = EventManager::<NetEventHandler>::new().unwrap();
    manager.add_subscriber(events);
    let mut pump = || {
        let mut dispatched = 0;
        for _ in 0..8 {
            dispatched += manager.run_with_timeout(1).unwrap();
        }
        dispatched
    };
    pump();

    // TX: the guest's frame arrives at the host as one datagram.
    let out = frame(300, 1);
    mem.write_slice(&out, GuestAddress(0x10000)).unwrap();
    add_chain(&r.txq, 0, &[(0x10000, len32(&out), R)]);
    net.queue_events()[1].write(1).unwrap();
    pump();
    let mut buf = vec![0u8; 2048];
    let n = host.recv(&mut buf).unwrap();
    assert_eq!(buf[..n], out[..]);
    assert_eq!(r.used_idx(TX_USED), 1);
    assert!(irq.read().unwrap() >= 1, "interrupt raised");

    // RX with no guest buffers: both frames wait (one in the device, one in the socket),
    // and the readable socket is not watched meanwhile (the loop goes quiet, no spin).
    let first = frame(100, 2);
    let second = frame(1400, 3);
    host.send(&first).unwrap();
    host.send(&second).unwrap();
    pump();
    assert_eq!(r.used_idx(RX_USED), 0);
    assert_eq!(pump(), 0, "nothing to do until the guest posts buffers");

    // The guest posts buffers and notifies RX: both frames arrive, in order.
    add_chain(&r.rxq, 0, &[(0x20000, 2048, W)]);
    add_chain(&r.rxq, 1, &[(0x30000, 2048, W)]);
    net.queue_events()[0].write(1).unwrap();
    pump();
    assert_eq!(r.used_idx(RX_USED), 2);
    assert_eq!(r.read(0x20000 + 12, 100), first[12..]);
    assert_eq!(r.read(0x30000 + 12, 1400), second[12..]);
    let counters = net.counters();
    assert_eq!((counters.rx_frames, counters.tx_frames), (2, 1));

    // After a reset nothing is served and nothing spins.
    net.reset();
    host.send(&first).unwrap();
    net.queue_events()[0].write(1).unwrap();
    pump();
    assert_eq!(r.used_idx(RX_USED), 2);
    assert!(pump() <= 1);
}

#[test]
fn a_nic_with_no_backend_takes_the_guests_frames_and_never_delivers_any() {
    use event_manager::{EventManager, SubscriberOps};

    let mem = test_memory();
    let r = rig(&mem);
    let (mut net, events) = Net::new(NetArgs {
        host: Box::new(NullNic::new().unwrap()),
        mac: MAC,
    })
    .unwrap();
    let mut config = [0u8; 6];
    net.read_config(0, &mut config);
    assert_eq!(config, MAC);
    let irq = EventFd::new(libc::EFD_NONBLOCK).unwrap();
    let interrupt = Arc::new(VirtioInterrupt::new(irq.try_clone().unwrap()));
    let (rx, tx) = r.queues();
    net.activate(Activation {
        mem: mem.clone(),
        queues: vec![rx, tx],
        acked_features: PLAIN,
        interrupt,
    })
    .unwrap();
    assert!(net.is_active());
    let mut manager = EventManager::<NetEventHandler>::new().unwrap();
    manager.add_subscriber(events);
    let mut pump = || {
        let mut dispatched = 0;
        for _ in 0..8 {
            dispatched += manager.run_with_timeout(1).unwrap();
        }
        dispatched
    };
    pump();

    // RX buffers posted: nothing ever arrives, and the loop goes quiet (no spin on the
    // backend's fd).
    add_chain(&r.rxq, 0, &[(0x20000, 2048, W)]);
    net.queue_events()[0].write(1).unwrap();
    pump();
    assert_eq!(pump(), 0, "an idle NIC with no backend costs no events");
    assert_eq!(r.used_idx(RX_USED), 0);

    // TX: the guest's frames are used (the driver gets its buffers back) and vanish.
    for (index, len) in [(0u16, 300), (1, 60)] {
        let out = frame(len, 1);
        let at = 0x10000 + u64::from(index) * 0x1000;
        mem.write_slice(&out, GuestAddress(at)).unwrap();
        add_chain(&r.txq, index, &[(at, len32(&out), R)]);
    }
    net.queue_events()[1].write(1).unwrap();
    pump();
    assert_eq!(r.used_idx(TX_USED), 2);
    assert!(irq.read().unwrap() >= 1, "interrupt raised");
    let counters = net.counters();
    assert_eq!((counters.rx_frames, counters.tx_frames), (0, 2));
    assert_eq!(r.used_idx(RX_USED), 0);
}
