//! The container use cases on a fake engine: the store, the supervisor, its control socket
//! and the config disk are real; the "VM" is a `sleep` process with a thread playing the
//! guest (it prints, reports a status on the config disk and powers off, on its own or
//! when the container's process is signalled).

mod connect;
mod pause;
mod volumes;

use super::*;
use crate::container::{ids, Status};
use crate::guest::GuestArtifacts;
use crate::host::EngineKind;
use crate::supervisor::Io;
use crate::vm::{Consoles, Engine, RunningVm, VmSpec};
use hull_protocol::{ControlMessage, RunResult, PROTOCOL_VERSION};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake guest of one boot does.
#[derive(Debug, Clone, Copy)]
enum Guest {
    /// Its process exits with this status at once.
    Exits(i32),
    /// Its process runs until it gets a signal (then 128 + the signal).
    RunsUntilSignalled,
}

/// Boots fake VMs, one [`Guest`] script per boot, in order.
#[derive(Clone, Default)]
struct FakeEngines {
    boots: Arc<Mutex<VecDeque<Guest>>>,
}

impl FakeEngines {
    fn then(&self, guest: Guest) -> &Self {
        self.boots.lock().unwrap().push_back(guest);
        self
    }
}

impl Engines for FakeEngines {
    fn guest(&self, _kind: EngineKind) -> anyhow::Result<GuestArtifacts> {
        Ok(GuestArtifacts {
            kernel: "/fake/vmlinux".into(),
            initramfs: "/fake/initramfs".into(),
            cmdline: "console=fake".into(),
        })
    }

    fn engine(&self, _kind: EngineKind) -> Box<dyn Engine> {
        let guest = self.boots.lock().unwrap().pop_front();
        Box::new(FakeEngine {
            guest: guest.expect("a boot the test did not script"),
        })
    }
}

struct FakeEngine {
    guest: Guest,
}

impl Engine for FakeEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Qemu
    }

    fn spawn(&self, spec: &VmSpec) -> anyhow::Result<RunningVm> {
        let (stdio, guest_stdio) = UnixStream::pair()?;
        let (stderr, guest_stderr) = UnixStream::pair()?;
        let (control, guest_control) = UnixStream::pair()?;
        let vmm = Command::new("sleep").arg("600").spawn()?;
        let config_disk = spec.disks[0].path.clone();
        let vmm_pid = nix::unistd::Pid::from_raw(i32::try_from(vmm.id())?);
        let guest = self.guest;
        std::thread::spawn(move || {
            let mut stdout = guest_stdio;
            let _ = stdout.write_all(b"hello from the fake guest\n");
            let exit_code = match guest {
                Guest::Exits(code) => code,
                Guest::RunsUntilSignalled => wait_for_signal(&guest_control) + 128,
            };
            let result = RunResult {
                version: PROTOCOL_VERSION,
                exit_code,
                signal: None,
                oom_killed: false,
                error: None,
                boot_to_exec_ms: None,
            };
            let mut disk = std::fs::OpenOptions::new()
                .write(true)
                .open(&config_disk)
                .unwrap();
            result.write_to(&mut disk).unwrap();
            drop((stdout, guest_stderr, guest_control));
            // Power off.
            let _ = nix::sys::signal::kill(vmm_pid, nix::sys::signal::Signal::SIGKILL);
        });
        Ok(RunningVm {
            child: crate::vm::process::VmmProcess::Child(vmm),
            consoles: Consoles {
                stdio_in: Box::new(stdio.try_clone()?),
                stdio_out: Box::new(stdio),
                stderr: Some(Box::new(stderr)),
                control: Some(Box::new(control.try_clone()?)),
                events: Some(Box::new(control)),
            },
        })
    }
}

/// Reads the control console until a signal for the container's process comes (a test
/// that failed before sending one ends the "VM" after a while instead of hanging).
fn wait_for_signal(control: &UnixStream) -> i32 {
    let _ = control.set_read_timeout(Some(Duration::from_secs(30)));
    let reader = BufReader::new(control.try_clone().unwrap());
    for line in reader.lines().map_while(Result::ok) {
        if let Ok(ControlMessage::Signal { signal }) = serde_json::from_str(&line) {
            return signal;
        }
    }
    9
}

/// A request for a container of the scratch image on the fake engine, without a network
/// (the fake engine cannot start a network's daemon).
fn offline_request() -> CreateRequest {
    let mut request = CreateRequest {
        image: "scratch".into(),
        command: vec!["/true".into()],
        engine: Some(EngineKind::Qemu),
        ..CreateRequest::default()
    };
    request.config.network.mode = crate::container::network::NETWORK_NONE.into();
    request
}

/// A root with the scratch image and containers booted on `engines`.
struct Fixture {
    root: PathBuf,
    containers: Containers,
    engines: FakeEngines,
}

impl Fixture {
    fn new() -> Self {
        let root = std::env::temp_dir().join(format!(
            "hull-engine-test-{}",
            &ids::new_id().unwrap()[..16]
        ));
        std::fs::create_dir_all(&root).unwrap();
        let engines = FakeEngines::default();
        let containers = Containers::with_engines(&root, Box::new(engines.clone())).unwrap();
        Self {
            root,
            containers,
            engines,
        }
    }

    fn create(&self, name: Option<&str>) -> Result<Container> {
        let mut request = offline_request();
        request.name = name.map(str::to_string);
        self.containers.create(&request, &())
    }

    /// Waits until container `name` runs and its supervisor listens for requests (at most
    /// 30 s: a supervisor that failed must fail the test, not hang the suite).
    fn wait_until_serving(&self, name: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let now = self.containers.find(name).unwrap();
            let socket = self.containers.store().paths(&now.id).control_socket();
            if now.is_running() && socket.exists() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name} never served: {now:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn log(&self, reference: &str) -> String {
        let mut text = String::new();
        let request = LogsRequest::default();
        let mut sink = |_: LogStream, line: &str| {
            text.push_str(line);
            true
        };
        self.containers.logs(reference, request, &mut sink).unwrap();
        text
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[test]
fn create_start_exit_start_again_remove() {
    let fixture = Fixture::new();
    let containers = &fixture.containers;
    let created = fixture.create(Some("web")).unwrap();
    assert_eq!(created.state.status, Status::Created);
    assert_eq!(containers.list(false).unwrap(), vec![]);
    assert_eq!(containers.list(true).unwrap(), vec![created.clone()]);

    fixture.engines.then(Guest::Exits(3)).then(Guest::Exits(0));
    let first = containers.supervise(&created, Io::Detached).unwrap();
    assert_eq!(first.state.status, Status::Exited);
    assert_eq!(first.state.exit_code, 3);
    assert_eq!(containers.find("web").unwrap(), first);
    assert_eq!(fixture.log("web"), "hello from the fake guest\n");

    // Started again: same container, same writable layer, a new status and more log.
    let again = containers.supervise(&first, Io::Detached).unwrap();
    assert_eq!(again.id, created.id);
    assert_eq!(again.state.status, Status::Exited);
    assert_eq!(again.state.exit_code, 0);
    assert_eq!(fixture.log(&created.id).lines().count(), 2);
    assert_eq!(containers.wait("web").unwrap(), 0);

    containers.remove("web", false).unwrap();
    assert!(matches!(
        containers.find("web"),
        Err(Error::NoSuchContainer(name)) if name == "web"
    ));
    assert!(!containers.store().paths(&created.id).dir.exists());
}

#[test]
fn a_running_container_is_removed_only_with_force() {
    let fixture = Fixture::new();
    let created = fixture.create(Some("busy")).unwrap();
    fixture.engines.then(Guest::RunsUntilSignalled);
    let supervisor = std::thread::scope(|scope| {
        let supervisor = scope.spawn(|| fixture.containers.supervise(&created, Io::Detached));
        let containers = &fixture.containers;
        fixture.wait_until_serving("busy");
        let refused = containers.remove("busy", false).unwrap_err();
        assert!(matches!(refused, Error::RemoveRunning(ref r) if r == "busy"));
        assert!(refused.to_string().contains("container is running"));
        assert!(containers.find("busy").unwrap().is_running());
        containers.kill("busy", libc::SIGTERM).unwrap();
        supervisor.join().unwrap()
    });
    let done = supervisor.unwrap();
    assert_eq!(done.state.exit_code, 128 + libc::SIGTERM);
    let refused = fixture.containers.kill("busy", libc::SIGKILL).unwrap_err();
    assert!(matches!(refused, Error::KillNotRunning(..)));

    // rm -f of a running one stops it first.
    fixture.engines.then(Guest::RunsUntilSignalled);
    std::thread::scope(|scope| {
        let supervisor = scope.spawn(|| fixture.containers.supervise(&done, Io::Detached));
        fixture.wait_until_serving("busy");
        fixture.containers.remove("busy", true).unwrap();
        let _ = supervisor.join().unwrap();
    });
    assert!(matches!(
        fixture.containers.find("busy"),
        Err(Error::NoSuchContainer(_))
    ));
}

#[test]
fn rename_refuses_a_taken_or_bad_name_and_prune_keeps_running_ones() {
    let fixture = Fixture::new();
    let containers = &fixture.containers;
    fixture.create(Some("old")).unwrap();
    fixture.create(Some("other")).unwrap();
    let renamed = containers.rename("old", "new").unwrap();
    assert_eq!(renamed.name, "new");
    assert!(matches!(
        containers.find("old"),
        Err(Error::NoSuchContainer(_))
    ));
    assert!(matches!(
        containers.rename("new", "other"),
        Err(Error::NameInUse(_))
    ));
    assert!(matches!(
        containers.rename("new", "bad name"),
        Err(Error::InvalidName(_))
    ));

    let busy = fixture.create(Some("busy")).unwrap();
    fixture.engines.then(Guest::RunsUntilSignalled);
    std::thread::scope(|scope| {
        let supervisor = scope.spawn(|| containers.supervise(&busy, Io::Detached));
        fixture.wait_until_serving("busy");
        let removed = containers.prune().unwrap();
        assert_eq!(removed.len(), 2, "the two created containers go");
        assert_eq!(
            containers.list(true).unwrap().len(),
            1,
            "the running one stays"
        );
        containers.kill("busy", libc::SIGKILL).unwrap();
        let _ = supervisor.join().unwrap();
    });
}

#[test]
fn create_keeps_labels_ports_and_stop_settings_and_refuses_a_bad_signal() {
    let fixture = Fixture::new();
    let mut request = offline_request();
    request.config.labels.insert("tier".into(), "web".into());
    request.config.exposed_ports.push("80/tcp".into());
    request.config.stop_signal = Some("SIGUSR1".into());
    request.config.stop_timeout = Some(3);
    let created = fixture.containers.create(&request, &()).unwrap();
    let inspect = fixture.containers.inspect(&created.id).unwrap();
    assert_eq!(inspect["Config"]["Labels"]["tier"], "web");
    assert!(inspect["Config"]["ExposedPorts"]["80/tcp"].is_object());
    assert_eq!(inspect["Config"]["StopSignal"], "SIGUSR1");
    assert_eq!(inspect["Config"]["StopTimeout"], 3);
    assert_eq!(inspect["Config"]["Cmd"], serde_json::json!(["/true"]));
    assert!(inspect["Config"]["Entrypoint"].is_null());
    assert_eq!(inspect["Config"]["Hostname"], &created.id[..12]);
    request.config.stop_signal = Some("SIGNOPE".into());
    assert!(matches!(
        fixture.containers.create(&request, &()),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn names_are_unique_and_well_formed() {
    let fixture = Fixture::new();
    fixture.create(Some("db")).unwrap();
    let taken = fixture.create(Some("db")).unwrap_err();
    assert!(matches!(taken, Error::NameInUse(ref name) if name == "db"));
    let invalid = fixture.create(Some("-db")).unwrap_err();
    assert!(matches!(invalid, Error::InvalidName(_)));
    // Neither refusal left a container behind.
    assert_eq!(fixture.containers.list(true).unwrap().len(), 1);
    // Without a name, each gets a distinct random one.
    let a = fixture.create(None).unwrap();
    let b = fixture.create(None).unwrap();
    assert_ne!(a.name, b.name);
}

#[test]
fn references_are_ids_names_or_unique_prefixes() {
    let fixture = Fixture::new();
    let mut made = Vec::new();
    // Enough containers that two share a first hex digit.
    while made.len() < 17 {
        made.push(fixture.create(None).unwrap());
    }
    let containers = &fixture.containers;
    let first = &made[0];
    assert_eq!(containers.find(&first.id).unwrap().id, first.id);
    assert_eq!(containers.find(&first.name).unwrap().id, first.id);
    assert_eq!(containers.find(&first.id[..12]).unwrap().id, first.id);
    let digit = (0..made.len())
        .flat_map(|i| (i + 1..made.len()).map(move |j| (i, j)))
        .find(|&(i, j)| made[i].id[..1] == made[j].id[..1])
        .map(|(i, _)| &made[i].id[..1])
        .expect("17 ids share a first hex digit");
    assert!(matches!(
        containers.find(digit),
        Err(Error::AmbiguousContainer(ref prefix)) if prefix == digit
    ));
    assert!(matches!(
        containers.find("no-such-name"),
        Err(Error::NoSuchContainer(_))
    ));
    assert!(matches!(
        containers.remove("no-such-name", true),
        Err(Error::NoSuchContainer(_))
    ));
}

#[test]
fn exec_and_attach_need_a_running_container() {
    let fixture = Fixture::new();
    fixture.create(Some("idle")).unwrap();
    let request = hull_protocol::ExecRequest {
        args: vec!["true".into()],
        env: vec![],
        cwd: None,
        user: None,
        tty: false,
        stdin: false,
        console_size: None,
    };
    let err = fixture.containers.exec("idle", &request).err().unwrap();
    assert!(matches!(err, Error::ExecNotRunning(ref name) if name == "idle"));
    let err = fixture.containers.attach("idle").err().unwrap();
    assert!(matches!(err, Error::AttachStopped));
}

mod restarts;
