//! hull-vmm: a KVM virtual machine monitor built on the rust-vmm crates.

pub mod devices;
