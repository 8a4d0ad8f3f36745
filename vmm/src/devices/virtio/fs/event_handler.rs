//! The event-loop half of virtio-fs: the backend signals a call eventfd when it has put
//! buffers in a used ring; this raises the device's interrupt with the VRING status bit.

use std::sync::{Arc, Mutex, PoisonError};

use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::EventFd;

use crate::devices::virtio::{drain_eventfd, SignalUsedQueue, VirtioInterrupt};

/// The interrupt of the active device (None before activation and after a reset).
pub(super) type SharedInterrupt = Arc<Mutex<Option<Arc<VirtioInterrupt>>>>;

/// Subscriber for a virtio-fs device; add it to the VMM's event manager.
pub struct FsEventHandler {
    calls: Vec<EventFd>,
    interrupt: SharedInterrupt,
}

impl FsEventHandler {
    pub(super) fn new(calls: Vec<EventFd>, interrupt: SharedInterrupt) -> Self {
        Self { calls, interrupt }
    }

    /// The backend called on queue `index`: interrupt the guest (if the device is live).
    pub(crate) fn called(&self, index: usize) {
        let Some(evt) = self.calls.get(index) else {
            return;
        };
        if !drain_eventfd(evt) {
            return;
        }
        if let Some(interrupt) = self
            .interrupt
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            interrupt.signal_used_queue();
        }
    }
}

impl MutEventSubscriber for FsEventHandler {
    fn init(&mut self, ops: &mut EventOps) {
        for (index, evt) in (0u32..).zip(&self.calls) {
            if let Err(err) = ops.add(Events::with_data(evt, index, EventSet::IN)) {
                tracing::error!("virtio-fs: cannot watch call eventfd {index}: {err:?}");
            }
        }
    }

    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        if events.event_set().contains(EventSet::IN) {
            if let Ok(index) = usize::try_from(events.data()) {
                self.called(index);
            }
        }
    }
}
