//! Containers on networks, through the real binary on QEMU (issue 14): eth0 and its
//! address, names and aliases resolved on user networks (also of containers started later),
//! `--link` on the default bridge, `-p` from the host's 127.0.0.1 (and the port freed after
//! stop, rm -f and kill -9 of the VMM), isolation between networks, and the refusals.
//! All traffic stays inside hull's own network namespaces and the host's 127.0.0.1.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{http_get, setup, stderr, stdout, wait_until, Hull};
use std::net::TcpListener;
use std::time::Duration;

/// busybox httpd serving `TEXT` at / on port 80, in the foreground.
fn web_server(text: &str) -> String {
    format!("mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www")
}

/// A port on 127.0.0.1 that is free right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The pid of a process whose command line has every one of `args`.
fn process_with_args(args: &[&str]) -> Option<i32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let words: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.iter()
                .all(|arg| words.contains(&arg.as_bytes()))
                .then_some(pid)
        })
}

/// Whether something listens on 127.0.0.1:`port` (a bind there fails).
fn port_taken(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_err()
}

/// Runs `sh -c SCRIPT` in a throwaway container with `flags`; (status, stdout, stderr).
fn sh(hull: &Hull, flags: &[&str], script: &str) -> (Option<i32>, String, String) {
    let mut args = vec!["run", "--rm"];
    args.extend(flags);
    args.extend(["busybox", "sh", "-c", script]);
    let out = hull.run(&args);
    (out.status.code(), stdout(&out), stderr(&out))
}

/// Waits until the detached container `name` answers HTTP on port 80 of its network.
fn wait_for_web(hull: &Hull, network: &str, name: &str) {
    let probe = format!(
        "for i in $(seq 50); do wget -qO- http://{name}/ && exit 0; sleep 0.2; done; exit 1"
    );
    let (status, out, err) = sh(hull, &["--network", network], &probe);
    assert_eq!(status, Some(0), "{name} never answered: {out} {err}");
}

#[test]
fn eth0_has_the_containers_address_and_none_has_only_lo() {
    let Some(hull) = setup("eth0_has_the_containers_address_and_none_has_only_lo") else {
        return;
    };
    let (status, out, err) = sh(&hull, &[], "ifconfig; ip route; cat /etc/resolv.conf");
    assert_eq!(status, Some(0), "{err}");
    assert!(out.contains("eth0"), "{out}");
    assert!(out.contains("inet addr:172.17.0."), "{out}");
    assert!(out.contains("Mask:255.255.0.0"), "{out}");
    assert!(out.contains("default via 172.17.0.1 dev eth0"), "{out}");
    assert!(out.contains("nameserver 172.17.0.1"), "{out}");

    let (status, out, _) = sh(&hull, &["--network", "none"], "ifconfig -a");
    assert_eq!(status, Some(0));
    assert!(out.contains("lo"), "{out}");
    assert!(!out.contains("eth0"), "{out}");

    // The hostname resolves to the address, as Docker's /etc/hosts has it.
    let (_, out, _) = sh(&hull, &["-h", "box"], "grep -w box /etc/hosts");
    assert!(out.starts_with("172.17.0."), "{out}");
}

#[test]
fn user_networks_resolve_names_and_aliases_also_of_later_containers() {
    let Some(hull) = setup("user_networks_resolve_names_and_aliases_also_of_later_containers")
    else {
        return;
    };
    hull.ok(&["network", "create", "app"]);
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "app",
        "--network-alias",
        "www",
        "busybox",
        "sh",
        "-c",
        &web_server("hello-web"),
    ]);
    wait_for_web(&hull, "app", "web");
    let (status, out, err) = sh(
        &hull,
        &["--network", "app"],
        "wget -qO- http://web/ && wget -qO- http://www/",
    );
    assert_eq!(status, Some(0), "{err}");
    assert_eq!(out, "hello-web\nhello-web\n");

    // A client that waits for a name that does not exist yet, then sees it appear.
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "client",
        "--network",
        "app",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 150); do wget -qO- http://late/ && exit 0; sleep 0.2; done; exit 1",
    ]);
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "late",
        "--network",
        "app",
        "busybox",
        "sh",
        "-c",
        &web_server("hello-late"),
    ]);
    assert_eq!(hull.ok(&["wait", "client"]).trim(), "0");
    assert_eq!(hull.ok(&["logs", "client"]), "hello-late\n");

    // Docker's default bridge does not resolve container names.
    hull.ok(&["run", "-d", "--name", "onbridge", "busybox", "sleep", "60"]);
    let (status, _, _) = sh(&hull, &[], "nslookup onbridge");
    assert_ne!(status, Some(0), "names resolve on the default bridge");
}

#[test]
fn links_on_the_default_bridge_give_hosts_and_environment() {
    let Some(hull) = setup("links_on_the_default_bridge_give_hosts_and_environment") else {
        return;
    };
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--expose",
        "80",
        "-e",
        "ROLE=server",
        "busybox",
        "sh",
        "-c",
        &web_server("linked"),
    ]);
    let ip = hull.inspect("web", "{{.NetworkSettings.IPAddress}}");
    assert!(ip.starts_with("172.17.0."), "{ip}");
    let (status, out, err) = sh(
        &hull,
        &["--link", "web:db"],
        "grep -w db /etc/hosts; env | grep ^DB_ | sort; for i in $(seq 50); do wget -qO- http://db/ && exit 0; sleep 0.2; done; exit 1",
    );
    assert_eq!(status, Some(0), "{out} {err}");
    assert!(out.contains(&format!("{ip}\tdb ")), "{out}");
    for line in [
        format!("DB_PORT=tcp://{ip}:80"),
        format!("DB_PORT_80_TCP=tcp://{ip}:80"),
        format!("DB_PORT_80_TCP_ADDR={ip}"),
        "DB_PORT_80_TCP_PORT=80".to_string(),
        "DB_PORT_80_TCP_PROTO=tcp".to_string(),
        "DB_ENV_ROLE=server".to_string(),
    ] {
        assert!(out.lines().any(|l| l == line), "{line} missing: {out}");
    }
    assert!(out.ends_with("linked\n"), "{out}");

    let out = hull.run(&["run", "--rm", "--link", "nothere:db", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
}

#[test]
fn published_ports_reach_the_container_and_are_freed_whenever_it_ends() {
    let Some(hull) = setup("published_ports_reach_the_container_and_are_freed_whenever_it_ends")
    else {
        return;
    };
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let ends = [
        "stop",
        "rm -f",
        "kill -9 of the VMM",
        "kill -9 of the supervisor",
    ];
    for (round, end) in ends.iter().enumerate() {
        let name = format!("web{round}");
        hull.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "-p",
            &publish,
            "busybox",
            "sh",
            "-c",
            &web_server("published"),
        ]);
        assert!(
            wait_until(Duration::from_secs(30), || http_get(port)
                .is_some_and(|r| r.contains("published"))),
            "{end}: the host never got the page"
        );
        assert_eq!(
            hull.ok(&["port", &name]),
            format!("80/tcp -> 127.0.0.1:{port}\n")
        );
        let ps = hull.ok(&["ps"]);
        assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
        match *end {
            "stop" => {
                hull.ok(&["stop", "-t", "1", &name]);
            }
            "rm -f" => {
                hull.ok(&["rm", "-f", &name]);
            }
            "kill -9 of the VMM" => {
                let pid: i32 = hull.inspect(&name, "{{.State.Pid}}").parse().unwrap();
                // SAFETY: kill(2) of the test's own container's VMM.
                assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
            }
            _ => {
                let id = hull.inspect(&name, "{{.Id}}");
                let shim = process_with_args(&["shim", &id]).expect("the container's shim");
                // SAFETY: kill(2) of the test's own container's supervisor (`hull shim`).
                assert_eq!(unsafe { libc::kill(shim, libc::SIGKILL) }, 0);
            }
        }
        assert!(
            wait_until(Duration::from_secs(15), || !port_taken(port)),
            "the port stays taken after {end}"
        );
    }

    // A port taken on the host: Docker's error, exit 125, nothing left running.
    let holder = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let out = hull.run(&[
        "run", "-d", "--name", "clash", "-p", &publish, "busybox", "sleep", "30",
    ]);
    let err = stderr(&out);
    assert!(err.contains("port is already allocated"), "{err}");
    assert_ne!(hull.inspect("clash", "{{.State.Status}}"), "running");
    drop(holder);

    // -P: the exposed port on a random host port, which `port` reports.
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "all",
        "-P",
        "--expose",
        "80",
        "busybox",
        "sh",
        "-c",
        &web_server("random"),
    ]);
    let line = hull.ok(&["port", "all", "80"]);
    let random: u16 = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert!(wait_until(Duration::from_secs(30), || http_get(random)
        .is_some_and(|r| r.contains("random"))));
}

#[test]
fn containers_on_different_networks_cannot_reach_each_other() {
    let Some(hull) = setup("containers_on_different_networks_cannot_reach_each_other") else {
        return;
    };
    hull.ok(&["network", "create", "--subnet", "10.91.0.0/24", "red"]);
    hull.ok(&["network", "create", "--subnet", "10.92.0.0/24", "blue"]);
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "redweb",
        "--network",
        "red",
        "--ip",
        "10.91.0.50",
        "busybox",
        "sh",
        "-c",
        &web_server("red"),
    ]);
    wait_for_web(&hull, "red", "redweb");
    assert_eq!(
        hull.inspect("redweb", "{{.NetworkSettings.Networks.red.IPAddress}}"),
        "10.91.0.50"
    );
    // (busybox 1.35's `wget -T` crashes: timeout(1) bounds it instead.)
    let fetch = "timeout 3 wget -qO- http://10.91.0.50/";
    let (status, out, err) = sh(&hull, &["--network", "red"], fetch);
    assert_eq!((status, out.as_str()), (Some(0), "red\n"), "{err}");
    let (status, out, _) = sh(&hull, &["--network", "blue"], fetch);
    // wget's own failure (1) or timeout's kill (143), not a crash.
    assert!(
        matches!(status, Some(1 | 143)),
        "blue reached red: {status:?} {out}"
    );
    let (status, _, _) = sh(&hull, &["--network", "blue"], "nslookup redweb");
    assert_ne!(status, Some(0), "blue resolved a name of red");
}

#[test]
fn bad_network_requests_are_refused_and_leave_nothing() {
    let Some(hull) = setup("bad_network_requests_are_refused_and_leave_nothing") else {
        return;
    };
    let out = hull.run(&["run", "--rm", "--network", "nope", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("network nope not found"),
        "{}",
        stderr(&out)
    );
    let out = hull.run(&["run", "--rm", "--network", "host", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("own kernel"), "{}", stderr(&out));
    let out = hull.run(&["run", "--rm", "--network-alias", "x", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        hull.ok(&["ps", "-aq"]),
        "",
        "a refused run left a container"
    );

    hull.ok(&["network", "create", "busy"]);
    hull.ok(&[
        "run",
        "-d",
        "--name",
        "user",
        "--network",
        "busy",
        "busybox",
        "sleep",
        "60",
    ]);
    let out = hull.run(&["network", "rm", "busy"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("active endpoints"),
        "{}",
        stderr(&out)
    );
    hull.ok(&["rm", "-f", "user"]);
    hull.ok(&["network", "rm", "busy"]);
}

#[test]
fn a_stopped_container_is_connected_to_another_network_and_a_running_one_is_refused() {
    let Some(hull) =
        setup("a_stopped_container_is_connected_to_another_network_and_a_running_one_is_refused")
    else {
        return;
    };
    hull.ok(&["network", "create", "--subnet", "10.93.0.0/24", "green"]);
    hull.ok(&[
        "create",
        "--name",
        "mover",
        "busybox",
        "sh",
        "-c",
        "ifconfig eth0 | grep -o 'inet addr:[0-9.]*'",
    ]);
    hull.ok(&["network", "disconnect", "bridge", "mover"]);
    hull.ok(&[
        "network",
        "connect",
        "--ip",
        "10.93.0.9",
        "--alias",
        "mv",
        "green",
        "mover",
    ]);
    let started = hull.ok(&["start", "-a", "mover"]);
    assert_eq!(started.trim(), "inet addr:10.93.0.9");
    assert_eq!(
        hull.inspect("mover", "{{.HostConfig.NetworkMode}}"),
        "green"
    );

    hull.ok(&["run", "-d", "--name", "busy", "busybox", "sleep", "300"]);
    let refused = hull.run(&["network", "disconnect", "bridge", "busy"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("hull stop busy"),
        "{}",
        stderr(&refused)
    );
    let refused = hull.run(&["network", "connect", "green", "mover"]);
    assert!(
        stderr(&refused).contains("already exists in network green"),
        "{}",
        stderr(&refused)
    );
    hull.ok(&["rm", "-f", "busy", "mover"]);
}

/// A server on the host's 127.0.0.1 answering every connection with `text` (in a thread
/// that lives as long as the test binary); its port.
fn host_server(text: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten().take(16) {
            use std::io::{Read, Write};
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n{text}\n"
            );
        }
    });
    port
}

#[test]
fn through_pasta_a_container_reaches_the_hosts_loopback_and_an_internal_network_does_not() {
    let test =
        "through_pasta_a_container_reaches_the_hosts_loopback_and_an_internal_network_does_not";
    let Some(hull) = setup(test) else {
        return;
    };
    if hull_tests::which("pasta").is_none() {
        eprintln!(
            "SKIPPED {test}: pasta is not installed (scripts/install-deps.sh installs passt)"
        );
        return;
    }
    // Outbound on for this test only; the one place its traffic goes is the host-gateway
    // address, which pasta maps to the host's 127.0.0.1.
    let with_pasta = |args: &[&str]| {
        hull.cmd(args)
            .env("HULL_NETWORK_PASTA", "")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap()
    };
    let port = host_server("hello-from-the-host");
    let fetch = format!("timeout 10 wget -qO- http://host.docker.internal:{port}/");
    let flags = ["--add-host", "host.docker.internal:host-gateway"];
    let mut args = vec!["run", "--rm"];
    args.extend(flags);
    args.extend(["busybox", "sh", "-c", &fetch]);
    let out = with_pasta(&args);
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(0), "hello-from-the-host\n".to_string()),
        "{}",
        stderr(&out)
    );

    let info = stdout(&with_pasta(&["info"]));
    assert!(info.contains("Outbound:        through pasta"), "{info}");
    let option = stdout(&with_pasta(&[
        "network",
        "inspect",
        "-f",
        "{{index .Options \"io.hull.network.outbound\"}}",
        "bridge",
    ]));
    assert!(option.starts_with("through pasta"), "{option}");

    let created = with_pasta(&["network", "create", "--internal", "sealed"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let mut args = vec!["run", "--rm", "--network", "sealed"];
    args.extend(flags);
    args.extend(["busybox", "sh", "-c", &fetch]);
    let out = with_pasta(&args);
    assert_ne!(
        out.status.code(),
        Some(0),
        "an internal network got out: {}",
        stdout(&out)
    );
    let option = stdout(&with_pasta(&[
        "network",
        "inspect",
        "-f",
        "{{index .Options \"io.hull.network.outbound\"}}",
        "sealed",
    ]));
    assert!(option.starts_with("none"), "{option}");
}
