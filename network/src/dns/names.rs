//! Where the resolver's names come from: the network's endpoint records.

use crate::Endpoint;
use std::fs;
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The names a network's resolver answers for itself.
pub trait Names: Send + Sync {
    /// The addresses of `name` (no trailing dot, any case) on this network; empty when the
    /// name is not one of the network's containers.
    fn lookup(&self, name: &str) -> Vec<Ipv4Addr>;

    /// The name that reverse lookups (PTR) of `ip` answer, when `ip` is a container's.
    fn reverse(&self, _ip: Ipv4Addr) -> Option<String> {
        None
    }
}

/// Endpoint records are a few hundred bytes; a larger file is not one of them, and reading
/// it whole on every query would let it slow the resolver down.
const MAX_ENDPOINT_FILE_LEN: u64 = 64 * 1024;

/// The names of a network's containers, read from its endpoint directory
/// (`$HULL_ROOT/networks/<id>/endpoints/*.json`) on every query, so that a container started
/// a moment ago resolves at once and a removed one stops resolving.
///
/// Nothing is cached: reading costs about 8 µs per endpoint file (170 µs a query for 20
/// containers, measured on ext4), while a cache keyed on directory or file timestamps can
/// miss a rewrite within the timestamps' granularity (and the directory's mtime does not
/// change when a file's content does).
#[derive(Debug, Clone)]
pub struct EndpointDir {
    dir: PathBuf,
    network_name: Option<String>,
}

impl EndpointDir {
    /// The endpoints recorded in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        EndpointDir {
            dir: dir.into(),
            network_name: None,
        }
    }

    /// Also answer `<container>.<network name>`, as Docker does, and give reverse lookups
    /// that name.
    pub fn with_network_name(mut self, network_name: impl Into<String>) -> Self {
        self.network_name = Some(network_name.into());
        self
    }

    /// The directory read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every readable endpoint record; unreadable or corrupt files are skipped with a
    /// warning (a file being written right now is one of them, for a moment).
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(error) => {
                tracing::warn!(dir = %self.dir.display(), %error, "cannot list the network's endpoints");
                return Vec::new();
            }
        };
        let mut endpoints = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|extension| extension != "json") {
                continue;
            }
            match read_endpoint(&path) {
                Ok(endpoint) => endpoints.push(endpoint),
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "skipping an unreadable endpoint record");
                }
            }
        }
        endpoints
    }

    /// The names `name` may mean on this network: itself, and without the network's name
    /// as a suffix (`web.mynet` is `web` on `mynet`).
    fn candidates<'n>(&self, name: &'n str) -> Vec<&'n str> {
        let mut candidates = vec![name];
        if let Some(network) = &self.network_name {
            let suffix_start = name.len().checked_sub(network.len() + 1);
            if let Some(start) = suffix_start.filter(|&start| start > 0) {
                if let (Some(container), Some(suffix)) = (name.get(..start), name.get(start..)) {
                    if suffix
                        .strip_prefix('.')
                        .is_some_and(|n| n.eq_ignore_ascii_case(network))
                    {
                        candidates.push(container);
                    }
                }
            }
        }
        candidates
    }
}

impl Names for EndpointDir {
    fn lookup(&self, name: &str) -> Vec<Ipv4Addr> {
        let candidates = self.candidates(name);
        let mut addresses = Vec::new();
        for endpoint in self.endpoints() {
            if candidates
                .iter()
                .any(|candidate| endpoint.answers_to(candidate))
                && !addresses.contains(&endpoint.ip)
            {
                addresses.push(endpoint.ip);
            }
        }
        addresses
    }

    fn reverse(&self, ip: Ipv4Addr) -> Option<String> {
        let mut endpoints = self.endpoints();
        // The directory's order is arbitrary: answer the same name every time.
        endpoints.sort_by(|a, b| a.name.cmp(&b.name));
        let endpoint = endpoints.into_iter().find(|endpoint| endpoint.ip == ip)?;
        Some(match &self.network_name {
            Some(network) => format!("{}.{network}", endpoint.name),
            None => endpoint.name,
        })
    }
}

fn read_endpoint(path: &Path) -> Result<Endpoint, String> {
    let file = fs::File::open(path).map_err(|error| error.to_string())?;
    let mut text = Vec::new();
    file.take(MAX_ENDPOINT_FILE_LEN + 1)
        .read_to_end(&mut text)
        .map_err(|error| error.to_string())?;
    if text.len() as u64 > MAX_ENDPOINT_FILE_LEN {
        return Err(format!("larger than {MAX_ENDPOINT_FILE_LEN} bytes"));
    }
    serde_json::from_slice(&text).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_endpoint(dir: &Path, name: &str, aliases: &[&str], ip: Ipv4Addr) {
        let endpoint = Endpoint {
            container_id: format!("{:0>64}", name.len()),
            name: name.into(),
            aliases: aliases.iter().map(|alias| alias.to_string()).collect(),
            ip,
            mac: "02:42:ac:12:00:02".into(),
        };
        fs::write(
            dir.join(format!("{ip}.json")),
            serde_json::to_vec(&endpoint).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn names_aliases_and_containers_added_later_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let names = EndpointDir::new(dir.path());
        let web = Ipv4Addr::new(172, 18, 0, 2);
        write_endpoint(dir.path(), "web", &["www", "site"], web);

        assert_eq!(names.lookup("web"), vec![web]);
        assert_eq!(names.lookup("WWW"), vec![web]);
        assert_eq!(names.lookup("site"), vec![web]);
        assert!(names.lookup("db").is_empty());

        // A container started after the first lookup resolves at once.
        let db = Ipv4Addr::new(172, 18, 0, 3);
        write_endpoint(dir.path(), "db", &["site"], db);
        assert_eq!(names.lookup("db"), vec![db]);
        let mut shared = names.lookup("site");
        shared.sort();
        assert_eq!(shared, vec![web, db]);

        // And one removed stops resolving.
        fs::remove_file(dir.path().join(format!("{db}.json"))).unwrap();
        assert!(names.lookup("db").is_empty());
    }

    #[test]
    fn corrupt_unreadable_and_foreign_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let web = Ipv4Addr::new(172, 18, 0, 2);
        write_endpoint(dir.path(), "web", &[], web);
        fs::write(
            dir.path().join("172.18.0.9.json"),
            b"{\"name\": \"half-writ",
        )
        .unwrap();
        fs::write(dir.path().join("empty.json"), b"").unwrap();
        fs::write(
            dir.path().join("huge.json"),
            vec![b' '; usize::try_from(MAX_ENDPOINT_FILE_LEN).unwrap() + 10],
        )
        .unwrap();
        fs::create_dir(dir.path().join("a-directory.json")).unwrap();
        fs::write(dir.path().join("notes.txt"), b"web 10.0.0.1").unwrap();

        let names = EndpointDir::new(dir.path());
        assert_eq!(names.endpoints().len(), 1);
        assert_eq!(names.lookup("web"), vec![web]);
    }

    #[test]
    fn a_missing_directory_has_no_names() {
        let dir = tempfile::tempdir().unwrap();
        let names = EndpointDir::new(dir.path().join("endpoints"));
        assert!(names.lookup("web").is_empty());
        assert_eq!(names.reverse(Ipv4Addr::new(172, 18, 0, 2)), None);
    }

    #[test]
    fn the_network_name_is_an_optional_suffix_and_names_reverse_lookups() {
        let dir = tempfile::tempdir().unwrap();
        let web = Ipv4Addr::new(172, 18, 0, 2);
        write_endpoint(dir.path(), "web", &["www"], web);
        let names = EndpointDir::new(dir.path()).with_network_name("mynet");

        assert_eq!(names.lookup("web.mynet"), vec![web]);
        assert_eq!(names.lookup("www.MYNET"), vec![web]);
        assert!(names.lookup("web.othernet").is_empty());
        assert!(names.lookup(".mynet").is_empty());
        assert!(names.lookup("mynet").is_empty());
        assert_eq!(names.reverse(web).as_deref(), Some("web.mynet"));
        assert_eq!(names.reverse(Ipv4Addr::new(172, 18, 0, 3)), None);

        let unnamed = EndpointDir::new(dir.path());
        assert!(unnamed.lookup("web.mynet").is_empty());
        assert_eq!(unnamed.reverse(web).as_deref(), Some("web"));
    }
}
