//! `hull system service` driven by Docker's Python clients, as Debian ships them: docker-py
//! (the `docker` module: pip's on PATH's `python3`, and Debian's `python3-docker`) and
//! docker-compose 1.29 (Debian's `docker-compose`, which runs on Debian's `python3-docker`
//! 5.0.3). Each test has its own store and service; it is skipped, with the reason, when
//! the VM prerequisites or the client are missing (scripts/install-deps.sh installs both).

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::api::Service;
use hull_tests::{finish, setup, stderr, stdout, wait_until, which, Hull};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Where Debian's own Python modules live: put first on `PYTHONPATH`, they win over any
/// pip-installed copy in /usr/local (docker-compose 1.29 needs docker-py < 6, which pip's
/// 7.x is not), so Debian's packages run as shipped.
const DEBIAN_MODULES: &str = "/usr/lib/python3/dist-packages";

/// The docker-py session: every call a docker-py user makes first, answers as JSON on the
/// last line of stdout (an `error` key, with the traceback, when a call failed).
const DOCKER_PY_SCRIPT: &str = r#"
import io, json, os, sys, time, traceback
import docker

name = sys.argv[1]
results = {"docker_py": docker.__version__}

def session():
    client = docker.from_env(timeout=120)
    results["ping"] = client.ping()
    results["api_version"] = client.version().get("ApiVersion")
    results["run"] = client.containers.run("busybox", "echo hello", remove=True).decode()
    try:
        client.containers.run("busybox", ["sh", "-c", "exit 3"], remove=True)
        results["failed_run"] = "no ContainerError"
    except docker.errors.ContainerError as err:
        results["failed_run"] = err.exit_status
    container = client.containers.run(
        "busybox", ["sh", "-c", "echo started; exec sleep 600"], detach=True, name=name)
    results["listed"] = [c.name for c in client.containers.list()]
    # The container boots in its VM: its first line comes a moment after run returns.
    logs, deadline = b"", time.time() + 60
    while b"started" not in logs and time.time() < deadline:
        logs = container.logs()
        time.sleep(0.2)
    results["logs"] = logs.decode()
    api = docker.APIClient(base_url=os.environ["DOCKER_HOST"], version="auto", timeout=120)
    exec_id = api.exec_create(container.id, ["sh", "-c", "echo in-exec; exit 7"])["Id"]
    results["exec_output"] = api.exec_start(exec_id).decode()
    results["exec_exit_code"] = api.exec_inspect(exec_id)["ExitCode"]
    container.stop(timeout=1)
    container.reload()
    results["status_after_stop"] = container.status
    container.remove()
    results["listed_after_remove"] = [c.name for c in client.containers.list(all=True)]
    results["images"] = sorted(tag for image in client.images.list() for tag in image.tags)
    dockerfile = io.BytesIO(b'FROM busybox\nRUN echo py-built > /made\nCMD ["cat", "/made"]\n')
    image, _ = client.images.build(fileobj=dockerfile, tag=name + "-image:1", rm=True)
    results["built"] = client.containers.run(image.id, remove=True).decode()

try:
    session()
except Exception:
    results["error"] = traceback.format_exc()
print(json.dumps(results))
"#;

/// A Python with a `docker` module to drive the service with.
struct Python {
    /// What it is, for messages.
    what: &'static str,
    program: PathBuf,
    /// `PYTHONPATH` (None: the interpreter's own).
    path: Option<&'static str>,
}

impl Python {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        match self.path {
            Some(path) => command.env("PYTHONPATH", path),
            None => command.env_remove("PYTHONPATH"),
        };
        command.stdin(Stdio::null());
        command
    }

    /// `sys.executable` and `docker.__file__`: which docker-py this one runs (None when it
    /// has none).
    fn docker_module(&self) -> Option<String> {
        let out = self
            .command()
            .args([
                "-c",
                "import sys, docker; print(sys.executable, docker.__file__)",
            ])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| stdout(&out).trim().to_string())
    }
}

/// The Pythons with docker-py here, each docker-py once: PATH's `python3` (pip's docker-py
/// in this repository's environments) and Debian's `/usr/bin/python3` with Debian's
/// modules first (`python3-docker`).
fn pythons() -> Vec<Python> {
    let mut candidates = Vec::new();
    if let Some(program) = which("python3") {
        candidates.push(Python {
            what: "python3 on PATH",
            program,
            path: None,
        });
    }
    let debian = Path::new("/usr/bin/python3");
    if debian.is_file() && Path::new(DEBIAN_MODULES).join("docker").is_dir() {
        candidates.push(Python {
            what: "Debian's python3-docker",
            program: debian.into(),
            path: Some(DEBIAN_MODULES),
        });
    }
    let mut seen = Vec::new();
    candidates
        .into_iter()
        .filter(|python| match python.docker_module() {
            Some(module) if !seen.contains(&module) => {
                seen.push(module);
                true
            }
            _ => false,
        })
        .collect()
}

/// Runs `command` to completion within the tests' command timeout.
fn run(mut command: Command, what: &[&str]) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the client starts");
    finish(child, what)
}

#[test]
fn docker_py_runs_lists_logs_execs_stops_and_removes() {
    let test = "docker_py_runs_lists_logs_execs_stops_and_removes";
    let pythons = pythons();
    if pythons.is_empty() {
        eprintln!(
            "SKIPPED {test}: no python3 with docker-py (scripts/install-deps.sh installs Debian's python3-docker)"
        );
        return;
    }
    let Some(hull) = setup(test) else {
        return;
    };
    let service = Service::start(&hull);
    for (index, python) in pythons.iter().enumerate() {
        let name = format!("py-detached-{index}");
        let mut command = python.command();
        command
            .args(["-c", DOCKER_PY_SCRIPT, &name])
            .env("DOCKER_HOST", service.docker_host())
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH");
        let out = run(command, &["python3", "docker-py session"]);
        let context = format!(
            "{} ({}): stderr:\n{}\nservice log:\n{}",
            python.what,
            python.program.display(),
            stderr(&out),
            service.log(&hull)
        );
        let text = stdout(&out);
        let results: serde_json::Value = text
            .lines()
            .last()
            .and_then(|line| serde_json::from_str(line).ok())
            .unwrap_or_else(|| panic!("no results from {context}\nstdout:\n{text}"));
        eprintln!("{}: docker-py {}", python.what, results["docker_py"]);
        assert!(
            results["error"].is_null(),
            "{}\n{context}",
            results["error"]
        );
        assert_eq!(results["ping"], true, "{context}");
        assert_eq!(results["api_version"], "1.41", "{context}");
        assert_eq!(results["run"], "hello\n", "{context}");
        assert_eq!(results["failed_run"], 3, "{context}");
        assert!(
            results["listed"]
                .as_array()
                .is_some_and(|l| l.contains(&name.as_str().into())),
            "{results}"
        );
        assert_eq!(results["logs"], "started\n", "{context}");
        assert_eq!(results["exec_output"], "in-exec\n", "{context}");
        assert_eq!(results["exec_exit_code"], 7, "{context}");
        assert_eq!(results["status_after_stop"], "exited", "{context}");
        assert!(
            results["listed_after_remove"]
                .as_array()
                .is_some_and(|l| !l.contains(&name.as_str().into())),
            "{results}"
        );
        assert!(
            results["images"]
                .as_array()
                .is_some_and(|l| l.contains(&"busybox:latest".into())),
            "{results}"
        );
        assert_eq!(results["built"], "py-built\n", "images.build: {context}");
    }
}

/// Two services on the project's network: `web` serves a page with busybox httpd,
/// `client` fetches it by the service's name until it gets it (busybox's `wget -T`
/// crashes, hence `timeout`). compose creates and starts both at once.
const COMPOSE_FILE: &str = r#"version: "3"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www"]
    stop_grace_period: 2s
  client:
    image: busybox
    command: ["sh", "-c", "while ! timeout 5 wget -q -O - http://web/; do sleep 1; done; exec sleep 600"]
    stop_grace_period: 2s
"#;

/// Debian's docker-compose, run as shipped: on Debian's own Python modules (see
/// [`DEBIAN_MODULES`]); `HULL_TEST_DOCKER_COMPOSE` names another.
struct Compose {
    program: PathBuf,
    project_dir: tempfile::TempDir,
    host: String,
}

impl Compose {
    /// None, after printing why `test` is skipped, when there is no docker-compose that
    /// starts.
    fn find(test: &str, service: &Service, file: &str) -> Option<Self> {
        let program = std::env::var_os("HULL_TEST_DOCKER_COMPOSE")
            .map(PathBuf::from)
            .or_else(|| which("docker-compose"));
        let Some(program) = program else {
            eprintln!(
                "SKIPPED {test}: no docker-compose (scripts/install-deps.sh installs Debian's)"
            );
            return None;
        };
        let project_dir = tempfile::tempdir().ok()?;
        std::fs::write(project_dir.path().join("docker-compose.yml"), file).ok()?;
        let compose = Compose {
            program,
            project_dir,
            host: service.docker_host(),
        };
        let version = compose.run(&["version"]);
        if !version.status.success() {
            eprintln!(
                "SKIPPED {test}: {} does not start: {}",
                compose.program.display(),
                stderr(&version)
            );
            return None;
        }
        eprintln!("{}", stdout(&version).trim());
        Some(compose)
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(&self.program);
        command
            .args(args)
            .current_dir(self.project_dir.path())
            .env("DOCKER_HOST", &self.host)
            .env("PYTHONPATH", DEBIAN_MODULES)
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .stdin(Stdio::null());
        let mut what = vec!["docker-compose"];
        what.extend_from_slice(args);
        run(command, &what)
    }

    /// `docker-compose ARGS`, asserted to succeed; its stdout.
    fn ok(&self, args: &[&str], service: &Service, hull: &Hull) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "docker-compose {args:?} failed ({}): {}\nservice log:\n{}",
            out.status,
            stderr(&out),
            service.log(hull)
        );
        stdout(&out)
    }
}

#[test]
fn docker_compose_brings_up_two_services_that_talk_by_name_and_takes_them_down() {
    let test = "docker_compose_brings_up_two_services_that_talk_by_name_and_takes_them_down";
    let Some(hull) = setup(test) else {
        return;
    };
    let service = Service::start(&hull);
    let Some(compose) = Compose::find(test, &service, COMPOSE_FILE) else {
        return;
    };
    let project = "hullpy";
    compose.ok(&["-p", project, "up", "-d"], &service, &hull);

    let ps = compose.ok(&["-p", project, "ps"], &service, &hull);
    for name in ["hullpy_web_1", "hullpy_client_1"] {
        let rows: Vec<&str> = ps.lines().filter(|l| l.starts_with(name)).collect();
        assert_eq!(rows.len(), 1, "{name} once in:\n{ps}");
        assert!(rows[0].contains(" Up "), "{ps}");
    }
    let mut logs = String::new();
    let fetched = wait_until(Duration::from_secs(90), || {
        logs = stdout(&compose.run(&["-p", project, "logs", "--no-color", "client"]));
        logs.contains("hello-from-web")
    });
    assert!(fetched, "client never got web's page:\n{logs}");
    // Once up, up again changes nothing (compose compares the containers' and network's
    // config with the file's).
    let again = compose.run(&["-p", project, "up", "-d"]);
    assert!(
        again.status.success() && stderr(&again).contains("is up-to-date"),
        "{}",
        stderr(&again)
    );

    compose.ok(&["-p", project, "down"], &service, &hull);
    assert_eq!(
        hull.ok(&["ps", "-aq"]).trim(),
        "",
        "containers left after down"
    );
    let networks = hull.ok(&["network", "ls"]);
    assert!(!networks.contains("hullpy_default"), "{networks}");
}

/// Two services sharing a named volume: `writer` writes a file into it, `reader` waits
/// for it and prints it.
const COMPOSE_VOLUME_FILE: &str = r#"version: "3"
services:
  writer:
    image: busybox
    command: ["sh", "-c", "echo shared-by-volume > /data/msg; exec sleep 600"]
    volumes: ["shared:/data"]
    stop_grace_period: 2s
  reader:
    image: busybox
    command: ["sh", "-c", "while ! cat /data/msg; do sleep 1; done; exec sleep 600"]
    volumes: ["shared:/data:ro"]
    stop_grace_period: 2s
volumes:
  shared: {}
"#;

#[test]
fn docker_compose_services_share_a_named_volume_and_down_v_removes_it() {
    let test = "docker_compose_services_share_a_named_volume_and_down_v_removes_it";
    let Some(hull) = setup(test) else {
        return;
    };
    if which("virtiofsd").is_none() {
        eprintln!("SKIPPED {test}: no virtiofsd");
        return;
    }
    let service = Service::start(&hull);
    let Some(compose) = Compose::find(test, &service, COMPOSE_VOLUME_FILE) else {
        return;
    };
    let project = "hullvol";
    compose.ok(&["-p", project, "up", "-d"], &service, &hull);
    assert!(hull.ok(&["volume", "ls", "-q"]).contains("hullvol_shared"));
    let mut logs = String::new();
    let read = wait_until(Duration::from_secs(90), || {
        logs = stdout(&compose.run(&["-p", project, "logs", "--no-color", "reader"]));
        logs.contains("shared-by-volume")
    });
    assert!(read, "reader never read writer's file:\n{logs}");
    let again = compose.run(&["-p", project, "up", "-d"]);
    assert!(
        again.status.success() && stderr(&again).contains("is up-to-date"),
        "{}",
        stderr(&again)
    );
    compose.ok(&["-p", project, "down", "-v"], &service, &hull);
    assert_eq!(
        hull.ok(&["volume", "ls", "-q"]).trim(),
        "",
        "volume left after down -v"
    );
}
