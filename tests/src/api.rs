//! `hull system service` for a test: started on a socket in the test's own store, its
//! `DOCKER_HOST`, the Docker clients that talk to it (skipped with the reason when one is
//! not installed), and a raw HTTP client for requests no well-behaved client sends.

use crate::{which, Hull};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A running service, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Service {
    child: Child,
    /// Its socket.
    pub socket: PathBuf,
}

impl Service {
    /// Starts the service of `hull`'s store on `<root>/api.sock` and waits until it answers.
    pub fn start(hull: &Hull) -> Service {
        let socket = hull.root.path().join("api.sock");
        let host = format!("unix://{}", socket.display());
        let log = std::fs::File::create(hull.root.path().join("service.log")).unwrap();
        let child = hull
            .cmd(&["system", "service", "--host", &host])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("hull system service starts");
        let service = Service { child, socket };
        let answered = crate::wait_until(Duration::from_secs(20), || {
            service
                .request("GET", "/_ping", b"")
                .is_ok_and(|r| r.status == 200)
        });
        assert!(
            answered,
            "the service did not answer /_ping: {}",
            service.log(hull)
        );
        service
    }

    /// The service's own output.
    pub fn log(&self, hull: &Hull) -> String {
        std::fs::read_to_string(hull.root.path().join("service.log")).unwrap_or_default()
    }

    /// `DOCKER_HOST` for clients.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The pid of the service process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One request on a connection of its own (`Connection: close`), whatever its bytes.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> std::io::Result<Response> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: hull\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let mut raw = head.into_bytes();
        raw.extend_from_slice(body);
        self.raw(&raw)
    }

    /// Sends `bytes` as they are and reads the answer until the service closes.
    pub fn raw(&self, bytes: &[u8]) -> std::io::Result<Response> {
        let mut stream = UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        // A service that refuses early (413 on a huge body) closes before it read all of
        // it: the write fails, its answer is still there to read.
        let written = stream.write_all(bytes);
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer);
        if answer.is_empty() {
            written?;
            read?;
        }
        Response::parse(&answer)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) on the pid of our own child, which we have not reaped yet.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let stopped = crate::wait_until(Duration::from_secs(5), || {
            self.child.try_wait().ok().flatten().is_some()
        });
        if !stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    /// Its status code.
    pub status: u16,
    /// Its head, as text.
    pub head: String,
    /// Its body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    fn parse(bytes: &[u8]) -> std::io::Result<Self> {
        let invalid =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| invalid("no end of head"))?;
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("no status"))?;
        let mut body = bytes[end + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body);
        }
        Ok(Self { status, head, body })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (Null when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = bytes.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&bytes[..line_end]).trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        let stop = (start + size).min(bytes.len());
        out.extend_from_slice(&bytes[start..stop]);
        bytes = &bytes[(stop + 2).min(bytes.len())..];
    }
    out
}

/// Docker's `docker` client: `HULL_TEST_DOCKER`, else `docker` on PATH; None (after
/// printing why `test` is skipped) when there is none.
pub fn docker_client(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("HULL_TEST_DOCKER")
        .map(PathBuf::from)
        .or_else(|| which("docker"));
    if found.is_none() {
        eprintln!(
            "SKIPPED {test}: no docker client (scripts/install-deps.sh installs Debian's docker.io client)"
        );
    }
    found
}

/// A `docker ARGS` command against `service`, with no configuration of the user's.
pub fn docker(client: &Path, service: &Service, config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(client);
    command
        .args(args)
        .env("DOCKER_HOST", service.docker_host())
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .stdin(Stdio::null());
    command
}

/// Runs `docker ARGS` to completion within [`crate::COMMAND_TIMEOUT`].
pub fn run_docker(client: &Path, service: &Service, config: &Path, args: &[&str]) -> Output {
    let child = docker(client, service, config, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker starts");
    crate::finish(child, args)
}
