//! The VM-wide state KVM keeps outside the vCPUs: the in-kernel PICs and IOAPIC (with their
//! pin routing and pending lines), the PIT, and the kvmclock epoch.

use kvm_bindings::{
    kvm_clock_data, kvm_irqchip, kvm_pit_state2, KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER,
    KVM_IRQCHIP_PIC_SLAVE,
};
use serde::{Deserialize, Serialize};

use super::vm::Vm;

/// Errors reading or writing VM state.
#[derive(Debug, thiserror::Error)]
pub enum VmStateError {
    /// A KVM ioctl failed; `what` names the state.
    #[error("cannot {op} the VM's {what}")]
    Ioctl {
        /// "read" or "restore".
        op: &'static str,
        /// Which state.
        what: &'static str,
        /// The failure.
        #[source]
        source: kvm_ioctls::Error,
    },
}

/// The in-kernel irqchip, PIT and clock.
#[derive(Clone, Serialize, Deserialize)]
pub struct VmState {
    /// PIC master, PIC slave, IOAPIC (KVM_GET_IRQCHIP, in that order).
    pub irqchips: [kvm_irqchip; 3],
    /// The PIT's channels and speaker flags.
    pub pit: kvm_pit_state2,
    /// kvmclock's value at save time, so guest time continues from there.
    pub clock: kvm_clock_data,
}

impl std::fmt::Debug for VmState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmState")
            .field("clock_ns", &self.clock.clock)
            .finish_non_exhaustive()
    }
}

const CHIPS: [u32; 3] = [
    KVM_IRQCHIP_PIC_MASTER,
    KVM_IRQCHIP_PIC_SLAVE,
    KVM_IRQCHIP_IOAPIC,
];

fn read<T>(what: &'static str, r: Result<T, kvm_ioctls::Error>) -> Result<T, VmStateError> {
    r.map_err(|source| VmStateError::Ioctl {
        op: "read",
        what,
        source,
    })
}

fn write<T>(what: &'static str, r: Result<T, kvm_ioctls::Error>) -> Result<T, VmStateError> {
    r.map_err(|source| VmStateError::Ioctl {
        op: "restore",
        what,
        source,
    })
}

impl Vm {
    /// Reads the irqchip, PIT and clock (the vCPUs must be paused).
    pub fn save_state(&self) -> Result<VmState, VmStateError> {
        let mut irqchips = CHIPS.map(|chip_id| kvm_irqchip {
            chip_id,
            ..Default::default()
        });
        for chip in &mut irqchips {
            read("interrupt controller", self.fd.get_irqchip(chip))?;
        }
        Ok(VmState {
            irqchips,
            pit: read("PIT", self.fd.get_pit2())?,
            clock: read("clock", self.fd.get_clock())?,
        })
    }

    /// Writes `state` into this VM (irqchip and PIT already created). The chip ids come from
    /// hull, not the file: a file cannot make this write some other chip.
    pub fn restore_state(&self, state: &VmState) -> Result<(), VmStateError> {
        write("PIT", self.fd.set_pit2(&state.pit))?;
        let mut clock = state.clock;
        // Only the value: TSC_STABLE is KVM's to say, and REALTIME would advance the clock
        // by the wall time since the save (hours for a zygote), which guest watchdogs take
        // for a hang. Guest monotonic time continues from the save; hull-init sets the wall
        // clock from the host after a restore.
        clock.flags = 0;
        write("clock", self.fd.set_clock(&clock))?;
        for (chip_id, saved) in CHIPS.iter().zip(&state.irqchips) {
            let mut chip = *saved;
            chip.chip_id = *chip_id;
            write("interrupt controller", self.fd.set_irqchip(&chip))?;
        }
        Ok(())
    }
}
