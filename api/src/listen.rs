//! Where the service listens (`--host`, dockerd's syntax): a unix socket (the default;
//! mode 0660, group `hull` when it exists: whoever can write to it is root-equivalent) or
//! TCP. Plain TCP is allowed on loopback addresses only: anywhere else the API would hand
//! root to the network, so it needs TLS with client certificates ([`crate::tls`]).

use crate::tls::TlsFiles;
use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The default socket.
pub const DEFAULT_HOST: &str = "unix:///run/hull/hull.sock";

/// A parsed `--host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `unix:///path`.
    Unix(PathBuf),
    /// `tcp://address:port`.
    Tcp(SocketAddr),
}

impl std::str::FromStr for Endpoint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(format!(
                    "{text}: a unix socket needs an absolute path (unix:///run/hull/hull.sock)"
                ));
            }
            return Ok(Endpoint::Unix(path.into()));
        }
        if let Some(address) = text.strip_prefix("tcp://") {
            let address = address.trim_end_matches('/');
            return address
                .parse()
                .map(Endpoint::Tcp)
                .map_err(|_| format!("{text}: give an address and port (tcp://127.0.0.1:2375)"));
        }
        Err(format!(
            "{text}: use unix:///PATH or tcp://ADDRESS:PORT (as dockerd's --host)"
        ))
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp(address) => write!(f, "tcp://{address}"),
        }
    }
}

/// A bound listener.
pub enum Listener {
    /// The unix socket, removed when the service ends.
    Unix(tokio::net::UnixListener, PathBuf),
    /// TCP.
    Tcp(tokio::net::TcpListener),
    /// TCP, every connection TLS with a verified client certificate.
    Tls(tokio::net::TcpListener, tokio_rustls::TlsAcceptor),
}

impl Endpoint {
    /// Refuses plain TCP off loopback, and TLS on a unix socket.
    pub fn check(&self, tls: Option<&TlsFiles>) -> Result<()> {
        match self {
            Endpoint::Tcp(address) if !address.ip().is_loopback() && tls.is_none() => bail!(
                "refusing to serve the API without TLS on {address}: anyone who reaches it gets root on this host. \
                 Listen on 127.0.0.1 (tcp://127.0.0.1:2375) or a unix socket, or give --tlsverify --tlscacert --tlscert --tlskey"
            ),
            Endpoint::Unix(_) if tls.is_some() => {
                bail!("TLS is for tcp:// endpoints; a unix socket is guarded by its file mode")
            }
            _ => Ok(()),
        }
    }

    /// Binds it (must be called inside the tokio runtime).
    pub fn bind(&self, tls: Option<&TlsFiles>) -> Result<Listener> {
        self.check(tls)?;
        match self {
            Endpoint::Unix(path) => {
                prepare_socket_path(path)?;
                let listener = tokio::net::UnixListener::bind(path)
                    .with_context(|| format!("cannot listen on {}", path.display()))?;
                restrict_socket(path)?;
                Ok(Listener::Unix(listener, path.clone()))
            }
            Endpoint::Tcp(address) => {
                let listener = std::net::TcpListener::bind(address)
                    .with_context(|| format!("cannot listen on {address}"))?;
                listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
                Ok(match tls {
                    Some(files) => Listener::Tls(listener, crate::tls::acceptor(files)?),
                    None => Listener::Tcp(listener),
                })
            }
        }
    }
}

/// Makes the socket's directory; a socket left by a service that is gone is replaced,
/// one that still answers is not.
fn prepare_socket_path(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                bail!(
                    "another service already listens on {}: stop it, or give another --host",
                    path.display()
                );
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => bail!(
            "{} exists and is not a socket: remove it or give another --host",
            path.display()
        ),
        Err(_) => {}
    }
    Ok(())
}

/// 0660, group `hull` when the host has one (root's group otherwise).
fn restrict_socket(path: &Path) -> Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Ok(Some(group)) = nix::unistd::Group::from_name("hull") {
        nix::unistd::chown(path, None, Some(group.gid))
            .with_context(|| format!("cannot give {} to group hull", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_as_dockerds() {
        assert_eq!(
            "unix:///run/hull/hull.sock".parse(),
            Ok(Endpoint::Unix("/run/hull/hull.sock".into()))
        );
        assert_eq!(
            "tcp://127.0.0.1:2375".parse(),
            Ok(Endpoint::Tcp("127.0.0.1:2375".parse().unwrap()))
        );
        assert!("unix://relative".parse::<Endpoint>().is_err());
        assert!("http://x".parse::<Endpoint>().is_err());
    }

    #[test]
    fn plain_tcp_is_refused_off_loopback() {
        let open: Endpoint = "tcp://0.0.0.0:2375".parse().unwrap();
        assert!(open.check(None).unwrap_err().to_string().contains("root"));
        let files = TlsFiles {
            ca: "ca.pem".into(),
            cert: "cert.pem".into(),
            key: "key.pem".into(),
        };
        assert!(open.check(Some(&files)).is_ok());
        let local: Endpoint = "tcp://127.0.0.1:2375".parse().unwrap();
        assert!(local.check(None).is_ok());
        let unix: Endpoint = "unix:///run/x.sock".parse().unwrap();
        assert!(unix.check(Some(&files)).is_err());
    }
}
