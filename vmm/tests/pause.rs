//! `--control-socket` on real KVM: a tiny guest prints `x` on COM1 forever (a delay loop
//! between two), `stop` parks its vCPU (no more output), `cont` resumes it. Skips (with the
//! reason printed) when /dev/kvm is unusable.

mod common;

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use crate::common::{flat_guest, qmp_session, skip_reason, temp_path, x86};

    /// `x`, a delay loop, again, forever (64-bit code).
    fn printing_forever() -> Vec<u8> {
        let mut code = x86::DX_COM1.to_vec();
        code.extend([
            0xb0, b'x', //                     0: mov al, 'x'
            0xee, //                           2: out dx, al
            0xb9, 0x40, 0x0d, 0x03, 0x00, //   3: mov ecx, 200000
            0xe2, 0xfe, //                     8: loop 8
            0xeb, 0xf4, //                    10: jmp 0
        ]);
        flat_guest(code)
    }

    /// One QMP exchange per command on a fresh session ([`qmp_session`]); the answers.
    fn qmp(socket: &std::path::Path, commands: &[&str]) -> Vec<String> {
        let requests: Vec<String> = commands
            .iter()
            .map(|command| format!("{{\"execute\":\"{command}\"}}"))
            .collect();
        let requests: Vec<&str> = requests.iter().map(String::as_str).collect();
        qmp_session(socket, &requests)
    }

    fn wait_for(count: &Mutex<usize>, at_least: usize, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if *count.lock().unwrap() >= at_least {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn stop_parks_the_vcpus_and_cont_resumes_them() {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
        let kernel = temp_path("pause-guest");
        std::fs::write(&kernel, printing_forever()).unwrap();
        let socket = temp_path("pause.sock");
        let mut child = Command::new(env!("CARGO_BIN_EXE_hull-vmm"))
            .arg("--kernel")
            .arg(&kernel)
            .arg("--control-socket")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let printed = Arc::new(Mutex::new(0usize));
        let mut stdout = child.stdout.take().unwrap();
        let counter = printed.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                *counter.lock().unwrap() += buf[..n].iter().filter(|b| **b == b'x').count();
            }
        });
        let outcome = std::panic::catch_unwind(|| {
            assert!(
                wait_for(&printed, 3, Duration::from_secs(30)),
                "the guest never printed"
            );
            let answers = qmp(&socket, &["qmp_capabilities", "stop", "query-status"]);
            assert_eq!(answers[1], "{\"return\":{}}");
            assert!(answers[2].contains("\"running\":false"), "{answers:?}");
            // What was written before the park may still be in the pipe.
            std::thread::sleep(Duration::from_millis(200));
            let frozen = *printed.lock().unwrap();
            std::thread::sleep(Duration::from_secs(2));
            assert_eq!(
                *printed.lock().unwrap(),
                frozen,
                "the guest ran while stopped"
            );
            let answers = qmp(&socket, &["qmp_capabilities", "cont"]);
            assert_eq!(answers[1], "{\"return\":{}}");
            assert!(
                wait_for(&printed, frozen + 3, Duration::from_secs(30)),
                "the guest never resumed"
            );
        });
        let _ = child.kill();
        let _ = child.wait();
        let _ = reader.join();
        let _ = std::fs::remove_file(&kernel);
        let _ = std::fs::remove_file(&socket);
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}
