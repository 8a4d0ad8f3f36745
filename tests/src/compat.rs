//! The differential Docker CLI conformance suite (`tests/tests/compat.rs`): each case of
//! `tests/compat/cases.txt` runs once with hull and once with `podman --runtime runc` on the
//! same busybox image (hull's, given to podman with `hull save` + `podman load`).
//!
//! Case file format: a case starts with `### NAME`; the lines up to the next case are a `sh`
//! script in which `$D` is the docker-like command (`hull ...` or `podman ...`). Its exit
//! status and stdout are compared after [`normalize`]. Where podman itself differs from
//! Docker, `#! LINE` lines give Docker's stdout and `#!exit N` its status: hull is then held
//! to those, and podman's output is only shown. A `wait_for CMD...` shell function retries a
//! readiness check (see [`PRELUDE`]).
//!
//! Allowlist format (`tests/compat/allowlist.txt`): `NAME | documented | WHY` for a
//! difference hull keeps on purpose (a VM is not a namespace), `NAME | defect | WHY` for a
//! known gap that is still to be fixed. Anything else that differs fails the suite.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{setup, which, workspace, Hull};

/// How long one side of one case may take.
const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Defined before every case: `wait_for CMD...` retries CMD every 0.2 s for at most 30 s.
const PRELUDE: &str = "wait_for() { i=0; until \"$@\" >/dev/null 2>&1; do \
    i=$((i+1)); [ $i -ge 150 ] && return 1; sleep 0.2; done; }\n";

/// One case of `cases.txt`.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its name (unique).
    pub name: String,
    /// The `sh` script, `$D` being the docker-like command.
    pub script: String,
    /// Docker's own stdout and status where podman is not the reference.
    pub docker: Option<Outcome>,
}

/// What one side printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The script's exit status (-1: killed after [`CASE_TIMEOUT`]).
    pub exit: i32,
    /// Its stdout, normalized.
    pub stdout: String,
}

/// How a case compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// hull behaves as the reference.
    Same,
    /// A documented difference (allowlist `documented`).
    Documented,
    /// A known defect still to be fixed (allowlist `defect`).
    KnownDefect,
    /// A difference nobody explained: the suite fails.
    Unexplained,
}

/// One row of the report.
#[derive(Debug, Clone)]
pub struct Row {
    /// The case's name.
    pub name: String,
    /// How it compares.
    pub verdict: Verdict,
    /// hull's outcome.
    pub hull: Outcome,
    /// The reference outcome (Docker's where given, else podman's).
    pub reference: Outcome,
    /// The allowlist line's reason, if any.
    pub reason: Option<String>,
}

/// Parses `cases.txt`.
pub fn parse_cases(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("### ") {
            cases.push(Case {
                name: name.trim().to_string(),
                script: String::new(),
                docker: None,
            });
            continue;
        }
        let Some(case) = cases.last_mut() else {
            continue; // the file's preamble
        };
        if let Some(status) = line.strip_prefix("#!exit ") {
            let docker = case.docker.get_or_insert_with(|| Outcome {
                exit: 0,
                stdout: String::new(),
            });
            docker.exit = status.trim().parse().unwrap_or(-1);
        } else if let Some(expected) = line.strip_prefix("#!") {
            let docker = case.docker.get_or_insert_with(|| Outcome {
                exit: 0,
                stdout: String::new(),
            });
            docker
                .stdout
                .push_str(expected.strip_prefix(' ').unwrap_or(expected));
            docker.stdout.push('\n');
        } else {
            case.script.push_str(line);
            case.script.push('\n');
        }
    }
    cases
}

/// Parses `allowlist.txt` into name -> (verdict, reason).
pub fn parse_allowlist(text: &str) -> BTreeMap<String, (Verdict, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let mut parts = line.splitn(3, '|').map(str::trim);
            let name = parts.next()?;
            let verdict = match parts.next()? {
                "documented" => Verdict::Documented,
                "defect" => Verdict::KnownDefect,
                _ => return None,
            };
            Some((name.to_string(), (verdict, parts.next()?.to_string())))
        })
        .collect()
}

/// Makes two runtimes' output comparable: container and image ids (64 or 12 hex digits)
/// become `<id>`, podman's `localhost/` name prefix goes, trailing blanks go.
pub fn normalize(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = line.replace("localhost/", "");
        let words: Vec<String> = line
            .split(' ')
            .map(|word| {
                let hex = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
                let is_id = (hex.len() == 64 || hex.len() == 12)
                    && hex
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
                if is_id {
                    word.replace(hex, "<id>")
                } else {
                    word.to_string()
                }
            })
            .collect();
        out.push_str(words.join(" ").trim_end());
        out.push('\n');
    }
    out
}

/// A docker-like command line for `$D`, and how to clear its containers between cases.
struct Side {
    command: String,
}

impl Side {
    fn run(&self, script: &str, dir: &Path) -> Outcome {
        let mut child = Command::new("sh");
        child
            .arg("-c")
            .arg(format!("{PRELUDE}{script}"))
            .env("D", &self.command)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0);
        // Neither side may reach a registry off this host (`run nosuchimage:1`).
        crate::offline_registries(&mut child);
        let mut child = child.spawn().expect("sh runs");
        let mut stdout_pipe = child.stdout.take().expect("piped");
        let reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stdout_pipe.read_to_end(&mut bytes);
            bytes
        });
        let deadline = Instant::now() + CASE_TIMEOUT;
        let exit = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let pgid = i32::try_from(child.id()).expect("pid fits");
                // SAFETY: plain kill(2) of the case's own process group.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                let _ = child.wait();
                break -1;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let stdout = reader.join().unwrap_or_default();
        Outcome {
            exit,
            stdout: normalize(&String::from_utf8_lossy(&stdout)),
        }
    }

    /// Removes every container (cases leave some on purpose, or when they fail half-way).
    fn clear(&self, dir: &Path) {
        self.run(
            "ids=$($D ps -aq); [ -z \"$ids\" ] || $D rm -f $ids >/dev/null 2>&1",
            dir,
        );
    }
}

/// podman with its own store, runc, cgroupfs, and the rlimits runc can set on this host.
pub struct Podman {
    /// Holds podman's store; removed on drop.
    _store: tempfile::TempDir,
    side: Side,
}

impl Podman {
    /// A podman with a store of its own (removed on drop); None if it cannot be made.
    pub fn new() -> Option<Self> {
        let dir = tempfile::Builder::new()
            .prefix("hull-compat-podman-")
            .tempdir()
            .ok()?;
        let conf = dir.path().join("containers.conf");
        // runc here cannot raise RLIMIT_NOFILE/NPROC to podman's defaults. netns "none":
        // podman's default network would create its bridge in the host's namespace, which a
        // test must never touch; its network config lives in the temporary directory too.
        std::fs::write(
            &conf,
            format!(
                "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=30000:30000\"]\n\
                 netns = \"none\"\n[network]\nnetwork_config_dir = \"{}\"\n",
                dir.path().join("networks").display()
            ),
        )
        .ok()?;
        let command = format!(
            "env CONTAINERS_CONF={} podman --root {} --runroot {} --runtime runc \
             --cgroup-manager cgroupfs --events-backend file",
            conf.display(),
            dir.path().join("root").display(),
            dir.path().join("run").display(),
        );
        Some(Self {
            _store: dir,
            side: Side { command },
        })
    }
}

impl Podman {
    /// The podman command line (its global flags included), for `sh -c`.
    pub fn command(&self) -> &str {
        &self.side.command
    }

    /// `podman load -i ARCHIVE`, then `podman run --rm --network none IMAGE`: its output.
    pub fn load_and_run(&self, archive: &std::path::Path, image: &str) -> std::process::Output {
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "$D load -i {} >/dev/null && $D run --rm --network none {image}",
                archive.display()
            ))
            .env("D", &self.side.command)
            .output()
            .expect("sh runs")
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Unmounts its overlays, so the temporary directory can go.
        let _ = Command::new("sh")
            .arg("-c")
            .arg("$D rm -af >/dev/null 2>&1; $D system reset -f >/dev/null 2>&1")
            .env("D", &self.side.command)
            .status();
    }
}

fn skip(test: &str, why: &str) -> Option<Vec<Row>> {
    eprintln!("SKIPPED {test}: {why}");
    None
}

/// Runs every case on both sides and prints the table; `None` when skipped (reason printed).
pub fn run_suite(test: &str) -> Option<Vec<Row>> {
    for tool in ["podman", "runc"] {
        if which(tool).is_none() {
            return skip(
                test,
                &format!("{tool} is not installed (scripts/install-deps.sh)"),
            );
        }
    }
    let hull: Hull = setup(test)?;
    let podman = Podman::new()?;
    let hull_side = Side {
        command: hull.env_prefix(),
    };
    let work = tempfile::tempdir().ok()?;
    let image = work.path().join("busybox.tar");
    let given = hull_side.run(
        &format!(
            "$D image bootstrap busybox >/dev/null && $D save -o {} busybox",
            image.display()
        ),
        work.path(),
    );
    assert_eq!(given.exit, 0, "hull could not save its busybox image");
    let loaded = podman.side.run(
        &format!("$D load -i {} >/dev/null", image.display()),
        work.path(),
    );
    if loaded.exit != 0 {
        return skip(test, "podman cannot load an image here (is this root?)");
    }

    let cases_dir = workspace().join("tests/compat");
    let mut cases = parse_cases(&read(&cases_dir.join("cases.txt")));
    let all_names: Vec<String> = cases.iter().map(|case| case.name.clone()).collect();
    // A developer's shortcut: HULL_COMPAT_CASES=a,b runs only those cases.
    if let Ok(only) = std::env::var("HULL_COMPAT_CASES") {
        let wanted: Vec<&str> = only.split(',').map(str::trim).collect();
        cases.retain(|case| wanted.contains(&case.name.as_str()));
        eprintln!("HULL_COMPAT_CASES: running {} case(s)", cases.len());
    }
    let allowlist = parse_allowlist(&read(&cases_dir.join("allowlist.txt")));
    let started = Instant::now();
    let mut rows = Vec::new();
    print_header();
    for case in &cases {
        let scratch = tempfile::tempdir().ok()?;
        let hull_out = hull_side.run(&case.script, scratch.path());
        hull_side.clear(scratch.path());
        // Where the case states Docker's own output, podman's is not needed.
        let reference = case.docker.clone().unwrap_or_else(|| {
            let podman_out = podman.side.run(&case.script, scratch.path());
            podman.side.clear(scratch.path());
            podman_out
        });
        let allowed = allowlist.get(&case.name);
        let verdict = match (hull_out == reference, allowed) {
            (true, _) => Verdict::Same,
            (false, Some((verdict, _))) => *verdict,
            (false, None) => Verdict::Unexplained,
        };
        let row = Row {
            name: case.name.clone(),
            verdict,
            hull: hull_out,
            reference,
            reason: allowed.map(|(_, why)| why.clone()),
        };
        print_row(&row);
        rows.push(row);
    }
    print_summary(&rows, started.elapsed());
    for name in allowlist.keys() {
        match rows.iter().find(|r| &r.name == name) {
            None if !all_names.contains(name) => {
                out(&format!("allowlist names no case: {name}"));
            }
            Some(row) if row.verdict == Verdict::Same => {
                out(&format!("allowlisted but alike this time: {name}"));
            }
            _ => {}
        }
    }
    Some(rows)
}

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The report goes straight to the process's stdout: libtest captures only `print!`, and
/// the table must show in CI's log whether the suite passes or fails.
fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

fn print_header() {
    out(&format!(
        "{:<40} {:<13} {:>5} {:>5}",
        "CASE", "RESULT", "HULL", "REF"
    ));
}

fn print_row(row: &Row) {
    let label = match row.verdict {
        Verdict::Same => "same",
        Verdict::Documented => "documented",
        Verdict::KnownDefect => "known defect",
        Verdict::Unexplained => "DIFFERS",
    };
    out(&format!(
        "{:<40} {:<13} {:>5} {:>5}",
        row.name, label, row.hull.exit, row.reference.exit
    ));
    if row.verdict != Verdict::Same {
        let why = row.reason.as_deref().unwrap_or("not in the allowlist");
        out(&format!("    why: {why}"));
        if row.hull.stdout != row.reference.stdout {
            out(&format!("    hull stdout: {:?}", row.hull.stdout));
            out(&format!("    ref  stdout: {:?}", row.reference.stdout));
        }
    }
}

fn print_summary(rows: &[Row], took: Duration) {
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    let differ = rows.len() - count(Verdict::Same);
    out(&format!(
        "compat: {differ} of {} cases differ ({} documented, {} known defects, {} unexplained) in {:.0} s",
        rows.len(),
        count(Verdict::Documented),
        count(Verdict::KnownDefect),
        count(Verdict::Unexplained),
        took.as_secs_f64()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_parse_with_scripts_and_docker_expectations() {
        let cases = parse_cases(
            "preamble\n### one\n$D run --rm busybox true\n### two\n#! a b\n#!exit 3\n$D x\n",
        );
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].script, "$D run --rm busybox true\n");
        assert!(cases[0].docker.is_none());
        let docker = cases[1].docker.clone().unwrap();
        assert_eq!(docker.stdout, "a b\n");
        assert_eq!(docker.exit, 3);
        assert_eq!(cases[1].script, "$D x\n");
    }

    #[test]
    fn allowlist_lines_need_a_kind_and_a_reason() {
        let list =
            parse_allowlist("# c\none | documented | a VM\ntwo | defect | todo\nbad | x | y\n");
        assert_eq!(list.len(), 2);
        assert_eq!(list["one"].0, Verdict::Documented);
        assert_eq!(list["two"].1, "todo");
    }

    #[test]
    fn ids_and_podman_prefixes_are_normalized() {
        let id = "21ef4e1b35d24e1729fc854d0f57e23eb3bb1f5acd732bb01ce4d758021414f6";
        assert_eq!(
            normalize(&format!(
                "{id}\nlocalhost/busybox:latest  \n21ef4e1b35d2 x\n"
            )),
            "<id>\nbusybox:latest\n<id> x\n"
        );
        assert_eq!(normalize("deadbeef\n"), "deadbeef\n");
    }
}
