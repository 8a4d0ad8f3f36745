//! A console's unix socket backend, QEMU's `-chardev socket,server=on,wait=on`: hull-vmm
//! creates the socket, and the VM is only started once a peer has connected, so the
//! guest's first byte already has a reader. One peer per socket: the path is removed once
//! it is connected, and a peer that leaves is not replaced (the guest's output to that
//! console is then dropped, its input sees nothing more).

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::device::ConsoleError;

/// A listening console socket; its path is removed when it is dropped or has its peer.
#[derive(Debug)]
pub struct ConsoleListener {
    listener: UnixListener,
    path: PathBuf,
    /// (device, inode) of the socket file we created, so that only ours is ever removed.
    file_id: (u64, u64),
}

impl ConsoleListener {
    /// Creates and listens on the socket at `path`, replacing a stale socket left there
    /// (anything else at `path` is an error: it is not ours to delete).
    pub fn bind(path: &Path) -> Result<Self, ConsoleError> {
        let listen_error = |source| ConsoleError::Listen {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                std::fs::remove_file(path).map_err(listen_error)?;
            }
            Ok(_) => return Err(ConsoleError::NotASocket(path.to_path_buf())),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(listen_error(err)),
        }
        let listener = UnixListener::bind(path).map_err(listen_error)?;
        let meta = std::fs::symlink_metadata(path).map_err(listen_error)?;
        Ok(Self {
            listener,
            path: path.to_path_buf(),
            file_id: (meta.dev(), meta.ino()),
        })
    }

    /// Where the socket is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits (blocking) up to `timeout` for the peer and returns its connection; the socket
    /// stops listening and its path is removed. The bound matters: a client that died
    /// before connecting would otherwise leave this VMM waiting for ever.
    pub fn accept(self, timeout: Duration) -> Result<UnixStream, ConsoleError> {
        let fail = |source| ConsoleError::Accept {
            path: self.path.clone(),
            source,
        };
        self.listener.set_nonblocking(true).map_err(fail)?;
        let deadline = Instant::now() + timeout;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).map_err(fail)?;
                    return Ok(stream);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(fail(err)),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(fail(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no client connected within {timeout:?}"),
                )));
            }
            let mut fds = [libc::pollfd {
                fd: self.listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            let millis = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
            // SAFETY: `fds` is a valid array of one pollfd that outlives the call, and its
            // length is passed with it; poll only writes `revents`.
            let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, millis) };
            if ready < 0 {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(fail(err));
                }
            }
        }
    }
}

impl Drop for ConsoleListener {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| (meta.dev(), meta.ino()) == self.file_id);
        if ours {
            if let Err(err) = std::fs::remove_file(&self.path) {
                tracing::debug!(
                    "virtio-console: cannot remove socket {}: {err}",
                    self.path.display()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "hull-vmm-console-socket-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_peer_that_connects_before_accept_is_served_and_the_path_goes_away() {
        let dir = temp_dir("accept");
        let path = dir.join("hvc0.sock");
        let listener = ConsoleListener::bind(&path).unwrap();
        assert_eq!(listener.path(), path);
        // Connecting only needs the socket to listen (as hull does, before the VMM accepts).
        let mut peer = UnixStream::connect(&path).unwrap();
        let mut vmm_end = listener.accept(Duration::from_secs(5)).unwrap();
        assert!(
            !path.exists(),
            "the path is removed once the peer is connected"
        );
        peer.write_all(b"in").unwrap();
        let mut got = [0u8; 2];
        vmm_end.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"in");
        vmm_end.write_all(b"out").unwrap();
        let mut got = [0u8; 3];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"out");
        // Nobody else can connect any more.
        assert!(UnixStream::connect(&path).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_client_that_never_connects_times_out_and_the_path_goes_away() {
        let dir = temp_dir("timeout");
        let path = dir.join("hvc1.sock");
        let listener = ConsoleListener::bind(&path).unwrap();
        let started = Instant::now();
        let err = listener.accept(Duration::from_millis(100)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(err.to_string().contains("hvc1.sock"), "{err}");
        assert!(!path.exists(), "nobody is listening any more");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_peer_that_connects_during_the_wait_is_served() {
        let dir = temp_dir("late");
        let path = dir.join("hvc2.sock");
        let listener = ConsoleListener::bind(&path).unwrap();
        let peer_path = path.clone();
        let peer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let mut peer = UnixStream::connect(peer_path).unwrap();
            peer.write_all(b"late").unwrap();
        });
        let mut vmm_end = listener.accept(Duration::from_secs(5)).unwrap();
        let mut got = [0u8; 4];
        vmm_end.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"late");
        peer.join().unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_stale_socket_is_replaced_and_other_files_are_left_alone() {
        let dir = temp_dir("stale");
        let path = dir.join("hvc1.sock");
        // A socket left by a process that died (bound, then the listener closed).
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let listener = ConsoleListener::bind(&path).unwrap();
        drop(listener);
        assert!(!path.exists(), "an unused listener removes its path");

        let file = dir.join("notes.txt");
        std::fs::write(&file, "keep me").unwrap();
        let err = ConsoleListener::bind(&file).unwrap_err();
        assert!(matches!(err, ConsoleError::NotASocket(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

        let err = ConsoleListener::bind(&dir.join("missing/dir.sock")).unwrap_err();
        assert!(matches!(err, ConsoleError::Listen { .. }), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_socket_replaced_by_someone_else_is_not_removed() {
        let dir = temp_dir("replaced");
        let path = dir.join("hvc2.sock");
        let listener = ConsoleListener::bind(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let theirs = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(listener);
        assert!(path.exists(), "another process's socket at the path stays");
        drop(theirs);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Three consoles on three sockets, as hull uses them: each carries its own bytes both
    /// ways, a peer that leaves (idle, or while the guest's output is blocked on it) neither
    /// stalls its console's guest side nor makes the event loop spin, and the other
    /// consoles keep working.
    #[test]
    fn three_socket_consoles_carry_their_own_bytes_and_survive_a_peer_leaving() {
        use std::sync::Arc;
        use std::time::Duration;

        use event_manager::{EventManager, SubscriberOps};
        use virtio_queue::mock::MockSplitQueue;
        use vm_memory::{Bytes, GuestAddress};
        use vmm_sys_util::eventfd::EventFd;

        use crate::devices::virtio::console::{Console, ConsoleArgs, ConsoleEventHandler};
        use crate::devices::virtio::test_utils::{add_chain, test_memory, R, W};
        use crate::devices::virtio::{Activation, VirtioDevice, VirtioInterrupt};

        let dir = temp_dir("three");
        let mem = test_memory();
        let mut manager = EventManager::<ConsoleEventHandler>::new().unwrap();
        let mut consoles = Vec::new();
        let mut peers = Vec::new();
        let mut rings = Vec::new();
        // Each console's queues and buffers in their own 64 KiB of guest memory.
        let base = |i: usize| 0x1_0000 * u64::try_from(i).unwrap();
        for i in 0..3 {
            let path = dir.join(format!("hvc{i}.sock"));
            let listener = ConsoleListener::bind(&path).unwrap();
            let peer = UnixStream::connect(&path).unwrap();
            peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let stream = listener.accept(Duration::from_secs(5)).unwrap();
            let (mut console, events) = Console::new(ConsoleArgs {
                input: Some(Box::new(stream.try_clone().unwrap())),
                output: Box::new(stream),
                size: (0, 0),
            })
            .unwrap();
            let rxq = MockSplitQueue::create(&*mem, GuestAddress(base(i)), 16);
            let txq = MockSplitQueue::create(&*mem, GuestAddress(base(i) + 0x1000), 16);
            let irq = EventFd::new(libc::EFD_NONBLOCK).unwrap();
            console
                .activate(Activation {
                    mem: mem.clone(),
                    queues: vec![rxq.create_queue().unwrap(), txq.create_queue().unwrap()],
                    acked_features: console.avail_features(),
                    interrupt: Arc::new(VirtioInterrupt::new(irq)),
                })
                .unwrap();
            manager.add_subscriber(events);
            consoles.push(console);
            peers.push(Some(peer));
            rings.push((rxq, txq));
        }
        let pump = |manager: &mut EventManager<ConsoleEventHandler>| {
            for _ in 0..8 {
                manager.run_with_timeout(1).unwrap();
            }
        };
        let kick =
            |console: &Console, queue: usize| console.queue_events()[queue].write(1).unwrap();
        let guest_says = |i: usize, text: &[u8], desc: u16| {
            let addr = base(i) + 0x4000 + u64::from(desc) * 0x100;
            mem.write_slice(text, GuestAddress(addr)).unwrap();
            add_chain(
                &rings[i].1,
                desc,
                &[(addr, u32::try_from(text.len()).unwrap(), R)],
            );
            kick(&consoles[i], 1);
        };

        // Guest -> host: each peer gets exactly its console's output.
        for i in 0..3 {
            guest_says(i, format!("from hvc{i}\n").as_bytes(), 0);
        }
        pump(&mut manager);
        for (i, peer) in peers.iter_mut().enumerate() {
            let want = format!("from hvc{i}\n");
            let mut got = vec![0u8; want.len()];
            peer.as_mut().unwrap().read_exact(&mut got).unwrap();
            assert_eq!(got, want.as_bytes());
            assert_eq!(rings[i].1.used().idx().load(), 1);
        }

        // Host -> guest: each console's RX buffer gets its own peer's bytes.
        for (i, peer) in peers.iter_mut().enumerate() {
            peer.as_mut()
                .unwrap()
                .write_all(format!("to hvc{i}").as_bytes())
                .unwrap();
            add_chain(&rings[i].0, 0, &[(base(i) + 0x8000, 64, W)]);
            kick(&consoles[i], 0);
        }
        pump(&mut manager);
        for (i, (rxq, _)) in rings.iter().enumerate() {
            assert_eq!(rxq.used().idx().load(), 1, "console {i}");
            let mut got = [0u8; 7];
            mem.read_slice(&mut got, GuestAddress(base(i) + 0x8000))
                .unwrap();
            assert_eq!(got, format!("to hvc{i}").as_bytes());
        }

        // Console 1's peer stops reading: 1 MiB of guest output blocks on it.
        const BIG: usize = 1 << 20;
        let big_at = 0x20_0000;
        mem.write_slice(&vec![b'x'; BIG], GuestAddress(big_at))
            .unwrap();
        add_chain(&rings[1].1, 1, &[(big_at, u32::try_from(BIG).unwrap(), R)]);
        kick(&consoles[1], 1);
        pump(&mut manager);
        assert_eq!(
            rings[1].1.used().idx().load(),
            1,
            "blocked: still in flight"
        );
        // Then it leaves, and so does console 2's (idle) peer.
        drop(peers[1].take());
        drop(peers[2].take());
        pump(&mut manager);
        assert_eq!(
            rings[1].1.used().idx().load(),
            2,
            "output to a gone peer completes (dropped), the guest is not stuck"
        );
        // Console 2: guest output still completes; an RX buffer stays the guest's.
        guest_says(2, b"nobody listens\n", 1);
        add_chain(&rings[2].0, 1, &[(base(2) + 0x9000, 64, W)]);
        kick(&consoles[2], 0);
        pump(&mut manager);
        assert_eq!(rings[2].1.used().idx().load(), 2);
        assert_eq!(
            rings[2].0.used().idx().load(),
            1,
            "no input from a gone peer"
        );
        // Nothing left to do: the loop sleeps instead of spinning on the hung-up sockets.
        assert_eq!(manager.run_with_timeout(50).unwrap(), 0);

        // Console 0 is unaffected.
        guest_says(0, b"still here\n", 1);
        pump(&mut manager);
        let mut got = [0u8; 11];
        peers[0].as_mut().unwrap().read_exact(&mut got).unwrap();
        assert_eq!(&got, b"still here\n");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
