//! hull-init: PID 1 in every hull VM (and `hull-init run` for host-side tests).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The kernel hands unknown boot parameters to init as arguments, so PID 1 decides by
    // the subcommand, not by the argument count; `run` works under `unshare -p` too.
    if std::process::id() == 1 && args.first().map(String::as_str) != Some("run") {
        hull_guest_init::guest::run_as_pid1();
    }
    std::process::exit(hull_guest_init::host::main(&args));
}
