//! Which namespaces the container gets, and the one order they are created in.

use crate::error::SetupError;
use crate::syscall::Syscall;
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

/// The order namespaces are created in. The pid namespace comes first because unshare(2)
/// of it only applies to children: PID 1 unshares it and then forks the container process.
/// The mount namespace precedes the rest so every later mount is private to the container.
/// The cgroup namespace comes last, after the process joined its cgroup, so that cgroup
/// becomes the root the container sees.
pub const ORDERED_NAMESPACES: [LinuxNamespaceType; 6] = [
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Cgroup,
];

/// The clone flag of a namespace type.
pub fn clone_flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Time => CloneFlags::empty(),
    }
}

/// The name of a namespace type under `/proc/<pid>/ns/`.
pub fn proc_ns_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Time => "time",
    }
}

/// The namespaces to create, a subset of [`ORDERED_NAMESPACES`] kept in that order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespacePlan {
    requested: Vec<LinuxNamespaceType>,
}

impl NamespacePlan {
    /// Validates the spec's `linux.namespaces`. A mount namespace is always created: the
    /// container's pivot_root must not change the mounts PID 1 still needs outside.
    pub fn from_spec(list: &[LinuxNamespace]) -> Result<Self, SetupError> {
        for ns in list {
            if let Some(path) = ns.path() {
                return Err(SetupError::Spec(format!(
                    "joining the {} namespace at {} is not supported: each hull VM runs one container, remove \"path\"",
                    ns.typ(),
                    path.display()
                )));
            }
            if matches!(
                ns.typ(),
                LinuxNamespaceType::User | LinuxNamespaceType::Time
            ) {
                return Err(SetupError::Spec(format!(
                    "{} namespaces are not supported inside the hull VM: remove it from linux.namespaces",
                    ns.typ()
                )));
            }
        }
        let requested = ORDERED_NAMESPACES
            .iter()
            .copied()
            .filter(|typ| {
                *typ == LinuxNamespaceType::Mount || list.iter().any(|ns| ns.typ() == *typ)
            })
            .collect();
        Ok(Self { requested })
    }

    /// Leaves `typ` out of the plan (the container shares PID 1's namespace of that type).
    pub fn remove(&mut self, typ: LinuxNamespaceType) {
        self.requested.retain(|t| *t != typ);
    }

    /// Whether the plan creates `typ`.
    pub fn has(&self, typ: LinuxNamespaceType) -> bool {
        self.requested.contains(&typ)
    }

    /// In the parent, before fork: the namespaces that only apply to children (pid).
    pub fn unshare_before_fork(&self, sys: &dyn Syscall) -> Result<(), SetupError> {
        if self.has(LinuxNamespaceType::Pid) {
            sys.unshare(CloneFlags::CLONE_NEWPID)
                .map_err(|e| SetupError::sys("unshare(CLONE_NEWPID)", e))?;
        }
        Ok(())
    }

    /// In the container process, after joining its cgroup: every other namespace, one
    /// unshare(2) each in [`ORDERED_NAMESPACES`] order (so a failure names the culprit).
    pub fn unshare_in_child(&self, sys: &dyn Syscall) -> Result<(), SetupError> {
        for typ in self
            .requested
            .iter()
            .filter(|t| **t != LinuxNamespaceType::Pid)
        {
            sys.unshare(clone_flag(*typ))
                .map_err(|e| SetupError::sys(format!("unshare of the {typ} namespace"), e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::fake::{Call, RecordingSyscall};
    use oci_spec::runtime::LinuxNamespaceBuilder;

    fn ns(typ: LinuxNamespaceType) -> LinuxNamespace {
        LinuxNamespaceBuilder::default().typ(typ).build().unwrap()
    }

    #[test]
    fn namespaces_are_created_in_the_fixed_order_whatever_the_spec_order() {
        let plan = NamespacePlan::from_spec(&[
            ns(LinuxNamespaceType::Cgroup),
            ns(LinuxNamespaceType::Network),
            ns(LinuxNamespaceType::Pid),
            ns(LinuxNamespaceType::Uts),
        ])
        .unwrap();
        let sys = RecordingSyscall::default();
        plan.unshare_before_fork(&sys).unwrap();
        plan.unshare_in_child(&sys).unwrap();
        assert_eq!(
            *sys.calls.borrow(),
            vec![
                Call::Unshare(CloneFlags::CLONE_NEWPID),
                Call::Unshare(CloneFlags::CLONE_NEWNS),
                Call::Unshare(CloneFlags::CLONE_NEWUTS),
                Call::Unshare(CloneFlags::CLONE_NEWNET),
                Call::Unshare(CloneFlags::CLONE_NEWCGROUP),
            ]
        );
    }

    #[test]
    fn mount_namespace_is_always_created_and_pid_only_on_request() {
        let plan = NamespacePlan::from_spec(&[]).unwrap();
        assert!(plan.has(LinuxNamespaceType::Mount));
        let sys = RecordingSyscall::default();
        plan.unshare_before_fork(&sys).unwrap();
        assert!(sys.calls.borrow().is_empty());
    }

    #[test]
    fn user_namespace_and_paths_are_refused_with_a_fix() {
        let err = NamespacePlan::from_spec(&[ns(LinuxNamespaceType::User)]).unwrap_err();
        assert!(err.to_string().contains("remove it"), "{err}");
        let with_path = LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::Network)
            .path("/proc/1/ns/net")
            .build()
            .unwrap();
        let err = NamespacePlan::from_spec(&[with_path]).unwrap_err();
        assert_eq!(err.exit_code(), 125);
    }

    #[test]
    fn a_removed_namespace_is_not_created() {
        let mut plan = NamespacePlan::from_spec(&[
            ns(LinuxNamespaceType::Network),
            ns(LinuxNamespaceType::Uts),
        ])
        .unwrap();
        plan.remove(LinuxNamespaceType::Network);
        assert!(!plan.has(LinuxNamespaceType::Network));
        let sys = RecordingSyscall::default();
        plan.unshare_in_child(&sys).unwrap();
        assert_eq!(
            *sys.calls.borrow(),
            vec![
                Call::Unshare(CloneFlags::CLONE_NEWNS),
                Call::Unshare(CloneFlags::CLONE_NEWUTS),
            ]
        );
    }
}
