//! `create`: a container from an image, with its state, run spec and writable disk (Docker's
//! "Created": nothing boots yet).

use super::memory::MemoryRequest;
use super::Containers;
use crate::container::store::write_atomic;
use crate::container::{ids, Container, ContainerConfig, ProcessConfig, RunOptions};
use crate::error::Error;
use crate::error::Result;
use crate::host::EngineKind;
use crate::images::{self, ImageProgress, Images};
use crate::spec::{self, ProcessFlags};
use crate::users;
use crate::volumes::{Mount, Volumes};
use hull_protocol::{LayerDisk, RunSpec, WritableDisk, PROTOCOL_VERSION, WRITABLE_DISK_SERIAL};

/// Size of a new writable layer (sparse).
const WRITABLE_DISK_BYTES: u64 = 1 << 30;

/// What defines a new container (Docker's `create`/`run` flags, parsed).
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// The image reference (busybox, debian:bookworm and scratch are made on first use).
    pub image: String,
    /// `--pull`: when the image is pulled (`missing` by default).
    pub pull: crate::images::PullPolicy,
    /// `--name`; a random `adjective_name` when None.
    pub name: Option<String>,
    /// The command and its arguments (replaces the image's CMD when not empty).
    pub command: Vec<String>,
    /// `--entrypoint` (`Some("")` clears the image's).
    pub entrypoint: Option<String>,
    /// `KEY=VALUE` entries, in order (env files and host values already expanded).
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u` (`name|uid[:group|gid]`), resolved against the image's files.
    pub user: Option<String>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub interactive: bool,
    /// `--rm`.
    pub auto_remove: bool,
    /// `-m`, `--memory-swap`, `--memory-reservation`, `--oom-kill-disable`.
    pub memory: MemoryRequest,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// The engine that will run its VM.
    pub engine: Option<EngineKind>,
    /// The terminal size the process starts with (with `tty`).
    pub console_size: Option<(u16, u16)>,
    /// `--label`, `--expose`, `--stop-signal`, `--stop-timeout`, `--restart`, `--init`,
    /// `--cap-add`, `--cap-drop`, `--privileged`, `--add-host`.
    pub config: ContainerConfig,
    /// `--read-only`.
    pub read_only: bool,
    /// `--group-add` (gids).
    pub group_add: Vec<u32>,
    /// `--ulimit`.
    pub ulimits: Vec<crate::spec::Ulimit>,
    /// A build container (`hull build`): the VM boots and sets the container up, but its
    /// process never runs; RUN steps run as execs and the container ends when killed.
    pub hold: bool,
    /// `--cold`: boot the guest kernel instead of restoring the warm-start zygote.
    pub cold: bool,
}

impl Containers {
    /// Creates a container from `request`; `progress` hears about an image made first.
    pub fn create(
        &self,
        request: &CreateRequest,
        progress: &dyn ImageProgress,
    ) -> Result<Container> {
        let images = Images::open(&self.root)?;
        let image = images.resolve_with(&request.image, request.pull, progress)?;
        request.memory.validate()?;
        if let Some(signal) = &request.config.stop_signal {
            if super::lifecycle::signal_number(signal).is_none() {
                return Err(Error::InvalidArgument(format!("Invalid signal: {signal}")));
            }
        }
        let config = &request.config;
        if request.auto_remove && !config.restart_policy.is_none() {
            return Err(Error::InvalidArgument(
                "Conflicting options: --restart and --rm".into(),
            ));
        }
        let capabilities = crate::capabilities::container_capabilities(
            &config.cap_add,
            &config.cap_drop,
            config.privileged,
        )
        .map_err(Error::InvalidArgument)?;
        let extra_hosts = config
            .extra_hosts
            .iter()
            .map(|entry| crate::extra_hosts::hosts_line(entry))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(Error::InvalidArgument)?;
        config.network.validate().map_err(Error::InvalidArgument)?;
        let memory_bytes = request.memory.limit_bytes()?;
        let flags = ProcessFlags {
            entrypoint: request.entrypoint.clone(),
            cmd: request.command.clone(),
            env: request.env.clone(),
            workdir: request.workdir.clone(),
            user: request.user.clone(),
            hostname: request.hostname.clone(),
            tty: request.tty,
            interactive: request.interactive,
            memory_bytes,
            memory_reservation: request
                .memory
                .reservation
                .and_then(|r| i64::try_from(r).ok()),
            cpus: request.cpus,
            pids_limit: request.pids_limit,
            read_only: request.read_only,
            group_add: request.group_add.clone(),
            ulimits: request.ulimits.clone(),
            capabilities,
            init: config.init,
            privileged: config.privileged,
            extra_hosts,
            networked: !config.network.is_none(),
            hold: request.hold,
        };
        let image_config = images::runtime_config(&image);
        let user_spec = request
            .user
            .clone()
            .or_else(|| image_config.user().clone())
            .filter(|u| !u.is_empty());
        let user = resolve_user(&images, &image, user_spec.as_deref())?;
        let id = ids::new_id()?;
        let console = request.console_size.filter(|_| request.tty);
        let runtime = spec::runtime_spec(&image_config, &flags, &id, &user, console)?;
        let argv = runtime
            .process()
            .as_ref()
            .and_then(|p| p.args().clone())
            .unwrap_or_default();
        let engine = request.engine.unwrap_or_else(default_engine);
        let inherited = self.volumes_from(&config.volumes_from)?;
        let nics = usize::from(!config.network.is_none());
        // The image's `VOLUME`s are anonymous volumes, so share entries too; not in a
        // build's containers, whose steps' changes must land in their layers (and which
        // would leave a volume behind per step).
        let image_volumes = match request.hold {
            true => Vec::new(),
            false => image_config.volumes().clone().unwrap_or_default(),
        };
        let share = config.mounts.iter().chain(&inherited).any(Mount::is_shared)
            || !image_volumes.is_empty();
        let max_disks = crate::vm::max_layer_disks(engine, nics, share);
        let layers = images::layers(images.store(), &image, max_disks)?;
        let mut run_spec = RunSpec {
            version: PROTOCOL_VERSION,
            container_id: id.clone(),
            layers: layers
                .iter()
                .enumerate()
                .map(|(index, layer)| LayerDisk {
                    serial: hull_protocol::layer_disk_serial(index),
                    fstype: layer.fstype.clone(),
                    diff_id: layer.diff_id.clone(),
                })
                .collect(),
            writable: Some(WritableDisk {
                serial: WRITABLE_DISK_SERIAL.into(),
                fstype: "ext4".into(),
                ephemeral: request.auto_remove,
            }),
            config: runtime,
        };
        let mem_mib = request.memory.vm_mem_mib();
        // Whole vCPUs for the VM; the fraction is enforced by the cgroup quota in the guest.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let cpus = request.cpus.map_or(1, |c| c.ceil().max(1.0) as u32);
        let options = RunOptions {
            tty: request.tty,
            interactive: request.interactive,
            auto_remove: request.auto_remove,
            mem_mib,
            memory_limit: request.memory.limit.unwrap_or(0),
            memory_swap: request.memory.reported_swap(),
            cpus,
            engine,
            cold: request.cold,
        };
        let container = Container::new(
            id,
            String::new(),
            request.image.clone(),
            images::image_id(&image),
            argv,
            options,
            layers.iter().map(|l| l.path.clone()).collect(),
        );
        let (entrypoint, cmd) = spec::entrypoint_and_cmd(&image_config, &flags);
        let process = ProcessConfig {
            entrypoint: Some(entrypoint).filter(|e| !e.is_empty()),
            cmd: Some(cmd).filter(|c| !c.is_empty()),
            env: spec::config_env(&image_config, &flags),
            working_dir: flags
                .workdir
                .clone()
                .or_else(|| image_config.working_dir().clone())
                .unwrap_or_default(),
            user: user_spec.clone().unwrap_or_default(),
            hostname: run_spec.config.hostname().clone().unwrap_or_default(),
        };
        // Docker's Config.ExposedPorts: the image's, `--expose` and the published ones.
        let mut container_config = request.config.clone();
        let image_ports = image_config.exposed_ports().clone().unwrap_or_default();
        let published = container_config.network.publish.iter().map(|p| p.key());
        for port in image_ports.into_iter().chain(published) {
            let port = if port.contains('/') {
                port
            } else {
                format!("{port}/tcp")
            };
            if !container_config.exposed_ports.contains(&port) {
                container_config.exposed_ports.push(port);
            }
        }
        let container = Container {
            process,
            ..container
        };
        // Last before the container is stored: volumes made here belong to it.
        let volumes = Volumes::open(&self.root)?;
        let mounts = volumes.prepare(&container_config.mounts, &inherited, &image_volumes)?;
        let mut oci_mounts = run_spec.config.mounts().clone().unwrap_or_default();
        oci_mounts.extend(crate::volumes::oci_mounts(&mounts)?);
        run_spec.config.set_mounts(Some(oci_mounts));
        container_config.mounts = mounts;
        let container = Container {
            config: container_config,
            ..container
        };
        let container = self.store.create(container, request.name.as_deref())?;
        let paths = self.store.paths(&container.id);
        let prepared = (|| -> anyhow::Result<()> {
            write_atomic(&paths.run_spec(), &serde_json::to_vec(&run_spec)?)?;
            images::create_writable_disk(images.store(), &paths.rw_disk(), WRITABLE_DISK_BYTES)?;
            Ok(())
        })();
        if let Err(err) = prepared {
            let _ = volumes.remove_anonymous(&container);
            let _ = self.store.remove(&container.id);
            return Err(err.into());
        }
        Ok(container)
    }
}

/// The engine a container gets when the request names none: the host's default.
pub fn default_engine() -> EngineKind {
    crate::host::HostFacts::detect().default_engine().0
}

fn resolve_user(
    images: &Images,
    image: &images::Image,
    user: Option<&str>,
) -> Result<users::ResolvedUser> {
    let needs_names = user.is_some_and(|u| {
        u.split(':')
            .any(|part| !part.is_empty() && part.parse::<u32>().is_err())
    });
    // Reading the image's files costs an extraction: only names need them.
    let (passwd, group) = if needs_names {
        let mut files = images::read_files(images.store(), image, &["/etc/passwd", "/etc/group"]);
        let group = files.pop().flatten();
        (files.pop().flatten(), group)
    } else {
        (None, None)
    };
    let mut resolved = users::resolve(user, passwd.as_deref(), group.as_deref())?;
    if resolved.uid == 0 && passwd.is_none() {
        // Docker's HOME for root when /etc/passwd is not consulted.
        resolved.home = "/root".into();
    }
    Ok(resolved)
}

impl Containers {
    /// The shared mounts `--volumes-from CONTAINER[:ro|:rw]` inherit (a mode overrides
    /// every inherited mount's).
    fn volumes_from(&self, references: &[String]) -> Result<Vec<Mount>> {
        let mut inherited = Vec::new();
        for reference in references {
            let (name, mode) = match reference.rsplit_once(':') {
                Some((name, mode @ ("ro" | "rw"))) => (name, Some(mode)),
                Some(_) => {
                    return Err(Error::InvalidArgument(format!(
                        "invalid mode for volumes-from: {reference}"
                    )))
                }
                None => (reference.as_str(), None),
            };
            let source = self.store.find(name)?;
            for mount in source.config.mounts.iter().filter(|m| m.is_shared()) {
                let mut mount = mount.clone();
                if let Some(mode) = mode {
                    mount.read_only = mode == "ro";
                }
                // The content is already there: no copy-up into a shared volume.
                mount.copy_up = false;
                inherited.push(mount);
            }
        }
        Ok(inherited)
    }
}
