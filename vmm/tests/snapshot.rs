//! Snapshot and restore on real KVM: a tiny guest counts on COM1; `x-hull-snapshot` saves
//! it mid-run, and a new hull-vmm process restored from the snapshot goes on counting from
//! where it stopped; a guest whose TSC-deadline timer is armed at the snapshot sees it fire
//! after the restore. Skips (with the reason printed) when /dev/kvm is unusable.

mod common;

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use crate::common::{flat_guest, qmp_session, skip_reason, temp_path, x86};

    /// Prints ebx as 8 uppercase hex digits and a newline, increments it, waits a little,
    /// forever (64-bit code; ~100k instructions per line, ~20 lines/s when emulated).
    fn counting_guest() -> Vec<u8> {
        #[rustfmt::skip]
        let code = vec![
            0x66, 0xba, 0xf8, 0x03, //       0: mov dx, 0x3f8
            0x31, 0xdb, //                   4: xor ebx, ebx
            0xb9, 0x08, 0, 0, 0, //          6: top: mov ecx, 8
            0xc1, 0xc3, 0x04, //            11: digit: rol ebx, 4
            0x89, 0xd8, //                  14: mov eax, ebx
            0x83, 0xe0, 0x0f, //            16: and eax, 0xf
            0x3c, 0x0a, //                  19: cmp al, 10
            0x72, 0x02, //                  21: jb num
            0x04, 0x07, //                  23: add al, 7 ('A' - '0' - 10)
            0x04, 0x30, //                  25: num: add al, '0'
            0xee, //                        27: out dx, al
            0xff, 0xc9, //                  28: dec ecx
            0x75, 0xeb, //                  30: jnz digit
            0xb0, 0x0a, //                  32: mov al, '\n'
            0xee, //                        34: out dx, al
            0xff, 0xc3, //                  35: inc ebx
            0xbe, 0x50, 0xc3, 0, 0, //      37: mov esi, 50000
            0xff, 0xce, //                  42: delay: dec esi
            0x75, 0xfc, //                  44: jnz delay
            0xeb, 0xd6, //                  46: jmp top
        ];
        flat_guest(code)
    }

    /// Arms the local APIC timer in TSC-deadline mode (x2APIC, vector 0x40, 2^33 TSC cycles
    /// ahead) and prints "armed"; then, interrupts off (no IDT needed), polls the APIC's IRR
    /// until the vector is pending, printing '.' every 400k instructions (~0.3 s emulated),
    /// and prints "fired". Prints "no x2APIC or TSC-deadline timer" if CPUID lacks either.
    fn tsc_deadline_guest() -> Vec<u8> {
        const HALT_FOREVER: [u8; 3] = [
            0xf4, //       hlt (IF=0: stays halted)
            0xeb, 0xfd, // jmp back to hlt
        ];
        let no_timer = [
            x86::DX_COM1.to_vec(),
            x86::print(b"no x2APIC or TSC-deadline timer\n"),
            HALT_FOREVER.to_vec(),
        ]
        .concat();
        #[rustfmt::skip]
        let check_cpuid = vec![
            0xb8, 0x01, 0, 0, 0, //             mov eax, 1
            0x0f, 0xa2, //                      cpuid
            0x81, 0xe1, 0, 0, 0x20, 0x01, //    and ecx, x2APIC (bit 21) | TSC deadline (bit 24)
            0x81, 0xf9, 0, 0, 0x20, 0x01, //    cmp ecx, the same
            0x74, u8::try_from(no_timer.len()).unwrap(), // je arm (past no_timer)
        ];
        #[rustfmt::skip]
        let arm = vec![
            0xb9, 0x1b, 0, 0, 0, //             mov ecx, IA32_APIC_BASE
            0x0f, 0x32, //                      rdmsr
            0x0d, 0x00, 0x0c, 0, 0, //          or eax, enabled (bit 11) | x2APIC (bit 10)
            0x0f, 0x30, //                      wrmsr
            // A software-disabled APIC forces every LVT entry masked: enable it first.
            0xb9, 0x0f, 0x08, 0, 0, //          mov ecx, x2APIC spurious vector register
            0xb8, 0xff, 0x01, 0, 0, //          mov eax, enabled (bit 8) | spurious vector 0xff
            0x31, 0xd2, //                      xor edx, edx
            0x0f, 0x30, //                      wrmsr
            0xb9, 0x32, 0x08, 0, 0, //          mov ecx, x2APIC LVT timer
            0xb8, 0x40, 0x00, 0x04, 0, //       mov eax, TSC-deadline mode (18:17 = 0b10) | 0x40
            0x0f, 0x30, //                      wrmsr
            0x0f, 0x31, //                      rdtsc (edx:eax)
            0x83, 0xc2, 0x02, //                add edx, 2 (2^33 cycles ahead)
            0xb9, 0xe0, 0x06, 0, 0, //          mov ecx, IA32_TSC_DEADLINE
            0x0f, 0x30, //                      wrmsr
        ];
        #[rustfmt::skip]
        let poll = vec![
            0xb9, 0x22, 0x08, 0, 0, //       0: poll: mov ecx, x2APIC IRR of vectors 0x40-0x5f
            0x0f, 0x32, //                   5: rdmsr
            0xa8, 0x01, //                   7: test al, 1 (vector 0x40)
            0x75, 0x12, //                   9: jnz fired (29, past this loop)
            0xbe, 0x40, 0x0d, 0x03, 0x00, // 11: mov esi, 200000
            0xff, 0xce, //                  16: delay: dec esi
            0x75, 0xfc, //                  18: jnz delay
            0x66, 0xba, 0xf8, 0x03, //      20: mov dx, 0x3f8
            0xb0, b'.', //                  24: mov al, '.'
            0xee, //                        26: out dx, al
            0xeb, 0xe3, //                  27: jmp poll
        ];
        let code = [
            check_cpuid,
            no_timer,
            arm,
            x86::DX_COM1.to_vec(),
            x86::print(b"armed\n"),
            poll,
            x86::DX_COM1.to_vec(),
            x86::print(b"fired\n"),
            HALT_FOREVER.to_vec(),
        ]
        .concat();
        flat_guest(code)
    }

    /// A running hull-vmm whose stdout is collected.
    struct Vmm {
        child: Child,
        out: Arc<Mutex<Vec<u8>>>,
        reader: Option<std::thread::JoinHandle<()>>,
    }

    impl Vmm {
        fn start(args: &[&std::ffi::OsStr]) -> Self {
            let mut child = Command::new(env!("CARGO_BIN_EXE_hull-vmm"))
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let out = Arc::new(Mutex::new(Vec::new()));
            let sink = out.clone();
            let reader = std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stdout.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
            Self {
                child,
                out,
                reader: Some(reader),
            }
        }

        fn lines(&self) -> usize {
            self.out
                .lock()
                .unwrap()
                .iter()
                .filter(|b| **b == b'\n')
                .count()
        }

        fn wait_for_lines(&self, n: usize, timeout: Duration) -> bool {
            let start = Instant::now();
            while start.elapsed() < timeout {
                if self.lines() >= n {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            false
        }

        /// Waits until stdout contains `needle`; when it was seen, if within `timeout`.
        fn wait_for(&self, needle: &str, timeout: Duration) -> Option<Instant> {
            let start = Instant::now();
            while start.elapsed() < timeout {
                if String::from_utf8_lossy(&self.out.lock().unwrap()).contains(needle) {
                    return Some(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            None
        }

        /// Waits for the exit (killing it after `timeout`); status, stdout, stderr.
        fn finish(mut self, timeout: Duration) -> (Option<i32>, String, String) {
            let start = Instant::now();
            let status = loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    break status.code();
                }
                if start.elapsed() > timeout {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            if let Some(reader) = self.reader.take() {
                let _ = reader.join();
            }
            let mut stderr = String::new();
            if let Some(mut err) = self.child.stderr.take() {
                let _ = err.read_to_string(&mut stderr);
            }
            let out = String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned();
            (status, out, stderr)
        }
    }

    /// The complete lines of `text` are 0, 1, 2, ... in 8-digit hex; how many there are.
    fn assert_counts_from_zero(text: &str) -> usize {
        let mut lines: Vec<&str> = text.split('\n').collect();
        lines.pop(); // after the last '\n': empty or a line cut short
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(*line, format!("{i:08X}"), "line {i} of:\n{text}");
        }
        lines.len()
    }

    /// Fresh paths for test `name`: `guest` written as the kernel, the snapshot directory
    /// and the control socket (both absent).
    fn scratch(name: &str, guest: &[u8]) -> (PathBuf, PathBuf, PathBuf) {
        let kernel = temp_path(&format!("{name}-guest"));
        std::fs::write(&kernel, guest).unwrap();
        let dir = temp_path(&format!("{name}-dir"));
        let _ = std::fs::remove_dir_all(&dir);
        let socket = temp_path(&format!("{name}.sock"));
        let _ = std::fs::remove_file(&socket);
        (kernel, dir, socket)
    }

    #[test]
    fn a_snapshot_taken_mid_run_resumes_counting_in_a_new_process() {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
        let (kernel, dir, socket) = scratch("snap", &counting_guest());

        // The zygote: count a few lines, stop, snapshot, quit.
        let first = Vmm::start(&[
            "--kernel".as_ref(),
            kernel.as_os_str(),
            "--control-socket".as_ref(),
            socket.as_os_str(),
        ]);
        assert!(
            first.wait_for_lines(3, Duration::from_secs(30)),
            "never counted"
        );
        let snapshot = format!(
            r#"{{"execute":"x-hull-snapshot","arguments":{{"dir":"{}"}}}}"#,
            dir.display()
        );
        let answers = qmp_session(
            &socket,
            &[r#"{"execute":"stop"}"#, &snapshot, r#"{"execute":"quit"}"#],
        );
        assert_eq!(answers[0], r#"{"return":{}}"#);
        assert!(answers[1].starts_with(r#"{"return":{"#), "{answers:?}");
        assert_eq!(answers[2], r#"{"return":{}}"#);
        let (status, before, stderr) = first.finish(Duration::from_secs(10));
        assert_eq!(status, Some(0), "quit exits 0: {stderr}");
        let counted_before = assert_counts_from_zero(&before);
        assert!(dir.join("state").exists() && dir.join("memory").exists());

        // A new process from the snapshot: no kernel, same shape.
        let started = Instant::now();
        let second = Vmm::start(&["--restore".as_ref(), dir.as_os_str()]);
        let restored = second.wait_for_lines(3, Duration::from_secs(30));
        let first_line_after = started.elapsed();
        let (_, after, stderr) = second.finish(Duration::ZERO);
        assert!(restored, "the restored guest never counted: {stderr}");
        let all = format!("{before}{after}");
        let total = assert_counts_from_zero(&all);
        assert!(
            total >= counted_before + 3,
            "the restored guest went on: {before:?} + {after:?}"
        );
        eprintln!(
            "counted {counted_before} lines before the snapshot, {} after the restore; \
             3 restored lines after {first_line_after:?}",
            total - counted_before
        );

        // A machine of another shape is refused, naming the difference.
        let refused = Vmm::start(&[
            "--restore".as_ref(),
            dir.as_os_str(),
            "--mem-mib".as_ref(),
            "256".as_ref(),
        ]);
        let (status, out, stderr) = refused.finish(Duration::from_secs(10));
        assert_eq!(status, Some(1), "{stderr}");
        assert!(out.is_empty());
        assert!(
            stderr.contains("the snapshot has 128 MiB of guest RAM, the config asks for 256 MiB"),
            "{stderr}"
        );

        // A corrupt state file is refused, never booted.
        let state = dir.join("state");
        let mut bytes = std::fs::read(&state).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&state, &bytes).unwrap();
        let corrupt = Vmm::start(&["--restore".as_ref(), dir.as_os_str()]);
        let (status, out, stderr) = corrupt.finish(Duration::from_secs(10));
        assert_eq!(status, Some(1), "{stderr}");
        assert!(out.is_empty());
        assert!(stderr.contains("is corrupt"), "{stderr}");

        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&kernel);
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn a_tsc_deadline_timer_armed_at_the_snapshot_fires_after_the_restore() {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
        let (kernel, dir, socket) = scratch("deadline", &tsc_deadline_guest());
        let fire_timeout = Duration::from_secs(60);

        // Control: without a snapshot the timer fires; how long after "armed" bounds the
        // time the snapshot may take.
        let control = Vmm::start(&["--kernel".as_ref(), kernel.as_os_str()]);
        let armed = control.wait_for("armed\n", Duration::from_secs(30));
        let fired = armed.and_then(|_| control.wait_for("fired\n", fire_timeout));
        let (_, out, stderr) = control.finish(Duration::ZERO);
        let (Some(armed), Some(fired)) = (armed, fired) else {
            panic!("the timer never fired without a snapshot: {out:?}\n{stderr}");
        };
        let armed_to_fired = fired - armed;

        // Snapshot while armed, well before the deadline.
        let first = Vmm::start(&[
            "--kernel".as_ref(),
            kernel.as_os_str(),
            "--control-socket".as_ref(),
            socket.as_os_str(),
        ]);
        let armed = first.wait_for("armed\n", Duration::from_secs(30));
        assert!(armed.is_some(), "never armed");
        let snapshot = format!(
            r#"{{"execute":"x-hull-snapshot","arguments":{{"dir":"{}"}}}}"#,
            dir.display()
        );
        let answers = qmp_session(
            &socket,
            &[r#"{"execute":"stop"}"#, &snapshot, r#"{"execute":"quit"}"#],
        );
        let armed_to_snapshot = armed.unwrap().elapsed();
        assert!(answers[1].starts_with(r#"{"return":{"#), "{answers:?}");
        let (status, before, stderr) = first.finish(Duration::from_secs(10));
        assert_eq!(status, Some(0), "quit exits 0: {stderr}");
        // A timer already pending at the snapshot would fire whatever the restore does.
        assert!(
            !before.contains("fired") && armed_to_snapshot < armed_to_fired / 2,
            "the snapshot ({armed_to_snapshot:?} after \"armed\") was not taken well before \
             the deadline ({armed_to_fired:?} after \"armed\"): this test proves nothing; \
             output {before:?}"
        );

        let started = Instant::now();
        let second = Vmm::start(&["--restore".as_ref(), dir.as_os_str()]);
        let fired = second.wait_for("fired\n", fire_timeout);
        let restore_to_fired = started.elapsed();
        let (_, after, stderr) = second.finish(Duration::ZERO);
        assert!(
            fired.is_some(),
            "the restored guest's timer never fired within {fire_timeout:?}: {after:?}\n{stderr}"
        );
        eprintln!(
            "without a snapshot: fired {armed_to_fired:?} after \"armed\"; snapshot done \
             {armed_to_snapshot:?} after \"armed\"; restored guest fired after \
             {restore_to_fired:?}"
        );

        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&kernel);
        let _ = std::fs::remove_file(&socket);
    }
}
