//! Which kernel build a VM gets.

use std::fmt;
use std::str::FromStr;

/// A kernel build profile: a set of config fragments (+ patches) built and cached separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KernelProfile {
    /// `hull.config`: for hardware KVM and QEMU TCG. Clean and fast.
    #[default]
    Standard,
    /// `hull.config` + `pvm-compat.config` + `patches/pvm-compat/`: only for hosts whose KVM
    /// emulates guest kernel code (this project's CI machine); see the crate README.
    EmulatedKvmCompat,
}

impl KernelProfile {
    /// The name `build.sh --profile` takes and the cache directory starts with.
    pub fn as_str(self) -> &'static str {
        match self {
            KernelProfile::Standard => "standard",
            KernelProfile::EmulatedKvmCompat => "pvm-compat",
        }
    }
}

impl fmt::Display for KernelProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A profile name that is neither `standard` nor `pvm-compat`.
#[derive(Debug, thiserror::Error)]
#[error("unknown kernel profile '{0}': use 'standard' or 'pvm-compat'")]
pub struct UnknownProfile(pub String);

impl FromStr for KernelProfile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standard" => Ok(KernelProfile::Standard),
            "pvm-compat" => Ok(KernelProfile::EmulatedKvmCompat),
            other => Err(UnknownProfile(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in [KernelProfile::Standard, KernelProfile::EmulatedKvmCompat] {
            assert_eq!(p.as_str().parse::<KernelProfile>().unwrap(), p);
        }
        assert!("pvm".parse::<KernelProfile>().is_err());
    }
}
