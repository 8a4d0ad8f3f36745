//! Layer images as the guest kernel sees them. Every layer hull makes (bootstrap, load, pull,
//! commit, build) is an erofs image written by hull itself straight from the layer's tar
//! stream; here a build writes the awkward cases into layers and a container reads them
//! back through erofs and overlayfs: a directory of several blocks of names (looked up by
//! the kernel's binary search), set-id bits, a deleted file (whiteout), a
//! directory removed and made again (opaque), a symlink and a file of zeros (holes). (Hard
//! links: a commit's diff stores each name as a file of its own, as the images bootstrap
//! makes have none; the writer's links are checked by `erofs/tests/fsck.rs`.)

// An integration-test crate is all tests: the lint is meant for unit tests in src/.
#![allow(clippy::tests_outside_test_module)]

use hull_tests::{setup, stderr, stdout};
use std::fs;

#[test]
fn what_a_build_wrote_reads_back_through_the_layer_images() {
    let test = "what_a_build_wrote_reads_back_through_the_layer_images";
    let Some(hull) = setup(test) else {
        return;
    };
    let long = "with-a-name-long-enough-to-fill-several-directory-blocks";
    let dockerfile = format!(
        r#"FROM busybox
RUN mkdir /stack && echo lower > /stack/lower
RUN mkdir /many && cd /many && i=0 && while [ $i -lt 600 ]; do echo $i > entry-$i-{long}; i=$((i+1)); done \
 && ln /many/entry-7-{long} /hard && cp /bin/busybox /suid && chmod 4755 /suid && rm /bin/vi \
 && rm -rf /stack && mkdir /stack && echo upper > /stack/upper \
 && ln -s /many/entry-1-{long} /link \
 && dd if=/dev/zero of=/zeros bs=1k count=64 2>/dev/null && printf abc >> /zeros
"#
    );
    let dir = hull.root.path().join("ctx");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    let out = hull.run(&[
        "build",
        "--progress",
        "plain",
        "-t",
        "layers:1",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "hull build failed: {}", stderr(&out));

    let script = format!(
        "ls /many | wc -l; cat /many/entry-599-{long}; cat /many/entry-0-{long}; \
         cat /hard; stat -c %a /suid; [ -e /bin/vi ] && echo vi || echo no-vi; \
         ls /stack; cat /link; wc -c < /zeros; tail -c 3 /zeros; echo"
    );
    let out = hull.run(&["run", "--rm", "layers:1", "sh", "-c", &script]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(|l| l.trim().to_owned()).collect();
    assert_eq!(
        lines,
        ["600", "599", "0", "7", "4755", "no-vi", "upper", "1", "65539", "abc"],
        "{}",
        stderr(&out)
    );
}
