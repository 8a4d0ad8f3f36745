//! Interop with podman (Debian's podman, if installed): `hull save` loads into podman with
//! the same image id, and podman's docker-archive and oci-archive saves load back into hull
//! with the same id.

// An integration-test file is a test module by nature; the workspace lint targets src/.
#![allow(clippy::tests_outside_test_module)]

mod common;

use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Result};
use common::skip_unless_root;
use hull_rootfs::Store;

fn podman(state: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("podman")
        .arg("--root")
        .arg(state.join("root"))
        .arg("--runroot")
        .arg(state.join("run"))
        .args(["--storage-driver", "vfs"])
        .args(args)
        .output()?;
    ensure!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn podman_loads_hull_saves_and_hull_loads_podman_saves() -> Result<()> {
    if skip_unless_root("podman_loads_hull_saves_and_hull_loads_podman_saves") {
        return Ok(());
    }
    if Command::new("podman").arg("--version").output().is_err() {
        eprintln!("SKIP podman interop: podman is not installed (apt-get install podman)");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("store"))?;
    let image = store.bootstrap("busybox", &())?;
    let saved = dir.path().join("busybox.tar");
    store.save(&["busybox"], &saved)?;

    let state = dir.path().join("podman");
    podman(&state, &["load", "-i", saved.to_str().unwrap()])?;
    let podman_id = podman(
        &state,
        &["image", "inspect", "--format", "{{.Id}}", "busybox:latest"],
    )?;
    assert_eq!(format!("sha256:{}", podman_id.trim()), image.id);

    for format in ["docker-archive", "oci-archive"] {
        let out = dir.path().join(format!("{format}.tar"));
        podman(
            &state,
            &[
                "save",
                "--format",
                format,
                "-o",
                out.to_str().unwrap(),
                "busybox:latest",
            ],
        )?;
        let other = Store::open(&dir.path().join(format!("store-{format}")))?;
        let back = other.load(&out, &())?.remove(0);
        assert_eq!(back.id, image.id, "{format}");
        eprintln!("{format}: loaded back as {:?}", back.references);
    }
    Ok(())
}
