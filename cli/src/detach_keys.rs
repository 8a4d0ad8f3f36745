//! Docker's detach keys (`--detach-keys`, default `ctrl-p,ctrl-q`): typed on an attached
//! terminal, they leave the container running and end the client. Parsed and matched as
//! Docker's CLI does: a sequence held back while it may still become the keys, passed on
//! when it does not.

use anyhow::Result;

/// Docker's default detach keys.
pub const DEFAULT: &str = "ctrl-p,ctrl-q";

/// The byte sequence of a `--detach-keys` value (`ctrl-p,ctrl-q`, `ctrl-a,x`); an empty
/// value means Docker's default.
pub fn parse(spec: &str) -> Result<Vec<u8>> {
    let spec = if spec.is_empty() { DEFAULT } else { spec };
    spec.split(',').map(|key| key_byte(key, spec)).collect()
}

fn key_byte(key: &str, spec: &str) -> Result<u8> {
    let invalid = || anyhow::anyhow!("Invalid detach keys ({spec}) provided");
    if let Some(ctrl) = key.strip_prefix("ctrl-") {
        let [c] = ctrl.as_bytes() else {
            return Err(invalid());
        };
        return match c {
            b'a'..=b'z' => Ok(c - b'a' + 1),
            b'@' => Ok(0),
            b'[' | b'\\' | b']' | b'^' | b'_' => Ok(c - b'@'),
            _ => Err(invalid()),
        };
    }
    match key.as_bytes() {
        [c] if c.is_ascii() => Ok(*c),
        _ => Err(invalid()),
    }
}

/// Watches a stream of terminal input for the detach keys.
#[derive(Debug, Clone)]
pub struct DetachScanner {
    keys: Vec<u8>,
    /// How many of `keys` the input ended with so far (held back, not yet forwarded).
    matched: usize,
}

/// What to do with one read of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scanned {
    /// Forward these bytes (maybe none: a possible start of the keys is held back).
    Forward(Vec<u8>),
    /// Forward these bytes, then detach: the keys were typed.
    Detach(Vec<u8>),
}

impl DetachScanner {
    /// A scanner for `keys` (non-empty, from [`parse`]).
    pub fn new(keys: Vec<u8>) -> Self {
        Self { keys, matched: 0 }
    }

    /// Scans the next read of input.
    pub fn feed(&mut self, input: &[u8]) -> Scanned {
        let mut forward = Vec::with_capacity(input.len());
        for &byte in input {
            if byte == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return Scanned::Detach(forward);
                }
                continue;
            }
            // Not the keys after all: what was held back goes on, in order.
            forward.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            // (A one-key sequence never gets here: its key matched above.)
            if byte == self.keys[0] {
                self.matched = 1;
            } else {
                forward.push(byte);
            }
        }
        Scanned::Forward(forward)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTRL_P: u8 = 0x10;
    const CTRL_Q: u8 = 0x11;

    #[test]
    fn parses_dockers_spellings() {
        assert_eq!(parse("").unwrap(), [CTRL_P, CTRL_Q]);
        assert_eq!(parse(DEFAULT).unwrap(), [CTRL_P, CTRL_Q]);
        assert_eq!(parse("ctrl-a,x").unwrap(), [1, b'x']);
        assert_eq!(parse("ctrl-@,ctrl-[,ctrl-_").unwrap(), [0, 27, 31]);
        for bad in ["ctrl-", "ctrl-1", "ab", "ctrl-p,", "é"] {
            let err = parse(bad).unwrap_err().to_string();
            assert_eq!(err, format!("Invalid detach keys ({bad}) provided"));
        }
    }

    #[test]
    fn the_keys_detach_and_what_came_before_them_is_forwarded() {
        let mut scanner = DetachScanner::new(parse(DEFAULT).unwrap());
        assert_eq!(
            scanner.feed(&[b'l', b's', CTRL_P, CTRL_Q, b'x']),
            Scanned::Detach(vec![b'l', b's'])
        );
    }

    #[test]
    fn keys_split_across_reads_still_detach() {
        let mut scanner = DetachScanner::new(parse(DEFAULT).unwrap());
        assert_eq!(scanner.feed(&[b'a', CTRL_P]), Scanned::Forward(vec![b'a']));
        assert_eq!(scanner.feed(&[CTRL_Q]), Scanned::Detach(vec![]));
    }

    #[test]
    fn a_held_prefix_is_passed_on_when_the_keys_do_not_follow() {
        let mut scanner = DetachScanner::new(parse(DEFAULT).unwrap());
        assert_eq!(scanner.feed(&[CTRL_P]), Scanned::Forward(vec![]));
        // ctrl-p twice: bash's history recall gets the first, the second may still start the keys.
        assert_eq!(scanner.feed(&[CTRL_P]), Scanned::Forward(vec![CTRL_P]));
        assert_eq!(scanner.feed(b"k"), Scanned::Forward(vec![CTRL_P, b'k']));
        assert_eq!(scanner.feed(&[CTRL_P, CTRL_Q]), Scanned::Detach(vec![]));
    }

    #[test]
    fn a_single_key_detaches_at_once() {
        let mut scanner = DetachScanner::new(parse("ctrl-a").unwrap());
        assert_eq!(scanner.feed(b"ab\x01c"), Scanned::Detach(b"ab".to_vec()));
    }
}
