//! Registries: push, pull (by tag, by digest, implicit on run), login/logout, manifest
//! lists, interop with skopeo, and hostile or failing registries — against Debian's real
//! `docker-registry`, started by each test on 127.0.0.1.

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use std::os::unix::fs::PermissionsExt;

use hull_tests::registry::{put, Auth, Proxy, Registry, Tamper};
use hull_tests::token::TokenServer;
use hull_tests::{setup, stderr, stdout, which, with_input, Hull};

/// A hull with busybox made, and a registry (with `user` when given).
fn start(test: &str, user: Option<(&str, &str)>) -> Option<(Hull, Registry, String)> {
    let hull = setup(test)?;
    let registry = Registry::start(test, user)?;
    hull.ok(&["image", "bootstrap", "busybox"]);
    let id = hull.inspect("busybox", "{{.Id}}");
    Some((hull, registry, id))
}

/// `hull push` of busybox as `name`; the pushed manifest digest.
fn push_busybox(hull: &Hull, name: &str) -> String {
    hull.ok(&["tag", "busybox", name]);
    let out = hull.ok(&["push", name]);
    let line = out
        .lines()
        .find(|l| l.contains(": digest: sha256:"))
        .unwrap_or_else(|| panic!("no digest line: {out}"));
    line.split_whitespace().nth(2).expect("digest").to_string()
}

/// `out` ended with `code` and said `needle` on stderr.
fn assert_refused(out: &std::process::Output, code: i32, needle: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", stderr(out));
    assert!(stderr(out).contains(needle), "{}", stderr(out));
}

/// Files left in the pull cache.
fn cached_downloads(hull: &Hull) -> Vec<String> {
    std::fs::read_dir(hull.root.path().join("downloads/sha256"))
        .map(|dir| {
            dir.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn remove_all_images(hull: &Hull) {
    let ids = hull.ok(&["images", "-q"]);
    let mut args = vec!["rmi", "-f"];
    args.extend(ids.split_whitespace());
    if args.len() > 2 {
        hull.ok(&args);
    }
    assert_eq!(hull.ok(&["images", "-q"]).trim(), "");
}

#[test]
fn push_then_pull_by_tag_and_digest_and_run() {
    let Some((hull, registry, id)) = start("push_then_pull_by_tag_and_digest_and_run", None) else {
        return;
    };
    let name = format!("{}/busybox:v1", registry.host());
    let push = hull.ok(&["tag", "busybox", &name]);
    assert_eq!(push, "");
    let out = hull.ok(&["push", &name]);
    assert!(
        out.starts_with(&format!(
            "The push refers to repository [{}/busybox]",
            registry.host()
        )),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("v1: digest: "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{out}"))
        .to_string();

    remove_all_images(&hull);
    let out = hull.ok(&["pull", &name]);
    assert!(
        out.contains(&format!("v1: Pulling from {}/busybox", registry.host())),
        "{out}"
    );
    assert!(out.contains(": Pull complete"), "{out}");
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some(name.as_str()), "{out}");
    assert_eq!(
        hull.inspect(&name, "{{.Id}}"),
        id,
        "the pulled image is the pushed one"
    );
    let repo_digests = hull.inspect(&name, "{{json .RepoDigests}}");
    assert!(
        repo_digests.contains(&format!("busybox@{digest}")),
        "{repo_digests}"
    );
    assert!(
        cached_downloads(&hull).is_empty(),
        "{:?}",
        cached_downloads(&hull)
    );

    let again = hull.ok(&["pull", &name]);
    assert!(
        again.contains(&format!("Status: Image is up to date for {name}")),
        "{again}"
    );
    assert!(
        !again.contains("Pull complete"),
        "nothing was fetched again: {again}"
    );

    // By digest: stored untagged (as Docker), found by NAME@DIGEST.
    remove_all_images(&hull);
    let pinned = format!("{}/busybox@{digest}", registry.host());
    let out = hull.ok(&["pull", "-q", &pinned]);
    assert_eq!(out.trim(), pinned);
    let run = hull.ok(&["run", "--rm", &pinned, "echo", "from-digest"]);
    assert_eq!(run.trim(), "from-digest");

    // run pulls a missing image itself.
    remove_all_images(&hull);
    let run = hull.run(&["run", "--rm", &name, "echo", "implicit"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(stdout(&run).trim(), "implicit");
    assert!(stderr(&run).contains("Pulling from"), "{}", stderr(&run));

    // --pull never refuses what is not stored; a bad value is refused before anything.
    let never = hull.run(&[
        "run",
        "--rm",
        "--pull",
        "never",
        &format!("{}/nothing", registry.host()),
        "true",
    ]);
    assert_refused(&never, 125, "No such image");
    let bogus = hull.run(&["run", "--rm", "--pull", "sometimes", &name, "true"]);
    assert_refused(&bogus, 125, "invalid pull option");
    let unknown = hull.run(&["pull", &format!("{}/nothing:1", registry.host())]);
    assert_refused(&unknown, 1, "not found");
}

#[test]
fn push_skips_blobs_the_registry_has_and_mounts_across_repositories() {
    let Some((hull, registry, _)) = start(
        "push_skips_blobs_the_registry_has_and_mounts_across_repositories",
        None,
    ) else {
        return;
    };
    let first = format!("{}/team/one:1", registry.host());
    let digest = push_busybox(&hull, &first);
    let again = hull.ok(&["push", &first]);
    assert!(again.contains(": Layer already exists"), "{again}");
    assert!(!again.contains(": Pushed"), "{again}");
    let second = format!("{}/team/two:1", registry.host());
    hull.ok(&["tag", "busybox", &second]);
    let mounted = hull.ok(&["push", &second]);
    assert!(mounted.contains(": Mounted from team/one"), "{mounted}");
    assert!(
        mounted.contains(&format!("1: digest: {digest}")),
        "same manifest: {mounted}"
    );
}

#[test]
fn login_logout_and_an_auth_registry() {
    let test = "login_logout_and_an_auth_registry";
    let Some((hull, registry, id)) = start(test, Some(("alice", "s3cret-pw"))) else {
        return;
    };
    let host = registry.host();
    let name = format!("{host}/private:1");
    hull.ok(&["tag", "busybox", &name]);
    let denied = hull.run(&["push", &name]);
    assert_refused(&denied, 1, "unauthorized");
    assert!(
        stderr(&denied).contains(&format!("hull login {host}")),
        "{}",
        stderr(&denied)
    );

    let login = |password: &str| {
        let mut command = hull.cmd(&["login", "-u", "alice", "--password-stdin", &host]);
        with_input(&mut command, format!("{password}\n").as_bytes())
    };
    let wrong = login("not-it");
    assert_refused(&wrong, 1, "unauthorized");
    let config = hull.root.path().join("config/config.json");
    assert!(!config.exists(), "a failed login stores nothing");

    let right = login("s3cret-pw");
    assert!(right.status.success(), "{}", stderr(&right));
    assert_eq!(stdout(&right).trim(), "Login Succeeded");
    let all_output = format!("{}{}", stdout(&right), stderr(&right));
    assert!(
        !all_output.contains("s3cret-pw"),
        "never printed: {all_output}"
    );
    let mode = std::fs::metadata(&config).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "credentials file mode {mode:o}");
    let stored = std::fs::read_to_string(&config).unwrap();
    assert!(stored.contains(&format!("\"{host}\"")), "{stored}");

    hull.ok(&["push", &name]);
    remove_all_images(&hull);
    hull.ok(&["pull", &name]);
    assert_eq!(hull.inspect(&name, "{{.Id}}"), id);

    let out = hull.ok(&["logout", &host]);
    assert!(
        out.contains(&format!("Removing login credentials for {host}")),
        "{out}"
    );
    remove_all_images(&hull);
    let anonymous = hull.run(&["pull", &name]);
    assert_refused(&anonymous, 1, "unauthorized");
}

#[test]
fn a_manifest_list_gives_the_amd64_image() {
    let Some((hull, registry, busybox_id)) = start("a_manifest_list_gives_the_amd64_image", None)
    else {
        return;
    };
    hull.ok(&["image", "bootstrap", "scratch"]);
    let host = registry.host();
    let amd64 = push_busybox(&hull, &format!("{host}/multi:amd64"));
    hull.ok(&["tag", "scratch", &format!("{host}/multi:other")]);
    let out = hull.ok(&["push", &format!("{host}/multi:other")]);
    let other = out
        .lines()
        .find_map(|l| l.strip_prefix("other: digest: "))
        .unwrap_or_else(|| panic!("{out}"));
    let mut parts = other.split_whitespace();
    let other_digest = parts.next().unwrap().to_string();
    let other_size: u64 = parts.nth(1).unwrap().parse().unwrap();
    let amd64_size = std::fs::metadata(registry.blob_file(&amd64)).unwrap().len();
    // The arm64 entry first: a client that takes the first entry gets the wrong image.
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
        {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{other_digest}","size":{other_size},"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},
        {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{amd64}","size":{amd64_size},"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
    );
    let status = put(
        registry.port,
        "/v2/multi/manifests/latest",
        "application/vnd.oci.image.index.v1+json",
        index.as_bytes(),
    );
    assert_eq!(
        status,
        201,
        "the registry took the index: {}",
        registry.log()
    );
    let scratch_id = hull.inspect("scratch", "{{.Id}}");
    remove_all_images(&hull);

    let list = format!("{host}/multi:latest");
    hull.ok(&["pull", &list]);
    assert_eq!(hull.inspect(&list, "{{.Id}}"), busybox_id);
    hull.ok(&["pull", "--platform", "linux/arm64", &list]);
    assert_eq!(hull.inspect(&list, "{{.Id}}"), scratch_id);
    let none = hull.run(&["pull", "--platform", "linux/s390x", &list]);
    assert_refused(&none, 1, "no matching manifest for linux/s390x");
}

#[test]
fn images_move_between_hull_and_skopeo() {
    let test = "images_move_between_hull_and_skopeo";
    let Some(skopeo) = which("skopeo") else {
        eprintln!("SKIPPED {test}: no skopeo (scripts/install-deps.sh installs Debian's)");
        return;
    };
    let Some((hull, registry, id)) = start(test, None) else {
        return;
    };
    let archive = hull.root.path().join("busybox.tar");
    hull.ok(&["save", "-o", archive.to_str().unwrap(), "busybox"]);
    // skopeo compresses for a registry: gzip by default, zstd when asked. One registry each:
    // skopeo reuses a blob a registry already has in the other compression.
    for (tag, extra) in [
        ("gzip", vec![]),
        (
            "zstd",
            vec!["--format", "oci", "--dest-compress-format", "zstd"],
        ),
    ] {
        let Some(target) = Registry::start(test, None) else {
            return;
        };
        let name = format!("{}/from-skopeo:{tag}", target.host());
        let out = std::process::Command::new(&skopeo)
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .args(&extra)
            .arg(format!("docker-archive:{}", archive.display()))
            .arg(format!("docker://{name}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo copy: {}", stderr(&out));
        let raw = std::process::Command::new(&skopeo)
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{name}"))
            .output()
            .unwrap();
        let manifest = stdout(&raw);
        assert!(
            manifest.contains(&format!("tar+{tag}")) || manifest.contains(&format!("tar.{tag}")),
            "layers in {tag}: {manifest}"
        );
        hull.ok(&["pull", &name]);
        // The OCI conversion rewrites the config (a new id); the layers' content is the same.
        let layers = hull.inspect(&name, "{{json .RootFS.Layers}}");
        assert_eq!(
            layers,
            hull.inspect(&id, "{{json .RootFS.Layers}}"),
            "{tag}"
        );
        let run = hull.ok(&["run", "--rm", &name, "echo", &format!("{tag}-ok")]);
        assert_eq!(run.trim(), format!("{tag}-ok"));
    }

    let host = registry.host();
    let pushed = format!("{host}/by-hull:1");
    let digest = push_busybox(&hull, &pushed);
    let inspect = std::process::Command::new(&skopeo)
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{pushed}"))
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    let seen: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(seen["Digest"], digest.as_str());
    assert_eq!(seen["Architecture"], "amd64");
}

#[test]
fn a_tampered_blob_is_refused_and_nothing_is_stored() {
    let Some((hull, registry, id)) =
        start("a_tampered_blob_is_refused_and_nothing_is_stored", None)
    else {
        return;
    };
    push_busybox(&hull, &format!("{}/busybox:v1", registry.host()));
    remove_all_images(&hull);
    let evil = Proxy::start(registry.port, Tamper::FlipBlobByte);
    let out = hull.run(&["pull", &format!("{}/busybox:v1", evil.host())]);
    assert_refused(&out, 1, "corrupt");
    assert!(
        stderr(&out).contains("nothing was stored"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        hull.ok(&["images", "-q"]).trim(),
        "",
        "the store is unchanged"
    );
    assert!(
        cached_downloads(&hull).is_empty(),
        "bad bytes are not kept: {:?}",
        cached_downloads(&hull)
    );

    let huge = Proxy::start(registry.port, Tamper::HugeManifest);
    let out = hull.run(&["pull", &format!("{}/busybox:v1", huge.host())]);
    assert_refused(&out, 1, "byte limit");
    assert_eq!(hull.ok(&["images", "-q"]).trim(), "");

    // The registry itself was fine all along.
    let honest = Proxy::start(registry.port, Tamper::Nothing);
    let name = format!("{}/busybox:v1", honest.host());
    hull.ok(&["pull", &name]);
    assert_eq!(hull.inspect(&name, "{{.Id}}"), id);
}

#[test]
fn a_pull_cut_off_mid_blob_resumes() {
    let Some((hull, registry, id)) = start("a_pull_cut_off_mid_blob_resumes", None) else {
        return;
    };
    push_busybox(&hull, &format!("{}/busybox:v1", registry.host()));
    remove_all_images(&hull);
    let cut_at = 64 * 1024;
    let flaky = Proxy::start(registry.port, Tamper::CutFirstBlobAfter(cut_at));
    let name = format!("{}/busybox:v1", flaky.host());
    let first = hull.run(&["pull", &name]);
    assert_refused(&first, 1, "run the pull again to resume");
    assert_eq!(hull.ok(&["images", "-q"]).trim(), "");
    // The cut layer's bytes are kept for the rerun (the config may be complete already, or
    // cut short beside it).
    let partial: Vec<String> = cached_downloads(&hull)
        .into_iter()
        .filter(|f| f.ends_with(".partial"))
        .collect();
    assert!(!partial.is_empty(), "{:?}", cached_downloads(&hull));

    let second = hull.ok(&["pull", &name]);
    assert!(
        second.contains(&format!("Resuming at byte {cut_at}")),
        "{second}"
    );
    let requests = flaky.requests.lock().unwrap().clone();
    assert!(
        requests.iter().any(|r| r
            .to_ascii_lowercase()
            .contains(&format!("range: bytes={cut_at}-"))),
        "the rerun asked only for the rest: {requests:#?}"
    );
    assert_eq!(hull.inspect(&name, "{{.Id}}"), id);
    assert!(
        cached_downloads(&hull).is_empty(),
        "{:?}",
        cached_downloads(&hull)
    );
}

#[test]
fn offline_run_of_an_image_hull_cannot_make_says_how_images_come_in() {
    let Some(hull) = setup("offline_run_of_an_image_hull_cannot_make_says_how_images_come_in")
    else {
        return;
    };
    // Docker Hub through a proxy that is not there: no traffic leaves this host.
    let out = hull
        .cmd(&["run", "--rm", "ubuntu", "true"])
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("https_proxy", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains("cannot reach the registry docker.io"),
        "{message}"
    );
    assert!(message.contains("hull image bootstrap"), "{message}");
    assert!(message.contains("hull load"), "{message}");

    // The base images hull makes itself still come in (compose pulls them first).
    let pulled = hull.ok(&["pull", "busybox"]);
    assert!(
        pulled.contains("docker.io cannot be reached: busybox:latest is hull's offline base image"),
        "{pulled}"
    );
    assert_eq!(
        pulled.lines().last(),
        Some("docker.io/library/busybox:latest")
    );
    let again = hull.ok(&["pull", "busybox"]);
    assert!(
        again.contains("Status: Image is up to date for busybox:latest"),
        "{again}"
    );
}

#[test]
fn docker_cli_logs_in_pushes_and_pulls_through_the_api() {
    let test = "docker_cli_logs_in_pushes_and_pulls_through_the_api";
    let Some(client) = hull_tests::api::docker_client(test) else {
        return;
    };
    let Some((hull, registry, id)) = start(test, Some(("alice", "s3cret-pw"))) else {
        return;
    };
    let service = hull_tests::api::Service::start(&hull);
    let config = hull.root.path().join("docker-cli-config");
    std::fs::create_dir_all(&config).unwrap();
    let docker = |args: &[&str]| hull_tests::api::run_docker(&client, &service, &config, args);
    let host = registry.host();
    let name = format!("{host}/via-api:1");
    hull.ok(&["tag", "busybox", &name]);

    let denied = docker(&["push", &name]);
    assert_eq!(denied.status.code(), Some(1), "{}", stdout(&denied));
    assert!(
        format!("{}{}", stdout(&denied), stderr(&denied)).contains("unauthorized"),
        "{}{}",
        stdout(&denied),
        stderr(&denied)
    );

    let login = |password: &str| {
        let args = ["login", "-u", "alice", "--password-stdin", &host];
        let mut command = hull_tests::api::docker(&client, &service, &config, &args);
        with_input(&mut command, format!("{password}\n").as_bytes())
    };
    let wrong = login("nope");
    assert_ne!(wrong.status.code(), Some(0), "{}", stdout(&wrong));
    let right = login("s3cret-pw");
    assert!(right.status.success(), "{}", stderr(&right));
    assert!(
        stdout(&right).contains("Login Succeeded"),
        "{}",
        stdout(&right)
    );

    let pushed = docker(&["push", &name]);
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    assert!(
        stdout(&pushed).contains("1: digest: sha256:"),
        "{}",
        stdout(&pushed)
    );

    assert!(docker(&["rmi", &name]).status.success());
    let pulled = docker(&["pull", &name]);
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    assert!(
        stdout(&pulled).contains("Downloaded newer image"),
        "{}",
        stdout(&pulled)
    );
    assert_eq!(hull.inspect(&name, "{{.Id}}"), id);
    let missing = docker(&["pull", &format!("{host}/nothing:1")]);
    assert_refused(&missing, 1, "not found");
}

#[test]
fn a_token_auth_registry_is_reached_with_bearer_tokens_after_login() {
    let test = "a_token_auth_registry_is_reached_with_bearer_tokens_after_login";
    let Some(hull) = setup(test) else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let Some(tokens) = TokenServer::start(test, keys.path(), ("alice", "t0ken-pw")) else {
        return;
    };
    let Some(registry) = Registry::start_with(test, &Auth::Token(&tokens)) else {
        return;
    };
    hull.ok(&["image", "bootstrap", "busybox"]);
    let id = hull.inspect("busybox", "{{.Id}}");
    let host = registry.host();
    let name = format!("{host}/team/app:1");
    hull.ok(&["tag", "busybox", &name]);
    // The registry answers 401 with a Bearer challenge; without credentials the token
    // server refuses too.
    assert_refused(&hull.run(&["push", &name]), 1, "unauthorized");
    assert_eq!(tokens.issued.load(std::sync::atomic::Ordering::SeqCst), 0);

    let login = |password: &str| {
        let mut command = hull.cmd(&["login", "-u", "alice", "--password-stdin", &host]);
        with_input(&mut command, format!("{password}\n").as_bytes())
    };
    assert_refused(&login("wrong"), 1, "unauthorized");
    let right = login("t0ken-pw");
    assert!(right.status.success(), "{}", stderr(&right));

    hull.ok(&["push", &name]);
    assert!(
        tokens.issued.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the push went through a bearer token"
    );
    remove_all_images(&hull);
    hull.ok(&["pull", &name]);
    assert_eq!(hull.inspect(&name, "{{.Id}}"), id);
    assert_eq!(
        hull.ok(&["run", "--rm", &name, "echo", "via-token"]),
        "via-token\n"
    );
}
