//! hull-init: PID 1 in every hull VM (and `hull-init run` for host-side tests).

fn main() {
    if std::process::id() == 1 {
        hull_guest_init::guest::run_as_pid1();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(hull_guest_init::host::main(&args));
}
