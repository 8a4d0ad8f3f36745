//! The event-loop half of a virtio-blk device: wakes on the queue-notify eventfd and runs
//! the request loop of the active queue, if any.

use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::EventFd;

use super::device::SharedHandler;
use crate::devices::virtio::drain_eventfd;

/// Subscriber for one disk; add it to the VMM's event manager.
pub struct BlockEventHandler {
    queue_evt: EventFd,
    handler: SharedHandler,
}

impl BlockEventHandler {
    pub(super) fn new(queue_evt: EventFd, handler: SharedHandler) -> Self {
        Self { queue_evt, handler }
    }

    /// Serves the queue now (what the event loop does on a notification); returns the
    /// requests completed. If the handler yielded, the queue eventfd is re-armed so the rest
    /// is served on a later loop iteration, after other devices had their turn.
    pub fn process(&self) -> usize {
        let mut slot = self
            .handler
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(handler) = slot.as_mut() else {
            return 0;
        };
        let run = handler.process_queue();
        if run.yielded {
            if let Err(err) = self.queue_evt.write(1) {
                tracing::warn!("virtio-blk: cannot reschedule the queue: {err}");
            }
        }
        run.completed
    }
}

impl MutEventSubscriber for BlockEventHandler {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(err) = ops.add(Events::new(&self.queue_evt, EventSet::IN)) {
            tracing::error!(
                "virtio-blk: cannot watch the queue eventfd, the disk will hang: {err:?}"
            );
        }
    }

    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        if events.event_set().contains(EventSet::IN) && drain_eventfd(&self.queue_evt) {
            BlockEventHandler::process(self);
        }
    }
}
