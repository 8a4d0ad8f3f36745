//! Shared helpers of the end-to-end tests: find the real `hull` binary and the guest
//! artifacts, give each test its own store, and skip (with the reason printed) when
//! something a VM needs is missing on this machine.
//!
//! Run: `cargo build -p hull-cli && cargo test -p hull-tests` (same CARGO_TARGET_DIR).
//! Environment:
//! * `HULL_BIN`: the hull binary (default: `hull` in the target dir these tests run from).
//! * `HULL_KERNEL`: the guest vmlinux (default: hull's own lookup in `$HULL_CACHE/kernel/`;
//!   the tests skip when no kernel was ever built, rather than start a minutes-long build).
//! * `HULL_INIT`: the static hull-init (default: the source tree's `target/guest/...`).
//! * `HULL_CACHE`: passed through (kernels and the initramfs are cached there; overriding it
//!   for the tests would make hull rebuild the kernel).

pub mod api;
pub mod compat;
pub mod registry;
pub mod token;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A `hull` to drive, with its own `HULL_ROOT`.
pub struct Hull {
    /// The binary.
    pub bin: PathBuf,
    /// This test's store (removed on drop).
    pub root: tempfile::TempDir,
    kernel: Option<PathBuf>,
    init: PathBuf,
}

/// The workspace root (this crate is `<workspace>/tests`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The hull binary: HULL_BIN, else `hull` in the target profile dir of this test binary.
pub fn hull_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("HULL_BIN") {
        return Some(bin.into());
    }
    // The test runs as target/<profile>/deps/<name>-<hash>.
    let exe = std::env::current_exe().ok()?;
    let candidate = exe.parent()?.parent()?.join("hull");
    candidate.is_file().then_some(candidate)
}

/// The guest kernel the tests boot: HULL_KERNEL, else None and hull finds (or builds) the
/// cached one itself. [`skip_reason`] skips when no kernel was ever built here.
pub fn kernel() -> Option<PathBuf> {
    std::env::var_os("HULL_KERNEL").map(PathBuf::from)
}

/// True when some standard kernel build exists in the cache (tests never start the
/// minutes-long first build).
fn kernel_cached() -> bool {
    let cache = std::env::var_os("HULL_CACHE")
        .map_or_else(|| PathBuf::from("/var/cache/hull"), PathBuf::from);
    std::fs::read_dir(cache.join("kernel")).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with("standard-")
                && e.path().join("vmlinux").is_file()
        })
    })
}

/// The static guest init.
pub fn init() -> Option<PathBuf> {
    if let Some(init) = std::env::var_os("HULL_INIT") {
        return Some(init.into());
    }
    let built = workspace().join("target/guest/x86_64-unknown-linux-gnu/guest/hull-init");
    built.is_file().then_some(built)
}

/// Why VM tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    if hull_binary().is_none() {
        return Some("no hull binary: run `cargo build -p hull-cli` first or set HULL_BIN".into());
    }
    if which("qemu-system-x86_64").is_none() {
        return Some(
            "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)".into(),
        );
    }
    match kernel() {
        Some(kernel) if !kernel.is_file() => {
            return Some(format!("HULL_KERNEL={} does not exist", kernel.display()));
        }
        None if !kernel_cached() => {
            return Some(
                "no guest kernel: build one (kernel-config/build.sh) or set HULL_KERNEL".into(),
            );
        }
        _ => {}
    }
    if init().is_none_or(|i| !i.is_file()) {
        return Some("no hull-init: build it (see docs/ARCHITECTURE.md) or set HULL_INIT".into());
    }
    None
}

/// A [`Hull`] for a VM test, or None after printing why the test is skipped.
pub fn setup(test: &str) -> Option<Hull> {
    if let Some(reason) = skip_reason() {
        eprintln!("SKIPPED {test}: {reason}");
        return None;
    }
    Some(Hull {
        bin: hull_binary()?,
        root: tempfile::Builder::new()
            .prefix("hull-e2e-")
            .tempdir()
            .ok()?,
        kernel: kernel(),
        init: init()?,
    })
}

/// `name` on $PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

impl Hull {
    /// A `hull ARGS` command with this test's environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .env("HULL_ROOT", self.root.path())
            .env("HULL_INIT", &self.init)
            .env("HULL_VMM", "qemu")
            // A network's daemon outlives its last container only briefly in tests, and its
            // DNS resolver never forwards a query off this host (test traffic stays local).
            .env("HULL_NETWORK_IDLE_TIMEOUT", "3")
            .env("HULL_NETWORK_DNS_UPSTREAM", "none")
            // No outbound (pasta) unless a test asks: container traffic stays in hull's
            // namespaces.
            .env("HULL_NETWORK_PASTA", "none")
            // Registry credentials stay in the test's store, never the user's own files.
            .env("HULL_CONFIG", self.root.path().join("config"))
            .env("DOCKER_CONFIG", self.root.path().join("docker-config"))
            .stdin(Stdio::null());
        offline_registries(&mut command);
        if let Some(kernel) = &self.kernel {
            command.env("HULL_KERNEL", kernel);
        }
        command
    }

    /// Runs `hull ARGS` to completion; panics (after killing it) if it takes more than
    /// [`COMMAND_TIMEOUT`], so a hung VM fails the test instead of hanging the suite.
    pub fn run(&self, args: &[&str]) -> Output {
        let child = self
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hull starts");
        finish(child, args)
    }

    /// Runs `hull ARGS`, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "hull {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The environment as `env` arguments for a shell command line (tmux tests).
    pub fn env_prefix(&self) -> String {
        let kernel = self
            .kernel
            .as_ref()
            .map(|k| format!("HULL_KERNEL={} ", k.display()))
            .unwrap_or_default();
        format!(
            "env HULL_ROOT={} {kernel}HULL_INIT={} HULL_VMM=qemu HULL_NETWORK_IDLE_TIMEOUT=3 \
             HULL_NETWORK_DNS_UPSTREAM=none HULL_NETWORK_PASTA=none {}",
            self.root.path().display(),
            self.init.display(),
            self.bin.display()
        )
    }

    /// `hull inspect -f TEMPLATE NAME`, trimmed.
    pub fn inspect(&self, name: &str, template: &str) -> String {
        self.ok(&["inspect", "-f", template, name])
            .trim()
            .to_string()
    }

    /// Container `name`'s COM1 log (kernel and hull-init diagnostics): its path and text
    /// (empty if unreadable).
    pub fn vm_log(&self, name: &str) -> (PathBuf, String) {
        let id = self.inspect(name, "{{.Id}}");
        let log = self.root.path().join("containers").join(id).join("vm.log");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        (log, text)
    }

    /// `hull ARGS` on hull-vmm with the compatibility kernel (the harness's HULL_KERNEL is
    /// the standard one): HULL_COMPAT_KERNEL if set, else hull's own pick for the engine.
    pub fn hull_vmm_cmd(&self, args: &[&str]) -> Command {
        let mut command = self.cmd(args);
        command.env_remove("HULL_KERNEL").env_remove("HULL_VMM");
        if let Some(kernel) = std::env::var_os("HULL_COMPAT_KERNEL") {
            command.env("HULL_KERNEL", kernel);
        }
        command
    }
}

impl Drop for Hull {
    /// Detached containers a test leaves behind (on purpose, or because it failed half-way)
    /// would outlive it: their supervisor and VMM keep running after the store is deleted.
    /// `rm -f` them all first.
    fn drop(&mut self) {
        let Ok(listing) = self.cmd(&["ps", "-aq"]).output() else {
            return;
        };
        let ids = String::from_utf8_lossy(&listing.stdout).into_owned();
        let mut args = vec!["rm", "-f"];
        args.extend(ids.split_whitespace());
        if args.len() > 2 {
            let _ = self.cmd(&args).output();
        }
    }
}

/// Keeps `command`'s registry traffic on this host: HTTPS (Docker Hub, any registry not on
/// loopback) goes to a proxy address where nothing listens, so `hull run ubuntu` fails at
/// once instead of reaching the Internet; the tests' own registries on 127.0.0.1 (plain
/// HTTP) are reached directly, whatever proxy the machine has configured.
pub fn offline_registries(command: &mut Command) {
    for key in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        command.env(key, "http://127.0.0.1:9");
    }
    for key in ["HTTP_PROXY", "http_proxy"] {
        command.env_remove(key);
    }
    for key in ["NO_PROXY", "no_proxy"] {
        command.env(key, "127.0.0.1,localhost,::1");
    }
}

/// Runs `command` with `input` on its stdin (within [`COMMAND_TIMEOUT`]); its output.
pub fn with_input(command: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input)
        .expect("input written");
    finish(child, &["with input"])
}

/// Polls `check` every 50 ms until it is true or `timeout` passes; returns the last result.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// stdout of `out` as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr of `out` as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// How long one hull command may take in the tests.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

/// Waits for `child` with [`COMMAND_TIMEOUT`], collecting its output.
pub fn finish(mut child: std::process::Child, what: &[&str]) -> Output {
    use std::io::Read;
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(pipe) = out_pipe.as_mut() {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(pipe) = err_pipe.as_mut() {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    });
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait works") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hull {what:?} did not finish within {COMMAND_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// A detached tmux session running `command` in a `cols` x `rows` terminal: how the tests
/// play a person at a real terminal (`-it`, `attach`). Killed on drop, so a failing
/// assertion leaves no session behind.
pub struct Terminal {
    session: String,
}

impl Terminal {
    /// Starts `command` (a shell line); `None`, after printing why `test` is skipped, when
    /// tmux is not installed.
    pub fn start(test: &str, command: &str, cols: u16, rows: u16) -> Option<Self> {
        if which("tmux").is_none() {
            eprintln!("SKIPPED {test}: tmux is not installed (apt-get install tmux)");
            return None;
        }
        let terminal = Self {
            session: format!("hull-{test}-{}", std::process::id()),
        };
        let (cols, rows) = (cols.to_string(), rows.to_string());
        terminal.tmux(&[
            "new-session",
            "-d",
            "-s",
            &terminal.session,
            "-x",
            &cols,
            "-y",
            &rows,
            command,
        ]);
        // Keep the size we set, whatever clients attach.
        terminal.tmux(&[
            "set-option",
            "-t",
            &terminal.session,
            "window-size",
            "manual",
        ]);
        Some(terminal)
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").args(args).output().expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What the terminal shows now.
    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-t", &self.session, "-p"])
    }

    /// Types `keys` (tmux key names: "Enter", "C-c", or text).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.session.as_str()];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Resizes the terminal, as a person dragging the window would.
    pub fn resize(&self, cols: u16, rows: u16) {
        let (cols, rows) = (cols.to_string(), rows.to_string());
        self.tmux(&[
            "resize-window",
            "-t",
            &self.session,
            "-x",
            &cols,
            "-y",
            &rows,
        ]);
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.tmux(&["kill-session", "-t", &self.session]);
    }
}

/// `GET /` on 127.0.0.1:`port` from the host, HTTP/1.0; the whole response (None when the
/// connection is refused or fails).
pub fn http_get(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .ok()?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// What a container prints for [`fresh_machine`]: 16 random bytes, its clock, its hostname.
pub const FRESH_MACHINE_PROBE: &str = "head -c 16 /dev/urandom | od -An -tx1; date +%s; hostname";

/// Seconds since the epoch on this host.
pub fn epoch_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Checks the output of [`FRESH_MACHINE_PROBE`] run between the host times `before` and
/// `after` (the guest's clock within a second of them); returns its random bytes and
/// hostname, which must differ between any two VMs.
pub fn fresh_machine(out: &str, before: u64, after: u64) -> (String, String) {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let guest_time: u64 = lines[1].trim().parse().unwrap();
    assert!(
        (before.saturating_sub(1)..=after + 1).contains(&guest_time),
        "guest clock {guest_time}, host {before}..{after}"
    );
    (lines[0].to_string(), lines[2].to_string())
}
