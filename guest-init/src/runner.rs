//! From a [`RunSpec`] and the disks at hand to a [`RunResult`]: the part shared by PID 1 in
//! the guest and `hull-init run` on a host (integration tests).

use crate::cgroup::{CgroupManager, CgroupV2};
use crate::console::Consoles;
use crate::error::SetupError;
use crate::rootfs::{self, Disk, Layout};
use crate::spec::ContainerPlan;
use crate::supervisor::{self, show_setup_error, Launch};
use crate::syscall::LinuxSyscall;
use hull_protocol::{RunResult, RunSpec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the run happens.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Mount points for layers, writable disk and root.
    pub layout: Layout,
    /// A cgroup v2 hierarchy to create the container's cgroup in, if there is one.
    pub cgroup_root: Option<PathBuf>,
    /// Serial -> device node of the attached disks.
    pub disks: BTreeMap<String, PathBuf>,
    /// Whether this process owns its network namespace and may configure the container's
    /// interface in it: PID 1 in the guest, never `hull-init run` on a host (whose
    /// interfaces hull must not touch).
    pub owns_network: bool,
}

fn disk(disks: &BTreeMap<String, PathBuf>, serial: &str, fstype: &str) -> Result<Disk, SetupError> {
    let device = disks.get(serial).ok_or_else(|| SetupError::MissingDisk {
        serial: serial.to_string(),
    })?;
    Ok(Disk {
        device: device.clone(),
        fstype: fstype.to_string(),
    })
}

/// Whether the spec asks for any cgroup limit.
fn wants_limits(plan: &ContainerPlan) -> bool {
    plan.resources.as_ref().is_some_and(|r| {
        r.memory()
            .as_ref()
            .is_some_and(|m| m.limit().is_some_and(|l| l > 0))
            || r.pids().as_ref().is_some_and(|p| p.limit() > 0)
            || r.cpu()
                .as_ref()
                .is_some_and(|c| c.quota().is_some() || c.shares().is_some())
    })
}

fn create_cgroup(
    env: &Environment,
    spec: &RunSpec,
    plan: &ContainerPlan,
) -> Result<Option<CgroupV2>, SetupError> {
    if !wants_limits(plan) {
        // The VM holds this one container: without limits a cgroup of its own changes
        // nothing it can observe (it sees its cgroup namespace's root either way), but
        // enabling the controllers and creating it costs ~50 ms under TCG. OOM kills are
        // then read from the system-wide counter.
        return Ok(None);
    }
    let created = env
        .cgroup_root
        .as_deref()
        .ok_or_else(|| SetupError::Spec("no cgroup v2 hierarchy".into()))
        .and_then(|root| CgroupV2::create(root, &spec.container_id));
    match created {
        Ok(cgroup) => Ok(Some(cgroup)),
        Err(e) if wants_limits(plan) => Err(SetupError::Spec(format!(
            "the container has resource limits but they cannot be applied ({e}): the guest kernel needs cgroup v2 with the memory, cpu and pids controllers"
        ))),
        Err(e) => {
            log!("running without a container cgroup: {e}");
            Ok(None)
        }
    }
}

fn try_run(
    spec: &RunSpec,
    env: &Environment,
    consoles: &Consoles,
) -> Result<RunResult, SetupError> {
    let mut plan = ContainerPlan::from_spec(&spec.config)?;
    if let Some(network) = &plan.network {
        if !env.owns_network {
            return Err(SetupError::Spec(format!(
                "annotation {} is only honoured in the guest: hull-init run never changes this host's interfaces",
                hull_protocol::ANNOTATION_NETWORK
            )));
        }
        crate::net::configure_guest_network(network)?;
        crate::timeline::mark("network");
    }
    let layers = spec
        .layers
        .iter()
        .map(|l| disk(&env.disks, &l.serial, &l.fstype))
        .collect::<Result<Vec<_>, _>>()?;
    let writable = spec
        .writable
        .as_ref()
        .map(|w| disk(&env.disks, &w.serial, &w.fstype))
        .transpose()?;
    let root = rootfs::assemble(&LinuxSyscall, &env.layout, &layers, writable.as_ref())?;
    if !plan.shares.is_empty() {
        crate::volumes::mount_share(&LinuxSyscall, &env.layout.share())?;
        plan.share_root = Some(env.layout.share());
    }
    crate::timeline::mark("rootfs");
    let cgroup = create_cgroup(env, spec, &plan)?;
    let result = supervisor::run(&Launch {
        sys: &LinuxSyscall,
        plan: &plan,
        root: &root,
        consoles,
        cgroup: cgroup.as_ref().map(|c| c as &dyn CgroupManager),
    });
    crate::timeline::mark("exited");
    Ok(result)
}

/// Makes the writable layer durable: `syncfs` commits the ext4 journal and flushes the disk.
/// No unmounts (the VM powers off next) and no global sync (the read-only layers have
/// nothing to write): measured ~10 ms instead of ~20-25 ms for unmount + sync. The ext4 is
/// left "in use", so its next mount (`hull start`) replays a few journal blocks. A tmpfs
/// upper (no writable disk) needs nothing, nor does a disk the host deletes next
/// ([`needs_sync`]).
fn sync_writable(writable: &Path, spec: &RunSpec) {
    if !needs_sync(spec) {
        return;
    }
    // Setup failed before the mount point existed: nothing was written.
    let Ok(dir) = std::fs::File::open(writable) else {
        return;
    };
    if let Err(e) = nix::unistd::syncfs(&dir) {
        log!(
            "syncfs of {} failed ({e}); falling back to sync",
            writable.display()
        );
        nix::unistd::sync();
    }
}

/// Whether the writable layer must be made durable at exit: only a disk the host keeps
/// (`run --rm` deletes it; measured ~10 ms of syncfs under TCG saved per run).
fn needs_sync(spec: &RunSpec) -> bool {
    spec.writable.as_ref().is_some_and(|disk| !disk.ephemeral)
}

/// Runs the container of `spec`; every failure becomes a result with 125/126/127 and text
/// that was also shown on the diagnostics console and the container's stderr.
pub fn run_spec(spec: &RunSpec, env: &Environment, consoles: &Consoles) -> RunResult {
    let result = match try_run(spec, env, consoles) {
        Ok(result) => result,
        Err(e) => {
            let text = e.to_string();
            show_setup_error(Some(consoles), &text);
            RunResult::failed(e.exit_code(), text)
        }
    };
    // Also after a setup failure: the first boot may have created upper/ and work/.
    sync_writable(&env.layout.writable(), spec);
    crate::timeline::mark("synced");
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use hull_protocol::{WritableDisk, PROTOCOL_VERSION, WRITABLE_DISK_SERIAL};

    fn spec(writable: Option<bool>) -> RunSpec {
        RunSpec {
            version: PROTOCOL_VERSION,
            container_id: "c".into(),
            layers: Vec::new(),
            writable: writable.map(|ephemeral| WritableDisk {
                serial: WRITABLE_DISK_SERIAL.into(),
                fstype: "ext4".into(),
                ephemeral,
            }),
            config: oci_spec::runtime::Spec::default(),
        }
    }

    #[test]
    fn only_a_kept_writable_disk_is_synced() {
        assert!(needs_sync(&spec(Some(false))), "hull start needs the data");
        assert!(!needs_sync(&spec(Some(true))), "run --rm deletes the disk");
        assert!(!needs_sync(&spec(None)), "tmpfs upper");
    }
}
