//! Used-ring publication in batches, interrupt suppression, and asking the driver for a
//! kick: what the net queues need beyond `virtio_queue::Queue`.
//!
//! `Queue::add_used` publishes the used index after every entry. A frame spread over
//! several RX chains (MRG_RXBUF) must appear all at once: Linux reads `num_buffers` from the
//! first chain and takes that many used entries right away, dropping the frame if some are
//! not there yet. So entries are written first and the index stored once.

use std::num::Wrapping;
use std::sync::atomic::{fence, Ordering};

use virtio_queue::{Error, Queue, QueueT};
use vm_memory::{Address, Bytes, GuestAddress, GuestMemory};

/// Split-ring layout (virtio 1.2, 2.7): flags and idx (u16 each) head both rings; avail
/// entries are u16 heads, used entries (u32 id, u32 len); `used_event` follows the last
/// avail entry, `avail_event` the last used entry.
const RING_HEADER: u64 = 4;
const AVAIL_ENTRY: u64 = 2;
const USED_ENTRY: u64 = 8;

/// Writes the used entries `(head, len)` in order, then makes them visible with one
/// used-index store. A head outside the descriptor table breaks the queue (nothing of the
/// batch past it is published).
pub(super) fn publish_used<M: GuestMemory>(
    mem: &M,
    queue: &mut Queue,
    entries: &[(u16, u32)],
) -> Result<(), Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let size = queue.size();
    let ring = GuestAddress(queue.used_ring());
    let mut next = Wrapping(queue.next_used());
    let mut failure = None;
    for &(head, len) in entries {
        if head >= size {
            failure = Some(Error::InvalidDescriptorIndex);
            break;
        }
        let offset = RING_HEADER + USED_ENTRY * u64::from(next.0 % size);
        let written = ring
            .checked_add(offset)
            .ok_or(Error::AddressOverflow)
            .and_then(|addr| {
                mem.write_obj([u32::from(head).to_le(), len.to_le()], addr)
                    .map_err(Error::GuestMemory)
            });
        if let Err(err) = written {
            failure = Some(err);
            break;
        }
        next += Wrapping(1);
    }
    if next.0 != queue.next_used() {
        queue.set_next_used(next.0);
        // Release: the driver must see the entries (and the frame data) before the index.
        ring.checked_add(2)
            .ok_or(Error::AddressOverflow)
            .and_then(|idx| {
                mem.store(next.0.to_le(), idx, Ordering::Release)
                    .map_err(Error::GuestMemory)
            })?;
    }
    failure.map_or(Ok(()), Err)
}

/// Whether the driver wants an interrupt for the entries published since `used_before`:
/// always unless nothing was added, or VIRTIO_F_EVENT_IDX is on and its `used_event` lies
/// outside them (Linux's `vring_need_event`). Without EVENT_IDX the driver's
/// NO_INTERRUPT flag is only a hint, and interrupting anyway is always correct.
pub(super) fn needs_interrupt<M: GuestMemory>(
    mem: &M,
    queue: &Queue,
    used_before: u16,
) -> Result<bool, Error> {
    let used_now = Wrapping(queue.next_used());
    let old = Wrapping(used_before);
    if used_now == old {
        return Ok(false);
    }
    if !queue.event_idx_enabled() {
        return Ok(true);
    }
    // Our used-index store must be visible before we read the driver's used_event.
    fence(Ordering::SeqCst);
    let event_addr = GuestAddress(queue.avail_ring())
        .checked_add(RING_HEADER + AVAIL_ENTRY * u64::from(queue.size()))
        .ok_or(Error::AddressOverflow)?;
    let used_event = Wrapping(u16::from_le(
        mem.load::<u16>(event_addr, Ordering::Relaxed)
            .map_err(Error::GuestMemory)?,
    ));
    Ok(used_now - used_event - Wrapping(1) < used_now - old)
}

/// Asks the driver to notify the queue as soon as it makes one more buffer available than
/// it has now (even if the device has not consumed the ones already there: an RX frame may
/// be waiting for more room than they give). Returns true if buffers were added meanwhile,
/// so the caller looks again instead of waiting for a kick that may never come.
pub(super) fn request_kick<M: GuestMemory>(mem: &M, queue: &mut Queue) -> Result<bool, Error> {
    let seen = queue.avail_idx(mem, Ordering::Acquire)?;
    if queue.event_idx_enabled() {
        let addr = GuestAddress(queue.used_ring())
            .checked_add(RING_HEADER + USED_ENTRY * u64::from(queue.size()))
            .ok_or(Error::AddressOverflow)?;
        mem.store(seen.0.to_le(), addr, Ordering::Relaxed)
            .map_err(Error::GuestMemory)?;
    } else {
        // Clears VRING_USED_F_NO_NOTIFY (nothing else lives in the used flags).
        queue.enable_notification(mem)?;
    }
    // The request must be visible before we look at the avail index again.
    fence(Ordering::SeqCst);
    Ok(queue.avail_idx(mem, Ordering::Acquire)? != seen)
}
