//! hull's Docker Engine API endpoint (`hull system service`): existing Docker clients (the
//! docker CLI, docker-py, docker-compose) drive hull through `DOCKER_HOST`, every
//! container still in its own VM. The handlers only parse, call the engine library (the
//! same calls the CLI makes) and answer in Docker's shapes; nothing shells out to `hull`.
//!
//! - [`listen`]: `--host` endpoints (a unix socket by default, TCP on loopback, TCP with
//!   [`tls`] client certificates anywhere).
//! - [`serve`]: the accept loop (hyper, HTTP/1.1 with upgrades for attach and exec).
//! - `containers`, `exec`, `images`, `networks`, `system`: the routes.

mod build;
mod channel_io;
mod containers;
mod error;
mod exec;
mod hijack;
mod images;
pub mod listen;
mod networks;
mod query;
mod registry;
mod serve;
mod state;
mod system;
pub mod tls;
mod version;
mod volumes;

#[cfg(test)]
mod tests;

pub use serve::{serve, ServiceOptions};
