//! Registries for the pull/push tests: Debian's `docker-registry` (distribution 2.8) on
//! 127.0.0.1 at a free port with its storage in a temporary directory, optionally behind
//! htpasswd basic auth; and a proxy in front of it that can cut or corrupt what it relays
//! (a registry that dies mid-blob, a man in the middle).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::which;

/// How a test registry authenticates its clients.
pub enum Auth<'a> {
    /// Anyone may pull and push.
    None,
    /// htpasswd basic auth for one user (name, password).
    Basic(&'a str, &'a str),
    /// Docker's token auth: clients get a bearer token from this server.
    Token(&'a crate::token::TokenServer),
}

/// A running `docker-registry`, killed on drop.
pub struct Registry {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Config, storage and log.
    pub dir: tempfile::TempDir,
}

/// A free port on 127.0.0.1 (the listener is closed again; the race is harmless here).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Registry {
    /// A registry, with htpasswd basic auth for `user` when given; None (after printing why
    /// `test` is skipped) when Debian's docker-registry or htpasswd is not installed.
    pub fn start(test: &str, user: Option<(&str, &str)>) -> Option<Registry> {
        let auth = match user {
            Some((name, password)) => Auth::Basic(name, password),
            None => Auth::None,
        };
        Self::start_with(test, &auth)
    }

    /// A registry with `auth`; None (after printing why) when a tool is missing.
    pub fn start_with(test: &str, auth: &Auth<'_>) -> Option<Registry> {
        let Some(binary) = which("docker-registry") else {
            eprintln!(
                "SKIPPED {test}: no docker-registry (scripts/install-deps.sh installs Debian's)"
            );
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("hull-registry-")
            .tempdir()
            .ok()?;
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
             delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Auth::Token(token) = auth {
            config.push_str(&format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    \
                 rootcertbundle: {}\n",
                token.realm(),
                crate::token::SERVICE,
                crate::token::ISSUER,
                token.cert.display()
            ));
        }
        if let Auth::Basic(name, password) = *auth {
            if which("htpasswd").is_none() {
                eprintln!(
                    "SKIPPED {test}: no htpasswd (scripts/install-deps.sh installs apache2-utils)"
                );
                return None;
            }
            let out = Command::new("htpasswd")
                .args(["-Bbn", name, password])
                .output()
                .ok()?;
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).ok()?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: hull-test\n    path: {}\n",
                file.display()
            ));
        }
        let config_file = dir.path().join("config.yml");
        std::fs::write(&config_file, config).ok()?;
        let log = std::fs::File::create(dir.path().join("log")).ok()?;
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config_file)
            .stdout(log.try_clone().ok()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .ok()?;
        let registry = Registry { child, port, dir };
        let up = crate::wait_until(Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "docker-registry did not listen: {}", registry.log());
        Some(registry)
    }

    /// `127.0.0.1:PORT`, the registry part of image names.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// The file the registry serves blob `digest` from (its filesystem driver's layout).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a [`Proxy`] does to the responses it relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// Relays faithfully.
    Nothing,
    /// The first blob response breaks off after this many body bytes (the connection
    /// closes), as when a registry dies mid-transfer; later ones pass.
    CutFirstBlobAfter(usize),
    /// Every blob body gets one byte flipped (headers, digests included, untouched).
    FlipBlobByte,
    /// Every manifest request is answered with a well-formed 5 MiB manifest.
    HugeManifest,
}

/// A one-request-per-connection HTTP proxy to a registry on 127.0.0.1.
pub struct Proxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The request lines it relayed, with a `Range:` header when there was one.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    /// A proxy to `upstream` doing `tamper`.
    pub fn start(upstream: u16, tamper: Tamper) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy binds");
        let port = listener.local_addr().expect("proxy address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let cut_done = Arc::new(AtomicBool::new(false));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let seen = Arc::clone(&seen);
                let cut_done = Arc::clone(&cut_done);
                std::thread::spawn(move || {
                    let _ = relay(client, upstream, tamper, &seen, &cut_done);
                });
            }
        });
        Proxy { port, requests }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn relay(
    mut client: TcpStream,
    upstream: u16,
    tamper: Tamper,
    seen: &Mutex<Vec<String>>,
    cut_done: &AtomicBool,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let head = read_head(&mut client)?;
    let text = String::from_utf8_lossy(&head).into_owned();
    let request_line = text.lines().next().unwrap_or_default().to_string();
    let range = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("range:"))
        .map(|l| format!(" [{}]", l.trim()))
        .unwrap_or_default();
    seen.lock().unwrap().push(format!("{request_line}{range}"));
    let is_blob_get = request_line.starts_with("GET ") && request_line.contains("/blobs/");
    let is_manifest = request_line.contains("/manifests/");
    if tamper == Tamper::HugeManifest && is_manifest {
        let body = huge_manifest();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        client.write_all(head.as_bytes())?;
        return client.write_all(&body);
    }
    // One request per connection: tell both sides.
    let mut forwarded: Vec<String> = text
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .map(str::to_string)
        .collect();
    forwarded.push("Connection: close".into());
    let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
    server.write_all(format!("{}\r\n\r\n", forwarded.join("\r\n")).as_bytes())?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    let body_start = find_head_end(&response).unwrap_or(response.len());
    match tamper {
        Tamper::CutFirstBlobAfter(bytes)
            if is_blob_get
                && response.len() - body_start > bytes
                && !cut_done.swap(true, Ordering::SeqCst) =>
        {
            let end = (body_start + bytes).min(response.len());
            client.write_all(&response[..end])?;
            return client.shutdown(std::net::Shutdown::Both);
        }
        Tamper::FlipBlobByte if is_blob_get && response.len() > body_start => {
            let middle = body_start + (response.len() - body_start) / 2;
            response[middle] ^= 0x55;
        }
        _ => {}
    }
    client.write_all(&response)
}

fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while find_head_end(&head).is_none() {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let end = find_head_end(&head).unwrap_or(head.len());
    head.truncate(end.saturating_sub(4));
    Ok(head)
}

/// The offset just past `\r\n\r\n`.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// A syntactically valid OCI manifest padded past 5 MiB with an annotation.
fn huge_manifest() -> Vec<u8> {
    let padding = "x".repeat(5 << 20);
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{zero}","size":2}},"layers":[],"annotations":{{"pad":"{padding}"}}}}"#,
        zero = "0".repeat(64)
    )
    .into_bytes()
}

/// PUTs `body` as `path` on the registry at `port` with `content_type`; the status code.
pub fn put(port: u16, path: &str, content_type: &str, body: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("registry connects");
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("request written");
    stream.write_all(body).expect("body written");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}
