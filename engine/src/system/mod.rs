//! Engine-wide reports: `version`, disk usage (`system df`) and the event journal.

pub mod disk_usage;
pub mod events;
pub mod host_info;
pub mod version;
