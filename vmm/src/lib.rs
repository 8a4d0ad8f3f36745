//! hull-vmm: a KVM virtual machine monitor built on the rust-vmm crates.
//!
//! `run(&VmConfig)` boots a kernel and returns when the guest resets or powers off;
//! `kvm_probe::probe_kvm` measures what kind of KVM the host has.

pub mod arch;
pub mod builder;
pub mod config;
pub mod device_manager;
pub mod devices;
pub mod kvm_probe;
pub mod memory;
pub mod runtime;
pub mod snapshot;
pub mod teardown;
pub mod vstate;

use std::time::Instant;

pub use config::{ConsoleKind, DiskConfig, SerialOutput, VirtioConsoleConfig, VmConfig};
pub use runtime::exit::GuestStop;
pub use runtime::{VmOutcome, Vmm};

/// Errors from `run`.
#[derive(Debug, thiserror::Error)]
pub enum VmmError {
    /// The VM could not be built (bad config, kernel, KVM).
    #[error(transparent)]
    Build(#[from] builder::BuildError),
    /// The VM failed while running.
    #[error(transparent)]
    Run(#[from] runtime::RunError),
}

/// Boots `config` and runs it to the end on the calling thread (plus one thread per vCPU).
/// Ok when the guest resets or powers off; Err with the cause otherwise.
pub fn run(config: &VmConfig) -> Result<VmOutcome, VmmError> {
    run_from(config, Instant::now())
}

/// `run`, with the boot timer counting from `start` (e.g. the process start).
pub fn run_from(config: &VmConfig, start: Instant) -> Result<VmOutcome, VmmError> {
    let mut vmm = builder::build_vm(config, start)?;
    Ok(vmm.run()?)
}

/// `error: cause: cause...` on one line, for logs and exit messages.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}
