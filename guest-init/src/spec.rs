//! What the container process needs, extracted and validated from the OCI runtime spec.

use crate::error::SetupError;
use crate::namespaces::NamespacePlan;
use hull_protocol::GuestNetwork;
use oci_spec::runtime::{LinuxNamespaceType, LinuxResources, Spec};
use std::path::PathBuf;

/// `$PATH` when the spec's env has none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The process to run and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessPlan {
    /// argv; never empty.
    pub args: Vec<String>,
    /// `KEY=value` strings.
    pub env: Vec<String>,
    /// Absolute working directory.
    pub cwd: PathBuf,
    /// Numeric user (the host resolved names with the image's /etc/passwd).
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// umask, if the spec sets one.
    pub umask: Option<u32>,
    /// Whether the process gets hvc0 as its controlling terminal.
    pub terminal: bool,
    /// Initial terminal size (rows, cols).
    pub console_size: Option<(u16, u16)>,
    /// `process.rlimits`.
    pub rlimits: Vec<oci_spec::runtime::PosixRlimit>,
    /// The host attaches no stdin (annotation [`hull_protocol::ANNOTATION_STDIN`]).
    pub stdin_closed: bool,
    /// `process.capabilities.bounding` as a bit mask: every other capability is dropped
    /// from the bounding set, so root in the container has exactly these (None: the spec
    /// names none, nothing is dropped).
    pub bounding_capabilities: Option<u64>,
}

impl ProcessPlan {
    /// The `PATH` used to look up `args[0]`: the spec's own, else [`DEFAULT_PATH`].
    pub fn search_path(&self) -> &str {
        self.env
            .iter()
            .rev()
            .find_map(|kv| kv.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH)
    }
}

/// A tmpfs the spec asks for in addition to the standard container mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmpfsMount {
    /// Absolute path inside the container.
    pub destination: PathBuf,
    /// mount(8)-style options ("size=64m", "mode=1777", ...).
    pub options: Vec<String>,
}

/// A volume or bind mount: entry `index` of the container's virtio-fs share
/// (`hull_protocol::shares`), bound at `destination`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareMount {
    /// The share entry.
    pub index: usize,
    /// Absolute path inside the container.
    pub destination: PathBuf,
    /// Bound read-only.
    pub read_only: bool,
    /// Fill an empty entry with the image's content at `destination` first.
    pub copy_up: bool,
}

/// Everything about the container, validated.
#[derive(Debug, Clone)]
pub struct ContainerPlan {
    /// The process.
    pub process: ProcessPlan,
    /// Hostname to set (needs a uts namespace).
    pub hostname: Option<String>,
    /// Namespaces to create.
    pub namespaces: NamespacePlan,
    /// cgroup limits.
    pub resources: Option<LinuxResources>,
    /// Extra tmpfs mounts (`--tmpfs`).
    pub tmpfs: Vec<TmpfsMount>,
    /// Volumes and bind mounts, parents first.
    pub shares: Vec<ShareMount>,
    /// Where PID 1 mounted the share (set once it has).
    pub share_root: Option<PathBuf>,
    /// `root.readonly` (`docker run --read-only`).
    pub readonly_root: bool,
    /// `linux.maskedPaths`: hidden from the container (/proc/kcore & co).
    pub masked_paths: Vec<PathBuf>,
    /// `linux.readonlyPaths`: made read-only (/proc/sys & co).
    pub readonly_paths: Vec<PathBuf>,
    /// A helper boot ([`hull_protocol::MODE_HOLD`]): the container is set up, its process
    /// never runs.
    pub hold: bool,
    /// `run --init`: the container's PID 1 is hull-init's tiny init (`container_init`),
    /// which runs the process as its child (annotation [`hull_protocol::ANNOTATION_INIT`]).
    pub init: bool,
    /// `--add-host` lines (`IP<TAB>NAME`) for /etc/hosts
    /// (annotation [`hull_protocol::ANNOTATION_EXTRA_HOSTS`]).
    pub extra_hosts: Vec<String>,
    /// The container's interface (annotation [`hull_protocol::ANNOTATION_NETWORK`]): PID 1
    /// configures it in the guest's network namespace, which the container then shares
    /// (no network namespace of its own whatever the spec says). None: only `lo`.
    pub network: Option<GuestNetwork>,
}

/// Destinations hull-init mounts itself; spec entries for them are superseded.
const STANDARD_MOUNTS: [&str; 6] = [
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/sys",
    "/dev/mqueue",
];

/// Paths of `linux.maskedPaths` / `linux.readonlyPaths`: absolute, without `..`.
fn absolute_paths(paths: Option<&[String]>, what: &str) -> Result<Vec<PathBuf>, SetupError> {
    paths
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let path = PathBuf::from(p);
            if path.is_absolute() && !p.split('/').any(|c| c == "..") {
                Ok(path)
            } else {
                Err(SetupError::Spec(format!(
                    "linux.{what} entry {p:?} must be absolute without \"..\""
                )))
            }
        })
        .collect()
}

impl ContainerPlan {
    /// Validates `spec`.
    pub fn from_spec(spec: &Spec) -> Result<Self, SetupError> {
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| SetupError::Spec("process is missing: nothing to run".into()))?;
        let args = process.args().clone().unwrap_or_default();
        if args.is_empty() || args[0].is_empty() {
            return Err(SetupError::Spec(
                "process.args is empty: give the image a CMD or pass a command".into(),
            ));
        }
        let cwd = process.cwd().clone();
        if !cwd.is_absolute() {
            return Err(SetupError::Spec(format!(
                "process.cwd {:?} must be an absolute path",
                cwd.display()
            )));
        }
        for arg in &args {
            if arg.contains('\0') {
                return Err(SetupError::Spec("process.args contains a NUL byte".into()));
            }
        }
        let env = process.env().clone().unwrap_or_default();
        if let Some(bad) = env.iter().find(|kv| !kv.contains('=') || kv.contains('\0')) {
            return Err(SetupError::Spec(format!(
                "process.env entry {bad:?} is not KEY=value"
            )));
        }
        crate::rlimits::check(process.rlimits().as_deref().unwrap_or_default())?;
        let annotation = |key: &str| {
            spec.annotations()
                .as_ref()
                .and_then(|a| a.get(key))
                .map(String::as_str)
        };
        let extra_hosts = extra_hosts(annotation(hull_protocol::ANNOTATION_EXTRA_HOSTS))?;
        let network = network(annotation(hull_protocol::ANNOTATION_NETWORK))?;
        let user = process.user();
        let linux = spec.linux().as_ref();
        let mut namespaces = NamespacePlan::from_spec(
            linux
                .and_then(|l| l.namespaces().as_deref())
                .unwrap_or_default(),
        )?;
        if network.is_some() {
            // The container sees the VM's eth0, as Docker's sees its own: a network
            // namespace of its own would hide it (the VM is the isolation boundary).
            namespaces.remove(LinuxNamespaceType::Network);
        }
        let tmpfs = spec
            .mounts()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|m| m.typ().as_deref() == Some("tmpfs"))
            .filter(|m| {
                !STANDARD_MOUNTS
                    .iter()
                    .any(|s| m.destination() == std::path::Path::new(s))
            })
            .map(|m| TmpfsMount {
                destination: m.destination().clone(),
                options: m.options().clone().unwrap_or_default(),
            })
            .collect();
        let shares = share_mounts(spec.mounts().as_deref().unwrap_or_default())?;
        Ok(Self {
            process: ProcessPlan {
                args,
                env,
                cwd,
                uid: user.uid(),
                gid: user.gid(),
                additional_gids: user.additional_gids().clone().unwrap_or_default(),
                umask: user.umask(),
                terminal: process.terminal().unwrap_or(false),
                rlimits: process.rlimits().clone().unwrap_or_default(),
                stdin_closed: annotation(hull_protocol::ANNOTATION_STDIN)
                    == Some(hull_protocol::STDIN_CLOSED),
                bounding_capabilities: process.capabilities().as_ref().map(|caps| {
                    let names: Vec<String> = caps
                        .bounding()
                        .iter()
                        .flatten()
                        .map(ToString::to_string)
                        .collect();
                    hull_protocol::capability_mask(names.iter().map(String::as_str))
                }),
                console_size: process.console_size().map(|b| {
                    (
                        u16::try_from(b.height()).unwrap_or(u16::MAX),
                        u16::try_from(b.width()).unwrap_or(u16::MAX),
                    )
                }),
            },
            hold: spec
                .annotations()
                .as_ref()
                .and_then(|a| a.get(hull_protocol::ANNOTATION_MODE))
                .is_some_and(|v| v == hull_protocol::MODE_HOLD),
            hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
            namespaces,
            resources: linux.and_then(|l| l.resources().clone()),
            tmpfs,
            shares,
            share_root: None,
            masked_paths: absolute_paths(
                linux.and_then(|l| l.masked_paths().as_deref()),
                "maskedPaths",
            )?,
            readonly_paths: absolute_paths(
                linux.and_then(|l| l.readonly_paths().as_deref()),
                "readonlyPaths",
            )?,
            readonly_root: spec
                .root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
            init: annotation(hull_protocol::ANNOTATION_INIT) == Some(hull_protocol::ENABLED),
            extra_hosts,
            network,
        })
    }
}

/// The container's interface from its annotation; malformed JSON is a setup error (the
/// interface settings themselves are checked by [`crate::net::interface::validate`]).
fn network(annotation: Option<&str>) -> Result<Option<GuestNetwork>, SetupError> {
    annotation
        .map(|json| {
            serde_json::from_str(json).map_err(|e| {
                SetupError::Spec(format!(
                    "annotation {} is not a network description: {e}",
                    hull_protocol::ANNOTATION_NETWORK
                ))
            })
        })
        .transpose()
}

/// The `--add-host` lines of the annotation: `IP<TAB>NAME` each, nothing that could add
/// other lines to /etc/hosts.
fn extra_hosts(annotation: Option<&str>) -> Result<Vec<String>, SetupError> {
    let lines: Vec<String> = annotation
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(bad) = lines.iter().find(|line| {
        line.split('\t').count() != 2 || line.chars().any(|c| c.is_control() && c != '\t')
    }) {
        return Err(SetupError::Spec(format!(
            "extra host entry {bad:?} is not IP<TAB>NAME"
        )));
    }
    Ok(lines)
}

/// The spec's bind mounts: each must come from the share (hull makes no others).
fn share_mounts(mounts: &[oci_spec::runtime::Mount]) -> Result<Vec<ShareMount>, SetupError> {
    let mut shares = Vec::new();
    for mount in mounts.iter().filter(|m| m.typ().as_deref() == Some("bind")) {
        let source = mount
            .source()
            .as_ref()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let index = hull_protocol::parse_share_source(&source).ok_or_else(|| {
            SetupError::Spec(format!(
                "bind mount source {source:?}: hull-init binds only entries of the {} share",
                hull_protocol::SHARE_TAG
            ))
        })?;
        let destination = mount.destination().clone();
        let text = destination.to_string_lossy();
        if !destination.is_absolute() || text.split('/').any(|c| c == "..") {
            return Err(SetupError::Spec(format!(
                "mount destination {text:?} must be absolute without \"..\""
            )));
        }
        let options = mount.options().clone().unwrap_or_default();
        shares.push(ShareMount {
            index,
            destination,
            read_only: options.iter().any(|o| o == "ro"),
            copy_up: options.iter().any(|o| o == hull_protocol::COPY_UP_OPTION),
        });
    }
    shares.sort_by_key(|m| m.destination.components().count());
    Ok(shares)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_from_json(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn docker_like_spec_is_understood() {
        let spec = spec_from_json(
            r#"{"ociVersion":"1.0.2","hostname":"c0ffee",
                "process":{"args":["sh","-c","echo hi"],"cwd":"/work","terminal":true,
                  "env":["PATH=/bin:/usr/bin","HOME=/root"],
                  "user":{"uid":1000,"gid":1000,"additionalGids":[10,20],"umask":18},
                  "consoleSize":{"height":24,"width":80}},
                "root":{"path":"rootfs"},
                "mounts":[{"destination":"/proc","type":"proc","source":"proc"},
                          {"destination":"/scratch","type":"tmpfs","source":"tmpfs","options":["size=1m"]}],
                "linux":{"namespaces":[{"type":"pid"},{"type":"uts"}],
                  "resources":{"memory":{"limit":67108864},"pids":{"limit":50}}}}"#,
        );
        let plan = ContainerPlan::from_spec(&spec).unwrap();
        assert_eq!(plan.process.args, ["sh", "-c", "echo hi"]);
        assert_eq!(plan.process.cwd, PathBuf::from("/work"));
        assert_eq!((plan.process.uid, plan.process.gid), (1000, 1000));
        assert_eq!(plan.process.additional_gids, [10, 20]);
        assert_eq!(plan.process.umask, Some(18));
        assert!(plan.process.terminal);
        assert_eq!(plan.process.console_size, Some((24, 80)));
        assert_eq!(plan.process.search_path(), "/bin:/usr/bin");
        assert_eq!(plan.hostname.as_deref(), Some("c0ffee"));
        assert!(plan.namespaces.has(LinuxNamespaceType::Pid));
        assert!(!plan.namespaces.has(LinuxNamespaceType::Network));
        let resources = plan.resources.unwrap();
        assert_eq!(resources.memory().unwrap().limit(), Some(64 << 20));
        assert_eq!(plan.tmpfs.len(), 1);
        assert_eq!(plan.tmpfs[0].destination, PathBuf::from("/scratch"));
        assert!(plan.masked_paths.is_empty());
    }

    #[test]
    fn missing_path_falls_back_to_dockers_default() {
        let spec = spec_from_json(
            r#"{"ociVersion":"1.0.2","process":{"args":["ls"],"cwd":"/","env":["A=b"],"user":{"uid":0,"gid":0}}}"#,
        );
        let plan = ContainerPlan::from_spec(&spec).unwrap();
        assert_eq!(plan.process.search_path(), DEFAULT_PATH);
        assert!(!plan.process.terminal);
        assert!(!plan.process.stdin_closed);
    }

    #[test]
    fn stdin_annotation_closes_stdin() {
        let spec = spec_from_json(
            r#"{"ociVersion":"1.0.2","annotations":{"io.hull.stdin":"closed"},
                "process":{"args":["cat"],"cwd":"/","user":{"uid":0,"gid":0}}}"#,
        );
        assert!(
            ContainerPlan::from_spec(&spec)
                .unwrap()
                .process
                .stdin_closed
        );
    }

    #[test]
    fn mode_annotation_holds_the_process_for_a_helper_boot() {
        let spec = spec_from_json(
            r#"{"ociVersion":"1.0.2","annotations":{"io.hull.mode":"hold"},
                "process":{"args":["cat"],"cwd":"/","user":{"uid":0,"gid":0}}}"#,
        );
        assert!(ContainerPlan::from_spec(&spec).unwrap().hold);
        let spec = spec_from_json(
            r#"{"ociVersion":"1.0.2","process":{"args":["cat"],"cwd":"/","user":{"uid":0,"gid":0}}}"#,
        );
        assert!(!ContainerPlan::from_spec(&spec).unwrap().hold);
    }

    #[test]
    fn empty_args_and_relative_cwd_are_setup_errors() {
        let spec = spec_from_json(
            r#"{"ociVersion":"1.0.2","process":{"args":[],"cwd":"/","user":{"uid":0,"gid":0}}}"#,
        );
        let err = ContainerPlan::from_spec(&spec).unwrap_err();
        assert_eq!(err.exit_code(), 125);
        assert!(err.to_string().contains("CMD"), "{err}");
        let spec = spec_from_json(
            r#"{"ociVersion":"1.0.2","process":{"args":["ls"],"cwd":"rel","user":{"uid":0,"gid":0}}}"#,
        );
        assert!(ContainerPlan::from_spec(&spec).is_err());
    }

    #[test]
    fn masked_and_readonly_paths_must_be_absolute() {
        let spec = spec_from_json(
            r#"{"ociVersion":"1.0.2","process":{"args":["ls"],"cwd":"/","user":{"uid":0,"gid":0}},
                "linux":{"maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"]}}"#,
        );
        let plan = ContainerPlan::from_spec(&spec).unwrap();
        assert_eq!(plan.masked_paths, [PathBuf::from("/proc/kcore")]);
        assert_eq!(plan.readonly_paths, [PathBuf::from("/proc/sys")]);
        let spec = spec_from_json(
            r#"{"ociVersion":"1.0.2","process":{"args":["ls"],"cwd":"/","user":{"uid":0,"gid":0}},
                "linux":{"maskedPaths":["/proc/../etc"]}}"#,
        );
        assert!(ContainerPlan::from_spec(&spec).is_err());
    }

    #[test]
    fn bad_env_is_refused() {
        let spec = spec_from_json(
            r#"{"ociVersion":"1.0.2","process":{"args":["ls"],"cwd":"/","env":["NOEQUALS"],"user":{"uid":0,"gid":0}}}"#,
        );
        assert!(ContainerPlan::from_spec(&spec).is_err());
    }

    fn networked_spec(network: &str) -> Spec {
        spec_from_json(&format!(
            r#"{{"ociVersion":"1.0.2","hostname":"c0ffee",
                "annotations":{{"io.hull.network":{}}},
                "process":{{"args":["ifconfig"],"cwd":"/","user":{{"uid":0,"gid":0}}}},
                "linux":{{"namespaces":[{{"type":"pid"}},{{"type":"network"}},{{"type":"uts"}}]}}}}"#,
            serde_json::to_string(network).unwrap()
        ))
    }

    #[test]
    fn network_annotation_gives_the_interface_and_keeps_the_vms_network_namespace() {
        let plan = ContainerPlan::from_spec(&networked_spec(
            r#"{"mac":"02:42:ac:11:00:02","address":"172.17.0.2","prefix_len":16,
                "gateway":"172.17.0.1","mtu":1500,"nameservers":["172.17.0.1"]}"#,
        ))
        .unwrap();
        let network = plan.network.unwrap();
        assert_eq!(network.mac, "02:42:ac:11:00:02");
        assert_eq!(network.address, std::net::Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(network.prefix_len, 16);
        assert!(network.search.is_empty());
        assert!(
            !plan.namespaces.has(LinuxNamespaceType::Network),
            "the container must see the VM's eth0"
        );
        assert!(plan.namespaces.has(LinuxNamespaceType::Pid));
        assert!(plan.namespaces.has(LinuxNamespaceType::Uts));
    }

    #[test]
    fn without_the_annotation_the_spec_keeps_its_network_namespace() {
        let spec = spec_from_json(
            r#"{"ociVersion":"1.0.2","process":{"args":["ls"],"cwd":"/","user":{"uid":0,"gid":0}},
                "linux":{"namespaces":[{"type":"network"}]}}"#,
        );
        let plan = ContainerPlan::from_spec(&spec).unwrap();
        assert!(plan.network.is_none());
        assert!(plan.namespaces.has(LinuxNamespaceType::Network));
    }

    #[test]
    fn a_malformed_network_annotation_is_a_setup_error() {
        for bad in [
            "not json",
            r#"{"mac":"02:42:ac:11:00:02"}"#,
            r#"{"mac":"02:42:ac:11:00:02","address":"172.17.0.256","prefix_len":16,"mtu":1500,"nameservers":[]}"#,
        ] {
            let err = ContainerPlan::from_spec(&networked_spec(bad)).unwrap_err();
            assert_eq!(err.exit_code(), 125);
            assert!(err.to_string().contains("io.hull.network"), "{err}");
        }
    }
}
