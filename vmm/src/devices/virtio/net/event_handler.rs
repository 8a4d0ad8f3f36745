//! The event-loop half of virtio-net: queue notifications and a readable host NIC. The
//! host fd is watched only while RX can take frames, so a frame waiting for guest buffers
//! never makes the loop spin on a readable tap.

use std::os::fd::{AsRawFd, RawFd};

use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::EventFd;

use super::backend::HostNic;
use super::device::{lock, SharedHandler};
use super::queue_handler::RxState;
use crate::devices::virtio::drain_eventfd;

/// Subscriber for one NIC; add it to the VMM's event manager.
pub struct NetEventHandler {
    rx_evt: EventFd,
    tx_evt: EventFd,
    /// Kept open for epoll; the data path reads through its own handle.
    host: Box<dyn HostNic>,
    handler: SharedHandler,
    /// RX can take frames: the host fd is worth watching.
    rx_wanted: bool,
    /// The host fd is in the epoll set.
    host_watched: bool,
    /// The host side failed for good.
    host_failed: bool,
}

impl NetEventHandler {
    pub(super) fn new(
        rx_evt: EventFd,
        tx_evt: EventFd,
        host: Box<dyn HostNic>,
        handler: SharedHandler,
    ) -> Self {
        Self {
            rx_evt,
            tx_evt,
            host,
            handler,
            rx_wanted: false,
            host_watched: false,
            host_failed: false,
        }
    }

    /// Sends the guest's TX chains (what a TX notification does).
    pub fn run_tx(&mut self) {
        let mut slot = lock(&self.handler);
        let Some(handler) = slot.as_mut() else {
            return;
        };
        if handler.process_tx().yielded {
            reschedule(&self.tx_evt);
        }
    }

    /// Moves host frames to the guest (what an RX notification or a readable host does).
    pub fn run_rx(&mut self) {
        let mut slot = lock(&self.handler);
        let Some(handler) = slot.as_mut() else {
            self.rx_wanted = false;
            return;
        };
        self.rx_wanted = false;
        match handler.process_rx() {
            RxState::HostDrained => self.rx_wanted = !self.host_failed,
            RxState::NoBuffers | RxState::Broken => {}
            RxState::HostFailed => self.host_failed = true,
            RxState::Yielded => reschedule(&self.rx_evt),
        }
    }

    fn host_fd(&self) -> RawFd {
        self.host.as_raw_fd()
    }

    fn update_interest(&mut self, ops: &mut EventOps) {
        if self.rx_wanted == self.host_watched {
            return;
        }
        let fd = self.host_fd();
        let result = if self.rx_wanted {
            ops.add(Events::new_raw(fd, EventSet::IN))
        } else {
            ops.remove(Events::empty_raw(fd))
        };
        match result {
            Ok(()) => self.host_watched = self.rx_wanted,
            Err(err) => {
                tracing::warn!("virtio-net: cannot change interest in the host NIC: {err:?}")
            }
        }
    }
}

fn reschedule(evt: &EventFd) {
    if let Err(err) = evt.write(1) {
        tracing::warn!("virtio-net: cannot reschedule a queue: {err}");
    }
}

impl MutEventSubscriber for NetEventHandler {
    fn init(&mut self, ops: &mut EventOps) {
        for evt in [&self.rx_evt, &self.tx_evt] {
            if let Err(err) = ops.add(Events::new(evt, EventSet::IN)) {
                tracing::error!(
                    "virtio-net: cannot watch a queue eventfd, the NIC will hang: {err:?}"
                );
            }
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let fd = events.fd();
        if fd == self.rx_evt.as_raw_fd() {
            if drain_eventfd(&self.rx_evt) {
                self.run_rx();
            }
        } else if fd == self.tx_evt.as_raw_fd() {
            if drain_eventfd(&self.tx_evt) {
                self.run_tx();
            }
        } else if fd == self.host_fd() {
            // Readable, or an error/hang-up that the next read reports.
            self.run_rx();
        }
        self.update_interest(ops);
    }
}
