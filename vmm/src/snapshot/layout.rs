//! The machine shape a snapshot fixes: RAM size, vCPU count, and the virtio devices in
//! slot order with what the guest driver saw of them (kind, read-only). A restore's
//! `VmConfig` brings its own backends but must describe the same shape, or the guest
//! would find its devices changed under it.

use serde::{Deserialize, Serialize};

use crate::config::{ConsoleKind, VmConfig};

/// One virtio-mmio slot, in attach order (see `builder::build_vm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceKind {
    /// virtio-blk; the guest driver saw VIRTIO_BLK_F_RO or not.
    Block {
        /// Read-only disk.
        read_only: bool,
    },
    /// virtio-console on the VMM's stdin/stdout (`--console virtio`).
    StdioConsole,
    /// virtio-console on a unix socket.
    SocketConsole,
    /// virtio-net.
    Net,
    /// virtio-balloon.
    Balloon,
}

impl std::fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceKind::Block { read_only: true } => f.write_str("a read-only virtio-blk disk"),
            DeviceKind::Block { read_only: false } => f.write_str("a writable virtio-blk disk"),
            DeviceKind::StdioConsole => f.write_str("a stdio virtio-console"),
            DeviceKind::SocketConsole => f.write_str("a socket virtio-console"),
            DeviceKind::Net => f.write_str("a virtio-net NIC"),
            DeviceKind::Balloon => f.write_str("a virtio-balloon"),
        }
    }
}

/// RAM, vCPUs and device slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceLayout {
    /// Guest RAM in MiB.
    pub mem_mib: u32,
    /// vCPU count.
    pub cpus: u8,
    /// virtio devices in slot order.
    pub devices: Vec<DeviceKind>,
}

/// Why a config does not fit a snapshot (or cannot be snapshotted at all).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    /// Guest RAM differs.
    #[error("the snapshot has {saved} MiB of guest RAM, the config asks for {config} MiB")]
    Memory {
        /// In the snapshot.
        saved: u32,
        /// In the config.
        config: u32,
    },
    /// vCPU count differs.
    #[error("the snapshot has {saved} vCPUs, the config asks for {config}")]
    Cpus {
        /// In the snapshot.
        saved: u8,
        /// In the config.
        config: u8,
    },
    /// A slot holds another kind of device (or is missing on one side).
    #[error("virtio device {index} is {saved} in the snapshot but {config} in the config")]
    Device {
        /// Slot index.
        index: usize,
        /// In the snapshot ("nothing" when absent).
        saved: String,
        /// In the config.
        config: String,
    },
    /// virtio-fs shares guest RAM with virtiofsd: a private copy-on-write restore cannot.
    #[error("a VM with a virtio-fs device cannot be snapshotted (its guest RAM is shared with virtiofsd): boot it cold")]
    SharedMemory,
}

impl DeviceLayout {
    /// The layout `config` builds (in `builder::build_vm`'s attach order).
    pub fn of(config: &VmConfig) -> Result<Self, LayoutError> {
        if !config.fs.is_empty() {
            return Err(LayoutError::SharedMemory);
        }
        let mut devices: Vec<DeviceKind> = config
            .disks
            .iter()
            .map(|disk| DeviceKind::Block {
                read_only: disk.read_only,
            })
            .collect();
        if config.console == ConsoleKind::Virtio {
            devices.push(DeviceKind::StdioConsole);
        }
        devices.extend(
            config
                .virtio_consoles
                .iter()
                .map(|_| DeviceKind::SocketConsole),
        );
        devices.extend(config.nets.iter().map(|_| DeviceKind::Net));
        if config.balloon {
            devices.push(DeviceKind::Balloon);
        }
        Ok(Self {
            mem_mib: config.mem_mib,
            cpus: config.cpus,
            devices,
        })
    }

    /// Ok when `config` describes this layout; the first difference otherwise.
    pub fn check(&self, config: &VmConfig) -> Result<(), LayoutError> {
        let other = Self::of(config)?;
        if self.mem_mib != other.mem_mib {
            return Err(LayoutError::Memory {
                saved: self.mem_mib,
                config: other.mem_mib,
            });
        }
        if self.cpus != other.cpus {
            return Err(LayoutError::Cpus {
                saved: self.cpus,
                config: other.cpus,
            });
        }
        let slots = self.devices.len().max(other.devices.len());
        for index in 0..slots {
            let (saved, config) = (self.devices.get(index), other.devices.get(index));
            if saved != config {
                let name = |kind: Option<&DeviceKind>| {
                    kind.map_or_else(|| "absent".to_string(), ToString::to_string)
                };
                return Err(LayoutError::Device {
                    index,
                    saved: name(saved),
                    config: name(config),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DiskConfig, VirtioConsoleConfig};

    fn zygote() -> VmConfig {
        let disk = |path: &str, read_only| DiskConfig {
            path: path.into(),
            read_only,
            serial: None,
        };
        VmConfig {
            disks: vec![disk("/l0", true), disk("/w", false)],
            virtio_consoles: (0..3)
                .map(|i| VirtioConsoleConfig {
                    socket: format!("/c{i}").into(),
                })
                .collect(),
            ..VmConfig::new("/vmlinux")
        }
    }

    #[test]
    fn the_same_shape_with_other_backends_fits() {
        let layout = DeviceLayout::of(&zygote()).unwrap();
        let mut container = zygote();
        container.disks[0].path = "/other".into();
        container.virtio_consoles[2].socket = "/elsewhere".into();
        assert_eq!(layout.check(&container), Ok(()));
    }

    #[test]
    fn every_difference_is_named() {
        let layout = DeviceLayout::of(&zygote()).unwrap();
        let mut c = zygote();
        c.mem_mib *= 2;
        assert!(matches!(layout.check(&c), Err(LayoutError::Memory { .. })));
        let mut c = zygote();
        c.cpus = 2;
        assert!(matches!(layout.check(&c), Err(LayoutError::Cpus { .. })));
        let mut c = zygote();
        c.disks[1].read_only = true;
        let err = layout.check(&c).unwrap_err();
        assert_eq!(
            err.to_string(),
            "virtio device 1 is a writable virtio-blk disk in the snapshot but a read-only \
             virtio-blk disk in the config"
        );
        let mut c = zygote();
        c.virtio_consoles.pop();
        let err = layout.check(&c).unwrap_err().to_string();
        assert!(err.contains("device 4 is a socket virtio-console in the snapshot but absent"));
        let mut c = zygote();
        c.balloon = true;
        assert!(layout
            .check(&c)
            .unwrap_err()
            .to_string()
            .contains("absent in the snapshot"));
        let mut c = zygote();
        c.fs.push(crate::config::FsConfig {
            socket: "/fs".into(),
            tag: "t".into(),
        });
        assert_eq!(DeviceLayout::of(&c), Err(LayoutError::SharedMemory));
    }
}
