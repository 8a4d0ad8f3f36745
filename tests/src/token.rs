//! A token server for Docker's registry token auth (the `WWW-Authenticate: Bearer
//! realm=...,service=...,scope=...` flow): on `GET /token?service=..&scope=..` with the right
//! basic credentials it answers a JWT (ES256, its certificate in the `x5c` header) granting
//! the scopes asked; Debian's docker-registry, configured with `auth: token:` and this
//! server's certificate as root, accepts it. Without or with wrong credentials: 401. Keys
//! and certificate come from the `openssl` command; it listens on 127.0.0.1 only.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// The registry's service name (the token's audience).
pub const SERVICE: &str = "hull-test-registry";
/// The token issuer the registry trusts.
pub const ISSUER: &str = "hull-test-issuer";

/// A running token server; stops when dropped.
pub struct TokenServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The certificate the registry trusts (PEM).
    pub cert: PathBuf,
    /// Tokens issued so far.
    pub issued: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl TokenServer {
    /// A server in `dir` that grants tokens to `user` (name, password); None (after
    /// printing why `test` is skipped) without openssl.
    pub fn start(test: &str, dir: &Path, user: (&str, &str)) -> Option<TokenServer> {
        if crate::which("openssl").is_none() {
            eprintln!("SKIPPED {test}: no openssl (scripts/install-deps.sh installs it)");
            return None;
        }
        let (key, cert) = (dir.join("token.key"), dir.join("token.pem"));
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=hull-test-token"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        assert!(made.success(), "openssl could not make the token key");
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .ok()?
            .stdout;
        let listener = TcpListener::bind("127.0.0.1:0").ok()?;
        let port = listener.local_addr().ok()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let issued = Arc::new(AtomicUsize::new(0));
        let granter = Granter {
            key,
            x5c: STANDARD.encode(der),
            basic: format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", user.0, user.1))
            ),
            issued: Arc::clone(&issued),
        };
        let stopping = Arc::clone(&stop);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    granter.answer(stream);
                }
            }
        });
        Some(TokenServer {
            port,
            cert,
            issued,
            stop,
        })
    }

    /// The realm the registry sends clients to.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }
}

struct Granter {
    key: PathBuf,
    x5c: String,
    basic: String,
    issued: Arc<AtomicUsize>,
}

impl Granter {
    fn answer(&self, stream: TcpStream) {
        let mut reader = BufReader::new(&stream);
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            return;
        }
        let mut authorized = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("authorization") && value.trim() == self.basic {
                    authorized = true;
                }
            }
        }
        let target = request_line.split_whitespace().nth(1).unwrap_or("");
        let query = target.split_once('?').map_or("", |(_, q)| q);
        let (status, body) = if authorized {
            self.issued.fetch_add(1, Ordering::SeqCst);
            let token = self.token(&scopes(query));
            (
                "200 OK",
                format!(r#"{{"token":"{token}","access_token":"{token}","expires_in":300}}"#),
            )
        } else {
            (
                "401 Unauthorized",
                r#"{"details":"incorrect username or password"}"#.to_string(),
            )
        };
        let mut stream = &stream;
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    /// A JWT granting `scopes` (`(type, name, actions)`), signed with the key.
    fn token(&self, scopes: &[(String, String, Vec<String>)]) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .map(|(kind, name, actions)| {
                serde_json::json!({"type": kind, "name": name, "actions": actions})
            })
            .collect();
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]});
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": "alice", "aud": SERVICE, "exp": now + 300,
            "nbf": now - 10, "iat": now - 10, "jti": format!("hull-{now}-{}", access.len()),
            "access": access,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut openssl = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("openssl");
        openssl
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("openssl reads the input");
        let der = openssl.wait_with_output().expect("openssl signs").stdout;
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(raw_signature(&der)))
    }
}

/// The `scope=` parameters of a token request (`repository:NAME:pull,push`).
fn scopes(query: &str) -> Vec<(String, String, Vec<String>)> {
    query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("scope="))
        .flat_map(|value| {
            let decoded = percent_decode(value);
            decoded
                .split(' ')
                .filter_map(|scope| {
                    let (kind, rest) = scope.split_once(':')?;
                    let (name, actions) = rest.rsplit_once(':')?;
                    Some((
                        kind.to_string(),
                        name.to_string(),
                        actions.split(',').map(str::to_string).collect(),
                    ))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => out.push(byte),
                    Err(_) => out.extend_from_slice(&bytes[index..index + 3]),
                }
                index += 3;
            }
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An ECDSA signature as JWS wants it (r || s, 32 bytes each) from openssl's DER
/// `SEQUENCE { INTEGER r, INTEGER s }`.
fn raw_signature(der: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(64);
    // SEQUENCE tag and length (short form: a P-256 signature is under 128 bytes).
    let mut at = 2;
    for _ in 0..2 {
        assert_eq!(der[at], 0x02, "an INTEGER in {der:02x?}");
        let len = usize::from(der[at + 1]);
        let value = &der[at + 2..at + 2 + len];
        let value = &value[value.len().saturating_sub(32)..];
        raw.extend(std::iter::repeat_n(0u8, 32 - value.len()));
        raw.extend_from_slice(value);
        at += 2 + len;
    }
    raw
}
