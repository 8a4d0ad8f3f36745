//! The Docker CLI conformance suite: every case in `tests/compat/cases.txt` is a small shell
//! snippet run once with hull and once with `podman --runtime runc` (the reference, on the
//! same busybox image), comparing exit status and stdout. A difference passes only when
//! `tests/compat/allowlist.txt` explains it. Prints a table and `N of M cases differ`.

// An integration-test file is a test module by nature; the workspace lint targets src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::compat::{run_suite, Verdict};

#[test]
fn hull_behaves_like_docker_side_by_side_with_podman() {
    let Some(report) = run_suite("hull_behaves_like_docker_side_by_side_with_podman") else {
        return;
    };
    let unexplained: Vec<_> = report
        .iter()
        .filter(|r| r.verdict == Verdict::Unexplained)
        .map(|r| r.name.as_str())
        .collect();
    assert!(
        unexplained.is_empty(),
        "unexplained differences from Docker/podman: {unexplained:?} (see the table above)"
    );
}
