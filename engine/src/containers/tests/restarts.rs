//! `--restart` in the shim's loop, on the fake engine: counts, back-off, and a user's stop
//! or removal ending the restarts.

use super::*;
use crate::container::restart::RestartPolicy;
use std::time::Instant;

impl Fixture {
    fn create_with_policy(&self, name: &str, policy: &str) -> Container {
        let mut request = offline_request();
        request.name = Some(name.into());
        request.config.restart_policy = policy.parse().unwrap();
        self.containers.create(&request, &()).unwrap()
    }

    /// Waits until `check` holds for container `name` (at most 30 s).
    fn wait_for(&self, name: &str, check: impl Fn(&Container) -> bool) -> Container {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = self.containers.find(name).unwrap();
            if check(&now) {
                return now;
            }
            assert!(Instant::now() < deadline, "{name} never got there: {now:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn on_failure_restarts_up_to_its_count_with_the_backoff() {
    let fixture = Fixture::new();
    let created = fixture.create_with_policy("f", "on-failure:2");
    // Three boots are scripted: a fourth would panic the fake engine.
    for _ in 0..3 {
        fixture.engines.then(Guest::Exits(3));
    }
    let started = Instant::now();
    let done = fixture
        .containers
        .supervise_detached(&created.id, false)
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "100 ms then 200 ms of back-off"
    );
    assert_eq!(done.state.status, Status::Exited);
    assert_eq!(done.state.exit_code, 3);
    assert_eq!(done.state.restart_count, 2);
    assert_eq!(fixture.log("f").lines().count(), 3);
    let inspect = fixture.containers.inspect("f").unwrap();
    assert_eq!(inspect["RestartCount"], 2);
    assert_eq!(inspect["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(
        inspect["HostConfig"]["RestartPolicy"]["MaximumRetryCount"],
        2
    );
}

#[test]
fn a_success_is_not_restarted_by_on_failure_but_is_by_always_until_a_user_stops_it() {
    let fixture = Fixture::new();
    let created = fixture.create_with_policy("ok", "on-failure");
    fixture.engines.then(Guest::Exits(0));
    let done = fixture
        .containers
        .supervise_detached(&created.id, false)
        .unwrap();
    assert_eq!(done.state.restart_count, 0);

    let created = fixture.create_with_policy("a", "always");
    fixture
        .engines
        .then(Guest::Exits(0))
        .then(Guest::Exits(0))
        .then(Guest::RunsUntilSignalled);
    std::thread::scope(|scope| {
        let shim = scope.spawn(|| fixture.containers.supervise_detached(&created.id, false));
        fixture.wait_for("a", |c| c.state.restart_count == 2 && c.is_running());
        fixture.wait_until_serving("a");
        fixture
            .containers
            .stop("a", Some(Duration::from_secs(10)))
            .unwrap();
        let done = shim.join().unwrap().unwrap();
        assert_eq!(done.state.exit_code, 128 + libc::SIGTERM);
        assert_eq!(done.state.restart_count, 2);
        assert!(done.state.stopped_by_user);
    });
}

#[test]
fn a_stop_while_restarting_cancels_the_restart() {
    let fixture = Fixture::new();
    let created = fixture.create_with_policy("r", "always");
    for _ in 0..12 {
        fixture.engines.then(Guest::Exits(1));
    }
    std::thread::scope(|scope| {
        let shim = scope.spawn(|| fixture.containers.supervise_detached(&created.id, false));
        let waiting = fixture.wait_for("r", |c| c.state.status == Status::Restarting);
        assert!(waiting.is_up(), "Docker's State.Running while restarting");
        assert_eq!(
            fixture.containers.list(false).unwrap().len(),
            1,
            "ps lists it"
        );
        fixture.containers.stop("r", None).unwrap();
        let done = shim.join().unwrap().unwrap();
        assert_eq!(done.state.status, Status::Exited);
        assert_eq!(done.state.exit_code, 1);
        assert_eq!(
            fixture.containers.find("r").unwrap().state.restart_count,
            done.state.restart_count
        );
    });
    // A user's start begins a new count.
    let mut stopped = fixture.containers.find("r").unwrap();
    super::super::restarts::started_by_user(&mut stopped);
    assert_eq!(stopped.state.restart_count, 0);
    assert!(!stopped.state.stopped_by_user);
}

#[test]
fn rm_force_while_restarting_removes_it_for_good() {
    let fixture = Fixture::new();
    let created = fixture.create_with_policy("gone", "always");
    for _ in 0..12 {
        fixture.engines.then(Guest::Exits(1));
    }
    std::thread::scope(|scope| {
        let shim = scope.spawn(|| fixture.containers.supervise_detached(&created.id, false));
        fixture.wait_for("gone", |c| c.state.status == Status::Restarting);
        assert!(matches!(
            fixture.containers.remove("gone", false),
            Err(Error::RemoveRunning(_))
        ));
        fixture.containers.remove("gone", true).unwrap();
        // rm -f waited for the shim to give up before removing: it ends without a boot.
        let last = shim.join().unwrap().unwrap();
        assert_eq!(last.state.status, Status::Exited);
    });
    assert!(!fixture.containers.store().paths(&created.id).dir.exists());
}

#[test]
fn restart_with_auto_remove_and_unknown_capabilities_are_refused() {
    let fixture = Fixture::new();
    let mut request = CreateRequest {
        image: "scratch".into(),
        command: vec!["/true".into()],
        engine: Some(EngineKind::Qemu),
        auto_remove: true,
        ..CreateRequest::default()
    };
    request.config.restart_policy = "always".parse::<RestartPolicy>().unwrap();
    let refused = fixture.containers.create(&request, &()).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "Conflicting options: --restart and --rm"
    );
    request.auto_remove = false;
    request.config.cap_add = vec!["FLY".into()];
    assert!(matches!(
        fixture.containers.create(&request, &()),
        Err(Error::InvalidArgument(_))
    ));
    request.config.cap_add = vec!["net_admin".into()];
    request.config.extra_hosts = vec!["db:10.0.0.5".into()];
    request.config.init = true;
    let created = fixture.containers.create(&request, &()).unwrap();
    let inspect = fixture.containers.inspect(&created.id).unwrap();
    assert_eq!(
        inspect["HostConfig"]["CapAdd"],
        serde_json::json!(["net_admin"])
    );
    assert_eq!(
        inspect["HostConfig"]["ExtraHosts"],
        serde_json::json!(["db:10.0.0.5"])
    );
    assert_eq!(inspect["HostConfig"]["Init"], true);
    assert_eq!(inspect["HostConfig"]["RestartPolicy"]["Name"], "always");
    assert_eq!(fixture.containers.list(true).unwrap().len(), 1);
}
