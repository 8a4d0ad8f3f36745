//! `hull system service` driven by Docker's own `docker` client (DOCKER_HOST at the
//! service's socket), and by raw HTTP for what no well-behaved client sends. Each test
//! has its own store and service; it is skipped, with the reason, when the VM
//! prerequisites or the docker client are missing.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::api::{docker_client, run_docker, Service};
use hull_tests::{setup, stderr, stdout, wait_until, Hull, Terminal};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// A test's hull, service and docker client (with an empty config of its own).
struct Docker {
    hull: Hull,
    service: Service,
    client: PathBuf,
    config: tempfile::TempDir,
}

impl Docker {
    fn start(test: &str) -> Option<Self> {
        let client = docker_client(test)?;
        let hull = setup(test)?;
        let service = Service::start(&hull);
        Some(Docker {
            hull,
            service,
            client,
            config: tempfile::tempdir().unwrap(),
        })
    }

    fn run(&self, args: &[&str]) -> Output {
        run_docker(&self.client, &self.service, self.config.path(), args)
    }

    /// `docker ARGS`, asserted to succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}): {}\nservice log:\n{}",
            out.status,
            stderr(&out),
            self.service.log(&self.hull)
        );
        stdout(&out)
    }

    fn config(&self) -> &Path {
        self.config.path()
    }
}

#[test]
fn docker_version_and_info_come_from_hull() {
    let Some(d) = Docker::start("docker_version_and_info_come_from_hull") else {
        return;
    };
    let version = d.ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.Os}}",
    ]);
    assert_eq!(version.trim(), "1.41 linux");
    let info = d.ok(&["info"]);
    assert!(info.contains("Operating System: hull"), "{info}");
    assert!(info.contains("Server Version:"), "{info}");
}

#[test]
fn docker_run_gives_output_and_dockers_exit_statuses() {
    let Some(d) = Docker::start("docker_run_gives_output_and_dockers_exit_statuses") else {
        return;
    };
    assert_eq!(d.ok(&["run", "--rm", "busybox", "echo", "hi"]), "hi\n");
    let failed = d.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(failed.status.code(), Some(7));
    assert_eq!(stdout(&failed), "out\n");
    assert!(stderr(&failed).contains("err"), "{}", stderr(&failed));
    let missing = d.run(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(missing.status.code(), Some(127), "{}", stderr(&missing));
    let unknown = d.run(&["run", "--rm", "no-such-image:1", "true"]);
    assert_eq!(unknown.status.code(), Some(125));
    assert!(
        stderr(&unknown).contains("cannot reach the registry docker.io"),
        "{}",
        stderr(&unknown)
    );
    // --rm removed them all.
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    // stdin is piped through and closed at its end (Docker's StdinOnce).
    let mut cat = hull_tests::api::docker(
        &d.client,
        &d.service,
        d.config(),
        &["run", "-i", "--rm", "busybox", "wc", "-l"],
    );
    let out = hull_tests::with_input(&mut cat, b"a\nb\nc\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");
}

#[test]
fn a_detached_container_is_listed_logged_execed_stopped_and_removed() {
    let test = "a_detached_container_is_listed_logged_execed_stopped_and_removed";
    let Some(d) = Docker::start(test) else {
        return;
    };
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "--label",
        "app=api-test",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    let listed = d.ok(&[
        "ps",
        "--filter",
        "label=app=api-test",
        "--format",
        "{{.Names}} {{.Status}}",
    ]);
    assert!(listed.starts_with("ticker Up"), "{listed}");
    assert!(wait_until(Duration::from_secs(20), || d
        .ok(&["logs", "ticker"])
        .contains("tick 2")));
    assert_eq!(d.ok(&["exec", "ticker", "echo", "inside"]), "inside\n");
    assert_eq!(
        d.run(&["exec", "ticker", "sh", "-c", "exit 5"])
            .status
            .code(),
        Some(5)
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}} {{.Name}}", "ticker"])
            .trim(),
        "true /ticker"
    );
    d.ok(&["stop", "ticker"]);
    let stopped = d.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(stopped.starts_with("ticker Exited (0)"), "{stopped}");
    let stamped = d.ok(&["logs", "--timestamps", "--tail", "1", "ticker"]);
    assert!(
        stamped.starts_with("20") && stamped.contains("Z tick "),
        "{stamped}"
    );
    // `logs -f` of an ended container ends too.
    assert!(d.ok(&["logs", "-f", "ticker"]).contains("tick 0"));
    d.ok(&["rm", "ticker"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    let gone = d.run(&["rm", "ticker"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        stderr(&gone).contains("No such container"),
        "{}",
        stderr(&gone)
    );
}

#[test]
fn images_are_listed_tagged_saved_loaded_and_removed() {
    let test = "images_are_listed_tagged_saved_loaded_and_removed";
    let Some(d) = Docker::start(test) else {
        return;
    };
    d.hull.ok(&["image", "bootstrap", "busybox"]);
    d.ok(&["tag", "busybox", "mybox:1"]);
    let images = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        images.contains("busybox:latest") && images.contains("mybox:1"),
        "{images}"
    );
    let archive = d.hull.root.path().join("mybox.tar");
    d.ok(&["save", "-o", archive.to_str().unwrap(), "mybox:1"]);
    assert!(std::fs::metadata(&archive).unwrap().len() > 100_000);
    assert_eq!(d.ok(&["rmi", "mybox:1"]).trim(), "Untagged: mybox:1");
    let loaded = d.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image: mybox:1"), "{loaded}");
    assert_eq!(
        d.ok(&["run", "--rm", "mybox:1", "echo", "from-loaded"]),
        "from-loaded\n"
    );
    let missing = d.run(&["rmi", "no-such:image"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("No such image"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn docker_run_it_through_a_terminal_behaves_like_docker() {
    let test = "docker_run_it_through_a_terminal_behaves_like_docker";
    let Some(d) = Docker::start(test) else {
        return;
    };
    let status = d.hull.root.path().join("status");
    let command = format!(
        "env DOCKER_HOST={} DOCKER_CONFIG={} {} run -it --rm busybox sh; echo $? > {}; sleep 60",
        d.service.docker_host(),
        d.config().display(),
        d.client.display(),
        status.display()
    );
    let Some(term) = Terminal::start("api-run-it", &command, 100, 30) else {
        return;
    };
    let screen = || term.screen();
    assert!(
        wait_until(Duration::from_secs(30), || screen().contains("/ #")),
        "no prompt: {}",
        screen()
    );
    term.keys(&["stty size", "Enter"]);
    assert!(
        wait_until(Duration::from_secs(10), || screen().contains("30 100")),
        "{}",
        screen()
    );
    term.resize(120, 40);
    std::thread::sleep(Duration::from_millis(500));
    term.keys(&["stty size", "Enter"]);
    assert!(
        wait_until(Duration::from_secs(10), || screen().contains("40 120")),
        "{}",
        screen()
    );
    term.keys(&["sleep 100", "Enter"]);
    std::thread::sleep(Duration::from_millis(500));
    term.keys(&["C-c"]);
    term.keys(&["echo still-here", "Enter"]);
    assert!(
        wait_until(Duration::from_secs(10), || screen()
            .matches("still-here")
            .count()
            >= 2),
        "Ctrl-C must interrupt sleep in the container, not docker: {}",
        screen()
    );
    term.keys(&["exit 3", "Enter"]);
    assert!(
        wait_until(Duration::from_secs(20), || status.exists()),
        "{}",
        screen()
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(std::fs::read_to_string(&status).unwrap().trim(), "3");
}

#[test]
fn events_stream_a_containers_life() {
    let Some(d) = Docker::start("events_stream_a_containers_life") else {
        return;
    };
    let since = unix_now();
    d.ok(&["run", "--rm", "--name", "brief", "busybox", "true"]);
    let until = unix_now() + 1;
    let events = d.ok(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        "container=brief",
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = events.lines().collect();
    for action in ["create", "start", "die", "destroy"] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_client_that_leaves_mid_stream_leaves_the_container_and_service_running() {
    let test = "a_client_that_leaves_mid_stream_leaves_the_container_and_service_running";
    let Some(d) = Docker::start(test) else {
        return;
    };
    d.ok(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "busybox",
        "sh",
        "-c",
        "while true; do echo x; sleep 0.1; done",
    ]);
    for verb in [&["logs", "-f", "chatty"][..], &["attach", "chatty"][..]] {
        let mut child = hull_tests::api::docker(&d.client, &d.service, d.config(), verb)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(2));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert_eq!(
        d.service.request("GET", "/_ping", b"").unwrap().text(),
        "OK"
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "chatty"])
            .trim(),
        "true"
    );
    d.ok(&["rm", "-f", "chatty"]);
}

#[test]
fn hostile_requests_get_clear_errors_and_the_service_keeps_answering() {
    let test = "hostile_requests_get_clear_errors_and_the_service_keeps_answering";
    let Some(hull) = setup(test) else {
        return;
    };
    let service = Service::start(&hull);
    let status = |method: &str, path: &str, body: &[u8]| {
        let answer = service.request(method, path, body).unwrap();
        (
            answer.status,
            answer.json()["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let (code, message) = status("POST", "/containers/create", b"{not json");
    assert_eq!(code, 400, "{message}");
    assert!(message.contains("invalid JSON"), "{message}");
    // Unknown fields are ignored, as dockerd ignores them; a missing image is a 404.
    let (code, message) = status(
        "POST",
        "/containers/create",
        br#"{"Image":"nope:1","Bogus":{"x":1}}"#,
    );
    assert_eq!((code, message.as_str()), (404, "No such image: nope:1"));
    let huge = vec![b' '; 8 << 20];
    assert_eq!(status("POST", "/containers/create", &huge).0, 413);
    assert_eq!(status("GET", "/containers/..%2F..%2Fetc/json", b"").0, 404);
    assert_eq!(status("GET", "/../../etc/passwd", b"").0, 404);
    assert_eq!(status("GET", "/containers/json?filters=%7Bbad", b"").0, 400);
    let (code, message) = status("GET", "/v1.99/info", b"");
    assert_eq!(code, 400);
    assert!(message.contains("too new"), "{message}");
    let (code, message) = status(
        "POST",
        "/containers/create",
        br#"{"Image":"busybox","HostConfig":{"Devices":[{"PathOnHost":"/dev/kvm"}]}}"#,
    );
    assert_eq!(code, 400);
    assert!(message.contains("virtual machine"), "{message}");
    let (code, message) = status(
        "POST",
        "/containers/create",
        br#"{"Image":"busybox","HostConfig":{"NetworkMode":"host"}}"#,
    );
    assert_eq!(code, 400, "{message}");
    // A volume name that would walk out of the store.
    let (code, message) = status("POST", "/volumes/create", br#"{"Name":"../../etc"}"#);
    assert_eq!(code, 400, "{message}");
    assert!(message.contains("invalid characters"), "{message}");
    assert_eq!(status("DELETE", "/volumes/..%2F..%2Fetc", b"").0, 404);
    assert!(service
        .raw(b"NOT-HTTP\r\n\r\n")
        .is_ok_and(|r| r.status == 400));
    // A client that never finishes its headers holds only its own connection.
    let mut slow = std::os::unix::net::UnixStream::connect(&service.socket).unwrap();
    std::io::Write::write_all(&mut slow, b"GET /_ping HTTP/1.1\r\nHost: x\r\n").unwrap();
    let started = std::time::Instant::now();
    assert_eq!(service.request("GET", "/_ping", b"").unwrap().text(), "OK");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        service.request("HEAD", "/v1.41/_ping", b"").unwrap().status,
        200
    );
}

#[test]
fn the_service_listens_on_loopback_tcp_and_refuses_plain_tcp_elsewhere() {
    let test = "the_service_listens_on_loopback_tcp_and_refuses_plain_tcp_elsewhere";
    let Some(client) = docker_client(test) else {
        return;
    };
    let Some(hull) = setup(test) else {
        return;
    };
    let refused = hull.run(&["system", "service", "--host", "tcp://0.0.0.0:2375"]);
    assert_eq!(refused.status.code(), Some(125));
    assert!(
        stderr(&refused).contains("without TLS"),
        "{}",
        stderr(&refused)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("tcp://127.0.0.1:{port}");
    let mut service = hull
        .cmd(&["system", "service", "--host", &host, "--time", "3"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let config = tempfile::tempdir().unwrap();
    let version = || {
        std::process::Command::new(&client)
            .args(["version", "--format", "{{.Server.APIVersion}}"])
            .env("DOCKER_HOST", &host)
            .env("DOCKER_CONFIG", config.path())
            .output()
            .unwrap()
    };
    assert!(wait_until(Duration::from_secs(20), || version()
        .status
        .success()));
    assert_eq!(stdout(&version()).trim(), "1.41");
    // --time: the service ends by itself once idle that long.
    assert!(
        wait_until(Duration::from_secs(20), || service
            .try_wait()
            .unwrap()
            .is_some()),
        "the service did not end after --time 3 idle"
    );
}

/// A CA, a service certificate for 127.0.0.1 and a client certificate, made with openssl
/// in `dir` (docker's file names: ca.pem, cert.pem, key.pem for the client).
fn make_certificates(dir: &Path) -> bool {
    let script = r#"set -e
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca-key.pem
openssl req -x509 -new -key ca-key.pem -out ca.pem -days 1 -subj /CN=hull-test-ca
key server-key.pem
openssl req -new -key server-key.pem -out server.csr -subj /CN=127.0.0.1
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server.pem -days 1 -extfile server.ext 2>/dev/null
key key.pem
openssl req -new -key key.pem -out client.csr -subj /CN=client
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 1 -extfile client.ext 2>/dev/null
"#;
    std::process::Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn tls_on_tcp_needs_a_client_certificate_from_the_given_ca() {
    let test = "tls_on_tcp_needs_a_client_certificate_from_the_given_ca";
    let Some(client) = docker_client(test) else {
        return;
    };
    if hull_tests::which("openssl").is_none() || hull_tests::which("curl").is_none() {
        eprintln!("SKIPPED {test}: openssl and curl are needed to make and refuse certificates");
        return;
    }
    let Some(hull) = setup(test) else {
        return;
    };
    let certs = hull.root.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    assert!(
        make_certificates(&certs),
        "openssl could not make the test certificates"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("tcp://127.0.0.1:{port}");
    let file = |name: &str| certs.join(name).to_str().unwrap().to_string();
    let start_service = || {
        hull.cmd(&[
            "system",
            "service",
            "--host",
            &host,
            "--tlsverify",
            "--tlscacert",
            &file("ca.pem"),
            "--tlscert",
            &file("server.pem"),
            "--tlskey",
            &file("server-key.pem"),
        ])
        .spawn()
        .unwrap()
    };
    let mut service = start_service();
    let config = tempfile::tempdir().unwrap();
    let version = || {
        std::process::Command::new(&client)
            .args(["version", "--format", "{{.Server.APIVersion}}"])
            .env("DOCKER_HOST", &host)
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", &certs)
            .env("DOCKER_CONFIG", config.path())
            .output()
            .unwrap()
    };
    let answered = wait_until(Duration::from_secs(20), || version().status.success());
    let last = version();
    let _ = service.kill();
    let _ = service.wait();
    assert!(answered, "docker over TLS failed: {}", stderr(&last));
    assert_eq!(stdout(&last).trim(), "1.41");
    // Without a client certificate the handshake is refused.
    let mut service = start_service();
    let url = format!("https://127.0.0.1:{port}/_ping");
    let curl = |with_cert: bool| {
        let mut command = std::process::Command::new("curl");
        command.args(["-s", "--max-time", "5", "--cacert", &file("ca.pem")]);
        if with_cert {
            command.args(["--cert", &file("cert.pem"), "--key", &file("key.pem")]);
        }
        command.arg(&url).output().unwrap()
    };
    assert!(wait_until(Duration::from_secs(20), || stdout(&curl(true)) == "OK"));
    let anonymous = curl(false);
    let _ = service.kill();
    let _ = service.wait();
    assert_ne!(
        stdout(&anonymous),
        "OK",
        "a client without a certificate was served"
    );
    assert!(!anonymous.status.success());
}

#[test]
fn docker_cp_copies_both_ways_running_or_stopped() {
    let Some(d) = Docker::start("docker_cp_copies_both_ways_running_or_stopped") else {
        return;
    };
    d.ok(&[
        "run",
        "-d",
        "--name",
        "files",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo deep > /data/sub/f && echo hi > /greeting && sleep 600",
    ]);
    assert!(wait_until(Duration::from_secs(20), || d
        .run(&["exec", "files", "test", "-f", "/greeting"])
        .status
        .success()));
    let out = d.hull.root.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let out_text = out.to_str().unwrap();
    d.ok(&["cp", "files:/data", &format!("{out_text}/copied")]);
    assert_eq!(
        std::fs::read_to_string(out.join("copied/sub/f")).unwrap(),
        "deep\n"
    );
    let host_file = out.join("from-host");
    std::fs::write(&host_file, "host text\n").unwrap();
    d.ok(&["cp", host_file.to_str().unwrap(), "files:/tmp/"]);
    assert_eq!(
        d.ok(&["exec", "files", "cat", "/tmp/from-host"]),
        "host text\n"
    );
    let missing = d.run(&["cp", "files:/no/such", out_text]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("Could not find the file /no/such"),
        "{}",
        stderr(&missing)
    );
    // A stopped container's files come through a helper VM.
    d.ok(&["stop", "-t", "0", "files"]);
    d.ok(&["cp", "files:/greeting", out_text]);
    assert_eq!(
        std::fs::read_to_string(out.join("greeting")).unwrap(),
        "hi\n"
    );
}

#[test]
fn many_clients_at_once_are_all_served() {
    let Some(d) = Docker::start("many_clients_at_once_are_all_served") else {
        return;
    };
    d.hull.ok(&["image", "bootstrap", "busybox"]);
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..3)
            .map(|i| {
                let d = &d;
                scope.spawn(move || d.ok(&["run", "--rm", "busybox", "echo", &format!("run-{i}")]))
            })
            .collect();
        let listings: Vec<_> = (0..20)
            .map(|_| scope.spawn(|| d.run(&["ps", "-a"]).status.success()))
            .collect();
        for (i, run) in runs.into_iter().enumerate() {
            assert_eq!(run.join().unwrap(), format!("run-{i}\n"));
        }
        assert!(listings.into_iter().all(|l| l.join().unwrap()));
    });
    assert_eq!(
        d.service.request("GET", "/_ping", b"").unwrap().text(),
        "OK"
    );
}

#[test]
fn docker_diff_reads_the_changes_through_the_api() {
    let Some(d) = Docker::start("docker_diff_reads_the_changes_through_the_api") else {
        return;
    };
    d.ok(&[
        "run",
        "--name",
        "changed",
        "busybox",
        "sh",
        "-c",
        "echo x > /tmp/new; rm /bin/ls",
    ]);
    assert_eq!(
        d.ok(&["diff", "changed"]),
        "C /bin\nD /bin/ls\nC /tmp\nA /tmp/new\n"
    );
}

#[test]
fn docker_commit_makes_an_image_docker_run_uses() {
    let Some(d) = Docker::start("docker_commit_makes_an_image_docker_run_uses") else {
        return;
    };
    d.ok(&[
        "run",
        "--name",
        "made",
        "busybox",
        "sh",
        "-c",
        "echo committed > /note",
    ]);
    let id = d.ok(&[
        "commit",
        "-c",
        "CMD cat /note",
        "-m",
        "a note",
        "made",
        "noted:1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(d.ok(&["run", "--rm", "noted:1"]), "committed\n");
    let history = d.ok(&["history", "--format", "{{.Comment}}", "noted:1"]);
    assert_eq!(history.lines().next(), Some("a note"));
}

#[test]
fn docker_build_builds_through_the_api() {
    let Some(d) = Docker::start("docker_build_builds_through_the_api") else {
        return;
    };
    let context = d.hull.root.path().join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("note.txt"), "from the context\n").unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM busybox\nARG WHO=nobody\nCOPY note.txt /\nRUN echo \"built for $WHO\" >> /note.txt\nCMD [\"cat\", \"/note.txt\"]\n",
    )
    .unwrap();
    std::fs::write(
        context.join("Broken.Dockerfile"),
        "FROM busybox\nRUN exit 4\n",
    )
    .unwrap();
    // The classic builder's protocol: POST /build with the context as a tar.
    let build = |args: &[&str]| {
        let child = hull_tests::api::docker(&d.client, &d.service, d.config(), args)
            .env("DOCKER_BUILDKIT", "0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        hull_tests::finish(child, args)
    };
    let out = build(&[
        "build",
        "-t",
        "api-built:1",
        "--build-arg",
        "WHO=docker",
        context.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("Successfully tagged api-built:1"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        d.ok(&["run", "--rm", "api-built:1"]),
        "from the context\nbuilt for docker\n"
    );
    let broken = context.join("Broken.Dockerfile");
    let out = build(&[
        "build",
        "-f",
        broken.to_str().unwrap(),
        context.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("exit code: 4") || stdout(&out).contains("exit code: 4"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn docker_volumes_and_binds_go_through_the_api() {
    let Some(d) = Docker::start("docker_volumes_and_binds_go_through_the_api") else {
        return;
    };
    if hull_tests::which("virtiofsd").is_none() {
        eprintln!("SKIPPED docker_volumes_and_binds_go_through_the_api: no virtiofsd");
        return;
    }
    assert_eq!(
        d.ok(&["volume", "create", "--label", "k=v", "vol"]),
        "vol\n"
    );
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "vol:/data",
        "busybox",
        "sh",
        "-c",
        "echo via-api > /data/f",
    ]);
    let host = tempfile::tempdir().unwrap();
    let bind = format!("{}:/host", host.path().display());
    let out = d.ok(&[
        "run",
        "--rm",
        "-v",
        "vol:/data:ro",
        "-v",
        &bind,
        "--mount",
        "type=tmpfs,target=/t",
        "busybox",
        "sh",
        "-c",
        "cat /data/f > /host/copied; echo t > /t/x && cat /t/x",
    ]);
    assert_eq!(out, "t\n");
    assert_eq!(
        std::fs::read_to_string(host.path().join("copied")).unwrap(),
        "via-api\n"
    );
    let ls = d.ok(&["volume", "ls", "--filter", "label=k=v"]);
    assert!(ls.contains("local     vol"), "{ls}");
    let inspect = d.ok(&[
        "volume",
        "inspect",
        "--format",
        "{{.Driver}} {{.Labels.k}}",
        "vol",
    ]);
    assert_eq!(inspect, "local v\n");
    d.ok(&[
        "create",
        "--name",
        "holder",
        "-v",
        "vol:/data",
        "busybox",
        "true",
    ]);
    let mounts = d.ok(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Name}} {{.Destination}} {{.RW}}{{end}}",
        "holder",
    ]);
    assert_eq!(mounts, "vol /data true\n");
    let refused = d.run(&["volume", "rm", "vol"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("volume is in use"),
        "{}",
        stderr(&refused)
    );
    d.ok(&["rm", "holder"]);
    assert_eq!(d.ok(&["volume", "rm", "vol"]), "vol\n");
    let gone = d.run(&["volume", "inspect", "vol"]);
    assert_eq!(gone.status.code(), Some(1));
}
