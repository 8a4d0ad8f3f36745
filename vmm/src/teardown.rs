//! Moving the VM's teardown off the exit path. Closing the last KVM VM fd frees the VM
//! synchronously (~15 ms on this host, more with more memory); a process exiting with the
//! VM open pays the same inside `exit`. A forked helper that holds the fds until the VMM
//! has exited pays it instead, so whoever waits for the VMM gets its status at once.

/// Forks a helper that keeps this process's file descriptors (the VM's among them) until
/// this process exits, then exits itself. Call right before exiting; best effort.
pub fn detach() {
    let mut pipe = [0 as libc::c_int; 2];
    // SAFETY: `pipe` is a valid array of two fds for pipe(2) to fill.
    if unsafe { libc::pipe(pipe.as_mut_ptr()) } != 0 {
        return;
    }
    let [read_end, write_end] = pipe;
    // SAFETY: the child only makes async-signal-safe calls (close, read, _exit) before
    // exiting, as required after fork in a multi-threaded process.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: async-signal-safe calls on fds this process owns. Closing stdio keeps
        // whoever reads our output from waiting for the helper; the read returns at EOF,
        // when the parent (the only other holder of the write end) has exited.
        unsafe {
            libc::close(write_end);
            libc::close(0);
            libc::close(1);
            libc::close(2);
            let mut byte = 0u8;
            libc::read(read_end, std::ptr::addr_of_mut!(byte).cast(), 1);
            libc::_exit(0);
        }
    }
    // SAFETY: closing our copy of the read end; the write end stays open until we exit.
    unsafe {
        libc::close(read_end);
    }
}
