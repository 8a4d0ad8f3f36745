//! Docker's word processing for Dockerfile arguments: `$VAR`, `${VAR}`, `${VAR:-word}`,
//! `${VAR:+word}` (and `-`/`+` without the colon, where an empty value counts as set),
//! single and double quotes removed, the escape character (`\` or the `escape` directive's)
//! taking the next character literally; words split on unquoted whitespace.

use std::iter::Peekable;
use std::str::Chars;

/// Looks a build variable up: the stage's ENV first, then its ARGs.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// `text` expanded and split into words (ENV, LABEL, ARG, EXPOSE, VOLUME, COPY operands).
pub fn words(text: &str, escape: char, lookup: Lookup<'_>) -> Result<Vec<String>, String> {
    Processor {
        chars: text.chars().peekable(),
        escape,
        lookup,
    }
    .run(true)
}

/// `text` expanded as one word: whitespace kept, quotes removed (WORKDIR, USER, FROM, ...).
pub fn word(text: &str, escape: char, lookup: Lookup<'_>) -> Result<String, String> {
    let words = Processor {
        chars: text.chars().peekable(),
        escape,
        lookup,
    }
    .run(false)?;
    Ok(words.concat())
}

struct Processor<'t, 'l> {
    chars: Peekable<Chars<'t>>,
    escape: char,
    lookup: Lookup<'l>,
}

impl Processor<'_, '_> {
    fn run(&mut self, split: bool) -> Result<Vec<String>, String> {
        let mut words = Vec::new();
        let mut current = String::new();
        // A quoted empty string is still a word.
        let mut started = false;
        while let Some(c) = self.chars.next() {
            match c {
                c if split && c.is_whitespace() => {
                    if started {
                        words.push(std::mem::take(&mut current));
                        started = false;
                    }
                }
                '\'' => {
                    started = true;
                    loop {
                        match self.chars.next() {
                            Some('\'') => break,
                            Some(c) => current.push(c),
                            None => return Err("unexpected end of text: missing '".into()),
                        }
                    }
                }
                '"' => {
                    started = true;
                    self.double_quoted(&mut current)?;
                }
                '$' => {
                    started = true;
                    let value = self.variable()?;
                    current.push_str(&value);
                }
                c if c == self.escape => {
                    started = true;
                    match self.chars.next() {
                        Some(next) => current.push(next),
                        None => current.push(c),
                    }
                }
                c => {
                    started = true;
                    current.push(c);
                }
            }
        }
        if started {
            words.push(current);
        }
        Ok(words)
    }

    fn double_quoted(&mut self, out: &mut String) -> Result<(), String> {
        loop {
            match self.chars.next() {
                Some('"') => return Ok(()),
                Some('$') => {
                    let value = self.variable()?;
                    out.push_str(&value);
                }
                Some(c) if c == self.escape => match self.chars.peek() {
                    Some(&next) if next == '"' || next == '$' || next == self.escape => {
                        out.push(next);
                        self.chars.next();
                    }
                    _ => out.push(c),
                },
                Some(c) => out.push(c),
                None => return Err("unexpected end of text: missing \"".into()),
            }
        }
    }

    /// A variable name (`[A-Za-z0-9_]*`) at the cursor.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(&c) = self.chars.peek() {
            if c != '_' && !c.is_ascii_alphanumeric() {
                break;
            }
            name.push(c);
            self.chars.next();
        }
        name
    }

    /// After a `$`: the variable's value (or a literal `$`).
    fn variable(&mut self) -> Result<String, String> {
        match self.chars.peek() {
            Some('{') => {
                self.chars.next();
                self.braced()
            }
            Some(&c) if c == '_' || c.is_ascii_alphanumeric() => {
                let name = self.name();
                Ok((self.lookup)(&name).unwrap_or_default())
            }
            _ => Ok("$".into()),
        }
    }

    /// After `${`: `NAME}`, `NAME:-word}`, `NAME:+word}`, `NAME-word}`, `NAME+word}`.
    fn braced(&mut self) -> Result<String, String> {
        let name = self.name();
        if name.is_empty() {
            return Err("bad substitution: a variable name must follow ${".into());
        }
        let value = (self.lookup)(&name);
        let colon = self.chars.peek() == Some(&':');
        if colon {
            self.chars.next();
        }
        match self.chars.next() {
            Some('}') if !colon => Ok(value.unwrap_or_default()),
            Some(op @ ('-' | '+')) => {
                let modifier = self.until_brace()?;
                let set = match &value {
                    Some(v) => !colon || !v.is_empty(),
                    None => false,
                };
                match (op, set) {
                    ('-', true) => Ok(value.unwrap_or_default()),
                    ('+', false) => Ok(String::new()),
                    _ => word(&modifier, self.escape, self.lookup),
                }
            }
            Some(other) => Err(format!(
                "unsupported modifier ({other}) in substitution of ${{{name}}}"
            )),
            None => Err(format!("missing '}}' in substitution of ${{{name}")),
        }
    }

    /// The raw text of a modifier's word, up to the matching `}`.
    fn until_brace(&mut self) -> Result<String, String> {
        let mut depth = 0;
        let mut word = String::new();
        loop {
            match self.chars.next() {
                Some('}') if depth == 0 => return Ok(word),
                Some(c) => {
                    if c == '{' {
                        depth += 1;
                    } else if c == '}' {
                        depth -= 1;
                    }
                    word.push(c);
                }
                None => return Err("missing '}' in substitution".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "NAME" => Some("world".into()),
            "EMPTY" => Some(String::new()),
            "SPACED" => Some("a b".into()),
            _ => None,
        }
    }

    fn w(text: &str) -> String {
        word(text, '\\', &vars).unwrap()
    }

    #[test]
    fn variables_expand_with_docker_modifiers() {
        assert_eq!(w("hello $NAME"), "hello world");
        assert_eq!(w("${NAME}s"), "worlds");
        assert_eq!(w("${UNSET:-fallback}"), "fallback");
        assert_eq!(w("${EMPTY:-fallback}"), "fallback");
        assert_eq!(w("${EMPTY-fallback}"), "");
        assert_eq!(w("${NAME:-fallback}"), "world");
        assert_eq!(w("${NAME:+alt}"), "alt");
        assert_eq!(w("${UNSET:+alt}"), "");
        assert_eq!(w("${EMPTY:+alt}"), "");
        assert_eq!(w("${EMPTY+alt}"), "alt");
        assert_eq!(w("${UNSET:-$NAME}"), "world");
        assert_eq!(w("$UNSET"), "");
        assert_eq!(w("cost: $"), "cost: $");
    }

    #[test]
    fn quotes_and_escapes_are_removed_as_docker_does() {
        assert_eq!(w("'$NAME'"), "$NAME");
        assert_eq!(w("\"$NAME\""), "world");
        assert_eq!(w("\\$NAME"), "$NAME");
        assert_eq!(w("\"a \\\" b\""), "a \" b");
        assert_eq!(word("`$NAME", '`', &vars).unwrap(), "$NAME");
        assert!(word("'open", '\\', &vars).is_err());
        assert!(word("${", '\\', &vars).is_err());
    }

    #[test]
    fn words_split_on_unquoted_whitespace_only() {
        let split = |t: &str| words(t, '\\', &vars).unwrap();
        assert_eq!(split("A=1 B=\"two words\""), ["A=1", "B=two words"]);
        assert_eq!(split("X=$SPACED"), ["X=a b"]);
        assert_eq!(split("a\\ b c"), ["a b", "c"]);
        assert_eq!(split("'' x"), ["", "x"]);
        assert_eq!(split("  "), Vec::<String>::new());
    }
}
