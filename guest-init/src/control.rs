//! Parsing the host's control channel: newline-delimited JSON `ControlMessage`s.

use hull_protocol::ControlMessage;

/// A partial line longer than this is dropped: the host never sends one, a hostile or
/// broken peer must not make PID 1 grow without bound.
const MAX_LINE: usize = hull_protocol::MAX_CONTROL_LINE;

/// Accumulates bytes from the control console and yields complete messages.
#[derive(Debug, Default)]
pub struct ControlDecoder {
    buffer: Vec<u8>,
}

impl ControlDecoder {
    /// Adds `bytes`; returns every complete line, parsed (`Err` holds a description of a
    /// line that is not a known message).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<ControlMessage, String>> {
        self.buffer.extend_from_slice(bytes);
        let mut messages = Vec::new();
        while let Some(newline) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=newline).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            messages.push(
                serde_json::from_str(line)
                    .map_err(|e| format!("ignoring control line {line:?}: {e}")),
            );
        }
        if self.buffer.len() > MAX_LINE {
            self.buffer.clear();
            messages.push(Err(format!("dropped a control line over {MAX_LINE} bytes")));
        }
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_across_reads_are_reassembled() {
        let mut decoder = ControlDecoder::default();
        assert!(decoder.push(b"{\"type\":\"sig").is_empty());
        let out = decoder.push(
            b"nal\",\"signal\":15}\n{\"type\":\"stdin_eof\",\"bytes\":5}\n\n{\"type\":\"resize\"",
        );
        assert_eq!(
            out,
            vec![
                Ok(ControlMessage::Signal { signal: 15 }),
                Ok(ControlMessage::StdinEof { bytes: 5 })
            ]
        );
        let out = decoder.push(b",\"rows\":30,\"cols\":100}\r\n");
        assert_eq!(
            out,
            vec![Ok(ControlMessage::Resize {
                rows: 30,
                cols: 100
            })]
        );
    }

    #[test]
    fn garbage_is_reported_not_fatal() {
        let mut decoder = ControlDecoder::default();
        let out = decoder.push(b"not json\n{\"type\":\"signal\",\"signal\":9}\n");
        assert!(out[0].is_err());
        assert_eq!(out[1], Ok(ControlMessage::Signal { signal: 9 }));
    }

    #[test]
    fn exec_messages_carry_binary_data_across_split_reads() {
        use hull_protocol::Base64;
        let message = ControlMessage::ExecStdin {
            id: 3,
            data: Base64((0..=255u8).collect()),
        };
        let line = message.to_line();
        let (first, second) = line.as_bytes().split_at(100);
        let mut decoder = ControlDecoder::default();
        assert!(decoder.push(first).is_empty());
        assert_eq!(decoder.push(second), vec![Ok(message)]);
    }

    #[test]
    fn bad_exec_data_is_reported_and_the_stream_goes_on() {
        let mut decoder = ControlDecoder::default();
        let out = decoder.push(
            b"{\"type\":\"exec_stdin\",\"id\":1,\"data\":\"%%%%\"}\n{\"type\":\"exec_stdin_eof\",\"id\":1}\n",
        );
        assert!(
            out[0].as_ref().is_err_and(|e| e.contains("base64")),
            "{out:?}"
        );
        assert_eq!(out[1], Ok(ControlMessage::ExecStdinEof { id: 1 }));
        // A line one byte over the limit is dropped; the next message still parses.
        let mut decoder = ControlDecoder::default();
        let mut huge = b"{\"type\":\"exec_stdin\",\"id\":1,\"data\":\"".to_vec();
        huge.resize(MAX_LINE + 1, b'A');
        assert!(decoder.push(&huge).iter().all(Result::is_err));
        assert!(decoder.buffer.is_empty());
        let out = decoder.push(b"\"}\n{\"type\":\"exec_signal\",\"id\":1,\"signal\":2}\n");
        assert_eq!(
            out.last(),
            Some(&Ok(ControlMessage::ExecSignal { id: 1, signal: 2 }))
        );
    }

    #[test]
    fn endless_line_is_dropped() {
        let mut decoder = ControlDecoder::default();
        let out = decoder.push(&vec![b'x'; MAX_LINE + 1]);
        assert_eq!(out.len(), 1);
        assert!(decoder.buffer.is_empty());
    }
}
