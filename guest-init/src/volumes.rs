//! Volumes and bind mounts in the guest: PID 1 mounts the container's virtio-fs share
//! once ([`mount_share`]); the container's setup binds each entry at its destination
//! ([`bind_shares`]), creating missing mount points and filling an empty volume with the
//! image's content first (copy-up).

use crate::copy_up;
use crate::error::SetupError;
use crate::spec::{ContainerPlan, ShareMount};
use crate::syscall::Syscall;
use nix::mount::MsFlags;
use std::path::Path;

/// Mounts the share (tag [`hull_protocol::SHARE_TAG`]) on `target`.
pub fn mount_share(sys: &dyn Syscall, target: &Path) -> Result<(), SetupError> {
    sys.mkdir_all(target, 0o755)
        .map_err(|e| SetupError::sys(format!("mkdir {}", target.display()), e))?;
    sys.mount(
        Some(Path::new(hull_protocol::SHARE_TAG)),
        target,
        Some("virtiofs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        None,
    )
    .map_err(|e| {
        SetupError::sys(
            "mount the volumes' virtio-fs share (is CONFIG_VIRTIO_FS in the guest kernel?)",
            e,
        )
    })
}

/// Binds every share entry of `plan` under `root` (in the container's mount namespace,
/// before pivot_root).
pub fn bind_shares(sys: &dyn Syscall, root: &Path, plan: &ContainerPlan) -> Result<(), SetupError> {
    let Some(share_root) = &plan.share_root else {
        return match plan.shares.is_empty() {
            true => Ok(()),
            false => Err(SetupError::Spec(
                "the spec has volumes but no share was mounted".into(),
            )),
        };
    };
    for share in &plan.shares {
        bind_share(sys, root, &share_root.join(share.index.to_string()), share)?;
    }
    Ok(())
}

fn bind_share(
    sys: &dyn Syscall,
    root: &Path,
    source: &Path,
    share: &ShareMount,
) -> Result<(), SetupError> {
    let destination = share.destination.to_string_lossy();
    let target = root.join(destination.trim_start_matches('/'));
    let err = |what: &str| {
        let what = format!("{what} {destination}");
        move |e| SetupError::sys(what, e)
    };
    if source.is_dir() || !source.exists() {
        sys.mkdir_all(&target, 0o755)
            .map_err(err("create mount point"))?;
    } else {
        if let Some(parent) = target.parent() {
            sys.mkdir_all(parent, 0o755)
                .map_err(err("create mount point for"))?;
        }
        sys.touch(&target).map_err(err("create mount point"))?;
    }
    if share.copy_up && copy_up::is_empty_dir(source) && !copy_up::is_empty_dir(&target) {
        copy_up::copy_tree(&target, source).map_err(|e| {
            SetupError::Spec(format!(
                "copy the image's {destination} into its volume: {e}"
            ))
        })?;
    }
    sys.mount(
        Some(source),
        &target,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(err("bind the volume on"))?;
    if share.read_only {
        sys.mount(
            None,
            &target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
        )
        .map_err(err("make read-only"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::fake::RecordingSyscall;
    use std::path::PathBuf;

    fn plan(mounts: &str) -> Result<ContainerPlan, SetupError> {
        let spec: oci_spec::runtime::Spec = serde_json::from_str(&format!(
            r#"{{"ociVersion":"1.0.2","process":{{"args":["sh"],"cwd":"/","user":{{"uid":0,"gid":0}}}},"mounts":{mounts}}}"#
        ))
        .unwrap();
        ContainerPlan::from_spec(&spec)
    }

    #[test]
    fn share_entries_are_bound_parents_first_read_only_ones_remounted() {
        let mut plan = plan(
            r#"[{"destination":"/data/sub","type":"bind","source":"hull-share/0","options":["rbind","rw"]},
                {"destination":"/data","type":"bind","source":"hull-share/1","options":["rbind","ro"]}]"#,
        )
        .unwrap();
        assert_eq!(plan.shares[0].destination, PathBuf::from("/data"));
        let sys = RecordingSyscall::default();
        let refused = bind_shares(&sys, Path::new("/r"), &plan).unwrap_err();
        assert_eq!(refused.exit_code(), 125, "volumes without a mounted share");
        plan.share_root = Some("/mnt/share".into());
        bind_shares(&sys, Path::new("/r"), &plan).unwrap();
        let mounts = sys.mounts();
        let targets: Vec<_> = mounts.iter().map(|m| m.0.display().to_string()).collect();
        assert_eq!(targets, ["/r/data", "/r/data", "/r/data/sub"]);
        let calls = sys.calls.borrow();
        let read_only_remounts = calls
            .iter()
            .filter(|c| {
                matches!(c, crate::syscall::fake::Call::Mount { flags, .. }
                    if flags.contains(MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY))
            })
            .count();
        assert_eq!(read_only_remounts, 1);
    }

    #[test]
    fn binds_from_anywhere_but_the_share_are_refused() {
        for source in ["/etc", "hull-share/../x", "hull-share/x"] {
            let mounts = format!(
                r#"[{{"destination":"/d","type":"bind","source":"{source}","options":["rbind"]}}]"#
            );
            assert!(plan(&mounts).is_err(), "{source}");
        }
        let escape = r#"[{"destination":"/d/../../x","type":"bind","source":"hull-share/0"}]"#;
        assert!(plan(escape).is_err());
        let copy = r#"[{"destination":"/d","type":"bind","source":"hull-share/0","options":["hull-copy-up"]}]"#;
        assert!(plan(copy).unwrap().shares[0].copy_up);
    }
}
