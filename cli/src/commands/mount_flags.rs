//! `run`/`create`'s mount flags: `-v`, `--mount`, `--tmpfs`, `--volumes-from`. Parsing and
//! Docker's checks are the engine's (`hull_engine::volumes`), before any VM starts.

use hull_engine::volumes::{self, Mount};

/// The mount flags (Docker's names).
#[derive(Debug, Default, clap::Args)]
pub struct MountFlags {
    /// Bind mount a volume (`NAME:/path[:ro]`, `/host/path:/path[:ro]`, `/path`).
    #[arg(short = 'v', long = "volume", value_name = "SPEC")]
    pub volumes: Vec<String>,
    /// Attach a filesystem mount (`type=volume|bind|tmpfs,source=..,target=..[,readonly]`).
    #[arg(long = "mount", value_name = "SPEC")]
    pub mounts: Vec<String>,
    /// Mount a tmpfs directory (`/path[:size=64m,mode=1777]`).
    #[arg(long = "tmpfs", value_name = "PATH[:OPTIONS]")]
    pub tmpfs: Vec<String>,
    /// Mount volumes from the specified container(s) (`NAME[:ro|:rw]`).
    #[arg(long = "volumes-from", value_name = "CONTAINER")]
    pub volumes_from: Vec<String>,
}

impl MountFlags {
    /// The requested mounts, in flag order (`-v`, then `--mount`, then `--tmpfs`).
    pub fn mounts(&self) -> hull_engine::Result<Vec<Mount>> {
        let mut mounts = Vec::new();
        for spec in &self.volumes {
            mounts.push(volumes::parse_volume_flag(spec)?);
        }
        for spec in &self.mounts {
            mounts.push(volumes::parse_mount_flag(spec)?);
        }
        for spec in &self.tmpfs {
            mounts.push(volumes::parse_tmpfs_flag(spec)?);
        }
        volumes::check_duplicates(&mounts)?;
        Ok(mounts)
    }
}
