//! Questions hull asks on the terminal: the yes/no confirmation of the `prune` verbs and
//! `hull login`'s username and (unechoed) password.

use anyhow::Result;
use std::io::{BufRead, IsTerminal, Write};

/// Prints `question` and reads one answer from stdin: only `y`/`yes` goes on (end of input
/// is a no), as Docker's prompt.
pub fn confirm(question: &str) -> Result<bool> {
    print!("{question}");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// One line of `input`, without its line ending.
pub fn read_line(input: &mut dyn BufRead) -> Result<String> {
    let mut line = String::new();
    input.read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Asks for one line on stderr (stdout may be piped) and reads it from stdin.
pub fn prompt(label: &str) -> Result<String> {
    eprint!("{label}");
    std::io::stderr().flush()?;
    read_line(&mut std::io::stdin().lock())
}

/// Reads a password with echo off when stdin is a terminal.
pub fn prompt_hidden(label: &str) -> Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return prompt(label);
    }
    let saved = rustix::termios::tcgetattr(&stdin)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
    rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet)?;
    let line = prompt(label);
    rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &saved)?;
    eprintln!();
    line
}
