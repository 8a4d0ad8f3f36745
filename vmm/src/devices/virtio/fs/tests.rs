//! The frontend against a real backend: Debian-independent, the Rust virtiofsd hull uses
//! (skipped with the reason when it is not installed). A FUSE_INIT request put in the
//! request queue must come back answered through the shared guest memory, and the
//! backend's call must become the device's interrupt.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress};
use vmm_sys_util::eventfd::EventFd;

use super::{FsArgs, FsError, VhostUserFs};
use crate::devices::virtio::test_utils::{add_chain, used_entry, R, W};
use crate::devices::virtio::{
    Activation, VirtioDevice, VirtioInterrupt, VIRTIO_F_VERSION_1, VIRTIO_MMIO_INT_VRING,
};
use crate::memory::create_guest_memory;

/// FUSE_INIT's opcode.
const FUSE_INIT: u32 = 26;

struct Virtiofsd {
    child: Child,
    socket: PathBuf,
    _dir: PathBuf,
}

impl Drop for Virtiofsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

fn virtiofsd_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("virtiofsd"))
        .find(|p| p.is_file())
}

fn start_virtiofsd(test: &str) -> Option<Virtiofsd> {
    let Some(binary) = virtiofsd_binary() else {
        eprintln!("SKIPPED {test}: no virtiofsd on PATH (scripts/install-deps.sh installs it)");
        return None;
    };
    let dir = std::env::temp_dir().join(format!("hull-vmm-fs-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("shared")).unwrap();
    let socket = dir.join("fs.sock");
    let child = Command::new(binary)
        .arg(format!("--socket-path={}", socket.display()))
        .arg(format!("--shared-dir={}", dir.join("shared").display()))
        // The frontend is under test, not the sandbox (which needs root).
        .args(["--sandbox=none", "--cache=never"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "virtiofsd never listened");
        std::thread::sleep(Duration::from_millis(5));
    }
    Some(Virtiofsd {
        child,
        socket,
        _dir: dir,
    })
}

#[test]
fn a_fuse_init_goes_through_the_backend_and_comes_back_as_an_interrupt() {
    let Some(backend) = start_virtiofsd("fuse_init") else {
        return;
    };
    let (mut fs, events) = VhostUserFs::new(&FsArgs {
        socket: backend.socket.clone(),
        tag: "hull-share".into(),
    })
    .unwrap();
    assert_eq!(fs.device_type(), 26);
    assert_ne!(fs.avail_features() & (1 << VIRTIO_F_VERSION_1), 0);
    let mut tag = [0u8; 40];
    fs.read_config(0, &mut tag);
    assert_eq!(&tag[..10], b"hull-share");
    assert_eq!(tag[10..36], [0; 26]);
    assert_eq!(
        u32::from_le_bytes(tag[36..].try_into().unwrap()),
        1,
        "one request queue"
    );

    let mem = Arc::new(create_guest_memory(16 << 20, true).unwrap());
    let hiprio = MockSplitQueue::create(&*mem, GuestAddress(0x10000), 256);
    let request = MockSplitQueue::create(&*mem, GuestAddress(0x20000), 256);
    let irq = EventFd::new(libc::EFD_NONBLOCK).unwrap();
    let interrupt = Arc::new(VirtioInterrupt::new(irq.try_clone().unwrap()));
    fs.activate(Activation {
        mem: Arc::clone(&mem),
        queues: vec![
            hiprio.create_queue().unwrap(),
            request.create_queue().unwrap(),
        ],
        acked_features: fs.avail_features(),
        interrupt: Arc::clone(&interrupt),
    })
    .unwrap();

    // fuse_in_header (40 bytes) + fuse_init_in (64), then room for the answer.
    let (input, output) = (0x100000u64, 0x200000u64);
    let mut header = Vec::new();
    header.extend_from_slice(&104u32.to_le_bytes());
    header.extend_from_slice(&FUSE_INIT.to_le_bytes());
    header.extend_from_slice(&77u64.to_le_bytes()); // unique
    header.extend_from_slice(&[0; 24]); // nodeid, uid, gid, pid, extlen, padding
    header.extend_from_slice(&7u32.to_le_bytes()); // major
    header.extend_from_slice(&31u32.to_le_bytes()); // minor
    header.extend_from_slice(&[0; 56]);
    mem.write_slice(&header, GuestAddress(input)).unwrap();
    add_chain(
        &request,
        0,
        &[(input, 104, R), (output, 16, W), (output + 16, 256, W)],
    );
    fs.queue_events()[1].write(1).unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    while request.used().idx().load() == 0 {
        assert!(
            Instant::now() < deadline,
            "virtiofsd never answered FUSE_INIT"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let (head, written) = used_entry(&request, 0);
    assert_eq!(head, 0);
    assert!(written >= 16, "{written}");
    let error: i32 = mem.read_obj(GuestAddress(output + 4)).unwrap();
    let unique: u64 = mem.read_obj(GuestAddress(output + 8)).unwrap();
    assert_eq!((error, unique), (0, 77));
    let major: u32 = mem.read_obj(GuestAddress(output + 16)).unwrap();
    assert_eq!(major, 7);

    // The backend's call is the guest's interrupt, with the VRING status bit.
    let deadline = Instant::now() + Duration::from_secs(10);
    while interrupt.status() & VIRTIO_MMIO_INT_VRING == 0 {
        events.called(1);
        assert!(Instant::now() < deadline, "no call from virtiofsd");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(irq.read().unwrap() >= 1);
    fs.reset();
}

#[test]
fn a_missing_backend_or_bad_tag_is_a_clear_error() {
    let socket = Path::new("/nonexistent/hull-vmm/fs.sock").to_path_buf();
    let missing = VhostUserFs::new(&FsArgs {
        socket: socket.clone(),
        tag: "t".into(),
    });
    assert!(matches!(missing, Err(FsError::Backend { .. })));
    let long = VhostUserFs::new(&FsArgs {
        socket,
        tag: "x".repeat(37),
    });
    assert!(matches!(long, Err(FsError::BadTag(_))));
}
