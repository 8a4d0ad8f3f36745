//! `process.rlimits` (`docker run --ulimit`), applied in the container process before exec.

use crate::error::SetupError;
use nix::errno::Errno;
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

/// The kernel's resource number for an OCI rlimit type.
fn resource(typ: PosixRlimitType) -> libc::__rlimit_resource_t {
    match typ {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Validates the limits (soft <= hard), so a bad spec fails with a message, not EINVAL.
pub fn check(rlimits: &[PosixRlimit]) -> Result<(), SetupError> {
    match rlimits.iter().find(|r| r.soft() > r.hard()) {
        Some(bad) => Err(SetupError::Spec(format!(
            "rlimit {:?}: soft limit {} exceeds hard limit {}",
            bad.typ(),
            bad.soft(),
            bad.hard()
        ))),
        None => Ok(()),
    }
}

/// Sets every limit on the calling process (inherited across exec).
pub fn apply(rlimits: &[PosixRlimit]) -> Result<(), SetupError> {
    check(rlimits)?;
    for rlimit in rlimits {
        let value = libc::rlimit {
            rlim_cur: rlimit.soft(),
            rlim_max: rlimit.hard(),
        };
        // SAFETY: setrlimit reads one rlimit struct from a pointer to a local.
        if unsafe { libc::setrlimit(resource(rlimit.typ()), &value) } != 0 {
            return Err(SetupError::sys(
                format!("setrlimit {:?}", rlimit.typ()),
                Errno::last(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_above_hard_is_a_spec_error() {
        let bad: Vec<PosixRlimit> =
            serde_json::from_str(r#"[{"type":"RLIMIT_NOFILE","soft":10,"hard":5}]"#).unwrap();
        let err = check(&bad).unwrap_err();
        assert_eq!(err.exit_code(), 125);
        assert!(err.to_string().contains("exceeds hard limit"), "{err}");
        let good: Vec<PosixRlimit> =
            serde_json::from_str(r#"[{"type":"RLIMIT_NOFILE","soft":5,"hard":10}]"#).unwrap();
        assert!(check(&good).is_ok());
        assert_eq!(resource(good[0].typ()), libc::RLIMIT_NOFILE);
    }
}
