//! `hull system service`: podman's verb, the Docker Engine API served by `hull-api`.

use crate::args::Globals;
use anyhow::Result;

/// `hull system service` flags.
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// Where to listen: unix:///PATH or tcp://127.0.0.1:PORT. Whoever can reach it is
    /// root on this host.
    #[arg(short = 'H', long, default_value = hull_api::listen::DEFAULT_HOST)]
    pub host: hull_api::listen::Endpoint,
    /// End after this many seconds without a client (0: never).
    #[arg(short, long, default_value_t = 0)]
    pub time: u64,
    /// Use TLS and verify the client's certificate (needed off loopback).
    #[arg(long, requires_all = ["tlscacert", "tlscert", "tlskey"])]
    pub tlsverify: bool,
    /// Trust client certificates signed only by this CA.
    #[arg(long, value_name = "FILE", requires = "tlsverify")]
    pub tlscacert: Option<std::path::PathBuf>,
    /// Path to the service's TLS certificate file.
    #[arg(long, value_name = "FILE", requires = "tlsverify")]
    pub tlscert: Option<std::path::PathBuf>,
    /// Path to the service's TLS key file.
    #[arg(long, value_name = "FILE", requires = "tlsverify")]
    pub tlskey: Option<std::path::PathBuf>,
}

/// `hull system service`: serves until interrupted (or idle for `--time`).
pub(super) fn service(args: ServiceArgs, globals: &Globals) -> Result<i32> {
    let options = hull_api::ServiceOptions {
        endpoint: args.host,
        idle_timeout: (args.time > 0).then(|| std::time::Duration::from_secs(args.time)),
        engine: globals.vmm,
        network_daemon: super::super::network_daemon(globals)?,
        tls: match (args.tlscacert, args.tlscert, args.tlskey) {
            (Some(ca), Some(cert), Some(key)) if args.tlsverify => {
                Some(hull_api::tls::TlsFiles { ca, cert, key })
            }
            _ => None,
        },
    };
    hull_api::serve(super::super::containers(globals)?, options)?;
    Ok(0)
}
