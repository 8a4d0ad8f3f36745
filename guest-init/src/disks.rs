//! Finds virtio-blk disks by serial (`/sys/block/vdX/serial`), never by probe order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Serial -> device node (`/dev/<name>`) of every block device in `sys_block` that has a
/// serial. Unreadable entries are skipped: a missing disk is reported by the caller, by
/// serial.
pub fn scan(sys_block: &Path, dev: &Path) -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(sys_block) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Ok(serial) = std::fs::read_to_string(entry.path().join("serial")) else {
            continue;
        };
        let serial = serial.trim_end_matches(['\n', '\0', ' ']).to_string();
        if !serial.is_empty() {
            found.insert(serial, dev.join(name));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disks_are_found_by_serial_not_order() {
        let sys = tempfile::tempdir().unwrap();
        for (name, serial) in [
            ("vda", "hull-layer-1\n"),
            ("vdb", "hull-config\n"),
            ("vdc", "hull-layer-0"),
        ] {
            std::fs::create_dir(sys.path().join(name)).unwrap();
            std::fs::write(sys.path().join(name).join("serial"), serial).unwrap();
        }
        std::fs::create_dir(sys.path().join("loop0")).unwrap();
        let disks = scan(sys.path(), Path::new("/dev"));
        assert_eq!(disks.len(), 3);
        assert_eq!(disks["hull-config"], PathBuf::from("/dev/vdb"));
        assert_eq!(disks["hull-layer-0"], PathBuf::from("/dev/vdc"));
        assert_eq!(disks["hull-layer-1"], PathBuf::from("/dev/vda"));
    }

    #[test]
    fn missing_sysfs_gives_no_disks() {
        assert!(scan(Path::new("/nonexistent/block"), Path::new("/dev")).is_empty());
    }
}
