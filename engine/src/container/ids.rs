//! Container ids (64 hex digits, 12 shown, like Docker) and random `adjective_name` names.

use std::io::Read;

/// A fresh random 64-hex-digit id.
pub fn new_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The 12-digit form `ps` shows.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

const ADJECTIVES: &[&str] = &[
    "admiring",
    "brave",
    "busy",
    "calm",
    "clever",
    "cool",
    "dazzling",
    "eager",
    "elegant",
    "festive",
    "focused",
    "gallant",
    "gifted",
    "happy",
    "hopeful",
    "jolly",
    "keen",
    "kind",
    "lucid",
    "modest",
    "nifty",
    "nostalgic",
    "optimistic",
    "peaceful",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "zealous",
];

const NAMES: &[&str] = &[
    "babbage", "bardeen", "curie", "dijkstra", "einstein", "euler", "fermi", "feynman", "gauss",
    "goldberg", "hamilton", "hopper", "kilby", "knuth", "lamport", "liskov", "lovelace",
    "mccarthy", "meitner", "noether", "pascal", "ritchie", "shannon", "thompson", "torvalds",
    "turing", "wozniak", "yalow",
];

/// A random name such as `jolly_hopper`, derived from the (random) id.
pub fn random_name(id: &str, attempt: usize) -> String {
    let seed = u64::from_str_radix(id.get(..16).unwrap_or("0"), 16).unwrap_or(0);
    let pick = |list: &[&'static str], salt: u64| -> &'static str {
        let len = list.len() as u64;
        let index = seed.rotate_left(u32::try_from(salt).unwrap_or(0)) % len;
        list[usize::try_from(index).unwrap_or(0)]
    };
    let base = format!("{}_{}", pick(ADJECTIVES, 0), pick(NAMES, 17));
    if attempt == 0 {
        base
    } else {
        format!("{base}{attempt}")
    }
}

/// Docker's rule for user-chosen names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_digits_and_differ() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(short(&a).len(), 12);
    }

    #[test]
    fn names_look_like_dockers_and_are_valid() {
        let name = random_name(&new_id().unwrap(), 0);
        assert!(name.contains('_'));
        assert!(valid_name(&name));
        assert!(!valid_name("-bad"));
        assert!(!valid_name("a/b"));
    }
}
