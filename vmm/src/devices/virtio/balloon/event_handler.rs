//! The event-loop half of the balloon: wakes on a queue-notify eventfd and serves that queue.

use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::EventFd;

use super::device::SharedHandlers;
use crate::devices::virtio::drain_eventfd;

/// Subscriber for the balloon; add it to the VMM's event manager.
pub struct BalloonEventHandler {
    queue_evts: Vec<EventFd>,
    handlers: SharedHandlers,
}

impl BalloonEventHandler {
    pub(super) fn new(queue_evts: Vec<EventFd>, handlers: SharedHandlers) -> Self {
        Self {
            queue_evts,
            handlers,
        }
    }

    /// Serves queue `index` now; re-arms its eventfd if the handler yielded.
    pub fn process(&self, index: usize) -> usize {
        let mut slot = self
            .handlers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(handler) = slot.as_mut().and_then(|h| h.get_mut(index)) else {
            return 0;
        };
        let (done, yielded) = handler.process_queue();
        if yielded {
            if let Err(err) = self.queue_evts[index].write(1) {
                tracing::warn!("virtio-balloon: cannot reschedule queue {index}: {err}");
            }
        }
        done
    }
}

impl MutEventSubscriber for BalloonEventHandler {
    fn init(&mut self, ops: &mut EventOps) {
        for (index, evt) in (0u32..).zip(&self.queue_evts) {
            // The queue index is the event's data, so `process` knows which one fired.
            if let Err(err) = ops.add(Events::with_data(evt, index, EventSet::IN)) {
                tracing::error!("virtio-balloon: cannot watch queue {index}: {err:?}");
            }
        }
    }

    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        let Ok(index) = usize::try_from(events.data()) else {
            return;
        };
        let Some(evt) = self.queue_evts.get(index) else {
            return;
        };
        if events.event_set().contains(EventSet::IN) && drain_eventfd(evt) {
            BalloonEventHandler::process(self, index);
        }
    }
}
