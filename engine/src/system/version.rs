//! What `hull version` reports, in the shape of Docker's `/version` (the `docker version
//! --format` fields): the client and the engine are one program here, so both halves carry
//! hull's version; the engine's components are the VMMs and the guest kernel it boots.

use crate::host::HostFacts;
use serde::Serialize;
use std::process::Command;

/// The newest Docker Engine API version whose shapes hull follows.
pub const API_VERSION: &str = "1.41";
/// The oldest API version a client may negotiate.
pub const MIN_API_VERSION: &str = "1.24";

/// Docker's `docker version` document.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionReport {
    /// The `hull` command line.
    pub client: ClientVersion,
    /// The engine library and what it runs containers on.
    pub server: ServerVersion,
}

/// The client half.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientVersion {
    /// Docker's `Platform.Name`.
    pub platform: Platform,
    /// hull's version.
    pub version: String,
    /// Docker's field name; the negotiated API version.
    pub api_version: String,
    /// Docker's field name.
    #[serde(rename = "DefaultAPIVersion")]
    pub default_api_version: String,
    /// The compiler hull was built with (Docker's `GoVersion` slot).
    pub go_version: String,
    /// `linux`.
    pub os: String,
    /// `amd64`.
    pub arch: String,
    /// Docker's CLI context; hull has only the local one.
    pub context: String,
}

/// Docker's `Platform` object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Platform {
    /// The product's name.
    pub name: String,
}

/// The server half.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerVersion {
    /// Docker's `Platform.Name`.
    pub platform: Platform,
    /// What the engine runs containers on.
    pub components: Vec<Component>,
    /// hull's version.
    pub version: String,
    /// The newest API version.
    pub api_version: String,
    /// The oldest API version.
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    /// The compiler hull was built with.
    pub go_version: String,
    /// `linux`.
    pub os: String,
    /// `amd64`.
    pub arch: String,
    /// The host's kernel release (each container runs its own guest kernel: a component).
    pub kernel_version: String,
    /// Always false.
    pub experimental: bool,
}

/// One component of the engine.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Component {
    /// Its name.
    pub name: String,
    /// Its version, or `unknown`.
    pub version: String,
}

/// hull's version and the engine's components on this host.
pub fn report(facts: &HostFacts) -> VersionReport {
    let version = env!("CARGO_PKG_VERSION").to_string();
    let compiler = format!("rust{}", env!("CARGO_PKG_RUST_VERSION"));
    let platform = Platform {
        name: "hull".into(),
    };
    let mut components = vec![Component {
        name: "Engine".into(),
        version: version.clone(),
    }];
    components.push(Component {
        name: "hull-vmm".into(),
        version: version.clone(),
    });
    if let Some(qemu) = &facts.qemu {
        components.push(Component {
            name: "qemu".into(),
            version: qemu_version(qemu).unwrap_or_else(|| "unknown".into()),
        });
    }
    components.push(Component {
        name: "guest-kernel".into(),
        version: guest_kernel_version(facts).unwrap_or_else(|| "not built yet".into()),
    });
    VersionReport {
        client: ClientVersion {
            platform: Platform {
                name: "hull".into(),
            },
            version: version.clone(),
            api_version: API_VERSION.into(),
            default_api_version: API_VERSION.into(),
            go_version: compiler.clone(),
            os: std::env::consts::OS.into(),
            arch: go_arch().into(),
            context: "default".into(),
        },
        server: ServerVersion {
            platform,
            components,
            version,
            api_version: API_VERSION.into(),
            min_api_version: MIN_API_VERSION.into(),
            go_version: compiler,
            os: std::env::consts::OS.into(),
            arch: go_arch().into(),
            kernel_version: nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            experimental: false,
        },
    }
}

/// Go's name of this architecture, as Docker prints it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The release of the guest kernel the default engine boots, from its build's `.config`
/// header (`# Linux/x86 6.1.158 Kernel Configuration`); never builds one.
fn guest_kernel_version(facts: &HostFacts) -> Option<String> {
    let (engine, _) = facts.default_engine();
    let (artifacts, built) =
        hull_kernel::kernel_location(crate::guest::profile_for(engine)).ok()?;
    if !built {
        return None;
    }
    let config = std::fs::read_to_string(artifacts.dir.join("config")).ok()?;
    parse_kernel_config_release(&config)
}

fn parse_kernel_config_release(config: &str) -> Option<String> {
    config
        .lines()
        .take(5)
        .find_map(|line| line.strip_prefix("# Linux/")?.split_whitespace().nth(1))
        .map(str::to_string)
}

/// `QEMU emulator version 10.0.2 (Debian ...)` -> `10.0.2`.
fn qemu_version(program: &str) -> Option<String> {
    let output = Command::new(program).arg("--version").output().ok()?;
    parse_qemu_version(&String::from_utf8_lossy(&output.stdout))
}

fn parse_qemu_version(text: &str) -> Option<String> {
    let rest = text.lines().next()?.split("version ").nth(1)?;
    Some(rest.split_whitespace().next()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_banner_gives_its_version() {
        assert_eq!(
            parse_qemu_version(
                "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright"
            )
            .as_deref(),
            Some("10.0.2")
        );
        assert_eq!(parse_qemu_version("nonsense"), None);
    }

    #[test]
    fn kernel_config_header_gives_the_release() {
        let config = "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 6.1.158 Kernel Configuration\n#\n";
        assert_eq!(
            parse_kernel_config_release(config).as_deref(),
            Some("6.1.158")
        );
        assert_eq!(parse_kernel_config_release("CONFIG_X=y\n"), None);
    }

    #[test]
    fn the_report_has_dockers_field_names() {
        let facts = HostFacts {
            kvm: crate::host::KvmKind::Absent,
            kvm_reason: String::new(),
            qemu: None,
        };
        let json = serde_json::to_value(report(&facts)).unwrap();
        assert_eq!(json["Client"]["ApiVersion"], API_VERSION);
        assert_eq!(json["Server"]["MinAPIVersion"], MIN_API_VERSION);
        assert_eq!(json["Server"]["Components"][0]["Name"], "Engine");
        assert_eq!(json["Server"]["Arch"], "amd64");
    }
}
