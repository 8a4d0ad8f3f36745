//! The two I/O port writes of the host contract: the boot-timer mark (hull-vmm logs it)
//! and QEMU's isa-debug-exit (QEMU quits at once). Other engines ignore both writes.

/// QEMU isa-debug-exit port (hull's QEMU engine adds the device at this base).
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Writes `value` to I/O `port`; failures (no ioperm: not root, kernel without
/// CONFIG_X86_IOPL_IOPERM) are ignored, because every engine that cares has another way
/// to notice. The write happens in a short-lived child: on a hypervisor that mishandles
/// user-mode port I/O the fault kills the child, never PID 1 (which would panic the
/// kernel).
pub fn outb(port: u16, value: u8) {
    // SAFETY: hull-init is single-threaded; the child only makes two system calls and an
    // `out` before _exit.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            write_port(port, value);
            // SAFETY: _exit ends the forked copy without running PID 1's exit handlers.
            unsafe { libc::_exit(0) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            let _ = nix::sys::wait::waitpid(child, None);
        }
        Err(_) => {}
    }
}

fn write_port(port: u16, value: u8) {
    // SAFETY: ioperm only changes this process's I/O permission bitmap.
    if unsafe { libc::ioperm(libc::c_ulong::from(port), 1, 1) } != 0 {
        return;
    }
    // SAFETY: ioperm granted access to exactly this port; an `out` has no memory effects
    // on this process. The devices behind these ports (boot timer, debug exit) only record
    // or stop the VM.
    unsafe {
        std::arch::asm!(
            "out dx, al",
            in("dx") port,
            in("al") value,
            options(nomem, nostack, preserves_flags)
        );
    }
}

/// Marks "userspace reached" for hull-vmm's boot timer.
pub fn mark_boot_timer() {
    outb(
        hull_protocol::BOOT_TIMER_PORT,
        hull_protocol::BOOT_TIMER_VALUE,
    );
}

/// Asks QEMU to exit now (the result is already on the config disk).
pub fn debug_exit() {
    outb(DEBUG_EXIT_PORT, 0);
}
