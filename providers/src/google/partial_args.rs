//! Gemini's streamed function-call arguments (`partialArgs`), as JSON text.
//!
//! With `streamFunctionCallArguments` (Gemini 3), a call's arguments come
//! as values addressed by JSON path (`$.recipe.ingredients[0].name`), in
//! document order; a string may be split over several pieces at the same
//! path, all but the last marked `willContinue`. [`ArgsWriter`] writes the
//! arguments object as the pieces arrive, so the text it returns, joined,
//! is the call's arguments, and a consumer can parse them while they grow.
//!
//! Writing as they come needs the pieces in document order: a path that
//! goes back into a container already closed, or that sets a value twice,
//! is an error rather than text that would not parse.

use std::collections::HashSet;

use serde_json::Value;

use super::google_wire::PartialArg;

/// How deep a path may go: as deep as `serde_json` parses, since deeper
/// arguments could not be read back.
const MAX_DEPTH: usize = 128;

/// One step of a JSON path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// An open object or array of the text written so far.
#[derive(Debug)]
struct Frame {
    /// The step that leads into it from its parent (none for the root).
    seg: Option<Seg>,
    array: bool,
    /// Members written so far.
    len: usize,
    /// An object's keys written so far.
    keys: HashSet<String>,
}

impl Frame {
    fn new(seg: Option<Seg>, array: bool) -> Self {
        Frame {
            seg,
            array,
            len: 0,
            keys: HashSet::new(),
        }
    }
}

/// Writes one call's arguments object from its `partialArgs`.
///
/// ```
/// use rivulet_providers::google::partial_args::ArgsWriter;
/// use rivulet_providers::google::google_wire::PartialArg;
///
/// let arg = |path: &str, s: &str, more: bool| PartialArg {
///     json_path: path.into(),
///     string_value: Some(s.into()),
///     will_continue: more.then_some(true),
///     ..Default::default()
/// };
/// let mut w = ArgsWriter::default();
/// let mut text = String::new();
/// text += &w.push(&arg("$.location", "San ", true)).unwrap();
/// text += &w.push(&arg("$.location", "Francisco", false)).unwrap();
/// text += &w.push(&arg("$.days[0]", "mon", false)).unwrap();
/// text += &w.finish();
/// assert_eq!(text, r#"{"location":"San Francisco","days":["mon"]}"#);
/// ```
#[derive(Debug, Default)]
pub struct ArgsWriter {
    /// The open containers, the root object first; empty before the first
    /// value.
    stack: Vec<Frame>,
    /// The path of a string whose closing quote is not written yet.
    open_string: Option<Vec<Seg>>,
}

impl ArgsWriter {
    /// The JSON text that `arg` adds. An error (the reason) when its path
    /// does not parse, goes deeper than 128, or does not fit what was
    /// written: a container already closed, a value set twice, an index
    /// out of order, a key where an index goes or the other way round.
    pub fn push(&mut self, arg: &PartialArg) -> Result<String, String> {
        let path = parse_path(&arg.json_path)?;
        let mut out = String::new();
        if let Some(open) = self.open_string.take() {
            if open == path {
                if let Some(s) = &arg.string_value {
                    push_escaped(&mut out, s);
                    if arg.will_continue == Some(true) {
                        self.open_string = Some(open);
                    } else {
                        out.push('"');
                    }
                    return Ok(out);
                }
            }
            out.push('"');
        }
        let value = if let Some(s) = &arg.string_value {
            let mut text = String::from('"');
            push_escaped(&mut text, s);
            if arg.will_continue == Some(true) {
                self.open_string = Some(path.clone());
            } else {
                text.push('"');
            }
            text
        } else if let Some(n) = &arg.number_value {
            n.to_string()
        } else if let Some(b) = arg.bool_value {
            b.to_string()
        } else if arg.null_value.is_some() {
            "null".to_string()
        } else {
            // A piece with no value says nothing yet.
            return Ok(out);
        };
        let Some((leaf, containers)) = path.split_last() else {
            return Err(format!(
                "partialArgs path {:?} names no member",
                arg.json_path
            ));
        };
        if self.stack.is_empty() {
            out.push('{');
            self.stack.push(Frame::new(None, false));
        }
        // Keep the open containers the path goes through, close the rest.
        let common = containers
            .iter()
            .zip(self.stack.iter().skip(1))
            .take_while(|(seg, frame)| frame.seg.as_ref() == Some(*seg))
            .count();
        while self.stack.len() > common + 1 {
            if let Some(frame) = self.stack.pop() {
                out.push(if frame.array { ']' } else { '}' });
            }
        }
        for (i, seg) in containers.iter().enumerate().skip(common) {
            let next = containers.get(i + 1).unwrap_or(leaf);
            let array = matches!(next, Seg::Index(_));
            self.enter(seg, &arg.json_path, &mut out)?;
            out.push(if array { '[' } else { '{' });
            self.stack.push(Frame::new(Some(seg.clone()), array));
        }
        self.enter(leaf, &arg.json_path, &mut out)?;
        out.push_str(&value);
        Ok(out)
    }

    /// The text that ends the arguments: the open string's quote and the
    /// open containers' brackets, or `{}` when no value came.
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        if self.open_string.take().is_some() {
            out.push('"');
        }
        if self.stack.is_empty() {
            return "{}".to_string();
        }
        while let Some(frame) = self.stack.pop() {
            out.push(if frame.array { ']' } else { '}' });
        }
        out
    }

    /// Writes the separator and key for a new member `seg` of the innermost
    /// open container.
    fn enter(&mut self, seg: &Seg, path: &str, out: &mut String) -> Result<(), String> {
        let Some(top) = self.stack.last_mut() else {
            return Err(format!("partialArgs path {path:?} has no container"));
        };
        match (seg, top.array) {
            (Seg::Index(i), true) if *i == top.len => {}
            (Seg::Key(k), false) if !top.keys.contains(k) => {
                top.keys.insert(k.clone());
            }
            _ => {
                return Err(format!(
                    "partialArgs path {path:?} does not continue the arguments in order"
                ))
            }
        }
        if top.len > 0 {
            out.push(',');
        }
        top.len += 1;
        if let Seg::Key(k) = seg {
            out.push_str(&Value::String(k.clone()).to_string());
            out.push(':');
        }
        Ok(())
    }
}

/// Appends `s` as the inside of a JSON string.
fn push_escaped(out: &mut String, s: &str) {
    let quoted = Value::String(s.to_string()).to_string();
    out.push_str(&quoted[1..quoted.len() - 1]);
}

/// `$.a.b[2]['c.d']` as steps. Only what Gemini sends: `$` then
/// `.name`, `[index]` and `['name']` / `["name"]` steps.
fn parse_path(path: &str) -> Result<Vec<Seg>, String> {
    let bad = || format!("partialArgs path {path:?} is not a JSON path");
    let rest = path.strip_prefix('$').ok_or_else(bad)?;
    let mut segs = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut name = String::new();
                while let Some(&c) = chars.peek() {
                    if c == '.' || c == '[' {
                        break;
                    }
                    name.push(c);
                    chars.next();
                }
                if name.is_empty() || name.contains([']', '\'', '"']) {
                    return Err(bad());
                }
                segs.push(Seg::Key(name));
            }
            '[' => match chars.next() {
                Some(q @ ('\'' | '"')) => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('\\') => name.push(chars.next().ok_or_else(bad)?),
                            Some(c) if c == q => break,
                            Some(c) => name.push(c),
                            None => return Err(bad()),
                        }
                    }
                    if chars.next() != Some(']') {
                        return Err(bad());
                    }
                    segs.push(Seg::Key(name));
                }
                Some(d) if d.is_ascii_digit() => {
                    let mut digits = String::from(d);
                    loop {
                        match chars.next() {
                            Some(']') => break,
                            Some(c) if c.is_ascii_digit() => digits.push(c),
                            _ => return Err(bad()),
                        }
                    }
                    segs.push(Seg::Index(digits.parse().map_err(|_| bad())?));
                }
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        }
        if segs.len() > MAX_DEPTH {
            return Err(format!(
                "partialArgs path {path:?} is nested deeper than {MAX_DEPTH}"
            ));
        }
    }
    Ok(segs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(path: &str, v: &str, more: bool) -> PartialArg {
        PartialArg {
            json_path: path.into(),
            string_value: Some(v.into()),
            will_continue: more.then_some(true),
            ..Default::default()
        }
    }

    fn write(args: &[PartialArg]) -> Result<String, String> {
        let mut w = ArgsWriter::default();
        let mut text = String::new();
        for a in args {
            text += &w.push(a)?;
        }
        text += &w.finish();
        Ok(text)
    }

    #[test]
    fn nested_objects_and_arrays_in_order() {
        let n = |path: &str, v: serde_json::Number| PartialArg {
            json_path: path.into(),
            number_value: Some(v),
            ..Default::default()
        };
        let text = write(&[
            s("$.recipe.ingredients[0].amount", "16 oz", true),
            s("$.recipe.ingredients[0].amount", "", false),
            s("$.recipe.ingredients[0].name", "Noodles", false),
            s("$.recipe.ingredients[1].amount", "1 lb", false),
            s("$.recipe.name", "Lasagna", false),
            s("$.recipe.steps[0]", "Preheat to 375°F", true),
            s("$.recipe.steps[0]", " \"now\"", false),
            n("$.price", serde_json::Number::from_f64(0.5).unwrap()),
            PartialArg {
                json_path: "$.ok".into(),
                bool_value: Some(true),
                ..Default::default()
            },
            PartialArg {
                json_path: "$['odd.key']".into(),
                null_value: Some(Value::String("NULL_VALUE".into())),
                ..Default::default()
            },
        ])
        .unwrap();
        assert_eq!(
            text,
            r#"{"recipe":{"ingredients":[{"amount":"16 oz","name":"Noodles"},{"amount":"1 lb"}],"name":"Lasagna","steps":["Preheat to 375°F \"now\""]},"price":0.5,"ok":true,"odd.key":null}"#
        );
        serde_json::from_str::<Value>(&text).unwrap();
    }

    #[test]
    fn a_string_left_open_is_closed_at_the_end() {
        assert_eq!(write(&[s("$.a", "x", true)]).unwrap(), r#"{"a":"x"}"#);
        assert_eq!(write(&[]).unwrap(), "{}");
    }

    #[test]
    fn out_of_order_pieces_are_errors() {
        // Back into a closed array element.
        assert!(write(&[
            s("$.a[0].x", "1", false),
            s("$.a[1].x", "2", false),
            s("$.a[0].y", "3", false),
        ])
        .is_err());
        // A value set twice, an index skipped, a key in an array, a root index.
        assert!(write(&[s("$.a", "1", false), s("$.a", "2", false)]).is_err());
        assert!(write(&[s("$.a[1]", "1", false)]).is_err());
        assert!(write(&[s("$.a[0]", "1", false), s("$.a.b", "2", false)]).is_err());
        assert!(write(&[s("$[0]", "1", false)]).is_err());
    }

    #[test]
    fn bad_paths_are_errors() {
        for p in ["", "$", "a.b", "$.", "$..a", "$[x]", "$['a'", "$[1", "$.a]"] {
            assert!(write(&[s(p, "v", false)]).is_err(), "{p:?}");
        }
        let deep = format!("${}", ".a".repeat(MAX_DEPTH + 1));
        assert!(write(&[s(&deep, "v", false)]).is_err());
        let ok = format!("${}", ".a".repeat(MAX_DEPTH));
        assert!(write(&[s(&ok, "v", false)]).is_ok());
    }
}
