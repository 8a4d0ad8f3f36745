//! Tiny guest programs booted by the real `hull-vmm` binary on /dev/kvm, through the same
//! kernel loader and boot path as Linux. Each skips (with the reason printed) when
//! /dev/kvm is unusable. Guests stay tiny: on emulation-only KVM, ring-0 code runs at
//! ~2 M instructions/s.

mod common;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::common::{elf, flat_guest, run_hull_vmm, skip_reason, x86, Segment, LOAD_ADDR};

    const TIMEOUT: Duration = Duration::from_secs(20);

    macro_rules! skip_without_kvm {
        () => {
            if let Some(why) = skip_reason() {
                eprintln!("skipped: {why}");
                return;
            }
        };
    }

    fn linux64_guest(code: Vec<u8>) -> Vec<u8> {
        flat_guest(code)
    }

    #[test]
    fn prints_on_com1_marks_the_boot_timer_and_resets_through_the_i8042() {
        skip_without_kvm!();
        let mut code = x86::DX_COM1.to_vec();
        code.extend(x86::print(b"hello from a tiny guest\n"));
        code.extend([
            0xb0, 0x7b, //             mov al, 123 (BOOT_TIMER_MAGIC)
            0x66, 0xba, 0xf4, 0x03, // mov dx, 0x3f4 (boot-timer port)
            0xee, //                   out dx, al
        ]);
        code.extend(x86::RESET);
        let run = run_hull_vmm("hello", &linux64_guest(code), &[], TIMEOUT);
        assert_eq!(
            run.stdout, "hello from a tiny guest\n",
            "stderr: {}",
            run.stderr
        );
        assert_eq!(run.status, Some(0), "stderr: {}", run.stderr);
        assert!(run.stderr.contains("I8042Reset"), "stderr: {}", run.stderr);
        assert!(
            run.stderr.contains("guest userspace reached after"),
            "stderr: {}",
            run.stderr
        );
        eprintln!("wall {:?}", run.wall);
    }

    #[test]
    fn pvh_entry_gets_start_info_in_ebx() {
        skip_without_kvm!();
        // 32-bit protected mode, paging off.
        let ok = [x86::print(b"pvh ok\n"), x86::RESET.to_vec()].concat();
        let bad = [x86::print(b"pvh bad\n"), x86::RESET.to_vec()].concat();
        let mut code = x86::DX_COM1.to_vec();
        code.extend([0x81, 0xfb, 0x00, 0x60, 0x00, 0x00]); // cmp ebx, 0x6000 (PVH_INFO_START)
        code.extend([0x75, 6 + 2 + u8::try_from(ok.len()).unwrap()]); // jne bad
        code.extend([0x81, 0x3b, 0x78, 0xc5, 0x6e, 0x33]); // cmp dword [ebx], 0x336ec578 (magic)
        code.extend([0x75, u8::try_from(ok.len()).unwrap()]); // jne bad
        code.extend(ok);
        code.extend(bad);
        let entry = u32::try_from(LOAD_ADDR).unwrap();
        // The ELF entry is irrelevant with PVH; point it elsewhere to prove the note is used.
        let image = elf(
            LOAD_ADDR + 0x1000,
            &[Segment {
                paddr: LOAD_ADDR,
                bytes: code,
            }],
            Some(entry),
        );
        let run = run_hull_vmm("pvh", &image, &[], TIMEOUT);
        assert_eq!(run.stdout, "pvh ok\n", "stderr: {}", run.stderr);
        assert_eq!(run.status, Some(0), "stderr: {}", run.stderr);
    }

    #[test]
    fn triple_fault_ends_the_vm_cleanly() {
        skip_without_kvm!();
        let mut code = x86::DX_COM1.to_vec();
        code.extend(x86::print(b"faulting\n"));
        // mov rax, [0x40000000]: past the 1 GiB boot identity map -> #PF with an empty IDT
        // -> #DF -> triple fault.
        code.extend([0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40]);
        code.extend(x86::print(b"not reached\n"));
        code.extend(x86::RESET);
        let run = run_hull_vmm("triple", &linux64_guest(code), &[], TIMEOUT);
        assert_eq!(run.stdout, "faulting\n", "stderr: {}", run.stderr);
        assert_eq!(run.status, Some(0), "stderr: {}", run.stderr);
        assert!(run.stderr.contains("TripleFault"), "stderr: {}", run.stderr);
    }

    #[test]
    fn reads_e820_from_boot_params_and_prints_its_checksum() {
        skip_without_kvm!();
        let mut code = vec![
            0x0f, 0xb6, 0x8e, 0xe8, 0x01, 0x00,
            0x00, // movzx ecx, byte [rsi+0x1e8] (e820_entries)
            0x6b, 0xc9, 0x14, //                         imul ecx, ecx, 20 (bytes per entry)
            0x48, 0x8d, 0xb6, 0xd0, 0x02, 0x00, 0x00, // lea rsi, [rsi+0x2d0] (e820_table)
            0x31, 0xdb, //                               xor ebx, ebx
            // sum:
            0x0f, 0xb6, 0x06, //                         movzx eax, byte [rsi]
            0x01, 0xc3, //                               add ebx, eax
            0x48, 0xff, 0xc6, //                         inc rsi
            0xff, 0xc9, //                               dec ecx
            0x75, 0xf4, //                               jnz sum
        ];
        code.extend(x86::DX_COM1);
        code.extend([
            0xb9, 0x08, 0x00, 0x00, 0x00, // mov ecx, 8 (hex digits)
            // hex:
            0xc1, 0xc3, 0x04, // rol ebx, 4
            0x88, 0xd8, //       mov al, bl
            0x24, 0x0f, //       and al, 0x0f
            0x04, 0x30, //       add al, '0'
            0x3c, 0x39, //       cmp al, '9'
            0x76, 0x02, //       jbe +2
            0x04, 0x27, //       add al, 'a' - '0' - 10
            0xee, //             out dx, al
            0xff, 0xc9, //       dec ecx
            0x75, 0xec, //       jnz hex
        ]);
        code.extend(x86::print(b"\n"));
        code.extend(x86::RESET);
        let run = run_hull_vmm("e820", &linux64_guest(code), &["--mem-mib", "64"], TIMEOUT);
        assert_eq!(run.status, Some(0), "stderr: {}", run.stderr);
        // The map the guest must see for 64 MiB: RAM below the EBDA, the EBDA-to-1 MiB hole
        // reserved, RAM from 1 MiB to 64 MiB.
        let expected: [(u64, u64, u32); 3] = [
            (0, 0x9fc00, 1),
            (0x9fc00, 0x10_0000 - 0x9fc00, 2),
            (0x10_0000, (64 << 20) - 0x10_0000, 1),
        ];
        let sum: u32 = expected
            .iter()
            .flat_map(|(a, s, t)| {
                [
                    a.to_le_bytes().to_vec(),
                    s.to_le_bytes().to_vec(),
                    t.to_le_bytes().to_vec(),
                ]
            })
            .flatten()
            .map(u32::from)
            .sum();
        assert_eq!(run.stdout, format!("{sum:08x}\n"), "stderr: {}", run.stderr);
    }

    #[test]
    fn two_vcpus_each_print_their_apic_id() {
        skip_without_kvm!();
        // The AP starts in real mode at 0x10000 (SIPI vector 0x10), CS = 0x1000.
        let mut ap = vec![
            0x66, 0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1
            0x0f, 0xa2, //                         cpuid
            0x66, 0xc1, 0xeb, 0x18, //             shr ebx, 24 (initial APIC id)
            0x80, 0xc3, 0x30, //                   add bl, '0'
        ];
        ap.extend(x86::DX_COM1_16);
        ap.extend(x86::print(b"cpu "));
        ap.extend([0x88, 0xd8, 0xee]); // mov al, bl; out dx, al
        ap.extend(x86::print(b"\n"));
        ap.extend([
            0x8c, 0xc8, //                   mov ax, cs
            0x8e, 0xd8, //                   mov ds, ax
            0xc6, 0x06, 0x00, 0x10, 0x01, // mov byte [0x1000], 1 (flag at 0x11000)
            0xfa, //                         cli
            0xf4, //                         hlt
            0xeb, 0xfd, //                   jmp short -3
        ]);
        // The BSP (PVH: 32-bit, paging off, so the LAPIC at 0xfee00000 is reachable).
        let mut bsp = vec![
            0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1
            0x0f, 0xa2, //                   cpuid
            0xc1, 0xeb, 0x18, //             shr ebx, 24
            0x80, 0xc3, 0x30, //             add bl, '0'
        ];
        bsp.extend(x86::DX_COM1);
        bsp.extend(x86::print(b"cpu "));
        bsp.extend([0x88, 0xd8, 0xee]); // mov al, bl; out dx, al
        bsp.extend(x86::print(b"\n"));
        bsp.extend([
            0xc7, 0x05, 0x10, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x01, // ICR high: APIC id 1
            0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x00,
            0x00, // ICR low: INIT, assert
            0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x10, 0x46, 0x00, 0x00, // ICR low: SIPI 0x10
            // wait:
            0x80, 0x3d, 0x00, 0x10, 0x01, 0x00, 0x01, // cmp byte [0x11000], 1
            0x75, 0xf7, //                               jne wait
        ]);
        bsp.extend(x86::RESET);
        let image = elf(
            LOAD_ADDR,
            &[
                Segment {
                    paddr: 0x10000,
                    bytes: ap,
                },
                Segment {
                    paddr: LOAD_ADDR,
                    bytes: bsp,
                },
            ],
            Some(u32::try_from(LOAD_ADDR).unwrap()),
        );
        let run = run_hull_vmm("smp", &image, &["--cpus", "2"], TIMEOUT);
        assert_eq!(run.stdout, "cpu 0\ncpu 1\n", "stderr: {}", run.stderr);
        assert_eq!(run.status, Some(0), "stderr: {}", run.stderr);
    }

    #[test]
    fn bad_kernel_fails_with_a_one_line_cause() {
        // Needs no KVM for the message when /dev/kvm is absent, but the order of checks means
        // the KVM error comes first there; assert only the shape.
        let run = run_hull_vmm("garbage", &[0x55; 4096], &[], TIMEOUT);
        assert_eq!(run.status, Some(1), "stderr: {}", run.stderr);
        let line = run.stderr.lines().last().unwrap_or_default();
        assert!(line.starts_with("hull-vmm: error: "), "{line}");
        if skip_reason().is_none() {
            assert!(line.contains("is not a kernel hull-vmm can boot"), "{line}");
        }
        assert!(run.stdout.is_empty());
    }

    #[test]
    fn virtio_blk_registers_are_visible_over_mmio() {
        skip_without_kvm!();
        let disk = crate::common::temp_path("disk.img");
        let ok = [x86::print(b"virtio-blk ok\n"), x86::RESET.to_vec()].concat();
        let bad = [x86::print(b"virtio-blk bad\n"), x86::RESET.to_vec()].concat();
        let ok_len = u8::try_from(ok.len()).unwrap();
        let mut code = x86::DX_COM1.to_vec();
        // Each check: mov eax, [slot + reg] (5 bytes); cmp eax, imm (3 or 5); jne bad (2).
        let checks: [(u8, &[u8]); 3] = [
            (0x00, &[0x3d, 0x76, 0x69, 0x72, 0x74]), // MagicValue == "virt"
            (0x04, &[0x83, 0xf8, 0x02]),             // Version == 2
            (0x08, &[0x83, 0xf8, 0x02]),             // DeviceID == 2 (block)
        ];
        let mut blocks: Vec<Vec<u8>> = checks
            .iter()
            .map(|(reg, cmp)| [&[0xa1, *reg, 0x00, 0x00, 0xd0][..], cmp].concat())
            .collect();
        // Config space capacity (offset 0x100) == 2048 sectors.
        blocks.push(vec![
            0xa1, 0x00, 0x01, 0x00, 0xd0, 0x3d, 0x00, 0x08, 0x00, 0x00,
        ]);
        let lens: Vec<usize> = blocks.iter().map(|b| b.len() + 2).collect();
        for (i, block) in blocks.iter().enumerate() {
            code.extend(block);
            let rest: usize = lens[i + 1..].iter().sum();
            code.extend([0x75, u8::try_from(rest).unwrap() + ok_len]); // jne bad
        }
        code.extend(ok);
        code.extend(bad);
        let image = elf(
            LOAD_ADDR,
            &[Segment {
                paddr: LOAD_ADDR,
                bytes: code,
            }],
            Some(u32::try_from(LOAD_ADDR).unwrap()),
        );
        // A 1 MiB disk passes every check; a 2 MiB one fails the capacity check, which
        // proves the guest's branches (not just a fall-through) decide the output.
        for (size, expected) in [(1 << 20, "virtio-blk ok\n"), (2 << 20, "virtio-blk bad\n")] {
            std::fs::write(&disk, vec![0u8; size]).unwrap();
            let disk_arg = format!("{}:ro,serial=hull-layer-0", disk.display());
            let run = run_hull_vmm("virtio", &image, &["--disk", &disk_arg], TIMEOUT);
            assert_eq!(run.stdout, expected, "stderr: {}", run.stderr);
            assert_eq!(run.status, Some(0), "stderr: {}", run.stderr);
        }
        let _ = std::fs::remove_file(&disk);
    }

    #[test]
    fn virtio_console_moves_the_serial_log_to_stderr() {
        skip_without_kvm!();
        let ok = [x86::print(b"console ok\n"), x86::RESET.to_vec()].concat();
        let bad = [x86::print(b"console bad\n"), x86::RESET.to_vec()].concat();
        let mut code = x86::DX_COM1.to_vec();
        code.extend([0xa1, 0x08, 0x00, 0x00, 0xd0]); // mov eax, [0xd0000008] (DeviceID)
        code.extend([0x83, 0xf8, 0x03]); //             cmp eax, 3 (console)
        code.extend([0x75, u8::try_from(ok.len()).unwrap()]); // jne bad
        code.extend(ok);
        code.extend(bad);
        let image = elf(
            LOAD_ADDR,
            &[Segment {
                paddr: LOAD_ADDR,
                bytes: code,
            }],
            Some(u32::try_from(LOAD_ADDR).unwrap()),
        );
        let run = run_hull_vmm("vcon", &image, &["--console", "virtio"], TIMEOUT);
        assert_eq!(run.status, Some(0), "stderr: {}", run.stderr);
        // stdout belongs to hvc0 now; COM1 (the kernel log) goes to stderr.
        assert_eq!(run.stdout, "", "stderr: {}", run.stderr);
        assert!(
            run.stderr.contains("console ok\n"),
            "stderr: {}",
            run.stderr
        );
    }

    #[test]
    fn socket_consoles_hold_the_guest_until_every_peer_is_connected() {
        skip_without_kvm!();
        use std::io::Read;
        use std::os::unix::net::UnixStream;
        use std::process::{Command, Stdio};
        use std::time::Instant;

        // The guest checks that slots 0-2 are consoles (DeviceID 3), then prints and resets.
        let ok = [x86::print(b"3 consoles ok\n"), x86::RESET.to_vec()].concat();
        let bad = [x86::print(b"consoles bad\n"), x86::RESET.to_vec()].concat();
        let mut code = x86::DX_COM1.to_vec();
        for slot in 0..3u8 {
            let rest = u8::try_from(3 - usize::from(slot) - 1).unwrap() * 10;
            code.extend([0xa1, 0x08, slot * 0x10, 0x00, 0xd0]); // mov eax, [0xd000s008] (DeviceID)
            code.extend([0x83, 0xf8, 0x03]); //                    cmp eax, 3 (console)
            code.extend([0x75, rest + u8::try_from(ok.len()).unwrap()]); // jne bad
        }
        code.extend(ok);
        code.extend(bad);
        let image = elf(
            LOAD_ADDR,
            &[Segment {
                paddr: LOAD_ADDR,
                bytes: code,
            }],
            Some(u32::try_from(LOAD_ADDR).unwrap()),
        );
        let kernel = crate::common::temp_path("sockets.elf");
        std::fs::write(&kernel, image).unwrap();
        let dir = crate::common::temp_path("sockets");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let paths: Vec<_> = (0..3).map(|i| dir.join(format!("hvc{i}.sock"))).collect();
        // A stale socket from an earlier run is replaced.
        drop(std::os::unix::net::UnixListener::bind(&paths[1]).unwrap());
        let mut command = Command::new(env!("CARGO_BIN_EXE_hull-vmm"));
        command.arg("--kernel").arg(&kernel);
        for path in &paths {
            command
                .arg("--virtio-console")
                .arg(format!("socket={}", path.display()));
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hull-vmm");

        // Two of three peers connect; the guest must not run yet.
        let connect = |path: &std::path::Path| {
            let deadline = Instant::now() + TIMEOUT;
            loop {
                match UnixStream::connect(path) {
                    Ok(stream) => break stream,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(err) => panic!("cannot connect to {}: {err}", path.display()),
                }
            }
        };
        let _peer2 = connect(&paths[2]);
        let _peer0 = connect(&paths[0]);
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            child.try_wait().unwrap().is_none(),
            "hull-vmm waits for its third peer"
        );
        let connected_at = Instant::now();
        let _peer1 = connect(&paths[1]);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(connected_at.elapsed() < TIMEOUT, "guest did not finish");
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut stdout = String::new();
        let mut stderr = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        // All of the guest's output came after the last connection: none was printed while
        // hull-vmm waited (a guest that had run would have printed and reset at once).
        assert_eq!(stdout, "3 consoles ok\n", "stderr: {stderr}");
        assert_eq!(status.code(), Some(0), "stderr: {stderr}");
        assert_eq!(
            stderr
                .matches("virtio-console: waiting for a connection on")
                .count(),
            3,
            "{stderr}"
        );
        for path in &paths {
            assert!(!path.exists(), "{} removed once connected", path.display());
        }
        eprintln!(
            "guest ran {:?} after the last peer connected",
            connected_at.elapsed()
        );
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&kernel);
    }

    #[test]
    fn a_console_socket_path_holding_a_file_is_a_one_line_error() {
        let file = crate::common::temp_path("not-a-socket");
        std::fs::write(&file, "data").unwrap();
        let arg = format!("socket={}", file.display());
        let run = run_hull_vmm("notsock", &[0x55; 16], &["--virtio-console", &arg], TIMEOUT);
        assert_eq!(run.status, Some(1), "stderr: {}", run.stderr);
        let line = run.stderr.lines().last().unwrap_or_default();
        assert!(line.starts_with("hull-vmm: error: "), "{line}");
        assert!(line.contains("exists and is not a socket"), "{line}");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "data",
            "left alone"
        );
        let _ = std::fs::remove_file(&file);
    }

    #[test]
    fn library_api_runs_vms_in_process_back_to_back() {
        skip_without_kvm!();
        let mut code = x86::DX_COM1.to_vec();
        code.extend(x86::print(b"in-process\n"));
        code.extend([0xb0, 0x7b, 0x66, 0xba, 0xf4, 0x03, 0xee]); // boot-timer mark
        code.extend(x86::RESET);
        let kernel = crate::common::temp_path("inproc.elf");
        std::fs::write(&kernel, linux64_guest(code)).unwrap();
        for round in 0..2 {
            let log = crate::common::temp_path(&format!("inproc-{round}.log"));
            let mut config = hull_vmm::VmConfig::new(&kernel);
            config.mem_mib = 32;
            config.cpus = 2;
            config.serial = hull_vmm::SerialOutput::File(log.clone());
            let outcome = hull_vmm::run(&config).expect("guest runs and resets");
            assert_eq!(outcome.stop, hull_vmm::GuestStop::I8042Reset);
            assert!(outcome.userspace_reached_ms.is_some());
            assert_eq!(std::fs::read_to_string(&log).unwrap(), "in-process\n");
            std::fs::remove_file(log).unwrap();
        }
        std::fs::remove_file(kernel).unwrap();
    }

    /// A minimal bzImage: one setup sector after the boot sector, then the protected-mode
    /// part, whose 64-bit entry point is at offset 0x200.
    fn bzimage(entry64_code: &[u8]) -> Vec<u8> {
        let mut image = vec![0u8; 1024]; // boot sector + setup_sects (1) * 512
        image[0x1f1] = 1; //                                   setup_sects
        image[0x1fe..0x200].copy_from_slice(&0xaa55u16.to_le_bytes()); // boot_flag
        image[0x202..0x206].copy_from_slice(b"HdrS"); //       header magic
        image[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes()); // protocol 2.15
        image[0x211] = 0x01; //                                loadflags: LOADED_HIGH
        image[0x214..0x218].copy_from_slice(&0x10_0000u32.to_le_bytes()); // code32_start
        let mut payload = vec![0x90u8; 0x200]; // the 32-bit entry (unused): nops
        payload.extend_from_slice(entry64_code);
        image.extend(payload);
        image
    }

    #[test]
    fn bzimage_enters_at_its_64bit_entry_with_the_setup_header_in_the_zero_page() {
        skip_without_kvm!();
        let ok = [x86::print(b"bzimage ok\n"), x86::RESET.to_vec()].concat();
        let bad = [x86::print(b"bzimage bad\n"), x86::RESET.to_vec()].concat();
        let ok_len = u8::try_from(ok.len()).unwrap();
        let mut code = x86::DX_COM1.to_vec();
        // cmp word [rsi+0x1fe], 0xaa55 (boot_flag copied into the zero page)
        code.extend([0x66, 0x81, 0xbe, 0xfe, 0x01, 0x00, 0x00, 0x55, 0xaa]);
        code.extend([0x75, 7 + 2 + ok_len]); // jne bad

        // cmp byte [rsi+0x210], 0xff (type_of_loader set by the VMM)
        code.extend([0x80, 0xbe, 0x10, 0x02, 0x00, 0x00, 0xff]);
        code.extend([0x75, ok_len]); // jne bad
        code.extend(ok);
        code.extend(bad);
        let run = run_hull_vmm("bzimage", &bzimage(&code), &[], TIMEOUT);
        assert_eq!(run.stdout, "bzimage ok\n", "stderr: {}", run.stderr);
        assert_eq!(run.status, Some(0), "stderr: {}", run.stderr);
    }

    #[test]
    fn unemulatable_instruction_is_a_one_line_error_with_the_rip() {
        skip_without_kvm!();
        let mut code = x86::DX_COM1.to_vec();
        code.extend(x86::print(b"before\n"));
        let int3_at = LOAD_ADDR + u64::try_from(code.len()).unwrap();
        // int3: KVM's emulator (ring 0 on emulation-only hosts) cannot run it; with
        // hardware KVM it faults into the empty IDT and triple-faults.
        code.push(0xcc);
        code.extend(x86::RESET);
        let run = run_hull_vmm("int3", &linux64_guest(code), &[], TIMEOUT);
        assert_eq!(run.stdout, "before\n", "stderr: {}", run.stderr);
        match run.status {
            Some(1) => {
                let line = run.stderr.lines().last().unwrap_or_default();
                assert!(line.starts_with("hull-vmm: error: vCPU 0: "), "{line}");
                assert!(line.contains("KVM_EXIT_INTERNAL_ERROR"), "{line}");
                assert!(line.contains(&format!("RIP {int3_at:#x}")), "{line}");
            }
            Some(0) => assert!(run.stderr.contains("TripleFault"), "stderr: {}", run.stderr),
            other => panic!("unexpected status {other:?}; stderr: {}", run.stderr),
        }
    }
}
