//! hull-init: PID 1 in every hull VM (and `hull-init run` for host-side tests), and the
//! container's own tiny init for `run --init` (exec'd as `/sbin/docker-init`).

use hull_guest_init::container_init;

fn main() {
    let mut argv = std::env::args();
    let argv0 = argv.next().unwrap_or_default();
    let args: Vec<String> = argv.collect();
    // By argv[0], before anything else: the container's init is PID 1 of its pid namespace.
    if container_init::is_invoked_as(&argv0) {
        std::process::exit(container_init::main(&args));
    }
    // The kernel hands unknown boot parameters to init as arguments, so PID 1 decides by
    // the subcommand, not by the argument count; `run` works under `unshare -p` too.
    if std::process::id() == 1 && args.first().map(String::as_str) != Some("run") {
        hull_guest_init::guest::run_as_pid1();
    }
    std::process::exit(hull_guest_init::host::main(&args));
}
