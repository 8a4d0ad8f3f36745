//! Boots hull-init as the guest's PID 1 under QEMU TCG with the team's kernel, a busybox
//! erofs image (two layers, with a whiteout), an ext4 writable disk and a config disk.
//!
//! Needs: root (whiteout nodes and trusted.* xattrs in the layer), qemu-system-x86_64,
//! mkfs.erofs, mkfs.ext4, the kernel (`HULL_KERNEL`, or the standard build cached by
//! `kernel-config/build.sh`), and the static init (`HULL_INIT`, or built by scripts/build.sh
//! in target/guest). Skips with the reason
//! otherwise.

// Integration test files are test-only by construction.
#![allow(clippy::tests_outside_test_module)]

mod common;

use common::*;
use hull_guest_init::{build_initramfs, is_static_elf};
use hull_protocol::{ControlMessage, RunResult};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn kernel() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HULL_KERNEL") {
        return Some(PathBuf::from(path)).filter(|p| p.exists());
    }
    // Where build.sh caches the standard kernel (without building it: test.sh does that).
    let output = Command::new("bash")
        .arg(workspace().join("kernel-config/build.sh"))
        .arg("--print-dir")
        .output()
        .ok()?;
    let dir = String::from_utf8_lossy(&output.stdout);
    let vmlinux = Path::new(dir.lines().last()?.trim()).join("vmlinux");
    vmlinux.exists().then_some(vmlinux)
}

fn static_init() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("HULL_INIT").map(PathBuf::from),
        Some(workspace().join("target/guest/x86_64-unknown-linux-gnu/guest/hull-init")),
        Some(workspace().join("target/release/hull-init")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| std::fs::read(p).is_ok_and(|elf| is_static_elf(&elf)))
}

/// A guest image set: initramfs, kernel, layers, writable disk.
struct Guest {
    dir: tempfile::TempDir,
    kernel: PathBuf,
    layers: Vec<PathBuf>,
    writable: PathBuf,
}

/// One boot's outcome.
struct Boot {
    result: RunResult,
    stdout: String,
    stderr: String,
    wall: Duration,
}

impl Guest {
    fn new() -> Option<Self> {
        let reason = skip_reason(&["qemu-system-x86_64", "mkfs.erofs", "mkfs.ext4"]);
        let (kernel, init) = (kernel(), static_init());
        let reason = reason
            .or_else(|| {
                kernel
                    .is_none()
                    .then(|| "the standard kernel is not built (run kernel-config/build.sh)".into())
            })
            .or_else(|| {
                init.is_none()
                    .then(|| "no static hull-init (build it with scripts/build.sh)".into())
            });
        if let Some(reason) = reason {
            eprintln!("skipping: {reason}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("initramfs.cpio"),
            build_initramfs(&init.unwrap()).unwrap(),
        )
        .unwrap();
        let layers = make_image(dir.path());
        let writable = dir.path().join("rw.ext4");
        mkfs_ext4(&writable, 64);
        Some(Self {
            dir,
            kernel: kernel.unwrap(),
            layers,
            writable,
        })
    }

    fn boot(&self, spec: oci_spec::runtime::Spec) -> Boot {
        self.boot_with(spec, None)
    }

    /// Boots `spec`; with `steps`, hvc0 and hvc2 are unix sockets the steps drive.
    fn boot_with(&self, spec: oci_spec::runtime::Spec, steps: Option<Vec<Step>>) -> Boot {
        self.boot_with_nic(spec, steps, None)
    }

    /// Boots `spec`, with a virtio-net device of MAC `nic_mac` if given. The device has no
    /// backend (QEMU warns "no peer"): whatever the guest sends goes nowhere.
    fn boot_with_nic(
        &self,
        spec: oci_spec::runtime::Spec,
        steps: Option<Vec<Step>>,
        nic_mac: Option<&str>,
    ) -> Boot {
        let d = self.dir.path();
        let config = d.join("config.img");
        write_config(&config, &run_spec(spec, self.layers.len(), true));
        let (out, err, log) = (d.join("hvc0.out"), d.join("hvc1.out"), d.join("vm.log"));
        for f in [&out, &err, &log] {
            let _ = std::fs::remove_file(f);
        }
        let mut cmd = Command::new("qemu-system-x86_64");
        // acpi=off: QEMU 7.2 only appends the virtio_mmio.device= arguments to the kernel
        // command line when microvm has no ACPI tables (and hull's kernel has no ACPI).
        cmd.args([
            "-M",
            "microvm,acpi=off",
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-m",
            "256",
            "-nodefaults",
            "-no-user-config",
        ])
        .args(["-nographic", "-no-reboot", "-kernel"])
        .arg(&self.kernel)
        .arg("-initrd")
        .arg(d.join("initramfs.cpio"))
        .args([
            "-append",
            "console=ttyS0 reboot=t panic=-1 rdinit=/init quiet",
        ])
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=4"]);
        let mut add_disk = |id: &str, file: &Path, serial: &str, read_only: bool| {
            let ro = if read_only { ",readonly=on" } else { "" };
            cmd.arg("-drive")
                .arg(format!(
                    "id={id},file={},format=raw,if=none{ro}",
                    file.display()
                ))
                .arg("-device")
                .arg(format!("virtio-blk-device,drive={id},serial={serial}"));
        };
        add_disk("cfg", &config, "hull-config", false);
        for (i, layer) in self.layers.iter().enumerate() {
            add_disk(&format!("l{i}"), layer, &format!("hull-layer-{i}"), true);
        }
        add_disk("rw", &self.writable, "hull-rw", false);
        if let Some(mac) = nic_mac {
            cmd.arg("-device")
                .arg(format!("virtio-net-device,mac={mac}"));
        }
        let (stdio_sock, control_sock) = (d.join("hvc0.sock"), d.join("hvc2.sock"));
        let stdio_chardev = match steps {
            None => format!("file,id=c0,path={}", out.display()),
            Some(_) => format!(
                "socket,id=c0,path={},server=on,wait=off",
                stdio_sock.display()
            ),
        };
        cmd.args(["-device", "virtio-serial-device"])
            .arg("-chardev")
            .arg(stdio_chardev)
            .args(["-device", "virtconsole,chardev=c0,nr=0"])
            .arg("-chardev")
            .arg(format!("file,id=c1,path={}", err.display()))
            .args(["-device", "virtconsole,chardev=c1,nr=1"]);
        if steps.is_some() {
            cmd.arg("-chardev")
                .arg(format!(
                    "socket,id=c2,path={},server=on,wait=off",
                    control_sock.display()
                ))
                .args(["-device", "virtconsole,chardev=c2,nr=2"]);
        }
        let start = Instant::now();
        let mut qemu = Command::new("timeout")
            .arg("120")
            .arg(cmd.get_program())
            .args(cmd.get_args())
            .spawn()
            .unwrap();
        let driven = steps.map(|steps| drive(&stdio_sock, &control_sock, steps));
        let status = qemu.wait().unwrap();
        let wall = start.elapsed();
        if let Some(reader) = driven {
            std::fs::write(&out, reader.join().unwrap()).unwrap();
        }
        let vm_log = std::fs::read_to_string(&log).unwrap_or_default();
        // isa-debug-exit with value 0 makes QEMU exit with (0 << 1) | 1; a kernel without
        // CONFIG_X86_IOPL_IOPERM refuses ioperm(2), then the reboot=t triple fault ends QEMU
        // (-no-reboot) with 0.
        assert!(
            matches!(status.code(), Some(0 | 1)),
            "QEMU failed or timed out ({status}); vm.log:\n{vm_log}"
        );
        let result = RunResult::read_from(&mut std::fs::File::open(&config).unwrap())
            .unwrap_or_else(|e| panic!("no result ({e}); vm.log:\n{vm_log}"));
        Boot {
            result,
            stdout: std::fs::read_to_string(&out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err).unwrap_or_default(),
            wall,
        }
    }
}

/// One action on an interactive guest.
enum Step {
    /// Wait until hvc0 output contains the text.
    WaitFor(&'static str),
    /// Send bytes to hvc0.
    Stdin(&'static [u8]),
    /// Send a control message on hvc2.
    Control(ControlMessage),
    /// Let the guest settle.
    Sleep(u64),
}

fn connect(path: &Path) -> UnixStream {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match UnixStream::connect(path) {
            Ok(stream) => return stream,
            Err(e) if Instant::now() > deadline => panic!("connect {}: {e}", path.display()),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Runs `steps` against the guest's hvc0/hvc2 sockets; the returned thread yields
/// everything hvc0 printed once QEMU closed it.
fn drive(stdio: &Path, control: &Path, steps: Vec<Step>) -> std::thread::JoinHandle<Vec<u8>> {
    let mut stdio = connect(stdio);
    let mut control = connect(control);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut reader = stdio.try_clone().unwrap();
    let sink = Arc::clone(&seen);
    let handle = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
            }
        }
        let out = sink.lock().unwrap().clone();
        out
    });
    for step in steps {
        match step {
            Step::WaitFor(text) => {
                let deadline = Instant::now() + Duration::from_secs(60);
                while !String::from_utf8_lossy(&seen.lock().unwrap()).contains(text) {
                    assert!(Instant::now() < deadline, "guest never printed {text:?}");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            Step::Stdin(bytes) => stdio.write_all(bytes).unwrap(),
            Step::Control(message) => control.write_all(message.to_line().as_bytes()).unwrap(),
            Step::Sleep(ms) => std::thread::sleep(Duration::from_millis(ms)),
        }
    }
    handle
}

fn no_pid_ns() -> serde_json::Value {
    serde_json::json!({"linux": {"namespaces": [{"type": "mount"}, {"type": "uts"}, {"type": "ipc"}]}})
}

/// All the issue's QEMU assertions in one test, so the image is built once.
#[test]
fn guest_runs_containers_under_qemu() {
    let Some(guest) = Guest::new() else { return };

    let boot = guest.boot(shell_spec(
        "echo hello; test -e /etc/hidden.txt || echo whiteout-ok; echo to-stderr >&2; cat /sys/class/net/lo/flags >&2",
        serde_json::json!({"linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"}, {"type": "network"}, {"type": "cgroup"}],
                   "resources": {"memory": {"limit": 67108864}, "pids": {"limit": 32}}}}),
    ));
    assert_eq!(
        boot.result.exit_code, 0,
        "{:?} stderr={}",
        boot.result, boot.stderr
    );
    assert_eq!(boot.stdout, "hello\nwhiteout-ok\n");
    // 0x9 = IFF_UP | IFF_LOOPBACK: lo is up in the new network namespace.
    assert_eq!(boot.stderr, "to-stderr\n0x9\n");
    eprintln!(
        "echo hello: boot-to-exec {:?} ms (guest CLOCK_BOOTTIME), QEMU wall time {:?}",
        boot.result.boot_to_exec_ms, boot.wall
    );

    let limits = guest.boot(shell_spec(
        "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max",
        serde_json::json!({"linux": {"namespaces": [{"type": "mount"}, {"type": "cgroup"}],
                   "resources": {"memory": {"limit": 67108864}, "pids": {"limit": 32}}}}),
    ));
    assert_eq!(limits.result.exit_code, 0, "{:?}", limits.result);
    assert_eq!(
        limits.stdout, "67108864\n32\n",
        "limits seen in the container's cgroup"
    );

    let boot = guest.boot(shell_spec("exit 7", no_pid_ns()));
    assert_eq!(boot.result.exit_code, 7);

    // Without a pid namespace: a pid-namespace init ignores SIGKILL sent by itself.
    let boot = guest.boot(shell_spec("kill -9 $$", no_pid_ns()));
    assert_eq!((boot.result.exit_code, boot.result.signal), (137, Some(9)));

    let mut spec = shell_spec("", no_pid_ns());
    spec.process_mut()
        .as_mut()
        .unwrap()
        .set_args(Some(vec!["nosuchcmd".into()]));
    let boot = guest.boot(spec);
    assert_eq!(boot.result.exit_code, 127);
    let expected = "exec: \"nosuchcmd\": executable file not found in $PATH";
    assert_eq!(boot.result.error.as_deref(), Some(expected));
    assert!(
        boot.stderr.contains(expected),
        "the user sees the error on hvc1: {}",
        boot.stderr
    );

    let boot = guest.boot(shell_spec(
        "echo kept-across-boots > /root-file",
        no_pid_ns(),
    ));
    assert_eq!(boot.result.exit_code, 0);
    let boot = guest.boot(shell_spec("cat /root-file", no_pid_ns()));
    assert_eq!(
        (boot.result.exit_code, boot.stdout.as_str()),
        (0, "kept-across-boots\n")
    );
}

/// Issue 14, the guest half: hull-init finds the virtio-net device by the annotation's MAC,
/// names it eth0 with the address, netmask, MTU and default route, the container shares
/// the VM's network namespace (the spec's network namespace is dropped) and gets Docker's
/// /etc/hosts line and resolv.conf. The NIC has no backend: nothing leaves the VM (the
/// ping to the container's own address stays on the guest's loopback).
#[test]
fn guest_configures_the_containers_eth0() {
    let Some(guest) = Guest::new() else { return };
    let network = serde_json::json!({
        "mac": "02:42:ac:11:00:02", "address": "172.17.0.2", "prefix_len": 16,
        "gateway": "172.17.0.1", "mtu": 1400, "nameservers": ["172.17.0.1"],
    });
    let spec = shell_spec(
        "busybox ip -4 addr show eth0; busybox ip route; cat /etc/hosts /etc/resolv.conf; \
         busybox ping -c 1 -W 5 172.17.0.2 | busybox grep received; \
         busybox httpd -p 172.17.0.2:8080 -h /etc && busybox wget -qO- http://172.17.0.2:8080/hostname",
        serde_json::json!({
            "hostname": "c0ffee",
            "annotations": {"io.hull.network": network.to_string()},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "network"}]},
        }),
    );
    let boot = guest.boot_with_nic(spec, None, Some("02:42:ac:11:00:02"));
    assert_eq!(
        boot.result.exit_code, 0,
        "{:?} stdout={} stderr={}",
        boot.result, boot.stdout, boot.stderr
    );
    let out = &boot.stdout;
    for expected in [
        "mtu 1400",
        "inet 172.17.0.2/16 brd 172.17.255.255 scope global eth0",
        "default via 172.17.0.1 dev eth0",
        "172.17.0.0/16 dev eth0",
        "ff02::2\tip6-allrouters\n172.17.0.2\tc0ffee\nnameserver 172.17.0.1\n",
        "1 packets received",
        // TCP on the interface's address: busybox httpd serves /etc/hostname to wget.
        "received, 0% packet loss\nc0ffee\n",
    ] {
        assert!(out.contains(expected), "{expected:?} not in:\n{out}");
    }

    // A MAC the VM does not have: a setup error naming it and what the guest saw.
    let spec = shell_spec(
        "true",
        serde_json::json!({"annotations": {"io.hull.network": network.to_string()}}),
    );
    let boot = guest.boot_with_nic(spec, None, Some("02:42:ac:11:00:09"));
    assert_eq!(boot.result.exit_code, 125, "{:?}", boot.result);
    let error = boot.result.error.unwrap_or_default();
    assert!(
        error.contains("02:42:ac:11:00:02") && error.contains("eth0 (02:42:ac:11:00:09)"),
        "{error}"
    );
}

/// Control channel and stdin relay: data typed on hvc0 reaches the process, stdin_eof
/// closes its stdin, a forwarded SIGTERM reaches the (pid namespace init) shell's trap.
#[test]
fn guest_relays_stdin_and_control_messages() {
    let Some(guest) = Guest::new() else { return };
    let spec = shell_spec(
        "trap 'echo got-term; exit 3' TERM; echo ready; cat; echo cat-done; while true; do sleep 1; done",
        serde_json::json!({"linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}}),
    );
    let boot = guest.boot_with(
        spec,
        Some(vec![
            Step::WaitFor("ready"),
            Step::Stdin(b"line-from-host\n"),
            // Sent right behind the data: the byte count, not timing, orders them.
            Step::Control(ControlMessage::StdinEof { bytes: 15 }),
            Step::WaitFor("cat-done"),
            Step::Control(ControlMessage::Signal { signal: 15 }),
        ]),
    );
    assert_eq!(boot.stdout, "ready\nline-from-host\ncat-done\ngot-term\n");
    assert_eq!(boot.result.exit_code, 3, "{:?}", boot.result);
}

/// Terminal mode: hvc0 is the controlling tty with the spec's size; resize messages
/// change it.
#[test]
fn guest_gives_the_process_a_terminal() {
    let Some(guest) = Guest::new() else { return };
    let spec = shell_spec(
        "test -t 0 && test -t 1 && echo is-a-tty; stty size; echo ready; read line; echo got-$line; stty size",
        serde_json::json!({"process": {"terminal": true, "consoleSize": {"height": 24, "width": 80}}}),
    );
    let boot = guest.boot_with(
        spec,
        Some(vec![
            Step::WaitFor("ready"),
            Step::Control(ControlMessage::Resize {
                rows: 30,
                cols: 100,
            }),
            Step::Sleep(300),
            Step::Stdin(b"abc\r"),
        ]),
    );
    assert_eq!(boot.result.exit_code, 0, "{:?}", boot.result);
    // A tty in cooked mode: \r\n line ends, and the typed line is echoed.
    assert_eq!(
        boot.stdout,
        "is-a-tty\r\n24 80\r\nready\r\nabc\r\ngot-abc\r\n30 100\r\n",
    );
}

/// The memory limit is enforced and an OOM kill is reported like Docker.
#[test]
fn guest_reports_oom_kills() {
    let Some(guest) = Guest::new() else { return };
    let boot = guest.boot(shell_spec(
        "dd if=/dev/zero of=/dev/null bs=64M count=1",
        serde_json::json!({"linux": {"namespaces": [{"type": "mount"}],
                   "resources": {"memory": {"limit": 16777216}}}}),
    ));
    assert!(boot.result.oom_killed, "{:?} {}", boot.result, boot.stderr);
    assert_eq!(boot.result.exit_code, 137);
}
