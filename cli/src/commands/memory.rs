//! Docker's memory flags of `run`/`create` (`-m`, `--memory-swap`, `--memory-reservation`,
//! `--oom-kill-disable`); what each means for a VM is in `hull_engine::containers::memory`.

use hull_engine::containers::memory::MemoryRequest;

/// The memory flags of `hull run` / `hull create`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MemoryArgs {
    /// Memory limit (e.g. 64m, 1g): the container's limit; the VM gets this plus what the
    /// guest kernel needs.
    #[arg(short = 'm', long = "memory", value_parser = parse_size)]
    pub limit: Option<u64>,
    /// Memory + swap limit (-1: unlimited). The VM has no swap: the limit is -m's.
    #[arg(long, value_parser = parse_swap, allow_negative_numbers = true)]
    pub memory_swap: Option<i64>,
    /// Memory soft limit (cgroup memory.low in the guest).
    #[arg(long, value_parser = parse_size)]
    pub memory_reservation: Option<u64>,
    /// Accepted and ignored, as Docker does on cgroup v2.
    #[arg(long)]
    pub oom_kill_disable: bool,
}

/// Parses Docker's memory sizes: a number with an optional b/k/m/g suffix, at least 6MB.
fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('b');
    let (digits, unit) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 1u64 << 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 1 << 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 1 << 30),
        _ => (trimmed, 1),
    };
    let value: u64 = digits.parse().map_err(|_| {
        format!("invalid size {text:?}: use a number with an optional k, m or g suffix")
    })?;
    let bytes = value.checked_mul(unit).ok_or("size too large")?;
    if bytes < 6 << 20 {
        return Err("minimum memory limit allowed is 6MB".into());
    }
    Ok(bytes)
}

fn parse_swap(text: &str) -> Result<i64, String> {
    if text.trim() == "-1" {
        return Ok(-1);
    }
    i64::try_from(parse_size(text)?).map_err(|_| "size too large".to_string())
}

impl MemoryArgs {
    /// The engine's request; warns about what a VM ignores.
    pub fn request(&self) -> MemoryRequest {
        if self.oom_kill_disable {
            eprintln!("WARNING: --oom-kill-disable is ignored: the guest's cgroup v2 has no such setting (Docker ignores it on cgroup v2 too)");
        }
        MemoryRequest {
            limit: self.limit,
            swap: self.memory_swap,
            reservation: self.memory_reservation,
            oom_kill_disable: self.oom_kill_disable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("128MB"), Ok(128 << 20));
        assert!(parse_size("1k").is_err());
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn swap_takes_minus_one_or_a_size() {
        assert_eq!(parse_swap("-1"), Ok(-1));
        assert_eq!(parse_swap("1g"), Ok(1 << 30));
        assert!(parse_swap("lots").is_err());
    }
}
