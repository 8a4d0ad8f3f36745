//! The event-loop half of the console: queue notifications, host input readable, host
//! output writable again. Host fds are only watched while there is something to do with
//! them, so a stalled side never makes the loop spin.

use std::os::unix::io::{AsRawFd, RawFd};

use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::EventFd;

use super::device::{lock, ConsoleInput, ConsoleOutput, Shared};
use super::queue_handler::{RxState, TxState};
use crate::devices::virtio::drain_eventfd;

/// Subscriber for the console; add it to the VMM's event manager.
pub struct ConsoleEventHandler {
    rx_evt: EventFd,
    tx_evt: EventFd,
    input: Option<Box<dyn ConsoleInput>>,
    output: Box<dyn ConsoleOutput>,
    shared: Shared,
    /// The guest may have RX buffers, so host input is worth reading.
    rx_wanted: bool,
    /// The host stopped reading our output; wait for it to become writable.
    tx_blocked: bool,
    /// Host fds currently in the epoll set, with their interest.
    watched: Vec<(RawFd, EventSet)>,
}

impl ConsoleEventHandler {
    pub(super) fn new(
        rx_evt: EventFd,
        tx_evt: EventFd,
        input: Option<Box<dyn ConsoleInput>>,
        output: Box<dyn ConsoleOutput>,
        shared: Shared,
    ) -> Self {
        Self {
            rx_evt,
            tx_evt,
            input,
            output,
            shared,
            rx_wanted: false,
            tx_blocked: false,
            watched: Vec::new(),
        }
    }

    /// Moves guest output to the host (what a TX notification or a writable host does).
    pub fn run_tx(&mut self) {
        let mut shared = lock(&self.shared);
        let state = match shared.handler.as_mut() {
            Some(handler) => handler.process_tx(&mut *self.output),
            None => TxState::Idle,
        };
        self.tx_blocked = state == TxState::Blocked;
        if state == TxState::Yielded {
            reschedule(&self.tx_evt);
        }
    }

    /// Moves host input to the guest (what an RX notification or readable input does).
    pub fn run_rx(&mut self) {
        let mut shared = lock(&self.shared);
        let (Some(handler), Some(input)) = (shared.handler.as_mut(), self.input.as_mut()) else {
            self.rx_wanted = false;
            return;
        };
        match handler.process_rx(&mut **input) {
            RxState::InputDrained => self.rx_wanted = true,
            RxState::NoBuffers => self.rx_wanted = false,
            RxState::InputClosed => {
                self.rx_wanted = false;
                self.input = None;
            }
            RxState::Yielded => {
                self.rx_wanted = false;
                reschedule(&self.rx_evt);
            }
        }
    }

    /// What each host fd should be watched for now.
    fn wanted(&self) -> Vec<(RawFd, EventSet)> {
        let mut wanted: Vec<(RawFd, EventSet)> = Vec::new();
        let mut want = |fd: RawFd, set: EventSet| match wanted.iter_mut().find(|(f, _)| *f == fd) {
            Some((_, existing)) => *existing |= set,
            None => wanted.push((fd, set)),
        };
        if let Some(input) = &self.input {
            if self.rx_wanted {
                want(input.as_raw_fd(), EventSet::IN);
            }
        }
        if self.tx_blocked {
            want(self.output.as_raw_fd(), EventSet::OUT);
        }
        wanted
    }

    fn update_interest(&mut self, ops: &mut EventOps) {
        let wanted = self.wanted();
        for &(fd, _) in &self.watched {
            if !wanted.iter().any(|(f, _)| *f == fd) {
                if let Err(err) = ops.remove(Events::empty_raw(fd)) {
                    tracing::debug!("virtio-console: cannot unwatch fd {fd}: {err:?}");
                }
            }
        }
        let mut watched = Vec::with_capacity(wanted.len());
        for (fd, set) in wanted {
            let result = match self.watched.iter().find(|(f, _)| *f == fd) {
                Some((_, old)) if *old == set => Ok(()),
                Some(_) => ops.modify(Events::new_raw(fd, set)),
                None => ops.add(Events::new_raw(fd, set)),
            };
            match result {
                Ok(()) => watched.push((fd, set)),
                Err(err) => {
                    // epoll refuses regular files: such an input is read once per guest
                    // RX notification instead, and such an output never blocks anyway.
                    tracing::debug!("virtio-console: cannot watch fd {fd}: {err:?}");
                }
            }
        }
        self.watched = watched;
    }

    fn is_input(&self, fd: RawFd) -> bool {
        self.input.as_ref().is_some_and(|i| i.as_raw_fd() == fd)
    }
}

/// Re-arms a queue eventfd so the rest of the work runs on a later loop iteration.
fn reschedule(evt: &EventFd) {
    if let Err(err) = evt.write(1) {
        tracing::warn!("virtio-console: cannot reschedule a queue: {err}");
    }
}

impl MutEventSubscriber for ConsoleEventHandler {
    fn init(&mut self, ops: &mut EventOps) {
        for evt in [&self.rx_evt, &self.tx_evt] {
            if let Err(err) = ops.add(Events::new(evt, EventSet::IN)) {
                tracing::error!(
                    "virtio-console: cannot watch a queue eventfd, the console will hang: {err:?}"
                );
            }
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let fd = events.fd();
        let set = events.event_set();
        if fd == self.rx_evt.as_raw_fd() {
            if drain_eventfd(&self.rx_evt) {
                self.run_rx();
            }
        } else if fd == self.tx_evt.as_raw_fd() {
            if drain_eventfd(&self.tx_evt) {
                self.run_tx();
            }
        } else {
            let hangup =
                set.intersects(EventSet::HANG_UP | EventSet::ERROR | EventSet::READ_HANG_UP);
            if fd == self.output.as_raw_fd() && (set.contains(EventSet::OUT) || hangup) {
                self.run_tx();
            }
            if self.is_input(fd) && (set.contains(EventSet::IN) || hangup) {
                self.run_rx();
            }
        }
        self.update_interest(ops);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::sync::Arc;

    use event_manager::{EventManager, SubscriberOps};
    use virtio_queue::mock::MockSplitQueue;
    use vm_memory::{Bytes, GuestAddress};

    use super::*;
    use crate::devices::virtio::console::{Console, ConsoleArgs};
    use crate::devices::virtio::test_utils::{add_chain, test_memory, R, W};
    use crate::devices::virtio::{
        Activation, VirtioDevice, VirtioInterrupt, VIRTIO_MMIO_INT_CONFIG,
    };

    #[test]
    fn socket_console_with_backpressure_input_and_resize() {
        let mem = test_memory();
        let rxq = MockSplitQueue::create(&*mem, GuestAddress(0), 16);
        let txq = MockSplitQueue::create(&*mem, GuestAddress(0x1000), 16);
        let (vmm_end, mut host_end) = UnixStream::pair().unwrap();
        let (mut console, events) = Console::new(ConsoleArgs {
            input: Some(Box::new(vmm_end.try_clone().unwrap())),
            output: Box::new(vmm_end),
            size: (0, 0),
        })
        .unwrap();
        let resizer = console.resizer();
        let irq = EventFd::new(libc::EFD_NONBLOCK).unwrap();
        let interrupt = Arc::new(VirtioInterrupt::new(irq.try_clone().unwrap()));
        console
            .activate(Activation {
                mem: mem.clone(),
                queues: vec![rxq.create_queue().unwrap(), txq.create_queue().unwrap()],
                acked_features: console.avail_features(),
                interrupt: interrupt.clone(),
            })
            .unwrap();
        let mut manager = EventManager::<ConsoleEventHandler>::new().unwrap();
        manager.add_subscriber(events);
        let mut pump = || {
            for _ in 0..8 {
                manager.run_with_timeout(1).unwrap();
            }
        };

        // 2 MiB of guest output: far more than the socket buffer holds.
        const BIG: usize = 2 << 20;
        let data: Vec<u8> = (0..BIG).map(|i| u8::try_from(i % 251).unwrap()).collect();
        mem.write_slice(&data, GuestAddress(0x10_0000)).unwrap();
        add_chain(&txq, 0, &[(0x10_0000, u32::try_from(BIG).unwrap(), R)]);
        console.queue_events()[1].write(1).unwrap();
        pump();
        assert_eq!(
            txq.used().idx().load(),
            0,
            "host not reading: chain still in flight"
        );

        // The host reads: everything arrives, in order, then the chain completes.
        host_end
            .set_read_timeout(Some(std::time::Duration::from_millis(50)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        while got.len() < BIG {
            pump();
            if let Ok(n) = host_end.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
        }
        pump();
        assert!(got == data, "output arrives once, in order");
        assert_eq!(txq.used().idx().load(), 1);

        // Host input reaches the guest RX buffer.
        host_end.write_all(b"hi\n").unwrap();
        add_chain(&rxq, 0, &[(0x8000, 64, W)]);
        console.queue_events()[0].write(1).unwrap();
        pump();
        assert_eq!(rxq.used().idx().load(), 1);
        let mut line = [0u8; 3];
        mem.read_slice(&mut line, GuestAddress(0x8000)).unwrap();
        assert_eq!(&line, b"hi\n");

        // Input typed while the guest has no buffer waits in the socket, then arrives.
        host_end.write_all(b"x").unwrap();
        pump();
        add_chain(&rxq, 1, &[(0x9000, 64, W)]);
        console.queue_events()[0].write(1).unwrap();
        pump();
        assert_eq!(rxq.used().idx().load(), 2);

        // Resize: config space and a config interrupt.
        resizer.set_size(24, 80);
        let mut cfg = [0u8; 4];
        console.read_config(0, &mut cfg);
        assert_eq!(cfg, [80, 0, 24, 0]);
        assert_ne!(interrupt.status() & VIRTIO_MMIO_INT_CONFIG, 0);
        assert_eq!(interrupt.config_generation(), 1);
    }
}
