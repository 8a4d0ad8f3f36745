use super::cache::{self, Meta, Shape, FORMAT_VERSION};
use super::*;
use crate::host::EngineKind;
use hull_protocol::{ControlMessage, GuestEvent};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// A change made to a test zygote's meta.json.
type MetaEdit = fn(&mut Meta);

struct TestEngine;

impl Engine for TestEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Qemu
    }
    fn spawn(&self, _: &VmSpec) -> Result<RunningVm> {
        anyhow::bail!("not in these tests")
    }
    fn warm_start(&self) -> bool {
        true
    }
    fn build_id(&self) -> String {
        "test-engine 1".into()
    }
}

fn disk(path: &str, serial: &str, read_only: bool) -> DiskSpec {
    DiskSpec {
        path: path.into(),
        serial: serial.into(),
        read_only,
    }
}

pub(super) fn spec(dir: &Path) -> VmSpec {
    let kernel = dir.join("vmlinux");
    let initramfs = dir.join("init.cpio");
    for file in [&kernel, &initramfs] {
        if !file.exists() {
            std::fs::write(file, b"0123").unwrap();
        }
    }
    VmSpec {
        kernel,
        initramfs,
        cmdline: "console=ttyS0 quiet".into(),
        mem_mib: 256,
        cpus: 1,
        disks: vec![
            disk("/c/config", CONFIG_DISK_SERIAL, false),
            disk("/i/layer0", "hull-layer-0", true),
            disk("/c/rw", WRITABLE_DISK_SERIAL, false),
        ],
        socket_dir: "/run/x".into(),
        serial_log: "/c/vm.log".into(),
        engine_log: "/c/engine.log".into(),
        nics: Vec::new(),
        share: None,
        restore: None,
        zygote_memory: None,
        rehearse: false,
    }
}

fn zygote(slots: usize) -> Zygote {
    Zygote {
        dir: "/cache/warm/qemu-0011".into(),
        cmdline: "quiet hull.warm=park".into(),
        layer_slots: slots,
    }
}

#[test]
fn container_disks_fill_the_slots_and_spares_are_never_layers() {
    let disks = spec(&std::env::temp_dir()).disks;
    let slotted = slot_disks(&zygote(3), &disks).unwrap();
    let serials: Vec<&str> = slotted.iter().map(|d| d.serial.as_str()).collect();
    assert_eq!(
        serials,
        [
            "hull-config",
            "hull-layer-0",
            "hull-spare-1",
            "hull-spare-2",
            "hull-rw"
        ]
    );
    assert_eq!(
        slotted[2].path,
        PathBuf::from("/cache/warm/qemu-0011/spare.img")
    );
    assert!(slotted[2].read_only && slotted[3].read_only && !slotted[4].read_only);
    assert_eq!(slotted[4].path, PathBuf::from("/c/rw"));
    // More layers than slots, or disks out of the supervisor's order: no restore.
    assert!(slot_disks(&zygote(0), &disks).is_none());
    let mut swapped = disks.clone();
    swapped.swap(0, 2);
    assert!(slot_disks(&zygote(3), &swapped).is_none());
}

#[test]
fn the_key_changes_with_every_input_and_only_then() {
    let dir = tempfile::tempdir().unwrap();
    let key = |spec: &VmSpec| Shape::of(&TestEngine, spec).unwrap().dir();
    let base = spec(dir.path());
    assert_eq!(key(&base), key(&spec(dir.path())));
    let mut more_memory = spec(dir.path());
    more_memory.mem_mib = 512;
    let mut more_cpus = spec(dir.path());
    more_cpus.cpus = 2;
    let mut other_cmdline = spec(dir.path());
    other_cmdline.cmdline.push_str(" debug");
    let mut with_nic = spec(dir.path());
    with_nic.nics.push(crate::vm::NicSpec {
        tap: None,
        mac: "02:42:ac:11:00:02".into(),
    });
    for changed in [&more_memory, &more_cpus, &other_cmdline, &with_nic] {
        assert_ne!(key(&base), key(changed));
    }
    let before = key(&base);
    std::fs::write(&base.kernel, b"a rebuilt kernel").unwrap();
    assert_ne!(before, key(&base), "a changed kernel makes a new zygote");
    let name = before.file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with("qemu-") && name.len() == "qemu-".len() + 16,
        "{name}"
    );
}

fn saved_zygote(
    root: &Path,
    shape: &Shape,
    state: &[u8],
    meta_edit: impl Fn(&mut Meta),
) -> PathBuf {
    let dir = root.join("qemu-test");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("state"), state).unwrap();
    std::fs::write(dir.join("memory"), [0u8; 4096]).unwrap();
    let mut meta = Meta {
        format: FORMAT_VERSION,
        engine: "qemu".into(),
        inputs: shape.inputs().into(),
        state_len: 6,
        memory_len: 4096,
        mem_mib: 256,
        cpus: 1,
        nics: 0,
        created: "2026-12-07T00:00:00Z".into(),
    };
    meta_edit(&mut meta);
    std::fs::write(dir.join("meta.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
    dir
}

#[test]
fn a_whole_zygote_is_used_and_a_stale_or_damaged_one_is_discarded() {
    let root = tempfile::tempdir().unwrap();
    let shape = Shape::of(&TestEngine, &spec(root.path())).unwrap();
    let dir = saved_zygote(root.path(), &shape, b"QEVM\0\x03", |_| {});
    let found = cache::load(&dir, &shape).expect("a whole zygote");
    assert_eq!(found.cmdline, "console=ttyS0 quiet hull.warm=park");
    assert_eq!(found.layer_slots, 3);

    // A truncated state, another format, other inputs (kernel, engine, size...).
    let truncated: (&[u8], MetaEdit) = (b"QEVM", |_| {});
    let other_format: (&[u8], MetaEdit) = (b"QEVM\0\x03", |meta| meta.format += 1);
    let other_inputs: (&[u8], MetaEdit) = (b"QEVM\0\x03", |meta| meta.inputs.push('!'));
    let cases = [truncated, other_format, other_inputs];
    for (state, edit) in cases {
        let dir = saved_zygote(root.path(), &shape, state, edit);
        assert!(cache::load(&dir, &shape).is_none());
        assert!(!dir.exists(), "discarded");
    }
    // A memory file cut short (or gone): a restore would map zeros past its end.
    for damage in [
        |memory: &Path| std::fs::write(memory, [0u8; 100]).unwrap(),
        |memory: &Path| std::fs::remove_file(memory).unwrap(),
    ] {
        let dir = saved_zygote(root.path(), &shape, b"QEVM\0\x03", |_| {});
        damage(&dir.join("memory"));
        assert!(cache::load(&dir, &shape).is_none());
        assert!(!dir.exists(), "discarded");
    }
    let dir = saved_zygote(root.path(), &shape, b"QEVM\0\x03", |_| {});
    std::fs::write(dir.join("meta.json"), b"{\"format\":").unwrap();
    assert!(cache::load(&dir, &shape).is_none());
    assert!(!dir.exists(), "a damaged meta.json is discarded too");
    assert!(cache::load(&root.path().join("none"), &shape).is_none());
}

#[test]
fn a_new_zygote_evicts_the_oldest_beyond_the_limit() {
    let root = tempfile::tempdir().unwrap();
    let shape = Shape::of(&TestEngine, &spec(root.path())).unwrap();
    for (name, created) in [
        ("b", "2026-12-02"),
        ("a", "2026-12-01"),
        ("c", "2026-12-03"),
    ] {
        let dir = saved_zygote(root.path(), &shape, b"QEVM\0\x03", |meta| {
            meta.created = created.into();
        });
        std::fs::rename(&dir, root.path().join(name)).unwrap();
    }
    cache::evict_oldest(root.path(), 2);
    let left: Vec<bool> = ["a", "b", "c"]
        .iter()
        .map(|n| root.path().join(n).exists())
        .collect();
    assert_eq!(left, [false, true, true]);
}

#[test]
fn the_resume_carries_the_clock_and_fresh_entropy_and_nothing_past_the_answer_is_read() {
    let (host, guest) = UnixStream::pair().unwrap();
    let guest_side = std::thread::spawn(move || {
        let mut reader = BufReader::new(guest.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let mut writer = guest;
        writer.write_all(b"{\"type\":\"ready\"}\nnoise\n").unwrap();
        writer
            .write_all(GuestEvent::Resumed.to_line().as_bytes())
            .unwrap();
        writer.write_all(b"after\n").unwrap();
        serde_json::from_str::<ControlMessage>(&line).unwrap()
    });
    resume(&host, false).unwrap();
    let mut rest = [0u8; 6];
    (&host).read_exact(&mut rest).unwrap();
    assert_eq!(&rest, b"after\n");
    let ControlMessage::Resume {
        realtime_ns,
        entropy,
        rehearse: false,
        park_idle_s: 0,
    } = guest_side.join().unwrap()
    else {
        panic!("not a resume");
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    assert!(now.abs_diff(u128::from(realtime_ns)) < 1_000_000_000);
    assert_eq!(entropy.0.len(), hull_protocol::RESUME_ENTROPY_BYTES);
    let second = handshake::resume_message(false).unwrap();
    assert!(matches!(second, ControlMessage::Resume { entropy: other, .. } if other != entropy));
}

#[test]
fn a_vm_that_goes_away_instead_of_resuming_is_a_failed_restore() {
    let (host, guest) = UnixStream::pair().unwrap();
    drop(guest);
    let err = resume(&host, false).unwrap_err();
    let err = anyhow::Error::from(err);
    assert!(err.is::<RestoreFailed>());
    assert!(err.to_string().contains("did not resume"), "{err}");
}

#[test]
fn cold_containers_shares_and_the_environment_switch_boot() {
    let dir = tempfile::tempdir().unwrap();
    assert!(zygote_for(&TestEngine, &spec(dir.path()), true).is_none());
    let mut shared = spec(dir.path());
    shared.share = Some("/run/x/share.sock".into());
    assert!(zygote_for(&TestEngine, &shared, false).is_none());
}
