//! The OCI runtime spec of a container, merged from the image config and the `run` flags
//! exactly as Docker merges them.

use crate::users::ResolvedUser;
use anyhow::{bail, Result};
use oci_spec::image::Config as ImageConfig;
use oci_spec::runtime::{
    BoxBuilder, Capabilities, Capability, LinuxCapabilities, LinuxCapabilitiesBuilder, LinuxCpu,
    LinuxMemory, LinuxPids, LinuxResources, PosixRlimitBuilder, PosixRlimitType, Spec, User,
};
use std::collections::HashMap;

/// Docker's default PATH when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the `run` flags say about the process (None: take the image's).
#[derive(Debug, Clone, Default)]
pub struct ProcessFlags {
    /// `--entrypoint` (`Some("")` clears the image's).
    pub entrypoint: Option<String>,
    /// The CMD arguments after the image name.
    pub cmd: Vec<String>,
    /// `-e`/`--env-file` entries, `KEY=VALUE`, in order.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `-t`.
    pub tty: bool,
    /// `-i`: without it the container's stdin is empty (Docker's /dev/null).
    pub interactive: bool,
    /// `-m`, in bytes.
    pub memory_bytes: Option<i64>,
    /// `--memory-reservation` in bytes.
    pub memory_reservation: Option<i64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--read-only`: the root filesystem is mounted read-only.
    pub read_only: bool,
    /// `--group-add`: more supplementary groups (gids).
    pub group_add: Vec<u32>,
    /// `--ulimit NAME=SOFT[:HARD]`.
    pub ulimits: Vec<Ulimit>,
    /// The process's capabilities (names without `CAP_`; see `capabilities.rs`).
    pub capabilities: Vec<&'static str>,
    /// `--init`.
    pub init: bool,
    /// `--privileged`: as Docker's, nothing under /proc is masked or read-only.
    pub privileged: bool,
    /// `--add-host` as /etc/hosts lines (`IP<TAB>NAME`).
    pub extra_hosts: Vec<String>,
    /// The container gets a network interface (not `--network none`): its process then
    /// shares the guest's network namespace, where hull-init configures `eth0`.
    pub networked: bool,
    /// The process never runs: hull-init holds the container for execs (build steps).
    pub hold: bool,
}

/// One `--ulimit`: a resource (`nofile`, `nproc`, ...) and its soft and hard limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    /// The resource's name as Docker spells it (`nofile`).
    pub name: String,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

impl std::str::FromStr for Ulimit {
    type Err = String;

    /// `nofile=1024:2048`, `nofile=1024` (soft = hard), `-1` for unlimited.
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let (name, limits) = text
            .split_once('=')
            .ok_or_else(|| format!("invalid ulimit argument: {text}"))?;
        if rlimit_type(name).is_none() {
            return Err(format!("invalid ulimit type: {name}"));
        }
        let value = |v: &str| -> std::result::Result<u64, String> {
            if v == "-1" {
                return Ok(u64::MAX);
            }
            v.parse()
                .map_err(|_| format!("invalid ulimit argument: {text}"))
        };
        let (soft, hard) = match limits.split_once(':') {
            Some((soft, hard)) => (value(soft)?, value(hard)?),
            None => (value(limits)?, value(limits)?),
        };
        if soft > hard {
            return Err(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            ));
        }
        Ok(Self {
            name: name.to_string(),
            soft,
            hard,
        })
    }
}

/// The OCI rlimit of a Docker ulimit name.
fn rlimit_type(name: &str) -> Option<PosixRlimitType> {
    Some(match name {
        "core" => PosixRlimitType::RlimitCore,
        "cpu" => PosixRlimitType::RlimitCpu,
        "data" => PosixRlimitType::RlimitData,
        "fsize" => PosixRlimitType::RlimitFsize,
        "locks" => PosixRlimitType::RlimitLocks,
        "memlock" => PosixRlimitType::RlimitMemlock,
        "msgqueue" => PosixRlimitType::RlimitMsgqueue,
        "nice" => PosixRlimitType::RlimitNice,
        "nofile" => PosixRlimitType::RlimitNofile,
        "nproc" => PosixRlimitType::RlimitNproc,
        "rss" => PosixRlimitType::RlimitRss,
        "rtprio" => PosixRlimitType::RlimitRtprio,
        "rttime" => PosixRlimitType::RlimitRttime,
        "sigpending" => PosixRlimitType::RlimitSigpending,
        "stack" => PosixRlimitType::RlimitStack,
        _ => return None,
    })
}

/// The process argv: Docker's rule is ENTRYPOINT + CMD, where `--entrypoint` also drops the
/// image's CMD and CMD arguments replace the image's CMD.
pub fn argv(image: &ImageConfig, flags: &ProcessFlags) -> Result<Vec<String>> {
    let (entrypoint, cmd) = entrypoint_and_cmd(image, flags);
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        bail!("no command specified: the image has no Entrypoint or Cmd, give one after the image name");
    }
    Ok(argv)
}

/// ENTRYPOINT and CMD after Docker's merge (see [`argv`]).
pub fn entrypoint_and_cmd(image: &ImageConfig, flags: &ProcessFlags) -> (Vec<String>, Vec<String>) {
    let entrypoint: Vec<String> = match &flags.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => image.entrypoint().clone().unwrap_or_default(),
    };
    let cmd: Vec<String> = if !flags.cmd.is_empty() {
        flags.cmd.clone()
    } else if flags.entrypoint.is_some() {
        Vec::new()
    } else {
        image.cmd().clone().unwrap_or_default()
    };
    (entrypoint, cmd)
}

/// Docker's `Config.Env` of a container: the flags' entries first, then the image's whose
/// key no flag sets (what the runtime adds, such as HOSTNAME, is not part of it).
pub fn config_env(image: &ImageConfig, flags: &ProcessFlags) -> Vec<String> {
    let key = |entry: &String| {
        entry
            .split_once('=')
            .map_or(entry.clone(), |(k, _)| k.to_string())
    };
    let mut env: Vec<String> = Vec::new();
    for entry in &flags.env {
        let name = key(entry);
        env.retain(|e| key(e) != name);
        env.push(entry.clone());
    }
    let flag_keys: Vec<String> = env.iter().map(key).collect();
    env.extend(
        image
            .env()
            .iter()
            .flatten()
            .filter(|e| !flag_keys.contains(&key(e)))
            .cloned(),
    );
    env
}

/// The environment: the image's, overridden key by key by the flags, plus PATH, HOSTNAME,
/// TERM (with a tty) and HOME as Docker adds them.
pub fn environment(
    image: &ImageConfig,
    flags: &ProcessFlags,
    hostname: &str,
    home: &str,
) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut values: HashMap<String, String> = HashMap::new();
    let mut entries: Vec<String> = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={hostname}"),
    ];
    entries.extend(image.env().iter().flatten().cloned());
    if flags.tty {
        entries.push("TERM=xterm".into());
    }
    entries.extend(flags.env.iter().cloned());
    for entry in &entries {
        let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
        if values.insert(key.to_string(), value.to_string()).is_none() {
            order.push(key.to_string());
        }
    }
    if !values.contains_key("HOME") {
        order.push("HOME".into());
        values.insert("HOME".into(), home.to_string());
    }
    order
        .into_iter()
        .map(|key| format!("{key}={}", values[&key]))
        .collect()
}

/// The full runtime spec for one container.
pub fn runtime_spec(
    image: &ImageConfig,
    flags: &ProcessFlags,
    container_id: &str,
    user: &ResolvedUser,
    console: Option<(u16, u16)>,
) -> Result<Spec> {
    let hostname = flags
        .hostname
        .clone()
        .unwrap_or_else(|| crate::container::ids::short(container_id).to_string());
    let mut spec = Spec::default();
    spec.set_hostname(Some(hostname.clone()));
    let mut root = spec.root().clone().unwrap_or_default();
    // The rootfs is the guest's overlay; the writable layer is the upper dir.
    root.set_readonly(Some(flags.read_only));
    spec.set_root(Some(root));

    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(argv(image, flags)?));
    process.set_env(Some(environment(image, flags, &hostname, &user.home)));
    let cwd = flags
        .workdir
        .clone()
        .or_else(|| image.working_dir().clone().filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".to_string());
    if !cwd.starts_with('/') {
        bail!("the working directory {cwd:?} is invalid: it needs to be an absolute path");
    }
    process.set_cwd(cwd.into());
    process.set_terminal(Some(flags.tty));
    if let (true, Some((rows, cols))) = (flags.tty, console) {
        let size = BoxBuilder::default()
            .height(u64::from(rows))
            .width(u64::from(cols))
            .build()?;
        process.set_console_size(Some(size));
    }
    let mut oci_user = User::default();
    oci_user.set_uid(user.uid);
    oci_user.set_gid(user.gid);
    let mut groups = user.additional_gids.clone();
    for gid in &flags.group_add {
        if !groups.contains(gid) {
            groups.push(*gid);
        }
    }
    if !groups.is_empty() {
        oci_user.set_additional_gids(Some(groups));
    }
    if !flags.ulimits.is_empty() {
        // The user's limits replace the defaults of the same resource and keep the others.
        let mut rlimits = process.rlimits().clone().unwrap_or_default();
        for ulimit in &flags.ulimits {
            let Some(typ) = rlimit_type(&ulimit.name) else {
                continue;
            };
            rlimits.retain(|r| r.typ() != typ);
            rlimits.push(
                PosixRlimitBuilder::default()
                    .typ(typ)
                    .soft(ulimit.soft)
                    .hard(ulimit.hard)
                    .build()?,
            );
        }
        process.set_rlimits(Some(rlimits));
    }
    process.set_user(oci_user);
    process.set_capabilities(Some(capabilities(&flags.capabilities)?));
    // Docker's default: processes may gain privileges (setuid binaries work).
    process.set_no_new_privileges(Some(false));
    spec.set_process(Some(process));

    let mut linux = spec.linux().clone().unwrap_or_default();
    if flags.privileged {
        linux.set_masked_paths(Some(Vec::new()));
        linux.set_readonly_paths(Some(Vec::new()));
    }
    if flags.networked {
        // The VM is the boundary; a namespace of its own would hide eth0 (as Docker's
        // container sees its interface).
        let namespaces = linux.namespaces().clone().unwrap_or_default();
        linux.set_namespaces(Some(
            namespaces
                .into_iter()
                .filter(|ns| ns.typ() != oci_spec::runtime::LinuxNamespaceType::Network)
                .collect(),
        ));
    }
    let mut resources = linux.resources().clone().unwrap_or_default();
    apply_resources(&mut resources, flags);
    linux.set_resources(Some(resources));
    spec.set_linux(Some(linux));

    let mut annotations = spec.annotations().clone().unwrap_or_default();
    if let Some(requested) = &flags.user {
        // What the user asked for, for messages in the guest.
        annotations.insert("io.hull.user".into(), requested.clone());
    }
    if flags.init {
        annotations.insert(
            hull_protocol::ANNOTATION_INIT.into(),
            hull_protocol::ENABLED.into(),
        );
    }
    if flags.hold {
        annotations.insert(
            hull_protocol::ANNOTATION_MODE.into(),
            hull_protocol::MODE_HOLD.into(),
        );
    }
    if !flags.extra_hosts.is_empty() {
        annotations.insert(
            hull_protocol::ANNOTATION_EXTRA_HOSTS.into(),
            flags.extra_hosts.join("\n"),
        );
    }
    if !flags.interactive {
        // The guest gives the process EOF at once instead of relaying hvc0.
        annotations.insert(
            hull_protocol::ANNOTATION_STDIN.into(),
            hull_protocol::STDIN_CLOSED.into(),
        );
    }
    spec.set_annotations(Some(annotations));
    Ok(spec)
}

/// The OCI capability sets of a process with `names`, as runc gets them from Docker:
/// bounding, effective and permitted; no inheritable or ambient ones.
fn capabilities(names: &[&str]) -> Result<LinuxCapabilities> {
    let set: Capabilities = names
        .iter()
        .map(|name| {
            name.parse::<Capability>()
                .map_err(|_| anyhow::anyhow!("unknown capability {name}"))
        })
        .collect::<Result<_>>()?;
    Ok(LinuxCapabilitiesBuilder::default()
        .bounding(set.clone())
        .effective(set.clone())
        .permitted(set)
        .inheritable(Capabilities::new())
        .ambient(Capabilities::new())
        .build()?)
}

fn apply_resources(resources: &mut LinuxResources, flags: &ProcessFlags) {
    if flags.memory_bytes.is_some() || flags.memory_reservation.is_some() {
        let mut memory = LinuxMemory::default();
        if let Some(limit) = flags.memory_bytes {
            memory.set_limit(Some(limit));
            // Docker's default swap is twice the memory; the guest has no swap anyway.
            memory.set_swap(Some(limit));
        }
        memory.set_reservation(flags.memory_reservation);
        resources.set_memory(Some(memory));
    }
    if let Some(cpus) = flags.cpus {
        let mut cpu = LinuxCpu::default();
        let period: u64 = 100_000;
        cpu.set_period(Some(period));
        // Bounded by the --cpus parser (0.01..=1024), so the cast cannot overflow.
        #[allow(clippy::cast_possible_truncation)]
        cpu.set_quota(Some((cpus * 100_000.0).round() as i64));
        resources.set_cpu(Some(cpu));
    }
    if let Some(limit) = flags.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(limit);
        resources.set_pids(Some(pids));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::ConfigBuilder;

    fn image() -> ImageConfig {
        ConfigBuilder::default()
            .entrypoint(vec!["/entry".to_string()])
            .cmd(vec!["default".to_string()])
            .env(vec!["PATH=/img/bin".to_string(), "A=1".to_string()])
            .working_dir("/app".to_string())
            .build()
            .unwrap()
    }

    fn root() -> ResolvedUser {
        ResolvedUser {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            home: "/root".into(),
        }
    }

    #[test]
    fn argv_merges_like_docker() {
        let flags = ProcessFlags::default();
        assert_eq!(argv(&image(), &flags).unwrap(), ["/entry", "default"]);
        let flags = ProcessFlags {
            cmd: vec!["x".into()],
            ..Default::default()
        };
        assert_eq!(argv(&image(), &flags).unwrap(), ["/entry", "x"]);
        let flags = ProcessFlags {
            entrypoint: Some("/other".into()),
            ..Default::default()
        };
        assert_eq!(argv(&image(), &flags).unwrap(), ["/other"]);
        let flags = ProcessFlags {
            entrypoint: Some(String::new()),
            cmd: vec!["sh".into()],
            ..Default::default()
        };
        assert_eq!(argv(&image(), &flags).unwrap(), ["sh"]);
        let empty = ConfigBuilder::default().build().unwrap();
        assert!(argv(&empty, &ProcessFlags::default()).is_err());
    }

    #[test]
    fn env_flags_override_image_env_by_key() {
        let flags = ProcessFlags {
            env: vec!["A=2".into(), "B=3".into()],
            tty: true,
            ..Default::default()
        };
        let env = environment(&image(), &flags, "h", "/root");
        assert_eq!(
            env,
            [
                "PATH=/img/bin",
                "HOSTNAME=h",
                "A=2",
                "TERM=xterm",
                "B=3",
                "HOME=/root"
            ]
        );
    }

    #[test]
    fn config_env_is_dockers_flags_first_then_the_images_without_runtime_additions() {
        let flags = ProcessFlags {
            env: vec!["A=2".into(), "B=3".into(), "B=4".into()],
            tty: true,
            ..Default::default()
        };
        assert_eq!(
            config_env(&image(), &flags),
            ["A=2", "B=4", "PATH=/img/bin"]
        );
    }

    #[test]
    fn spec_carries_flags() {
        let flags = ProcessFlags {
            workdir: Some("/tmp".into()),
            hostname: Some("box".into()),
            tty: true,
            memory_bytes: Some(64 << 20),
            memory_reservation: None,
            cpus: Some(1.5),
            pids_limit: Some(50),
            ..Default::default()
        };
        let spec =
            runtime_spec(&image(), &flags, &"a".repeat(64), &root(), Some((24, 80))).unwrap();
        let process = spec.process().as_ref().unwrap();
        assert_eq!(process.cwd().to_str(), Some("/tmp"));
        assert_eq!(process.terminal(), Some(true));
        assert_eq!(process.console_size().unwrap().width(), 80);
        assert_eq!(spec.hostname().as_deref(), Some("box"));
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(false));
        let resources = spec.linux().as_ref().unwrap().resources().clone().unwrap();
        assert_eq!(resources.memory().as_ref().unwrap().limit(), Some(64 << 20));
        assert_eq!(resources.cpu().as_ref().unwrap().quota(), Some(150_000));
        assert_eq!(resources.pids().as_ref().unwrap().limit(), 50);
        let annotations = spec.annotations().clone().unwrap();
        assert_eq!(
            annotations
                .get(hull_protocol::ANNOTATION_STDIN)
                .map(String::as_str),
            Some(hull_protocol::STDIN_CLOSED),
            "no -i: the guest must not wait for stdin"
        );
    }

    #[test]
    fn privileged_masks_nothing_and_leaves_proc_writable() {
        let paths = |privileged| {
            let flags = ProcessFlags {
                privileged,
                ..Default::default()
            };
            let spec = runtime_spec(&image(), &flags, "abc", &root(), None).unwrap();
            let linux = spec.linux().clone().unwrap();
            (
                linux.masked_paths().clone().unwrap_or_default(),
                linux.readonly_paths().clone().unwrap_or_default(),
            )
        };
        let (masked, readonly) = paths(false);
        assert!(masked.contains(&"/proc/kcore".to_string()), "{masked:?}");
        assert!(readonly.contains(&"/proc/sys".to_string()), "{readonly:?}");
        assert_eq!(paths(true), (Vec::new(), Vec::new()));
    }

    #[test]
    fn capabilities_init_and_hosts_reach_the_guest() {
        let flags = ProcessFlags {
            capabilities: vec!["CHOWN", "NET_ADMIN"],
            init: true,
            extra_hosts: vec!["10.0.0.5\tdb".into(), "::1\tv6".into()],
            ..Default::default()
        };
        let spec = runtime_spec(&image(), &flags, "abc", &root(), None).unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap();
        let bounding = caps.bounding().clone().unwrap();
        assert_eq!(bounding.len(), 2);
        assert!(bounding.contains(&Capability::NetAdmin));
        assert_eq!(caps.effective(), caps.permitted());
        assert!(caps.inheritable().as_ref().unwrap().is_empty());
        let annotations = spec.annotations().clone().unwrap();
        assert_eq!(
            annotations[hull_protocol::ANNOTATION_INIT],
            hull_protocol::ENABLED
        );
        assert_eq!(
            annotations[hull_protocol::ANNOTATION_EXTRA_HOSTS],
            "10.0.0.5\tdb\n::1\tv6"
        );
    }

    #[test]
    fn interactive_keeps_stdin_open() {
        let flags = ProcessFlags {
            interactive: true,
            ..Default::default()
        };
        let spec = runtime_spec(&image(), &flags, "abc", &root(), None).unwrap();
        let annotations = spec.annotations().clone().unwrap_or_default();
        assert!(!annotations.contains_key(hull_protocol::ANNOTATION_STDIN));
    }

    #[test]
    fn relative_workdir_is_refused() {
        let flags = ProcessFlags {
            workdir: Some("rel".into()),
            ..Default::default()
        };
        assert!(runtime_spec(&image(), &flags, "abc", &root(), None).is_err());
    }
}
