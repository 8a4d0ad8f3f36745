//! A Dockerfile parsed (with the `parse-dockerfile` crate) into hull's build plan: the global
//! ARGs, then stages of steps, each step with its line and the text `docker build` shows.
//! Values stay unexpanded here: variables are substituted when a step runs, with the
//! stage's ENV and ARGs of that moment.

use parse_dockerfile::{
    Command, Flag, HealthcheckArguments, Instruction, JsonOrStringArray, Source,
};

/// A command in exec form (JSON) or shell form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandForm {
    /// `["prog", "arg"]`: run as is.
    Exec(Vec<String>),
    /// `prog arg`: run by the stage's SHELL.
    Shell(String),
}

/// COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    /// ADD (local archives are extracted; URLs refused).
    pub add: bool,
    /// Sources, unexpanded.
    pub sources: Vec<String>,
    /// Destination, unexpanded.
    pub dest: String,
    /// `--from=STAGE|IMAGE`.
    pub from: Option<String>,
    /// `--chown=USER[:GROUP]`.
    pub chown: Option<String>,
    /// `--chmod=OCTAL`.
    pub chmod: Option<String>,
}

/// What one instruction does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// RUN.
    Run(CommandForm),
    /// COPY or ADD.
    Copy(CopySpec),
    /// ENV (the raw arguments).
    Env(String),
    /// ARG (the raw arguments: `NAME[=default] ...`).
    Arg(String),
    /// LABEL (the raw arguments).
    Label(String),
    /// EXPOSE.
    Expose(Vec<String>),
    /// VOLUME.
    Volume(Vec<String>),
    /// USER.
    User(String),
    /// WORKDIR.
    Workdir(String),
    /// CMD.
    Cmd(CommandForm),
    /// ENTRYPOINT.
    Entrypoint(CommandForm),
    /// SHELL.
    Shell(Vec<String>),
    /// STOPSIGNAL.
    StopSignal(String),
    /// HEALTHCHECK: its options and command; None: `HEALTHCHECK NONE`.
    Healthcheck {
        /// `--interval=30s` and the like.
        options: Vec<(String, String)>,
        /// The test command.
        command: Option<CommandForm>,
    },
    /// ONBUILD: the trigger's text, recorded in the image.
    Onbuild(String),
    /// MAINTAINER (deprecated: the author).
    Maintainer(String),
}

/// One instruction of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 1-based line of the instruction in the Dockerfile.
    pub line: usize,
    /// The instruction as written, continuation lines joined (what the progress shows).
    pub text: String,
    /// What it does.
    pub op: Op,
}

/// `FROM IMAGE [AS NAME]` and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Its position (stages are also named by number).
    pub index: usize,
    /// `AS NAME`, lowercased.
    pub name: Option<String>,
    /// The base image (unexpanded: global ARGs apply).
    pub base: String,
    /// `--platform`, unexpanded.
    pub platform: Option<String>,
    /// Line of the FROM.
    pub line: usize,
    /// Its instructions, FROM excluded.
    pub steps: Vec<Step>,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone)]
pub struct Dockerfile {
    /// The escape character (`# escape=` directive; `\` by default).
    pub escape: char,
    /// ARGs before the first FROM (raw arguments).
    pub global_args: Vec<String>,
    /// The stages, in order.
    pub stages: Vec<Stage>,
}

/// Parses `text`; `name` (the file's name) prefixes errors, as `NAME:LINE: message`.
pub fn parse(text: &str, name: &str) -> Result<Dockerfile, String> {
    let parsed = parse_dockerfile::parse(text).map_err(|e| {
        let message = e.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        format!("{name}:{}: {message}", e.line())
    })?;
    let escape = parsed
        .parser_directives
        .escape
        .as_ref()
        .map_or('\\', |d| d.value.value);
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let starts: Vec<usize> = parsed
        .instructions
        .iter()
        .map(|i| keyword_start(i))
        .collect();
    let mut dockerfile = Dockerfile {
        escape,
        global_args: Vec::new(),
        stages: Vec::new(),
    };
    for (at, instruction) in parsed.instructions.iter().enumerate() {
        let start = starts[at];
        let end = starts.get(at + 1).copied().unwrap_or(text.len());
        let line = line_of(start);
        let text_shown = shown(&text[start..end], escape);
        if let Instruction::From(from) = instruction {
            let platform = flag_value(&from.options, "platform");
            if let Some(flag) = from.options.iter().find(|f| f.name.value != "platform") {
                return Err(format!(
                    "{name}:{line}: FROM does not take --{}",
                    flag.name.value
                ));
            }
            dockerfile.stages.push(Stage {
                index: dockerfile.stages.len(),
                name: from.as_.as_ref().map(|(_, n)| n.value.to_lowercase()),
                base: from.image.value.to_string(),
                platform,
                line,
                steps: Vec::new(),
            });
            continue;
        }
        let op = op(instruction, text, escape).map_err(|e| format!("{name}:{line}: {e}"))?;
        match dockerfile.stages.last_mut() {
            Some(stage) => stage.steps.push(Step {
                line,
                text: text_shown,
                op,
            }),
            None => match op {
                Op::Arg(raw) => dockerfile.global_args.push(raw),
                _ => return Err(format!("{name}:{line}: only ARG may come before FROM")),
            },
        }
    }
    if dockerfile.stages.is_empty() {
        return Err(format!("{name}: the file has no FROM instruction"));
    }
    Ok(dockerfile)
}

/// An instruction's text as `docker build` shows it: escaped newlines and comment lines
/// inside it dropped, whitespace squeezed.
fn shown(raw: &str, escape: char) -> String {
    let joined: Vec<&str> = raw
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.trim_end().strip_suffix(escape).unwrap_or(l.trim_end()))
        .collect();
    joined
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn keyword_start(instruction: &Instruction<'_>) -> usize {
    match instruction {
        Instruction::Add(i) => i.add.span.start,
        Instruction::Arg(i) => i.arg.span.start,
        Instruction::Cmd(i) => i.cmd.span.start,
        Instruction::Copy(i) => i.copy.span.start,
        Instruction::Entrypoint(i) => i.entrypoint.span.start,
        Instruction::Env(i) => i.env.span.start,
        Instruction::Expose(i) => i.expose.span.start,
        Instruction::From(i) => i.from.span.start,
        Instruction::Healthcheck(i) => i.healthcheck.span.start,
        Instruction::Label(i) => i.label.span.start,
        Instruction::Maintainer(i) => i.maintainer.span.start,
        Instruction::Onbuild(i) => i.onbuild.span.start,
        Instruction::Run(i) => i.run.span.start,
        Instruction::Shell(i) => i.shell.span.start,
        Instruction::Stopsignal(i) => i.stopsignal.span.start,
        Instruction::User(i) => i.user.span.start,
        Instruction::Volume(i) => i.volume.span.start,
        Instruction::Workdir(i) => i.workdir.span.start,
        _ => 0,
    }
}

fn flag_value(flags: &[Flag<'_>], name: &str) -> Option<String> {
    flags.iter().find(|f| f.name.value == name).map(|f| {
        f.value
            .as_ref()
            .map(|v| v.value.to_string())
            .unwrap_or_default()
    })
}

/// Shell-form text without its escaped newlines (the shell gets one line, as Docker's).
fn shell_text(text: &str, escape: char) -> String {
    text.replace(&format!("{escape}\r\n"), "")
        .replace(&format!("{escape}\n"), "")
}

fn command(command: &Command<'_>, escape: char) -> CommandForm {
    match command {
        Command::Exec(args) => {
            CommandForm::Exec(args.value.iter().map(|a| a.value.to_string()).collect())
        }
        Command::Shell(text) => CommandForm::Shell(shell_text(text.value, escape)),
        _ => CommandForm::Exec(Vec::new()),
    }
}

fn op(instruction: &Instruction<'_>, text: &str, escape: char) -> Result<Op, String> {
    Ok(match instruction {
        Instruction::Run(run) => {
            if let Some(flag) = run.options.first() {
                return Err(format!(
                    "RUN --{} is not supported by hull build",
                    flag.name.value
                ));
            }
            match run.here_docs.as_slice() {
                [] => Op::Run(command(&run.arguments, escape)),
                [script] if matches!(&run.arguments, Command::Shell(s) if s.value.trim().is_empty()) => {
                    Op::Run(CommandForm::Shell(script.value.to_string()))
                }
                _ => return Err("RUN takes one here-document as its whole script".into()),
            }
        }
        Instruction::Copy(copy) => Op::Copy(copy_spec(
            false,
            &copy.options,
            &copy.src,
            &copy.dest.value,
        )?),
        Instruction::Add(add) => {
            Op::Copy(copy_spec(true, &add.options, &add.src, &add.dest.value)?)
        }
        Instruction::Env(env) => Op::Env(env.arguments.value.to_string()),
        Instruction::Arg(arg) => Op::Arg(arg.arguments.value.to_string()),
        Instruction::Label(label) => Op::Label(label.arguments.value.to_string()),
        Instruction::Expose(expose) => Op::Expose(
            expose
                .arguments
                .iter()
                .map(|a| a.value.to_string())
                .collect(),
        ),
        Instruction::Volume(volume) => Op::Volume(match &volume.arguments {
            JsonOrStringArray::Json(list) => {
                list.value.iter().map(|a| a.value.to_string()).collect()
            }
            JsonOrStringArray::String(list) => list.iter().map(|a| a.value.to_string()).collect(),
        }),
        Instruction::User(user) => Op::User(user.arguments.value.to_string()),
        Instruction::Workdir(dir) => Op::Workdir(dir.arguments.value.to_string()),
        Instruction::Cmd(cmd) => Op::Cmd(command(&cmd.arguments, escape)),
        Instruction::Entrypoint(entrypoint) => {
            Op::Entrypoint(command(&entrypoint.arguments, escape))
        }
        Instruction::Shell(shell) => Op::Shell(
            shell
                .arguments
                .iter()
                .map(|a| a.value.to_string())
                .collect(),
        ),
        Instruction::Stopsignal(signal) => Op::StopSignal(signal.arguments.value.to_string()),
        Instruction::Healthcheck(check) => {
            let options = check
                .options
                .iter()
                .map(|f| {
                    let value = f
                        .value
                        .as_ref()
                        .map(|v| v.value.to_string())
                        .unwrap_or_default();
                    (f.name.value.to_string(), value)
                })
                .collect();
            let command = match &check.arguments {
                HealthcheckArguments::Cmd { arguments, .. } => Some(command(arguments, escape)),
                _ => None,
            };
            Op::Healthcheck { options, command }
        }
        Instruction::Onbuild(onbuild) => {
            let start = keyword_start(&onbuild.instruction);
            let trigger = &text[start..];
            // The trigger ends where this instruction does: the next unescaped newline.
            let mut end = trigger.len();
            let mut previous = '\0';
            for (at, c) in trigger.char_indices() {
                if c == '\n' && previous != escape {
                    end = at;
                    break;
                }
                previous = c;
            }
            Op::Onbuild(shown(&trigger[..end], escape))
        }
        Instruction::Maintainer(m) => Op::Maintainer(m.name.value.to_string()),
        Instruction::From(_) => unreachable!("FROM is handled by the caller"),
        _ => return Err("unknown instruction".into()),
    })
}

fn copy_spec(
    add: bool,
    options: &[Flag<'_>],
    sources: &[Source<'_>],
    dest: &str,
) -> Result<CopySpec, String> {
    let verb = if add { "ADD" } else { "COPY" };
    for flag in options {
        match flag.name.value.as_ref() {
            "from" | "chown" | "chmod" | "link" => {}
            other => return Err(format!("{verb} --{other} is not supported by hull build")),
        }
    }
    let sources = sources
        .iter()
        .map(|s| match s {
            Source::Path(path) => Ok(path.value.to_string()),
            _ => Err(format!(
                "{verb} from a here-document is not supported by hull build"
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CopySpec {
        add,
        sources,
        dest: dest.to_string(),
        from: flag_value(options, "from"),
        chown: flag_value(options, "chown"),
        chmod: flag_value(options, "chmod"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# escape=\\\nARG BASE=busybox\nFROM $BASE AS Builder\nRUN echo a \\\n  && echo b\n# note\nRUN <<EOF\necho hi\nEOF\nCOPY --from=builder --chown=1:2 a b /dst/\nONBUILD RUN echo trig\nFROM scratch\nCMD [\"/app\"]\n";

    #[test]
    fn stages_steps_lines_and_texts() {
        let d = parse(FILE, "Dockerfile").unwrap();
        assert_eq!(d.global_args, ["BASE=busybox"]);
        assert_eq!(d.stages.len(), 2);
        let first = &d.stages[0];
        assert_eq!(first.name.as_deref(), Some("builder"));
        assert_eq!(first.base, "$BASE");
        assert_eq!(first.line, 3);
        assert_eq!(first.steps[0].line, 4);
        assert_eq!(first.steps[0].text, "RUN echo a && echo b");
        assert_eq!(
            first.steps[0].op,
            Op::Run(CommandForm::Shell("echo a   && echo b".into()))
        );
        assert_eq!(
            first.steps[1].op,
            Op::Run(CommandForm::Shell("echo hi\n".into()))
        );
        match &first.steps[2].op {
            Op::Copy(copy) => {
                assert_eq!(copy.sources, ["a", "b"]);
                assert_eq!(copy.dest, "/dst/");
                assert_eq!(copy.from.as_deref(), Some("builder"));
                assert_eq!(copy.chown.as_deref(), Some("1:2"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(first.steps[3].op, Op::Onbuild("RUN echo trig".into()));
        assert_eq!(
            d.stages[1].steps[0].op,
            Op::Cmd(CommandForm::Exec(vec!["/app".into()]))
        );
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let e = parse("FROM a\nFOO bar\n", "Dockerfile").unwrap_err();
        assert!(e.starts_with("Dockerfile:2: unknown instruction"), "{e}");
        let e = parse("RUN x\n", "my.Dockerfile").unwrap_err();
        assert!(e.starts_with("my.Dockerfile:1:"), "{e}");
        let e = parse(
            "FROM a\nRUN --mount=type=cache,target=/x true\n",
            "Dockerfile",
        )
        .unwrap_err();
        assert!(e.contains("Dockerfile:2: RUN --mount"), "{e}");
    }
}
