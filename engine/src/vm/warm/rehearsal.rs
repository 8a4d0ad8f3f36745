//! The stand-in container a warm-pool VM rehearses (`pool`): its config disk, its one layer
//! and its writable disk, laid out as a real container's are, so the rehearsal runs the
//! guest code every container start runs (disks, mounts, overlay, namespaces, exec, exit,
//! syncfs) and QEMU has translated it before a container is handed over.

use crate::spec::{runtime_spec, ProcessFlags};
use crate::users::ResolvedUser;
use crate::vm::DiskSpec;
use anyhow::{Context, Result};
use hull_protocol::{
    LayerDisk, RunSpec, WritableDisk, CONFIG_DISK_SERIAL, CONFIG_DISK_SIZE, PROTOCOL_VERSION,
    WRITABLE_DISK_SERIAL,
};
use std::fs::{File, OpenOptions};
use std::path::Path;

/// The program the stand-in runs.
const PROGRAM: &str = "/true";
/// The stand-in's writable disk (sparse; only its file system's metadata is written).
const WRITABLE_BYTES: u64 = 1 << 30;

/// `exit(0)` as a static x86-64 ELF executable: one program header mapping the file at
/// 0x400000, the code right after the headers (`xor edi, edi; mov eax, 60; syscall`).
fn exit_zero_elf() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const HEADERS: u64 = 64 + 56;
    let code: &[u8] = &[0x31, 0xff, 0xb8, 0x3c, 0, 0, 0, 0x0f, 0x05];
    let size = HEADERS + code.len() as u64;
    let mut elf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&0x3eu16.to_le_bytes()); // EM_X86_64
    elf.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
    elf.extend_from_slice(&(BASE + HEADERS).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // program headers
    elf.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    elf.extend_from_slice(&0u32.to_le_bytes()); // flags
    for half in [64u16, 56, 1, 0, 0, 0] {
        // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
        elf.extend_from_slice(&half.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // PF_R | PF_X
    elf.extend_from_slice(&0u64.to_le_bytes()); // offset
    elf.extend_from_slice(&BASE.to_le_bytes()); // vaddr
    elf.extend_from_slice(&BASE.to_le_bytes()); // paddr
    elf.extend_from_slice(&size.to_le_bytes()); // filesz
    elf.extend_from_slice(&size.to_le_bytes()); // memsz
    elf.extend_from_slice(&0x1000u64.to_le_bytes()); // align
    elf.extend_from_slice(code);
    elf
}

/// Writes the stand-in's one layer to `path` (an erofs image holding [`PROGRAM`]).
fn write_layer(path: &Path) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let meta = |permissions| hull_erofs::Metadata {
        permissions,
        uid: 0,
        gid: 0,
        mtime: 0,
        mtime_nsec: 0,
        xattrs: Vec::new(),
    };
    let mut image = hull_erofs::ImageBuilder::new(file, meta(0o755));
    let (program, _) = image.add_file(meta(0o755), exit_zero_elf().as_slice())?;
    let root = image.root();
    image.link(root, &PROGRAM.as_bytes()[1..], program)?;
    image.finish(&hull_erofs::FinishOptions::default())?;
    Ok(())
}

/// The stand-in's run spec: Docker's defaults for a container of an image with no config.
fn run_spec() -> Result<RunSpec> {
    let flags = ProcessFlags {
        cmd: vec![PROGRAM.into()],
        ..ProcessFlags::default()
    };
    let user = ResolvedUser {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        home: "/".into(),
    };
    let id = "0".repeat(64);
    let config = runtime_spec(&Default::default(), &flags, &id, &user, None)?;
    Ok(RunSpec {
        version: PROTOCOL_VERSION,
        container_id: id,
        layers: vec![LayerDisk {
            serial: hull_protocol::layer_disk_serial(0),
            fstype: "erofs".into(),
            diff_id: "rehearsal".into(),
        }],
        writable: Some(WritableDisk {
            serial: WRITABLE_DISK_SERIAL.into(),
            fstype: "ext4".into(),
            ephemeral: false,
        }),
        config,
    })
}

/// Makes the stand-in's disks in `dir` (the layer is shared by the pool: made once in
/// `shared`); returns them in attach order: config, layer, writable.
pub fn make_disks(dir: &Path, shared: &Path) -> Result<Vec<DiskSpec>> {
    let layer = shared.join("rehearsal.erofs");
    if !layer.exists() {
        let partial = shared.join(format!("rehearsal.erofs.{}", std::process::id()));
        write_layer(&partial)?;
        std::fs::rename(&partial, &layer)?;
    }
    let config = dir.join("config.img");
    let mut file = OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .open(&config)
        .with_context(|| format!("cannot create {}", config.display()))?;
    file.set_len(CONFIG_DISK_SIZE)?;
    run_spec()?.write_to(&mut file)?;
    let writable = dir.join("rw.img");
    hull_rootfs::create_writable_disk_from_template(
        &shared.join("templates"),
        &writable,
        WRITABLE_BYTES,
    )?;
    Ok(vec![
        DiskSpec {
            path: config,
            serial: CONFIG_DISK_SERIAL.into(),
            read_only: false,
        },
        DiskSpec {
            path: layer,
            serial: hull_protocol::layer_disk_serial(0),
            read_only: true,
        },
        DiskSpec {
            path: writable,
            serial: WRITABLE_DISK_SERIAL.into(),
            read_only: false,
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stand_in_program_exits_zero_on_this_host() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("true");
        std::fs::write(&path, exit_zero_elf()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let status = std::process::Command::new(&path).status().unwrap();
        assert_eq!(status.code(), Some(0));
    }

    #[test]
    fn the_stand_in_disks_are_a_containers_layout() {
        let dir = tempfile::tempdir().unwrap();
        let disks = make_disks(dir.path(), dir.path()).unwrap();
        let serials: Vec<&str> = disks.iter().map(|d| d.serial.as_str()).collect();
        assert_eq!(serials, ["hull-config", "hull-layer-0", "hull-rw"]);
        let spec = RunSpec::read_from(&mut File::open(&disks[0].path).unwrap()).unwrap();
        let args = spec.config.process().as_ref().unwrap().args().clone();
        assert_eq!(args, Some(vec![PROGRAM.to_string()]));
        assert!(dir.path().join("rehearsal.erofs").exists());
    }
}
