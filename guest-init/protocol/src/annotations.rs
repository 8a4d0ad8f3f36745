//! OCI spec annotations hull sets on a container's runtime spec for hull-init.

/// OCI spec annotation: set to [`STDIN_CLOSED`] when the container gets no stdin (Docker
/// without `-i`); the guest then gives it EOF at once instead of relaying hvc0, which also
/// works when the engine has no control console to send [`ControlMessage::StdinEof`] on.
pub const ANNOTATION_STDIN: &str = "io.hull.stdin";
/// Value of [`ANNOTATION_STDIN`] for "no stdin".
pub const STDIN_CLOSED: &str = "closed";
/// OCI spec annotation: set to [`ENABLED`] for `run --init` (the guest runs its own tiny
/// init as the container's PID 1, which starts the process, reaps and forwards signals).
pub const ANNOTATION_INIT: &str = "io.hull.init";
/// OCI spec annotation: the `--add-host` entries, one `IP<TAB>NAME` line each, which the
/// guest writes into the container's /etc/hosts after the standard lines.
pub const ANNOTATION_EXTRA_HOSTS: &str = "io.hull.extra-hosts";
/// Value of a yes/no annotation for "yes".
pub const ENABLED: &str = "true";

/// OCI spec annotation: set to [`MODE_HOLD`] to boot a stopped container's disks for archive
/// sessions only (`hull cp` on a container that does not run): hull-init sets the
/// container up (root, mounts, namespaces) but its process never execs; it waits for a
/// signal ([`ControlMessage::Signal`]), and the VM then powers off as after any exit.
pub const ANNOTATION_MODE: &str = "io.hull.mode";
/// Value of [`ANNOTATION_MODE`] for a helper boot.
pub const MODE_HOLD: &str = "hold";
