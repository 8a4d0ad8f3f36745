//! `pause`, `unpause` and the verbs a paused container refuses, on the fake engine with a
//! fake VMM QMP socket.

use super::*;
use crate::vm::qmp::qmp_socket;
use std::os::unix::net::UnixListener;

/// Serves QMP for container `id` as a VMM would, answering every command with success;
/// the commands it got, in order.
fn fake_qmp(fixture: &Fixture, id: &str) -> Arc<Mutex<Vec<String>>> {
    let socket = qmp_socket(&fixture.containers.store().paths(id).socket_dir());
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket).unwrap();
    let commands = Arc::new(Mutex::new(Vec::new()));
    let seen = commands.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n");
            let reader = BufReader::new(stream.try_clone().unwrap());
            for line in reader.lines().map_while(Result::ok) {
                let request: serde_json::Value = serde_json::from_str(&line).unwrap();
                seen.lock()
                    .unwrap()
                    .push(request["execute"].as_str().unwrap().to_string());
                let _ = stream.write_all(b"{\"return\": {}}\n");
            }
        }
    });
    commands
}

#[test]
fn pause_and_unpause_follow_dockers_rules_and_a_paused_container_refuses_exec() {
    let fixture = Fixture::new();
    let containers = &fixture.containers;
    let created = fixture.create(Some("frozen")).unwrap();
    let err = containers.pause("frozen").unwrap_err();
    assert!(
        matches!(err, Error::NotRunning(ref id) if *id == created.id),
        "{err}"
    );
    assert!(matches!(
        containers.unpause("frozen"),
        Err(Error::NotPaused(_))
    ));
    assert!(matches!(
        containers.top("frozen"),
        Err(Error::NotRunning(_))
    ));

    fixture.engines.then(Guest::RunsUntilSignalled);
    let (done, commands) = std::thread::scope(|scope| {
        let supervisor = scope.spawn(|| containers.supervise(&created, Io::Detached));
        fixture.wait_until_serving("frozen");
        let commands = fake_qmp(&fixture, &created.id);

        let paused = containers.pause("frozen").unwrap();
        assert!(paused.is_paused() && paused.is_running());
        let err = containers.pause("frozen").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("container {} is already paused", created.id)
        );
        let exec = hull_protocol::ExecRequest {
            args: vec!["true".into()],
            ..hull_protocol::ExecRequest::default()
        };
        let err = containers.exec("frozen", &exec).err().unwrap();
        assert!(matches!(err, Error::Paused(_, "exec")), "{err}");
        assert!(err
            .to_string()
            .ends_with("is paused, unpause the container before exec"));
        assert!(matches!(
            containers.attach("frozen").err(),
            Some(Error::AttachPaused)
        ));
        assert!(matches!(
            containers.top("frozen"),
            Err(Error::Paused(_, "top"))
        ));
        let state = &containers.inspect("frozen").unwrap()["State"];
        assert_eq!(
            (&state["Status"], &state["Running"], &state["Paused"]),
            (&"paused".into(), &true.into(), &true.into())
        );

        let resumed = containers.unpause("frozen").unwrap();
        assert!(!resumed.is_paused() && resumed.is_running());
        assert!(matches!(
            containers.unpause("frozen"),
            Err(Error::NotPaused(_))
        ));

        // kill resumes a paused VM first: the guest must run to take the signal.
        containers.pause("frozen").unwrap();
        containers.kill("frozen", libc::SIGTERM).unwrap();
        (supervisor.join().unwrap().unwrap(), commands)
    });
    assert_eq!(done.state.exit_code, 128 + libc::SIGTERM);
    assert!(!done.state.paused, "the flag does not outlive the VM");
    let session = ["qmp_capabilities", "stop", "qmp_capabilities", "cont"];
    assert_eq!(*commands.lock().unwrap(), [session, session].concat());
}
