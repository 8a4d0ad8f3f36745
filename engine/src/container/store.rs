//! `$HULL_ROOT/containers/`: one directory per container, its `state.json` replaced
//! atomically (temp + fsync + rename) under a per-container lock, so concurrent `hull`
//! processes (a shim recording an exit while `ps` reads) never see half a file.

use super::ids;
use super::liveness::{self, ProcessRef};
use super::state::{now_rfc3339, Container, Status};
use crate::error::{Error, Result};
use crate::system::events::{Event, EventLog};
use anyhow::Context;
use hull_protocol::RunResult;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The container directory tree.
#[derive(Debug, Clone)]
pub struct ContainerStore {
    dir: PathBuf,
    events: EventLog,
}

/// Files of one container.
#[derive(Debug, Clone)]
pub struct ContainerPaths {
    /// The container's directory.
    pub dir: PathBuf,
}

impl ContainerPaths {
    /// state.json.
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    /// The config disk (spec in, result out).
    pub fn config_disk(&self) -> PathBuf {
        self.dir.join("config.img")
    }
    /// The writable layer (ext4).
    pub fn rw_disk(&self) -> PathBuf {
        self.dir.join("rw.img")
    }
    /// Guest kernel log and hull-init diagnostics (COM1).
    pub fn vm_log(&self) -> PathBuf {
        self.dir.join("vm.log")
    }
    /// The VMM's own stderr.
    pub fn engine_log(&self) -> PathBuf {
        self.dir.join("engine.log")
    }
    /// The container's output, one JSON object per chunk with its stream.
    pub fn container_log(&self) -> PathBuf {
        self.dir.join("container.log")
    }
    /// The guest's last two usage reports (`hull stats`).
    pub fn stats(&self) -> PathBuf {
        self.dir.join("stats.json")
    }
    /// The run spec (JSON) written onto a fresh config disk at every start.
    pub fn run_spec(&self) -> PathBuf {
        self.dir.join("runspec.json")
    }
    /// The supervisor's control socket (stop, kill, resize from other hull processes).
    pub fn control_socket(&self) -> PathBuf {
        self.socket_dir().join("control.sock")
    }
    /// Where the sockets go. Unix socket paths are limited to 108 bytes: the container's
    /// directory when it is short enough, else a short directory under /tmp.
    pub fn socket_dir(&self) -> PathBuf {
        if self.dir.as_os_str().len() + "/control.sock".len() < 100 {
            return self.dir.clone();
        }
        let id = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        std::env::temp_dir().join(format!("hull-{}", id.get(..16).unwrap_or(&id)))
    }
    fn lock(&self) -> PathBuf {
        self.dir.join("lock")
    }
}

impl ContainerStore {
    /// The store under `root` (created on first use).
    pub fn open(root: &Path) -> Result<Self> {
        let dir = root.join("containers");
        fs::create_dir_all(&dir).with_context(|| {
            format!(
                "cannot create {}: run as root or point --root/HULL_ROOT at a writable directory",
                dir.display()
            )
        })?;
        Ok(Self {
            dir,
            events: EventLog::in_root(root),
        })
    }

    /// The hull root this store lives under.
    pub fn root(&self) -> &Path {
        self.dir.parent().unwrap_or(&self.dir)
    }

    /// The journal `hull events` reads.
    pub fn events(&self) -> &EventLog {
        &self.events
    }

    /// Records container event `action` with Docker's attributes (name, image, labels)
    /// and `extra` ones (`exitCode`, `signal`, ...).
    pub fn record_event(&self, action: &str, container: &Container, extra: &[(&str, String)]) {
        let mut attributes = container.config.labels.clone();
        attributes.insert("name".into(), container.name.clone());
        attributes.insert("image".into(), container.image.clone());
        for (key, value) in extra {
            attributes.insert((*key).to_string(), value.clone());
        }
        self.events
            .record(&Event::container(action, &container.id, attributes));
    }

    /// Paths of container `id`.
    pub fn paths(&self, id: &str) -> ContainerPaths {
        ContainerPaths {
            dir: self.dir.join(id),
        }
    }

    /// Stores a new container; picks a random name when `name` is None and refuses a taken
    /// one, like Docker.
    pub fn create(&self, mut container: Container, name: Option<&str>) -> Result<Container> {
        let _guard = lock_file(&self.dir.join(".lock"))?;
        let taken: Vec<String> = self.list()?.into_iter().map(|c| c.name).collect();
        container.name = match name {
            Some(name) => {
                if !ids::valid_name(name) {
                    return Err(Error::InvalidName(name.to_string()));
                }
                if taken.iter().any(|t| t == name) {
                    return Err(Error::NameInUse(name.to_string()));
                }
                name.to_string()
            }
            None => (0..)
                .map(|attempt| ids::random_name(&container.id, attempt))
                .find(|candidate| !taken.contains(candidate))
                .expect("an unbounded range yields a free name"),
        };
        let paths = self.paths(&container.id);
        fs::create_dir_all(&paths.dir)
            .with_context(|| format!("cannot create {}", paths.dir.display()))?;
        write_atomic(&paths.state(), &to_json(&container)?)?;
        self.record_event("create", &container, &[]);
        Ok(container)
    }

    /// Renames container `id` to `name`, refusing an invalid or taken name as `create` does.
    pub fn rename(&self, id: &str, name: &str) -> Result<Container> {
        let _guard = lock_file(&self.dir.join(".lock"))?;
        if !ids::valid_name(name) {
            return Err(Error::InvalidName(name.to_string()));
        }
        if self.list()?.iter().any(|c| c.name == name && c.id != id) {
            return Err(Error::NameInUse(name.to_string()));
        }
        let old = self.load(id)?.name;
        let renamed = self.update(id, |c| c.name = name.to_string())?;
        self.record_event("rename", &renamed, &[("oldName", old)]);
        Ok(renamed)
    }

    /// Every stored container, newest first.
    pub fn list(&self) -> Result<Vec<Container>> {
        let mut all = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.len() != 64 {
                continue;
            }
            // A directory without a state file is a create or rm in progress: skip it.
            if let Ok(container) = self.load(&name) {
                all.push(container);
            }
        }
        all.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(all)
    }

    /// Container `id` (full id).
    pub fn load(&self, id: &str) -> Result<Container> {
        let path = self.paths(id).state();
        let text = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(serde_json::from_slice(&text)
            .with_context(|| format!("{} is corrupt", path.display()))?)
    }

    /// Finds a container by full id, name or unique id prefix, as Docker does.
    pub fn find(&self, reference: &str) -> Result<Container> {
        let all = self.list()?;
        if let Some(found) = all
            .iter()
            .find(|c| c.id == reference || c.name == reference)
        {
            return Ok(found.clone());
        }
        let matches: Vec<&Container> = all
            .iter()
            .filter(|c| !reference.is_empty() && c.id.starts_with(reference))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::NoSuchContainer(reference.to_string())),
            _ => Err(Error::AmbiguousContainer(reference.to_string())),
        }
    }

    /// Applies `change` to container `id` under its lock and stores the result.
    pub fn update(&self, id: &str, change: impl FnOnce(&mut Container)) -> Result<Container> {
        let paths = self.paths(id);
        let _guard = lock_file(&paths.lock())?;
        let mut container = self.load(id)?;
        change(&mut container);
        write_atomic(&paths.state(), &to_json(&container)?)?;
        Ok(container)
    }

    /// Deletes container `id` and its files.
    pub fn remove(&self, id: &str) -> Result<()> {
        let paths = self.paths(id);
        let removing = self.load(id).ok();
        // Drop the state first so a concurrent `list` no longer sees a half-deleted container.
        // Whoever removes it records its end: one `destroy` however many paths race here.
        if fs::remove_file(paths.state()).is_ok() {
            if let Some(container) = &removing {
                self.record_event("destroy", container, &[]);
            }
        }
        if paths.socket_dir() != paths.dir {
            let _ = fs::remove_dir_all(paths.socket_dir());
        }
        match fs::remove_dir_all(&paths.dir) {
            // A --rm container's supervisor and `rm -f` both remove it: gone is what both
            // want, so whoever comes second succeeds too.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other.with_context(|| format!("cannot remove {}", paths.dir.display())),
        }?;
        Ok(())
    }

    /// Records how the container's VM ended: the guest's result if it wrote one, else
    /// `fallback` (why the VM ended without one).
    pub fn record_exit(
        &self,
        id: &str,
        result: Option<RunResult>,
        fallback: (i32, &str),
    ) -> Result<Container> {
        let ended = self.update(id, |c| {
            let state = &mut c.state;
            state.status = Status::Exited;
            state.finished_at = Some(now_rfc3339());
            state.supervisor = None;
            state.vmm = None;
            state.paused = false;
            match result {
                Some(result) => {
                    state.exit_code = result.exit_code;
                    state.oom_killed = result.oom_killed;
                    state.error = result.error;
                }
                None => {
                    state.exit_code = fallback.0;
                    state.oom_killed = false;
                    state.error = Some(fallback.1.to_string());
                }
            }
        })?;
        self.record_event(
            "die",
            &ended,
            &[("exitCode", ended.state.exit_code.to_string())],
        );
        Ok(ended)
    }

    /// The container as it really is: a "running" container whose supervisor and VMM are
    /// both gone (kill -9, host reboot) is recorded as ended, with the guest's result if the
    /// config disk has one. `--rm` containers found ended are removed (returns None).
    pub fn reconcile(&self, container: Container) -> Result<Option<Container>> {
        // A restarting container's supervisor is alive (it waits to boot the VM again).
        if !container.is_up() {
            return Ok(Some(container));
        }
        let same_boot = container.state.boot_id == liveness::boot_id();
        let alive =
            |process: Option<ProcessRef>| same_boot && process.is_some_and(|p| p.is_alive());
        if alive(container.state.supervisor) || alive(container.state.vmm) {
            return Ok(Some(container));
        }
        let paths = self.paths(&container.id);
        let result = File::open(paths.config_disk())
            .ok()
            .and_then(|mut disk| RunResult::read_from(&mut disk).ok());
        let why = if same_boot {
            "the VM and its supervisor were killed"
        } else {
            "the host rebooted while the container ran"
        };
        // Docker reports a container whose process was SIGKILLed as 137.
        let mut updated = self.record_exit(&container.id, result, (137, why))?;
        if !same_boot || updated.state.error.as_deref() == Some(why) {
            updated.state.status = Status::Dead;
            updated = self.update(&container.id, |c| c.state.status = Status::Dead)?;
        }
        let _ = fs::remove_file(paths.control_socket());
        if updated.options.auto_remove {
            self.remove(&updated.id)?;
            return Ok(None);
        }
        Ok(Some(updated))
    }

    /// [`Self::find`] followed by [`Self::reconcile`].
    pub fn find_current(&self, reference: &str) -> Result<Container> {
        let found = self.find(reference)?;
        self.reconcile(found)?
            .ok_or_else(|| Error::NoSuchContainer(reference.to_string()))
    }
}

/// A container as `state.json` holds it.
fn to_json(container: &Container) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec_pretty(container).context("cannot encode the container's state")?)
}

/// Writes `bytes` to `path` so readers see the old or the new file, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// An exclusive advisory lock on `path`, held until the guard drops.
fn lock_file(path: &Path) -> Result<Flock<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open lock {}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| {
        Error::Internal(anyhow::anyhow!("cannot lock {}: {errno}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::state::RunOptions;
    use crate::host::EngineKind;

    fn sample(store: &ContainerStore, name: Option<&str>) -> Container {
        let id = ids::new_id().unwrap();
        let options = RunOptions {
            tty: false,
            interactive: false,
            auto_remove: false,
            mem_mib: 128,
            memory_limit: 0,
            memory_swap: 0,
            cpus: 1,
            engine: EngineKind::Qemu,
            cold: false,
        };
        let c = Container::new(
            id,
            String::new(),
            "busybox".into(),
            "sha256:x".into(),
            vec!["true".into()],
            options,
            vec![],
        );
        store.create(c, name).unwrap()
    }

    #[test]
    fn find_by_name_id_and_prefix_and_refuse_duplicate_names() {
        let root = tempdir();
        let store = ContainerStore::open(&root).unwrap();
        let a = sample(&store, Some("web"));
        assert_eq!(store.find("web").unwrap().id, a.id);
        assert_eq!(store.find(&a.id[..12]).unwrap().id, a.id);
        let err = store.create(a.clone(), Some("web")).unwrap_err();
        assert!(matches!(err, Error::NameInUse(ref name) if name == "web"));
        assert!(err.to_string().contains("already in use"));
        assert!(matches!(store.find("nope"), Err(Error::NoSuchContainer(_))));
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn a_running_container_whose_processes_died_is_reconciled() {
        let root = tempdir();
        let store = ContainerStore::open(&root).unwrap();
        let c = sample(&store, None);
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let dead = ProcessRef::of(child.id()).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        store
            .update(&c.id, |c| {
                c.state.status = Status::Running;
                c.state.boot_id = liveness::boot_id();
                c.state.supervisor = Some(dead);
                c.state.vmm = Some(dead);
            })
            .unwrap();
        let now = store
            .reconcile(store.load(&c.id).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(now.state.status, Status::Dead);
        assert_eq!(now.state.exit_code, 137);
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn a_container_from_before_a_reboot_is_dead_even_if_its_pid_is_reused() {
        let root = tempdir();
        let store = ContainerStore::open(&root).unwrap();
        let c = sample(&store, None);
        // This very process stands in for a pid that was reused after the reboot.
        let me = ProcessRef::of(std::process::id()).unwrap();
        store
            .update(&c.id, |c| {
                c.state.status = Status::Running;
                c.state.boot_id = "an-earlier-boot".into();
                c.state.supervisor = Some(me);
                c.state.vmm = Some(me);
            })
            .unwrap();
        let now = store
            .reconcile(store.load(&c.id).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(now.state.status, Status::Dead);
        assert!(now.state.error.unwrap().contains("rebooted"));
        let _ = fs::remove_dir_all(root);
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hull-store-test-{}", ids::new_id().unwrap()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}
