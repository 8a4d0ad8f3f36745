//! `Store::commit_layer`: an image's layers plus one more from a tar (checked as any loaded
//! layer), its config edited, a history entry added; hostile layers leave nothing behind.

// An integration-test file is a test module by nature; the workspace lint targets src/.
#![allow(clippy::tests_outside_test_module)]

mod common;

use common::{docker_save_tar, layer_tar, skip_unless_root, TestLayer, E};
use hull_rootfs::{CommitInfo, Store};

fn info() -> CommitInfo {
    CommitInfo {
        author: Some("A. Author".into()),
        comment: Some("added greeting".into()),
        created_by: "/bin/sh -c echo hi > /greeting".into(),
        created: "2026-12-06T00:00:00Z".into(),
        config_extensions: Default::default(),
    }
}

#[test]
fn a_committed_layer_goes_on_top_with_config_and_history() -> anyhow::Result<()> {
    if skip_unless_root("a_committed_layer_goes_on_top_with_config_and_history") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("store"))?;
    let base = TestLayer::plain(layer_tar(&[
        E::Dir("etc/"),
        E::File("etc/motd", b"hello\n"),
    ]));
    let archive = dir.path().join("base.tar");
    std::fs::write(&archive, docker_save_tar("base:1", &[base]))?;
    let base = store.load(&archive, &())?.remove(0);
    let changes = layer_tar(&[E::File("greeting", b"hi\n"), E::File("etc/.wh.motd", b"")]);
    let image = store.commit_layer(
        "base:1",
        &changes[..],
        &info(),
        |config| {
            let mut inner = config.config().clone().unwrap_or_default();
            inner.set_cmd(Some(vec!["cat".into(), "/greeting".into()]));
            config.set_config(Some(inner));
        },
        Some("mine"),
        &(),
    )?;
    assert_eq!(image.references, vec!["mine:latest".to_owned()]);
    assert_eq!(image.layers.len(), 2);
    assert_eq!(image.layers[0].diff_id, base.layers[0].diff_id);
    let cmd = image.config.config().as_ref().and_then(|c| c.cmd().clone());
    assert_eq!(cmd, Some(vec!["cat".to_owned(), "/greeting".to_owned()]));
    let history = store.history("mine")?;
    assert_eq!(history[0].comment, "added greeting");
    assert_eq!(history[0].created_by, "/bin/sh -c echo hi > /greeting");
    assert_eq!(history[0].size, changes.len() as u64);
    Ok(())
}

#[test]
fn a_hostile_layer_is_refused_and_nothing_is_stored() -> anyhow::Result<()> {
    if skip_unless_root("a_hostile_layer_is_refused_and_nothing_is_stored") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("store"))?;
    let base = TestLayer::plain(layer_tar(&[E::Dir("etc/")]));
    let archive = dir.path().join("base.tar");
    std::fs::write(&archive, docker_save_tar("base:1", &[base]))?;
    store.load(&archive, &())?;
    let before = store.list(true)?.len();
    let hostile = layer_tar(&[E::File("../escape", b"x")]);
    let refused = store.commit_layer("base:1", &hostile[..], &info(), |_| {}, Some("bad"), &());
    assert!(refused.is_err());
    assert_eq!(store.list(true)?.len(), before);
    assert!(!store.exists("bad")?);
    Ok(())
}
