//! Tiny-guest restore-to-running time (issue #19's goal: <= 10 ms): a guest that prints
//! "x\n" on COM1 in a short loop is snapshotted once, then `hull-vmm --restore DIR` is
//! started RUNS times; each run is timed from spawn to the first byte the restored guest
//! prints (exec, KVM VM and vCPU creation, mapping the memory file, state restore, and the
//! guest's next `out`). Prints min/median/max. `cargo bench -p hull-vmm --bench restore`;
//! `HULL_BENCH_MEM_MIB=4096` shows the time does not grow with guest RAM.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{flat_guest, qmp_session, skip_reason, temp_path, wait_for_path};

const RUNS: usize = 20;

/// "x\n", 200 turns of a delay loop, again (64-bit code).
fn printing_guest() -> Vec<u8> {
    #[rustfmt::skip]
    let code = vec![
        0x66, 0xba, 0xf8, 0x03, //       0: mov dx, 0x3f8
        0xb0, b'x', //                   4: top: mov al, 'x'
        0xee, //                         6: out dx, al
        0xb0, b'\n', //                  7: mov al, '\n'
        0xee, //                         9: out dx, al
        0xb9, 0xc8, 0, 0, 0, //         10: mov ecx, 200
        0xe2, 0xfe, //                  15: loop 15
        0xeb, 0xf1, //                  17: jmp top
    ];
    flat_guest(code)
}

fn hull_vmm() -> Command {
    let mem_mib = std::env::var("HULL_BENCH_MEM_MIB").unwrap_or_else(|_| "128".into());
    let mut command = Command::new(env!("CARGO_BIN_EXE_hull-vmm"));
    command
        .arg("--mem-mib")
        .arg(mem_mib)
        .arg("--log-level")
        .arg("error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// Boots the guest, lets it print, snapshots it into `dir`.
fn take_snapshot(kernel: &std::path::Path, dir: &std::path::Path) {
    let socket = temp_path("bench-restore.sock");
    let _ = std::fs::remove_file(&socket);
    let mut child = hull_vmm()
        .arg("--kernel")
        .arg(kernel)
        .arg("--control-socket")
        .arg(&socket)
        .spawn()
        .expect("spawn hull-vmm");
    let mut first = [0u8; 1];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    assert!(wait_for_path(&socket, Duration::from_secs(10)));
    let request = format!(
        r#"{{"execute":"x-hull-snapshot","arguments":{{"dir":"{}"}}}}"#,
        dir.display()
    );
    let answers = qmp_session(&socket, &[&request, r#"{"execute":"quit"}"#]);
    assert!(answers[0].starts_with(r#"{"return""#), "{answers:?}");
    let _ = child.wait();
    let _ = std::fs::remove_file(&socket);
}

fn main() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let kernel = temp_path("bench-restore-guest");
    std::fs::write(&kernel, printing_guest()).unwrap();
    let dir = temp_path("bench-restore-snapshot");
    let _ = std::fs::remove_dir_all(&dir);
    take_snapshot(&kernel, &dir);
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let mut child = hull_vmm()
                .arg("--restore")
                .arg(&dir)
                .spawn()
                .expect("spawn hull-vmm");
            let mut first = [0u8; 1];
            child.stdout.take().unwrap().read_exact(&mut first).unwrap();
            let elapsed = start.elapsed();
            let _ = child.kill();
            let _ = child.wait();
            elapsed
        })
        .collect();
    times.sort();
    println!(
        "tiny-guest restore to first guest output, {RUNS} runs: min {:.2} ms, median {:.2} ms, max {:.2} ms",
        times[0].as_secs_f64() * 1e3,
        times[RUNS / 2].as_secs_f64() * 1e3,
        times[RUNS - 1].as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&kernel);
}
