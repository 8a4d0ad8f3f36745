//! `--format` as Docker takes it: `table` (the default columns), `json` (one object per
//! line), or a Go template (`{{.Names}}`, `table {{.ID}}\t{{.Image}}`, `{{json .}}`) with
//! Docker's extra functions. Templates run on `gotmpl`, a port of Go's text/template, so
//! values print as Go prints them (`[sh]`, `map[a:b]`).

use anyhow::{anyhow, Result};
use gotmpl::{MissingKey, Template, Value};
use serde_json::Value as Json;

use crate::format;

/// What `--format` asked for.
pub enum OutputFormat {
    /// The verb's own table.
    Table,
    /// One JSON object per line.
    Json,
    /// A Go template, one rendering per row; `table` adds a header and aligns columns.
    Template {
        /// The parsed template.
        template: Box<Template>,
        /// Whether it started with `table `.
        table: bool,
    },
}

impl OutputFormat {
    /// Parses a `--format` value; a malformed template is an error before any work is done.
    pub fn parse(spec: Option<&str>) -> Result<Self> {
        let Some(spec) = spec.filter(|s| !s.is_empty()) else {
            return Ok(Self::Table);
        };
        match spec {
            "table" => return Ok(Self::Table),
            "json" => return Ok(Self::Json),
            _ => {}
        }
        let (table, source) = match spec.strip_prefix("table") {
            Some(rest) if rest.starts_with(char::is_whitespace) => (true, rest.trim_start()),
            _ => (false, spec),
        };
        Ok(Self::Template {
            template: Box::new(parse(source)?),
            table,
        })
    }

    /// Renders `rows` (each one serialized object): `headers` maps a field name to its
    /// column title for a `table` template; `default_table` draws the verb's own table.
    pub fn render(
        &self,
        rows: &[Json],
        headers: &[(&str, &str)],
        default_table: impl FnOnce() -> String,
    ) -> Result<String> {
        match self {
            Self::Table => Ok(default_table()),
            Self::Json => Ok(rows.iter().map(|row| format!("{row}\n")).collect()),
            Self::Template { template, table } => {
                let mut lines = Vec::new();
                if *table {
                    let titles: serde_json::Map<String, Json> = headers
                        .iter()
                        .map(|(field, title)| ((*field).to_string(), Json::from(*title)))
                        .collect();
                    lines.push(execute(template, &Json::Object(titles))?);
                }
                for row in rows {
                    lines.push(execute(template, row)?);
                }
                Ok(if *table {
                    aligned(&lines)
                } else {
                    lines.iter().map(|line| format!("{line}\n")).collect()
                })
            }
        }
    }
}

/// A template with Docker's functions; `\t` and `\n` written literally mean tab and newline,
/// as in Docker's `--format`.
pub fn parse(source: &str) -> Result<Template> {
    let source = source.replace("\\t", "\t").replace("\\n", "\n");
    Template::new("")
        .missing_key(MissingKey::Error)
        .func("json", json)
        .func("join", join)
        .func("split", split)
        .func("upper", |args| {
            map_string("upper", args, |s| s.to_uppercase())
        })
        .func("lower", |args| {
            map_string("lower", args, |s| s.to_lowercase())
        })
        .func("title", |args| map_string("title", args, title))
        .func("truncate", truncate)
        .func("pad", pad)
        .parse(&source)
        .map_err(|e| anyhow!("invalid --format template: {e}"))
}

/// A single-document `--format` (`version`, `events`): None for the default output,
/// `json` as `{{json .}}`, else a Go template.
pub fn parse_document_format(spec: Option<&str>) -> Result<Option<Template>> {
    match spec {
        None | Some("") => Ok(None),
        Some("json") => parse("{{json .}}").map(Some),
        Some(source) => parse(source).map(Some),
    }
}

/// Prints `inspect`'s documents: with `--format`, the template applied to each, one per
/// line; else one JSON array (the structs keep Docker's field order).
pub fn print_documents<T: serde::Serialize>(format: Option<&str>, documents: &[T]) -> Result<()> {
    match parse_document_format(format)? {
        Some(template) => {
            for document in documents {
                println!("{}", execute(&template, &serde_json::to_value(document)?)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(documents)?),
    }
    Ok(())
}

/// Renders `template` on one serialized object.
pub fn execute(template: &Template, data: &Json) -> Result<String> {
    let value = gotmpl::to_value(data).map_err(|e| anyhow!("cannot format: {e}"))?;
    template
        .execute_to_string(&value)
        .map_err(|e| anyhow!("template: {e}"))
}

/// Tab-separated lines aligned as Docker's tabwriter does (first line the header).
fn aligned(lines: &[String]) -> String {
    let mut rows: Vec<Vec<String>> = lines
        .iter()
        .flat_map(|l| l.split('\n'))
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let header = rows.remove(0);
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    format::table(&header, &rows)
}

fn arg_count(name: &str, args: &[Value], expected: usize) -> gotmpl::Result<()> {
    if args.len() == expected {
        return Ok(());
    }
    Err(gotmpl::TemplateError::ArgCount {
        name: name.to_string(),
        expected,
        got: args.len(),
    })
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_string(),
        other => other.to_string(),
    }
}

fn map_string(name: &str, args: &[Value], f: impl Fn(&str) -> String) -> gotmpl::Result<Value> {
    arg_count(name, args, 1)?;
    Ok(Value::String(f(&text(&args[0])).into()))
}

/// Go's deprecated `strings.Title`: the first letter of each word upper-cased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut word_start = true;
    for c in s.chars() {
        if word_start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        word_start = !c.is_alphanumeric();
    }
    out
}

/// `json`: the value as compact JSON, as Docker's (no HTML escaping).
fn json(args: &[Value]) -> gotmpl::Result<Value> {
    arg_count("json", args, 1)?;
    let as_json = to_json(&args[0]);
    Ok(Value::String(as_json.to_string().into()))
}

fn to_json(value: &Value) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Uint(u) => Json::from(*u),
        Value::Float(f) => Json::from(*f),
        Value::String(s) => Json::from(s.as_ref()),
        Value::List(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        ),
        other => Json::from(other.to_string()),
    }
}

/// `join LIST SEP`.
fn join(args: &[Value]) -> gotmpl::Result<Value> {
    arg_count("join", args, 2)?;
    let parts: Vec<String> = match &args[0] {
        Value::List(items) => items.iter().map(text).collect(),
        other => vec![text(other)],
    };
    Ok(Value::String(parts.join(&text(&args[1])).into()))
}

/// `split STRING SEP`.
fn split(args: &[Value]) -> gotmpl::Result<Value> {
    arg_count("split", args, 2)?;
    let (s, sep) = (text(&args[0]), text(&args[1]));
    Ok(Value::List(
        s.split(sep.as_str())
            .map(|p| Value::String(p.into()))
            .collect::<Vec<_>>()
            .into(),
    ))
}

/// `truncate STRING N`: at most N characters.
fn truncate(args: &[Value]) -> gotmpl::Result<Value> {
    arg_count("truncate", args, 2)?;
    let max = match &args[1] {
        Value::Int(n) => usize::try_from(*n).unwrap_or(0),
        Value::Uint(n) => usize::try_from(*n).unwrap_or(usize::MAX),
        _ => 0,
    };
    Ok(Value::String(
        text(&args[0]).chars().take(max).collect::<String>().into(),
    ))
}

/// `pad STRING PREFIX SUFFIX`: spaces around the string.
fn pad(args: &[Value]) -> gotmpl::Result<Value> {
    arg_count("pad", args, 3)?;
    let count = |v: &Value| match v {
        Value::Int(n) => usize::try_from(*n).unwrap_or(0),
        Value::Uint(n) => usize::try_from(*n).unwrap_or(0),
        _ => 0,
    };
    Ok(Value::String(
        format!(
            "{}{}{}",
            " ".repeat(count(&args[1])),
            text(&args[0]),
            " ".repeat(count(&args[2]))
        )
        .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(spec: &str, data: &Json) -> String {
        execute(&parse(spec).unwrap(), data).unwrap()
    }

    #[test]
    fn values_print_as_go_prints_them() {
        let data = json!({"Cmd": ["sleep", "100"], "Labels": {"a": "b"}, "Code": 2, "On": false});
        assert_eq!(render("{{.Cmd}}", &data), "[sleep 100]");
        assert_eq!(render("{{.Labels}}", &data), "map[a:b]");
        assert_eq!(render("code={{.Code}} {{.On}}", &data), "code=2 false");
        assert_eq!(render("{{index .Cmd 1}}", &data), "100");
        assert_eq!(
            render("{{range .Cmd}}<{{.}}>{{end}}", &data),
            "<sleep><100>"
        );
    }

    #[test]
    fn dockers_functions_work() {
        let data = json!({"Cmd": ["sleep", "100"], "Name": "web server"});
        assert_eq!(render("{{json .Cmd}}", &data), r#"["sleep","100"]"#);
        assert_eq!(render("{{join .Cmd \",\"}}", &data), "sleep,100");
        assert_eq!(render("{{upper .Name}}", &data), "WEB SERVER");
        assert_eq!(render("{{title .Name}}", &data), "Web Server");
        assert_eq!(render("{{lower \"AB\"}}", &data), "ab");
        assert_eq!(render("{{truncate .Name 3}}", &data), "web");
        assert_eq!(render("{{pad .Name 1 2}}", &data), " web server  ");
        assert_eq!(render("{{index (split .Name \" \") 1}}", &data), "server");
    }

    #[test]
    fn unknown_fields_and_bad_syntax_are_errors() {
        let data = json!({"Name": "x"});
        assert!(execute(&parse("{{.Nope}}").unwrap(), &data).is_err());
        assert!(parse("{{.Name").is_err());
        // An unknown function is found when the template runs, as Go's does for funcs
        // added after parsing.
        let unknown_func = parse("{{nosuchfunc .Name}}");
        assert!(unknown_func.is_err() || execute(&unknown_func.unwrap(), &data).is_err());
    }

    #[test]
    fn table_templates_get_a_header_and_aligned_columns() {
        let format = OutputFormat::parse(Some("table {{.Names}}\\t{{.Image}}")).unwrap();
        let rows = [json!({"Names": "fmt3", "Image": "busybox"})];
        let out = format
            .render(
                &rows,
                &[("Names", "NAMES"), ("Image", "IMAGE")],
                String::new,
            )
            .unwrap();
        assert_eq!(out, "NAMES     IMAGE\nfmt3      busybox\n");
    }

    #[test]
    fn plain_templates_print_one_line_per_row() {
        let format = OutputFormat::parse(Some("{{.Names}}")).unwrap();
        let rows = [json!({"Names": "a"}), json!({"Names": "b"})];
        assert_eq!(format.render(&rows, &[], String::new).unwrap(), "a\nb\n");
        assert!(matches!(
            OutputFormat::parse(None).unwrap(),
            OutputFormat::Table
        ));
        assert!(matches!(
            OutputFormat::parse(Some("json")).unwrap(),
            OutputFormat::Json
        ));
    }
}
