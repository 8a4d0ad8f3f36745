//! Warm start (issue 19): a container's VM is a restore of a *zygote*, a VM of the same
//! shape (engine build, kernel, init, memory, vCPUs, NICs, disk slots) that booted once to
//! the point where hull-init waits for its run spec and was saved there. The guest's side
//! of the hand-over (clock, entropy, devices probed afresh) is `hull_protocol::warm`.
//!
//! Zygotes live in the cache beside the kernels ([`cache`]), keyed by a hash of everything
//! they depend on, so a changed kernel, init, engine or VM size makes a new one. One is made
//! on first use; a container whose VM cannot be restored (a virtio-fs share: QEMU cannot
//! save vhost-user-fs; `--cold`; `HULL_WARM=off`) boots as before, and so does one whose
//! restore fails (the zygote is then discarded and made again next time).
//!
//! With `HULL_WARM_POOL=N` ([`pool`]) restores are made ahead of time, rehearse a stand-in
//! container so the guest's start-up code is already translated, and wait to be claimed.

pub mod cache;
pub(crate) mod handshake;
pub mod pool;
mod rehearsal;

pub use cache::Zygote;
pub use handshake::{connect_resumed, resume, RestoreFailed};

use super::{DiskSpec, Engine, RunningVm, VmSpec};
use anyhow::Result;
use hull_protocol::{CONFIG_DISK_SERIAL, WRITABLE_DISK_SERIAL};

/// `HULL_WARM=off` (or `0`) boots every VM cold, as `--cold` does one.
pub fn disabled_by_environment() -> bool {
    std::env::var("HULL_WARM").is_ok_and(|v| matches!(v.as_str(), "off" | "0" | "false"))
}

/// Starts `spec`'s VM on `engine`: restored from a zygote when it can be, else booted.
/// `cold` (the container's `--cold`) always boots.
pub fn spawn(engine: &dyn Engine, mut spec: VmSpec, cold: bool) -> Result<RunningVm> {
    if let Some(zygote) = zygote_for(engine, &spec, cold) {
        if pool::serves(engine, &spec) {
            let claimed = pool::claim(&zygote, &spec);
            pool::refill(&zygote, &spec);
            if let Some(vm) = claimed {
                return Ok(vm);
            }
        }
        spec.restore = Some(zygote.clone());
        match engine.spawn(&spec) {
            Ok(vm) => return Ok(vm),
            Err(err) if err.is::<RestoreFailed>() => {
                tracing::warn!("warm start failed, booting cold: {err:#}");
                zygote.discard();
                spec.restore = None;
            }
            Err(err) => return Err(err),
        }
    }
    engine.spawn(&spec)
}

/// The zygote `spec` can be restored from, made now if there is none; None when the VM
/// must boot (see the module doc) or no zygote can be made (logged: the VM boots).
fn zygote_for(engine: &dyn Engine, spec: &VmSpec, cold: bool) -> Option<Zygote> {
    if cold || disabled_by_environment() || !engine.warm_start() || spec.share.is_some() {
        return None;
    }
    let shape = cache::Shape::of(engine, spec)?;
    match cache::find_or_make(engine, &shape) {
        Ok(zygote) => zygote,
        Err(err) => {
            tracing::warn!("cannot make the warm-start zygote, booting cold: {err:#}");
            None
        }
    }
}

/// One line for `hull info`: whether VMs of `engine` are restored, and the zygotes there are.
pub fn describe(engine: crate::host::EngineKind) -> String {
    let zygotes = cache::list().len();
    let made = format!(
        "{zygotes} zygote{} in {}",
        if zygotes == 1 { "" } else { "s" },
        cache::warm_dir().display()
    );
    if disabled_by_environment() {
        format!("off (HULL_WARM=off): every VM boots its kernel; {made}")
    } else if super::engine_for(engine, false).warm_start() {
        let pool = match pool::size() {
            0 => String::new(),
            size => format!(", {size} rehearsed VM(s) kept ready per zygote (HULL_WARM_POOL)"),
        };
        format!(
            "on: VMs are restored from a booted zygote, made on first use (--cold boots){pool}; {made}"
        )
    } else {
        format!("not on the {engine:?} engine: every VM boots its kernel; {made}")
    }
}

/// The zygote's disk slots filled with `disks` (config, layers bottom-up, writable; the
/// order the supervisor attaches them in): unused layer slots get the zygote's empty spare
/// disk under a serial that is no layer's. None when `disks` do not fit the slots.
pub fn slot_disks(zygote: &Zygote, disks: &[DiskSpec]) -> Option<Vec<DiskSpec>> {
    let (config, rest) = disks.split_first()?;
    let (writable, layers) = rest.split_last()?;
    if config.serial != CONFIG_DISK_SERIAL
        || writable.serial != WRITABLE_DISK_SERIAL
        || layers.len() > zygote.layer_slots
        || layers.iter().any(|layer| !layer.read_only)
    {
        return None;
    }
    let spares = (layers.len()..zygote.layer_slots).map(|index| DiskSpec {
        path: zygote.spare_disk(),
        serial: hull_protocol::spare_disk_serial(index),
        read_only: true,
    });
    Some(
        std::iter::once(config.clone())
            .chain(layers.iter().cloned())
            .chain(spares)
            .chain(std::iter::once(writable.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests;
