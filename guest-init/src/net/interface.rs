//! The container's interface, configured by PID 1 in the guest's own network namespace
//! before the container process starts (issue 14): found by the MAC the host gave the
//! VM's virtio-net device, named `eth0`, with the MTU, address, netmask, IFF_UP and the
//! default route of its [`GuestNetwork`].

use super::address::{netmask, Mac};
use super::ioctl::{interface_names, InetSocket};
use crate::error::SetupError;
use hull_protocol::GuestNetwork;
use nix::errno::Errno;
use std::net::Ipv4Addr;

/// The name the container sees, as in Docker.
pub const INTERFACE_NAME: &str = "eth0";

/// The kernel calls of the configuration, behind a trait so the sequence is unit-tested.
pub trait InterfaceControl {
    /// Every interface of the namespace with its hardware address (None if unreadable).
    fn interfaces(&self) -> Result<Vec<(String, Option<Mac>)>, Errno>;
    /// SIOCSIFHWADDR.
    fn set_hardware_address(&self, name: &str, mac: Mac) -> Result<(), Errno>;
    /// SIOCSIFNAME.
    fn rename(&self, from: &str, to: &str) -> Result<(), Errno>;
    /// SIOCSIFMTU.
    fn set_mtu(&self, name: &str, mtu: u32) -> Result<(), Errno>;
    /// SIOCSIFADDR.
    fn set_address(&self, name: &str, address: Ipv4Addr) -> Result<(), Errno>;
    /// SIOCSIFNETMASK.
    fn set_netmask(&self, name: &str, mask: Ipv4Addr) -> Result<(), Errno>;
    /// IFF_UP.
    fn bring_up(&self, name: &str) -> Result<(), Errno>;
    /// SIOCADDRT of 0.0.0.0/0 via `gateway`.
    fn add_default_route(&self, gateway: Ipv4Addr) -> Result<(), Errno>;
}

impl InterfaceControl for InetSocket {
    fn interfaces(&self) -> Result<Vec<(String, Option<Mac>)>, Errno> {
        Ok(interface_names()?
            .into_iter()
            .map(|name| {
                let mac = self.hardware_address(&name).ok();
                (name, mac)
            })
            .collect())
    }
    fn set_hardware_address(&self, name: &str, mac: Mac) -> Result<(), Errno> {
        InetSocket::set_hardware_address(self, name, mac)
    }
    fn rename(&self, from: &str, to: &str) -> Result<(), Errno> {
        InetSocket::rename(self, from, to)
    }
    fn set_mtu(&self, name: &str, mtu: u32) -> Result<(), Errno> {
        InetSocket::set_mtu(self, name, mtu)
    }
    fn set_address(&self, name: &str, address: Ipv4Addr) -> Result<(), Errno> {
        InetSocket::set_address(self, name, address)
    }
    fn set_netmask(&self, name: &str, mask: Ipv4Addr) -> Result<(), Errno> {
        InetSocket::set_netmask(self, name, mask)
    }
    fn bring_up(&self, name: &str) -> Result<(), Errno> {
        InetSocket::bring_up(self, name)
    }
    fn add_default_route(&self, gateway: Ipv4Addr) -> Result<(), Errno> {
        InetSocket::add_default_route(self, gateway)
    }
}

/// The settings checked before any is applied: a bad annotation changes nothing.
pub fn validate(network: &GuestNetwork) -> Result<(Mac, Ipv4Addr), SetupError> {
    let bad =
        |what: String| SetupError::Spec(format!("{}: {what}", hull_protocol::ANNOTATION_NETWORK));
    let mac = Mac::parse(&network.mac)
        .ok_or_else(|| bad(format!("{:?} is not a MAC address", network.mac)))?;
    let mask = netmask(network.prefix_len)
        .ok_or_else(|| bad(format!("prefix length {} is above 32", network.prefix_len)))?;
    // 68: the smallest MTU IPv4 allows (RFC 791); 65535: the largest the kernel takes.
    if !(68..=65535).contains(&network.mtu) {
        return Err(bad(format!("MTU {} is outside 68..=65535", network.mtu)));
    }
    Ok((mac, mask))
}

/// Configures the interface of `network` in the caller's network namespace.
pub fn configure(control: &dyn InterfaceControl, network: &GuestNetwork) -> Result<(), SetupError> {
    let (mac, mask) = validate(network)?;
    let interfaces = control
        .interfaces()
        .map_err(|e| SetupError::sys("list the network interfaces", e))?;
    let with_mac = |wanted: Mac| interfaces.iter().find(|(_, found)| *found == Some(wanted));
    // A VM restored from a zygote (warm start) still has the zygote's address on its NIC.
    let restored = Mac::parse(hull_protocol::ZYGOTE_MAC)
        .filter(|_| with_mac(mac).is_none())
        .and_then(with_mac);
    if let Some((name, _)) = restored {
        control
            .set_hardware_address(name, mac)
            .map_err(|e| SetupError::sys(format!("give {name} the MAC {mac}"), e))?;
    }
    let Some((name, _)) = with_mac(mac).or(restored) else {
        let seen: Vec<String> = interfaces
            .iter()
            .map(|(name, found)| match found {
                Some(found) => format!("{name} ({found})"),
                None => name.clone(),
            })
            .collect();
        return Err(SetupError::Spec(format!(
            "no network interface has the MAC {mac}: the engine must give the VM a virtio-net device with it (interfaces seen: {})",
            seen.join(", ")
        )));
    };
    let at = |what: &str| format!("{what} of {INTERFACE_NAME} ({mac})");
    if name != INTERFACE_NAME {
        control.rename(name, INTERFACE_NAME).map_err(|e| {
            SetupError::sys(format!("rename {name} ({mac}) to {INTERFACE_NAME}"), e)
        })?;
    }
    control
        .set_mtu(INTERFACE_NAME, network.mtu)
        .map_err(|e| SetupError::sys(at(&format!("set the MTU {}", network.mtu)), e))?;
    control
        .set_address(INTERFACE_NAME, network.address)
        .map_err(|e| SetupError::sys(at(&format!("set the address {}", network.address)), e))?;
    control
        .set_netmask(INTERFACE_NAME, mask)
        .map_err(|e| SetupError::sys(at(&format!("set the netmask {mask}")), e))?;
    control
        .bring_up(INTERFACE_NAME)
        .map_err(|e| SetupError::sys(at("bring up"), e))?;
    // After IFF_UP: the kernel only routes to the gateway once the subnet's route exists.
    if let Some(gateway) = network.gateway {
        control.add_default_route(gateway).map_err(|e| {
            SetupError::sys(
                format!(
                    "add the default route via {gateway} (on {}/{})",
                    network.address, network.prefix_len
                ),
                e,
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Recording {
        present: Vec<(String, Option<Mac>)>,
        calls: RefCell<Vec<String>>,
    }

    impl InterfaceControl for Recording {
        fn interfaces(&self) -> Result<Vec<(String, Option<Mac>)>, Errno> {
            Ok(self.present.clone())
        }
        fn rename(&self, from: &str, to: &str) -> Result<(), Errno> {
            self.calls.borrow_mut().push(format!("rename {from} {to}"));
            Ok(())
        }
        fn set_mtu(&self, name: &str, mtu: u32) -> Result<(), Errno> {
            self.calls.borrow_mut().push(format!("mtu {name} {mtu}"));
            Ok(())
        }
        fn set_address(&self, name: &str, address: Ipv4Addr) -> Result<(), Errno> {
            self.calls
                .borrow_mut()
                .push(format!("addr {name} {address}"));
            Ok(())
        }
        fn set_hardware_address(&self, name: &str, mac: Mac) -> Result<(), Errno> {
            self.calls.borrow_mut().push(format!("hwaddr {name} {mac}"));
            Ok(())
        }
        fn set_netmask(&self, name: &str, mask: Ipv4Addr) -> Result<(), Errno> {
            self.calls.borrow_mut().push(format!("mask {name} {mask}"));
            Ok(())
        }
        fn bring_up(&self, name: &str) -> Result<(), Errno> {
            self.calls.borrow_mut().push(format!("up {name}"));
            Ok(())
        }
        fn add_default_route(&self, gateway: Ipv4Addr) -> Result<(), Errno> {
            self.calls
                .borrow_mut()
                .push(format!("route default via {gateway}"));
            Ok(())
        }
    }

    fn network() -> GuestNetwork {
        GuestNetwork {
            mac: "02:42:ac:11:00:02".into(),
            address: Ipv4Addr::new(172, 17, 0, 2),
            prefix_len: 16,
            gateway: Some(Ipv4Addr::new(172, 17, 0, 1)),
            mtu: 1500,
            nameservers: Vec::new(),
            search: Vec::new(),
            options: Vec::new(),
        }
    }

    fn present(names: &[(&str, &str)]) -> Recording {
        Recording {
            present: names
                .iter()
                .map(|(name, mac)| (name.to_string(), Mac::parse(mac)))
                .collect(),
            ..Recording::default()
        }
    }

    #[test]
    fn the_interface_with_the_mac_becomes_eth0_with_address_then_up_then_route() {
        let control = present(&[("lo", "00:00:00:00:00:00"), ("enp0s1", "02:42:AC:11:00:02")]);
        configure(&control, &network()).unwrap();
        assert_eq!(
            *control.calls.borrow(),
            [
                "rename enp0s1 eth0",
                "mtu eth0 1500",
                "addr eth0 172.17.0.2",
                "mask eth0 255.255.0.0",
                "up eth0",
                "route default via 172.17.0.1",
            ]
        );
    }

    #[test]
    fn a_restored_nic_with_the_zygote_mac_gets_the_containers_mac_first() {
        let control = present(&[
            ("lo", "00:00:00:00:00:00"),
            ("eth0", hull_protocol::ZYGOTE_MAC),
        ]);
        configure(&control, &network()).unwrap();
        assert_eq!(
            control.calls.borrow()[..2],
            ["hwaddr eth0 02:42:ac:11:00:02", "mtu eth0 1500"]
        );
        // The container's own MAC wins over a zygote's address on another interface.
        let control = present(&[
            ("eth1", hull_protocol::ZYGOTE_MAC),
            ("eth0", "02:42:ac:11:00:02"),
        ]);
        configure(&control, &network()).unwrap();
        assert!(!control
            .calls
            .borrow()
            .iter()
            .any(|c| c.starts_with("hwaddr")));
    }

    #[test]
    fn eth0_is_not_renamed_and_an_internal_network_has_no_default_route() {
        let control = present(&[("eth0", "02:42:ac:11:00:02")]);
        let mut network = network();
        network.gateway = None;
        network.prefix_len = 24;
        configure(&control, &network).unwrap();
        assert_eq!(
            *control.calls.borrow(),
            [
                "mtu eth0 1500",
                "addr eth0 172.17.0.2",
                "mask eth0 255.255.255.0",
                "up eth0"
            ]
        );
    }

    #[test]
    fn a_missing_mac_names_the_mac_and_the_interfaces_seen() {
        let control = present(&[("lo", "00:00:00:00:00:00"), ("eth0", "02:42:ac:11:00:09")]);
        let err = configure(&control, &network()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("02:42:ac:11:00:02"), "{text}");
        assert!(
            text.contains("lo (00:00:00:00:00:00), eth0 (02:42:ac:11:00:09)"),
            "{text}"
        );
        assert_eq!(err.exit_code(), 125);
        assert!(control.calls.borrow().is_empty());
    }

    #[test]
    fn bad_settings_are_refused_before_anything_changes() {
        let control = present(&[("eth0", "02:42:ac:11:00:02")]);
        let mut bad_mac = network();
        bad_mac.mac = "02:42:ac:11:00".into();
        let mut bad_prefix = network();
        bad_prefix.prefix_len = 33;
        let mut bad_mtu = network();
        bad_mtu.mtu = 0;
        for bad in [bad_mac, bad_prefix, bad_mtu] {
            let err = configure(&control, &bad).unwrap_err();
            assert!(err.to_string().contains("io.hull.network"), "{err}");
        }
        assert!(control.calls.borrow().is_empty());
    }
}
