//! Containers: their persistent state under `$HULL_ROOT/containers/<id>/`, ids and names,
//! and whether the processes behind a "running" container are really still there.

pub mod ids;
pub mod links;
pub mod liveness;
pub mod network;
pub mod restart;
pub mod state;
pub mod status;
pub mod store;

pub use state::{Container, ContainerConfig, ProcessConfig, RunOptions, RunState, Status};
pub use store::ContainerStore;
