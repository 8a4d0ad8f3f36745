//! `hull build`: Dockerfiles through the real binary. Each instruction family lands in the
//! image as Docker puts it there; multi-stage builds build only what the target needs;
//! an unchanged rebuild is all CACHED and boots no VM; a touched COPY source rebuilds from
//! its step on; failures name the file, line or command; podman runs what hull built.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{setup, stderr, stdout, which, Hull};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

/// A context directory with `files` (path, content) under the test's root.
fn context(hull: &Hull, name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = hull.root.path().join(name);
    for (path, content) in files {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
    dir
}

fn build(hull: &Hull, args: &[&str], dir: &Path) -> std::process::Output {
    let mut all = vec!["build", "--progress", "plain"];
    all.extend_from_slice(args);
    all.push(dir.to_str().unwrap());
    hull.run(&all)
}

fn build_ok(hull: &Hull, args: &[&str], dir: &Path) -> String {
    let out = build(hull, args, dir);
    assert!(out.status.success(), "hull build failed: {}", stderr(&out));
    stderr(&out)
}

/// `hull build ARGS` that fails before any step, saying `reason`.
fn build_refused(hull: &Hull, dir: &Path, reason: &str) {
    let out = build(hull, &[], dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(reason), "{}", stderr(&out));
}

/// `hull ARGS` with `input` on its stdin.
fn with_stdin(hull: &Hull, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = hull
        .cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    hull_tests::finish(child, args)
}

/// Build VMs booted so far (their containers' create events).
fn build_vms(hull: &Hull) -> usize {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    hull.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &now.to_string(),
        "--filter",
        "event=create",
        "--filter",
        "label=io.hull.build",
    ])
    .lines()
    .count()
}

#[test]
fn every_instruction_family_lands_in_the_image_as_docker_puts_it() {
    let test = "every_instruction_family_lands_in_the_image_as_docker_puts_it";
    let Some(hull) = setup(test) else {
        return;
    };
    let dockerfile = r#"ARG BASE=busybox
FROM ${BASE} AS base
ARG GREETING=hello
ARG WHO
ENV APP_HOME=/srv/app PLAIN="two words"
ENV LEGACY value with spaces
LABEL org.example.name="demo app" version=1
EXPOSE 8080 53/udp
VOLUME ["/data"]
WORKDIR $APP_HOME
COPY --chmod=755 tool.sh ./bin/
COPY conf/ /etc/demo/
COPY --chown=1000:1000 *.txt /notes/
ADD bundle.tar /opt/
RUN echo "$GREETING ${WHO:-nobody} in $(pwd)" > /built && echo "run output line"
RUN ["/bin/sh", "-c", "echo exec-form >> /built"]
SHELL ["/bin/sh", "-ec"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=2 CMD ["true"]
ONBUILD RUN echo triggered > /tmp/onbuild
USER 1000
CMD ["sh", "-c", "cat /built; echo $PLAIN; echo $LEGACY; ls -l /srv/app/bin/tool.sh /notes; cat /etc/demo/a.conf /opt/bundle/inner; id -u; pwd"]
"#;
    let bundle = {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(6);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_uid(0);
        header.set_gid(0);
        builder
            .append_data(&mut header, "bundle/inner", &b"inner\n"[..])
            .unwrap();
        builder.into_inner().unwrap()
    };
    let dir = context(
        &hull,
        "ctx",
        &[
            ("Dockerfile", dockerfile),
            ("tool.sh", "#!/bin/sh\necho tool\n"),
            ("conf/a.conf", "conf-a\n"),
            ("one.txt", "1\n"),
            ("two.txt", "2\n"),
        ],
    );
    fs::write(dir.join("bundle.tar"), bundle).unwrap();
    let progress = build_ok(&hull, &["-t", "demo:1", "--build-arg", "WHO=hull"], &dir);
    assert!(progress.contains("[1/21] FROM busybox"), "{progress}");
    assert!(
        progress.contains(" run output line\n"),
        "RUN output is shown: {progress}"
    );
    let out = hull.ok(&["run", "--rm", "demo:1"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "hello hull in /srv/app", "{out}");
    assert_eq!(lines[1], "exec-form");
    assert_eq!(lines[2], "two words");
    assert_eq!(lines[3], "value with spaces");
    assert!(
        lines[4].starts_with("-rwxr-xr-x") && lines[4].contains(" root "),
        "{out}"
    );
    assert!(
        out.contains("1000     1000") || out.contains("1000 1000"),
        "--chown: {out}"
    );
    assert!(out.contains("one.txt") && out.contains("two.txt"), "{out}");
    assert!(out.contains("conf-a\ninner\n1000\n/srv/app\n"), "{out}");
    assert_eq!(
        hull.inspect(
            "demo:1",
            "{{json .Config.Labels}} {{json .Config.ExposedPorts}} {{json .Config.Volumes}} {{.Config.StopSignal}} {{.Config.User}}"
        ),
        r#"{"org.example.name":"demo app","version":"1"} {"53/udp":{},"8080/tcp":{}} {"/data":{}} SIGINT 1000"#
    );
    // Build args are not in the image's environment; ENV is.
    let env = hull.inspect("demo:1", "{{json .Config.Env}}");
    assert!(
        env.contains("APP_HOME=/srv/app") && !env.contains("GREETING"),
        "{env}"
    );
    // ONBUILD runs in a child build, which does not inherit the trigger.
    let child = context(&hull, "child", &[("Dockerfile", "FROM demo:1\nUSER 0\n")]);
    build_ok(&hull, &["-t", "child:1"], &child);
    assert_eq!(
        hull.ok(&["run", "--rm", "child:1", "cat", "/tmp/onbuild"]),
        "triggered\n"
    );
    let grandchild = context(&hull, "grandchild", &[("Dockerfile", "FROM child:1\n")]);
    let progress = build_ok(&hull, &["-t", "grandchild:1"], &grandchild);
    assert!(
        !progress.contains("echo triggered"),
        "not inherited: {progress}"
    );
    // History: one entry per instruction, RUN as BuildKit records it.
    let history = hull.ok(&["history", "--no-trunc", "demo:1"]);
    assert!(
        history.contains("RUN /bin/sh -c echo \"$GREETING"),
        "{history}"
    );
}

#[test]
fn multi_stage_builds_only_what_the_target_needs() {
    let test = "multi_stage_builds_only_what_the_target_needs";
    let Some(hull) = setup(test) else {
        return;
    };
    let dockerfile = "FROM --platform=$BUILDPLATFORM busybox AS builder\nARG TARGETARCH\nRUN <<EOF\nmkdir -p /out\necho built-in-stage-$TARGETARCH > /out/artifact\nEOF\n\nFROM busybox AS broken\nRUN exit 3\n\nFROM busybox\nCOPY --from=builder /out /app\nCMD [\"cat\", \"/app/artifact\"]\n";
    let dir = context(&hull, "ctx", &[("Dockerfile", dockerfile)]);
    let progress = build_ok(&hull, &["-t", "multi:1"], &dir);
    assert!(
        !progress.contains("exit 3"),
        "an unneeded stage is not built: {progress}"
    );
    assert!(progress.contains("[builder 3/3] RUN"), "{progress}");
    assert_eq!(
        hull.ok(&["run", "--rm", "multi:1"]),
        "built-in-stage-amd64\n"
    );
    // --target stops at that stage; a failing stage fails the build without a tag.
    let out = build(&hull, &["--target", "broken", "-t", "broken:1"], &dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3"),
        "{}",
        stderr(&out)
    );
    assert!(hull.run(&["image", "inspect", "broken:1"]).status.code() != Some(0));
    let out = build(&hull, &["--target", "nope"], &dir);
    assert!(
        stderr(&out).contains("target stage \"nope\" could not be found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unchanged_rebuild_is_all_cached_and_a_touched_source_rebuilds_from_its_step() {
    let test = "an_unchanged_rebuild_is_all_cached_and_a_touched_source_rebuilds_from_its_step";
    let Some(hull) = setup(test) else {
        return;
    };
    let dockerfile = "FROM busybox\nRUN echo first > /first\nCOPY app.txt /app.txt\nRUN cat /app.txt > /copy\nENV DONE=1\n";
    let dir = context(
        &hull,
        "ctx",
        &[
            ("Dockerfile", dockerfile),
            ("app.txt", "v1\n"),
            ("unused.log", "x"),
        ],
    );
    build_ok(&hull, &["-t", "cached:1"], &dir);
    assert_eq!(build_vms(&hull), 1, "two RUN and a COPY share one VM");
    let first = hull.inspect("cached:1", "{{.Id}}");
    let again = build_ok(&hull, &["-t", "cached:1"], &dir);
    assert_eq!(build_vms(&hull), 1, "a cached rebuild boots no VM");
    assert_eq!(again.matches(" CACHED").count(), 4, "{again}");
    assert!(
        !again.contains("DONE") || !again.contains("RUN echo first\n#2 DONE"),
        "{again}"
    );
    assert_eq!(
        hull.inspect("cached:1", "{{.Id}}"),
        first,
        "same steps, same image"
    );
    assert!(
        hull.ok(&["ps", "-aq"]).trim().is_empty(),
        "no build container left"
    );
    // A file no COPY reads changes nothing; the COPY source changing rebuilds from there.
    fs::write(dir.join("unused.log"), "changed").unwrap();
    fs::write(dir.join("app.txt"), "v2\n").unwrap();
    let changed = build_ok(&hull, &["-t", "cached:1"], &dir);
    assert_eq!(
        changed.matches(" CACHED").count(),
        1,
        "only the first RUN: {changed}"
    );
    assert_eq!(
        hull.ok(&["run", "--rm", "cached:1", "cat", "/copy"]),
        "v2\n"
    );
    // The intermediate images are kept for the cache but not listed (the first build's
    // final image, untagged now, is dangling), and pruning dangling images keeps them
    // while the tagged image needs them.
    let listed = hull.ok(&["images"]);
    assert_eq!(
        listed.lines().count(),
        4,
        "busybox, cached:1, one dangling: {listed}"
    );
    assert!(hull.ok(&["images", "-aq"]).lines().count() > 4);
    hull.ok(&["image", "prune", "-f"]);
    assert_eq!(hull.ok(&["images", "-q"]).lines().count(), 2);
    let after_prune = build_ok(&hull, &["-t", "cached:1"], &dir);
    assert_eq!(after_prune.matches(" CACHED").count(), 4, "{after_prune}");
    // --no-cache runs everything again.
    let uncached = build_ok(&hull, &["--no-cache", "-t", "cached:2"], &dir);
    assert_eq!(uncached.matches(" CACHED").count(), 0, "{uncached}");
}

#[test]
fn dockerignore_patterns_decide_what_copy_sees() {
    let test = "dockerignore_patterns_decide_what_copy_sees";
    let Some(hull) = setup(test) else {
        return;
    };
    let dir = context(
        &hull,
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY . /ctx/\nCMD [\"sh\", \"-c\", \"cd /ctx && find . -type f | sort\"]\n",
            ),
            (".dockerignore", "# build output\n*.log\n**/*.tmp\nsecrets\ndocs/*\n!docs/keep.md\n"),
            ("main.c", "int main;\n"),
            ("debug.log", "x"),
            ("sub/deep/scratch.tmp", "x"),
            ("sub/keep.c", "x"),
            ("secrets/key", "x"),
            ("docs/drop.md", "x"),
            ("docs/keep.md", "x"),
        ],
    );
    build_ok(&hull, &["-t", "ignored:1"], &dir);
    assert_eq!(
        hull.ok(&["run", "--rm", "ignored:1"]),
        "./.dockerignore\n./Dockerfile\n./docs/keep.md\n./main.c\n./sub/keep.c\n"
    );
    let outside = context(
        &hull,
        "outside",
        &[("Dockerfile", "FROM busybox\nCOPY ../ctx/main.c /\n")],
    );
    build_refused(&hull, &outside, "outside the build context");
}

#[test]
fn dockerfiles_come_from_stdin_and_errors_name_their_line() {
    let test = "dockerfiles_come_from_stdin_and_errors_name_their_line";
    let Some(hull) = setup(test) else {
        return;
    };
    let dir = context(&hull, "ctx", &[("data.txt", "from-context\n")]);
    let out = with_stdin(
        &hull,
        &[
            "build",
            "-q",
            "-t",
            "stdin:1",
            "-f",
            "-",
            dir.to_str().unwrap(),
        ],
        b"FROM busybox\nCOPY data.txt /\nCMD [\"cat\", \"/data.txt\"]\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out);
    assert!(id.trim().starts_with("sha256:"), "-q prints the id: {id}");
    assert_eq!(hull.ok(&["run", "--rm", "stdin:1"]), "from-context\n");
    // `-` as the context: the Dockerfile itself on stdin, no context.
    let out = with_stdin(
        &hull,
        &["build", "--progress", "plain", "-"],
        b"FROM busybox\nRUN echo no-context\n",
    );
    assert!(stderr(&out).contains(" no-context\n"), "{}", stderr(&out));
    // Errors before any VM: the file and line of a bad instruction; ADD of a URL.
    let bad = context(
        &hull,
        "bad",
        &[("Dockerfile", "FROM busybox\nRUN true\nFROB x\n")],
    );
    build_refused(&hull, &bad, "Dockerfile:3: unknown instruction");
    let url = context(
        &hull,
        "url",
        &[("Dockerfile", "FROM busybox\nADD https://example.com/f /f\n")],
    );
    build_refused(&hull, &url, "hull build does not download");
}

#[test]
fn a_scratch_image_gets_files_from_the_context_and_from_another_image() {
    let test = "a_scratch_image_gets_files_from_the_context_and_from_another_image";
    let Some(hull) = setup(test) else {
        return;
    };
    let dir = context(
        &hull,
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM scratch\nCOPY --from=busybox /bin/busybox /bin/busybox\nCOPY message /\nENTRYPOINT [\"/bin/busybox\"]\nCMD [\"cat\", \"/message\"]\n",
            ),
            ("message", "only two files\n"),
        ],
    );
    build_ok(&hull, &["-t", "tiny:1"], &dir);
    assert_eq!(hull.ok(&["run", "--rm", "tiny:1"]), "only two files\n");
    let listed = hull.ok(&["run", "--rm", "tiny:1", "find", "/", "-xdev", "-type", "f"]);
    let mut files: Vec<&str> = listed.lines().filter(|l| !l.starts_with("/etc/")).collect();
    files.sort_unstable();
    assert_eq!(files, ["/bin/busybox", "/message"]);
}

#[test]
fn podman_runs_an_image_hull_built() {
    let test = "podman_runs_an_image_hull_built";
    if which("podman").is_none() || which("runc").is_none() {
        eprintln!("SKIPPED {test}: podman and runc are not installed (scripts/install-deps.sh)");
        return;
    }
    let Some(hull) = setup(test) else {
        return;
    };
    let Some(podman) = hull_tests::compat::Podman::new() else {
        eprintln!("SKIPPED {test}: cannot set up a podman store");
        return;
    };
    let dir = context(
        &hull,
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo built-by-hull > /made\nENV WHO=podman\nCMD [\"sh\", \"-c\", \"cat /made; echo $WHO\"]\n",
        )],
    );
    build_ok(&hull, &["-t", "localhost/built:1"], &dir);
    let archive = hull.root.path().join("built.tar");
    hull.ok(&["save", "-o", archive.to_str().unwrap(), "localhost/built:1"]);
    let run = podman.load_and_run(&archive, "localhost/built:1");
    assert!(run.status.success(), "podman: {}", stderr(&run));
    assert_eq!(stdout(&run), "built-by-hull\npodman\n");
}

#[test]
fn deletions_in_squashed_layers_still_hide_the_base() {
    let test = "deletions_in_squashed_layers_still_hide_the_base";
    let Some(hull) = setup(test) else {
        return;
    };
    // Five layers: more than a QEMU VM has layer slots for, so the top ones boot squashed.
    let dockerfile = "FROM busybox\nRUN echo x > /x\nRUN rm /bin/ls\nRUN mkdir /d && echo 1 > /d/f\nRUN rm -rf /d && mkdir /d && echo 2 > /d/g\n";
    let dir = context(&hull, "ctx", &[("Dockerfile", dockerfile)]);
    build_ok(&hull, &["-t", "deleted:1"], &dir);
    assert_eq!(
        hull.inspect("deleted:1", "{{len .RootFS.Layers}}"),
        "5",
        "every step its own layer"
    );
    let out = hull.ok(&[
        "run",
        "--rm",
        "deleted:1",
        "sh",
        "-c",
        "cat /x; ls /d; test -e /bin/ls && echo ls-still-there; echo done",
    ]);
    assert_eq!(out, "x\ng\ndone\n");
}
