//! `hull diff`: the container's changes, listed by hull-init from the overlay's upper
//! directory inside the VM (a helper VM for a stopped container). The list is the
//! guest's word: each line is checked (kind, absolute path, bounded size) before use.

use super::session_io::SessionOutput;
use crate::containers::Containers;
use crate::error::{Error, Result};
use hull_protocol::{ArchiveRequest, ContainerChange};
use std::io::{BufRead, BufReader, Read};

/// The most bytes of change list read from a guest.
const MAX_LIST_BYTES: u64 = 64 << 20;

impl Containers {
    /// The changes of the container `reference` names against its image, sorted by path
    /// (Docker's `docker diff`: `A` added, `C` changed, `D` deleted).
    pub fn diff(&self, reference: &str) -> Result<Vec<ContainerChange>> {
        let container = self.find(reference)?;
        let vm = self.copy_vm(&container)?;
        let session = self.archive_session(&container, &vm.socket, ArchiveRequest::Changes)?;
        let mut output = SessionOutput::new(session);
        let mut changes = Vec::new();
        let mut bad_line = None;
        for line in BufReader::new((&mut output).take(MAX_LIST_BYTES)).lines() {
            let Ok(line) = line else { break };
            match parse_change(&line) {
                Some(change) => changes.push(change),
                None => bad_line = Some(line),
            }
        }
        let (status, errors) = output.finish();
        let finished = vm.finish();
        self.archive_status(reference, "/", status, &errors)?;
        finished?;
        if let Some(line) = bad_line {
            return Err(Error::Copy(format!(
                "the container's change list is invalid: {:?}",
                line.chars().take(200).collect::<String>()
            )));
        }
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(changes)
    }
}

/// One line of the guest's list, if it is a well-formed change.
fn parse_change(line: &str) -> Option<ContainerChange> {
    let change: ContainerChange = serde_json::from_str(line).ok()?;
    let sane = matches!(change.kind, 'A' | 'C' | 'D')
        && change.path.starts_with('/')
        && !change.path.split('/').any(|part| part == "..")
        && !change.path.contains('\0');
    sane.then_some(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_changes_are_taken() {
        assert_eq!(
            parse_change(r#"{"kind":"A","path":"/tmp/x"}"#),
            Some(ContainerChange {
                kind: 'A',
                path: "/tmp/x".into()
            })
        );
        for bad in [
            r#"{"kind":"X","path":"/tmp/x"}"#,
            r#"{"kind":"A","path":"tmp/x"}"#,
            r#"{"kind":"D","path":"/a/../../etc"}"#,
            "not json",
        ] {
            assert_eq!(parse_change(bad), None, "{bad}");
        }
    }
}
