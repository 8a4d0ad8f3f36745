//! One end-to-end test per Docker conformance defect of issue #21 (the differential suite in
//! `tests/compat/` covers them too, side by side with podman).

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{setup, stderr, stdout};

#[test]
fn rm_f_of_an_auto_removed_container_succeeds_and_prints_its_name() {
    let Some(hull) = setup("rm_f_of_an_auto_removed_container_succeeds_and_prints_its_name") else {
        return;
    };
    hull.ok(&[
        "run", "--rm", "-d", "--name", "x", "busybox", "sleep", "100",
    ]);
    let out = hull.run(&["rm", "-f", "x"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "x\n");
    assert_eq!(hull.ok(&["ps", "-aq"]), "");
}

#[test]
fn format_is_a_go_template_with_several_fields_and_dockers_value_printing() {
    let Some(hull) =
        setup("format_is_a_go_template_with_several_fields_and_dockers_value_printing")
    else {
        return;
    };
    hull.ok(&["create", "--name", "t", "busybox", "sh"]);
    assert_eq!(hull.ok(&["ps", "-a", "--format", "{{.Names}}"]), "t\n");
    assert_eq!(
        hull.ok(&[
            "inspect",
            "--format",
            "status={{.State.Status}} {{.State.ExitCode}}",
            "t"
        ]),
        "status=created 0\n"
    );
    assert_eq!(
        hull.ok(&["image", "inspect", "--format", "{{.Config.Cmd}}", "busybox"]),
        "[sh]\n"
    );
    assert_eq!(
        hull.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "busybox:latest\n"
    );
    let unknown = hull.run(&["inspect", "--format", "{{.Nope}}", "t"]);
    assert_eq!(unknown.status.code(), Some(125));
}

#[test]
fn a_numeric_user_gets_its_supplementary_groups_as_runc_sets_them() {
    let Some(hull) = setup("a_numeric_user_gets_its_supplementary_groups_as_runc_sets_them") else {
        return;
    };
    assert_eq!(
        hull.ok(&["run", "--rm", "-u", "1000", "busybox", "id"]),
        "uid=1000 gid=0(root) groups=0(root)\n"
    );
}

#[test]
fn ps_has_a_ports_column() {
    let Some(hull) = setup("ps_has_a_ports_column") else {
        return;
    };
    let header = hull.ok(&["ps"]);
    assert!(
        header
            .starts_with("CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES"),
        "{header}"
    );
}
