//! An incremental (push) parser for JSON that arrives in pieces.
//!
//! Tool-call arguments and structured outputs stream as text deltas. A
//! [`PartialJson`] is fed each delta once ([`PartialJson::feed`]) and keeps
//! its state between deltas: a stack of the containers still open, the token
//! being read (a string, a number, a literal) and the values completed so
//! far. Nothing is ever re-parsed, so feeding a document costs time linear in
//! its length however it is cut: a number torn mid-digit, an escape or a
//! `\u` surrogate pair torn across deltas simply continue in the next one.
//!
//! At any moment [`PartialJson::snapshot`] gives the value so far, with
//! open strings, arrays and objects closed:
//! - a string being read shows the characters decoded so far (an escape
//!   still incomplete is left out until it is whole);
//! - a number or a literal (`true`, `false`, `null`) appears only once it is
//!   complete, so a torn `12` never shows as `1`;
//! - an object key appears once its value has started.
//!
//! So successive snapshots only grow: a key, an element or a complete
//! value, once shown, stays, and a partial string only gets longer.
//! [`PartialJson::finish`] gives the final value, or the error for
//! a document that is incomplete or invalid. The accepted grammar is
//! `serde_json`'s (RFC 8259: no trailing commas, no lone surrogates, no
//! control characters in strings), and the final value equals what
//! `serde_json::from_str::<Value>` returns for the whole text.
//!
//! Nesting is bounded as serde_json bounds it: at most
//! [`PartialJson::MAX_DEPTH`] (127) arrays and objects inside each other.
//! A deeper document is an error of kind
//! [`TooDeep`](PartialJsonErrorKind::TooDeep) at the first bracket too many,
//! never a stack overflow: every value the parser builds is at most that
//! deep, so cloning, comparing, serializing or dropping it recurses at most
//! that far.
//!
//! ```
//! use rivulet_core::PartialJson;
//! use serde_json::json;
//!
//! let mut p = PartialJson::new();
//! p.feed(r#"{"title": "The Hob"#).unwrap();
//! assert_eq!(p.snapshot(), Some(json!({"title": "The Hob"})));
//! p.feed(r#"bit", "year": 19"#).unwrap();
//! // The number is not complete yet: it is not shown.
//! assert_eq!(p.snapshot(), Some(json!({"title": "The Hobbit"})));
//! p.feed("37, \"tags\": [\"fant").unwrap();
//! assert_eq!(
//!     p.snapshot(),
//!     Some(json!({"title": "The Hobbit", "year": 1937, "tags": ["fant"]}))
//! );
//! p.feed("asy\"]}").unwrap();
//! assert_eq!(
//!     p.finish().unwrap(),
//!     json!({"title": "The Hobbit", "year": 1937, "tags": ["fantasy"]})
//! );
//! assert!(PartialJson::new().feed("{\"a\" 1}").is_err());
//! ```

use std::fmt;

use serde_json::{Map, Value};

/// What kind of error a [`PartialJsonError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartialJsonErrorKind {
    /// The text is not JSON.
    Syntax,
    /// The text is the start of a JSON document but not a whole one (only
    /// from [`PartialJson::finish`]: more text could still complete it).
    Eof,
    /// Arrays and objects nested deeper than [`PartialJson::MAX_DEPTH`].
    TooDeep,
}

/// Why a document is not valid JSON (or not complete, from
/// [`PartialJson::finish`]), and the byte offset where that became certain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialJsonError {
    kind: PartialJsonErrorKind,
    message: String,
    offset: usize,
}

impl PartialJsonError {
    fn new(message: impl Into<String>, offset: usize) -> Self {
        PartialJsonError {
            kind: PartialJsonErrorKind::Syntax,
            message: message.into(),
            offset,
        }
    }

    fn eof(message: &str, offset: usize) -> Self {
        PartialJsonError {
            kind: PartialJsonErrorKind::Eof,
            ..PartialJsonError::new(message, offset)
        }
    }

    fn too_deep(offset: usize) -> Self {
        PartialJsonError {
            kind: PartialJsonErrorKind::TooDeep,
            ..PartialJsonError::new(
                format!(
                    "nested too deeply: more than {} arrays and objects inside each other",
                    PartialJson::MAX_DEPTH
                ),
                offset,
            )
        }
    }

    /// Invalid, incomplete or too deep.
    pub fn kind(&self) -> PartialJsonErrorKind {
        self.kind
    }

    /// What is wrong (`"expected value"`, `"EOF while parsing an object"`, …).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Byte offset in the whole text fed so far.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for PartialJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for PartialJsonError {}

/// What the structural parser expects next (outside any token).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// A value: the root, an object's value, an array element after `,`.
    Value,
    /// After `[`: an element or `]`.
    ValueOrClose,
    /// After `{`: a key or `}`.
    KeyOrClose,
    /// After `,` in an object: a key.
    Key,
    /// After a key.
    Colon,
    /// After a value inside a container.
    CommaOrClose,
    /// After the root value: only whitespace.
    Done,
}

/// Where a string token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Str {
    Normal,
    /// After `\`.
    Escape,
    /// In `\uXXXX`: `n` digits read so far.
    Hex {
        n: u8,
        cp: u32,
    },
    /// After a high surrogate: expecting `\` of the low one.
    LowBackslash {
        high: u32,
    },
    /// Expecting `u` of the low surrogate.
    LowU {
        high: u32,
    },
    /// In the low surrogate's digits.
    LowHex {
        high: u32,
        n: u8,
        cp: u32,
    },
}

/// Where a number token is (RFC 8259's number grammar).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    E,
    ESign,
    Exp,
}

impl Num {
    fn terminal(self) -> bool {
        matches!(self, Num::Zero | Num::Int | Num::Frac | Num::Exp)
    }
}

/// The token being read, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    None,
    Str { key: bool, st: Str },
    Num(Num),
    Lit { word: &'static [u8], at: u8 },
}

/// An open container.
#[derive(Clone, Debug)]
enum Frame {
    Object {
        map: Map<String, Value>,
        /// The key whose value is being read.
        key: Option<String>,
    },
    Array(Vec<Value>),
}

/// An incremental JSON parser. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct PartialJson {
    stack: Vec<Frame>,
    expect: Expect,
    token: Token,
    /// The current token's text: a string's decoded characters, a number's
    /// digits.
    buf: String,
    root: Option<Value>,
    /// Bytes fed before the current delta.
    offset: usize,
    error: Option<PartialJsonError>,
    /// Bumped whenever the snapshot changes.
    version: u64,
}

impl Default for PartialJson {
    fn default() -> Self {
        PartialJson::new()
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn hex(b: u8) -> Option<u32> {
    (b as char).to_digit(16)
}

impl PartialJson {
    /// The most arrays and objects that may be open inside each other.
    ///
    /// The same bound as `serde_json`'s (its recursion limit of 128 admits
    /// 127 nested containers), so both accept the same documents. A deeper
    /// document fails at its first bracket too many with an error of kind
    /// [`PartialJsonErrorKind::TooDeep`]: a value this deep is still safe to
    /// clone, compare, serialize and drop (all recursive) on any thread's
    /// stack, where thousands of levels would overflow it.
    ///
    /// ```
    /// use rivulet_core::{PartialJson, PartialJsonErrorKind};
    ///
    /// let ok = "[".repeat(PartialJson::MAX_DEPTH) + &"]".repeat(PartialJson::MAX_DEPTH);
    /// assert!(PartialJson::new().feed(&ok).is_ok());
    /// let e = PartialJson::new().feed(&"[".repeat(20_000)).unwrap_err();
    /// assert_eq!(e.kind(), PartialJsonErrorKind::TooDeep);
    /// assert_eq!(e.offset(), PartialJson::MAX_DEPTH); // the first `[` too many
    /// ```
    pub const MAX_DEPTH: usize = 127;

    /// A parser waiting for the first byte.
    pub fn new() -> Self {
        PartialJson {
            stack: Vec::new(),
            expect: Expect::Value,
            token: Token::None,
            buf: String::new(),
            root: None,
            offset: 0,
            error: None,
            version: 0,
        }
    }

    /// Parses one more piece of the document. Returns the error once the
    /// text can no longer be the start of a JSON document; from then on
    /// every call returns that error.
    pub fn feed(&mut self, text: &str) -> Result<(), PartialJsonError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let result = self.run(text);
        self.offset += text.len();
        if let Err(e) = &result {
            self.error = Some(e.clone());
        }
        result
    }

    /// Bytes fed so far.
    pub fn len(&self) -> usize {
        self.offset
    }

    /// Whether nothing has been fed yet.
    pub fn is_empty(&self) -> bool {
        self.offset == 0
    }

    /// The error, once the text fed is known not to be JSON.
    pub fn error(&self) -> Option<&PartialJsonError> {
        self.error.as_ref()
    }

    /// Whether a whole value has been read (only whitespace may follow).
    pub fn is_complete(&self) -> bool {
        self.root.is_some() && self.error.is_none()
    }

    /// A counter that changes whenever [`PartialJson::snapshot`] would give a
    /// different value: cheap change detection without building snapshots.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The value so far with open strings, arrays and objects closed;
    /// `None` before any value has become visible (nothing fed, only
    /// whitespace, or a top-level number still being read).
    ///
    /// It costs a copy of the value so far; the parsing itself is never
    /// repeated.
    pub fn snapshot(&self) -> Option<Value> {
        if let Some(root) = &self.root {
            return Some(root.clone());
        }
        let mut child = match self.token {
            Token::Str { key: false, .. } => Some(Value::String(self.buf.clone())),
            _ => None,
        };
        for frame in self.stack.iter().rev() {
            let v = match frame {
                Frame::Object { map, key } => {
                    let mut m = map.clone();
                    if let (Some(k), Some(c)) = (key, child) {
                        m.insert(k.clone(), c);
                    }
                    Value::Object(m)
                }
                Frame::Array(items) => {
                    let mut v = Vec::with_capacity(items.len() + 1);
                    v.extend(items.iter().cloned());
                    if let Some(c) = child {
                        v.push(c);
                    }
                    Value::Array(v)
                }
            };
            child = Some(v);
        }
        child
    }

    /// The whole document's value: an error if the text is invalid or
    /// incomplete. The parser is left as it is (more may still be fed, and
    /// a later `finish` may then succeed).
    pub fn finish(&self) -> Result<Value, PartialJsonError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let at = self.offset;
        if let Some(root) = &self.root {
            return Ok(root.clone());
        }
        match self.token {
            // A top-level number ends with the text.
            Token::Num(n) if self.stack.is_empty() && n.terminal() => number(&self.buf, at),
            Token::Str { .. } => Err(PartialJsonError::eof("EOF while parsing a string", at)),
            _ => match self.stack.last() {
                Some(Frame::Object { .. }) => {
                    Err(PartialJsonError::eof("EOF while parsing an object", at))
                }
                Some(Frame::Array(_)) => Err(PartialJsonError::eof("EOF while parsing a list", at)),
                None => Err(PartialJsonError::eof("EOF while parsing a value", at)),
            },
        }
    }

    /// [`PartialJson::finish`], consuming the parser (no copy of the value).
    pub fn into_value(mut self) -> Result<Value, PartialJsonError> {
        match (self.error.is_none(), self.root.take()) {
            (true, Some(root)) => Ok(root),
            (_, root) => {
                self.root = root;
                self.finish()
            }
        }
    }

    fn run(&mut self, text: &str) -> Result<(), PartialJsonError> {
        let bytes = text.as_bytes();
        let base = self.offset;
        let mut i = 0;
        while i < bytes.len() {
            match self.token {
                Token::Str {
                    key,
                    st: Str::Normal,
                } => {
                    // Fast path: copy the run up to a quote, a backslash or
                    // a control character in one go (all ASCII, so the run
                    // ends on a char boundary).
                    let start = i;
                    while i < bytes.len() {
                        let b = bytes[i];
                        if b == b'"' || b == b'\\' || b < 0x20 {
                            break;
                        }
                        i += 1;
                    }
                    if i > start {
                        self.buf.push_str(&text[start..i]);
                        if !key {
                            self.version += 1;
                        }
                    }
                    if i == bytes.len() {
                        break;
                    }
                    match bytes[i] {
                        b'"' => self.end_string(key),
                        b'\\' => {
                            self.token = Token::Str {
                                key,
                                st: Str::Escape,
                            }
                        }
                        _ => {
                            return Err(PartialJsonError::new(
                                "control character (\\u0000-\\u001F) found while parsing a string",
                                base + i,
                            ))
                        }
                    }
                    i += 1;
                }
                Token::Str { key, st } => {
                    self.string_escape(key, st, bytes[i], base + i)?;
                    i += 1;
                }
                Token::Num(n) => {
                    if self.number_byte(n, bytes[i], base + i)? {
                        i += 1;
                    }
                }
                Token::Lit { word, at } => {
                    let b = bytes[i];
                    if word[at as usize] != b {
                        return Err(PartialJsonError::new("expected ident", base + i));
                    }
                    let at = at + 1;
                    if at as usize == word.len() {
                        self.token = Token::None;
                        let v = match word[0] {
                            b't' => Value::Bool(true),
                            b'f' => Value::Bool(false),
                            _ => Value::Null,
                        };
                        self.version += 1;
                        self.complete(v);
                    } else {
                        self.token = Token::Lit { word, at };
                    }
                    i += 1;
                }
                Token::None => {
                    let b = bytes[i];
                    if is_ws(b) {
                        i += 1;
                        continue;
                    }
                    self.structural(b, base + i)?;
                    i += 1;
                }
            }
        }
        Ok(())
    }

    /// One byte outside any token.
    fn structural(&mut self, b: u8, at: usize) -> Result<(), PartialJsonError> {
        let err = |m: &str| Err(PartialJsonError::new(m, at));
        match self.expect {
            Expect::Value | Expect::ValueOrClose => match b {
                b']' if self.expect == Expect::ValueOrClose => self.close(),
                b']' if matches!(self.stack.last(), Some(Frame::Array(_))) => {
                    return err("trailing comma")
                }
                _ => self.start_value(b, at)?,
            },
            Expect::KeyOrClose | Expect::Key => match b {
                b'"' => {
                    self.buf.clear();
                    self.token = Token::Str {
                        key: true,
                        st: Str::Normal,
                    };
                }
                b'}' if self.expect == Expect::KeyOrClose => self.close(),
                b'}' => return err("trailing comma"),
                _ => return err("key must be a string"),
            },
            Expect::Colon => match b {
                b':' => self.expect = Expect::Value,
                _ => return err("expected `:`"),
            },
            Expect::CommaOrClose => match (b, self.stack.last()) {
                (b',', Some(Frame::Object { .. })) => self.expect = Expect::Key,
                (b',', Some(Frame::Array(_))) => self.expect = Expect::Value,
                (b'}', Some(Frame::Object { .. })) | (b']', Some(Frame::Array(_))) => self.close(),
                (_, Some(Frame::Object { .. })) => return err("expected `,` or `}`"),
                _ => return err("expected `,` or `]`"),
            },
            Expect::Done => return err("trailing characters"),
        }
        Ok(())
    }

    fn start_value(&mut self, b: u8, at: usize) -> Result<(), PartialJsonError> {
        if matches!(b, b'{' | b'[') && self.stack.len() >= Self::MAX_DEPTH {
            return Err(PartialJsonError::too_deep(at));
        }
        match b {
            b'{' => {
                self.stack.push(Frame::Object {
                    map: Map::new(),
                    key: None,
                });
                self.expect = Expect::KeyOrClose;
                self.version += 1;
            }
            b'[' => {
                self.stack.push(Frame::Array(Vec::new()));
                self.expect = Expect::ValueOrClose;
                self.version += 1;
            }
            b'"' => {
                self.buf.clear();
                self.token = Token::Str {
                    key: false,
                    st: Str::Normal,
                };
                // An empty string is visible at once.
                self.version += 1;
            }
            b'-' | b'0'..=b'9' => {
                self.buf.clear();
                self.buf.push(b as char);
                self.token = Token::Num(match b {
                    b'-' => Num::Minus,
                    b'0' => Num::Zero,
                    _ => Num::Int,
                });
            }
            b't' => {
                self.token = Token::Lit {
                    word: b"true",
                    at: 1,
                }
            }
            b'f' => {
                self.token = Token::Lit {
                    word: b"false",
                    at: 1,
                }
            }
            b'n' => {
                self.token = Token::Lit {
                    word: b"null",
                    at: 1,
                }
            }
            _ => return Err(PartialJsonError::new("expected value", at)),
        }
        Ok(())
    }

    /// A completed value goes into its container (or becomes the root).
    fn complete(&mut self, v: Value) {
        match self.stack.last_mut() {
            None => {
                self.root = Some(v);
                self.expect = Expect::Done;
            }
            Some(Frame::Object { map, key }) => {
                map.insert(key.take().unwrap_or_default(), v);
                self.expect = Expect::CommaOrClose;
            }
            Some(Frame::Array(items)) => {
                items.push(v);
                self.expect = Expect::CommaOrClose;
            }
        }
    }

    fn close(&mut self) {
        // Callers check the top frame first.
        let v = match self.stack.pop() {
            Some(Frame::Object { map, .. }) => Value::Object(map),
            Some(Frame::Array(items)) => Value::Array(items),
            None => return,
        };
        // The snapshot already showed the container closed: no change.
        self.complete(v);
    }

    fn end_string(&mut self, key: bool) {
        self.token = Token::None;
        let s = std::mem::take(&mut self.buf);
        if key {
            if let Some(Frame::Object { key, .. }) = self.stack.last_mut() {
                *key = Some(s);
            }
            self.expect = Expect::Colon;
        } else {
            self.complete(Value::String(s));
        }
    }

    fn push_char(&mut self, key: bool, c: char) {
        self.buf.push(c);
        if !key {
            self.version += 1;
        }
    }

    fn string_escape(
        &mut self,
        key: bool,
        st: Str,
        b: u8,
        at: usize,
    ) -> Result<(), PartialJsonError> {
        let next = match st {
            Str::Normal => unreachable!("handled by the fast path"),
            Str::Escape => {
                let c = match b {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    b'u' => {
                        self.token = Token::Str {
                            key,
                            st: Str::Hex { n: 0, cp: 0 },
                        };
                        return Ok(());
                    }
                    _ => return Err(PartialJsonError::new("invalid escape", at)),
                };
                self.push_char(key, c);
                Str::Normal
            }
            Str::Hex { n, cp } => {
                let d = hex(b).ok_or_else(|| PartialJsonError::new("invalid escape", at))?;
                let cp = cp * 16 + d;
                if n + 1 < 4 {
                    Str::Hex { n: n + 1, cp }
                } else if (0xD800..0xDC00).contains(&cp) {
                    Str::LowBackslash { high: cp }
                } else if (0xDC00..0xE000).contains(&cp) {
                    return Err(PartialJsonError::new(
                        "lone leading surrogate in hex escape",
                        at,
                    ));
                } else {
                    // Not a surrogate: always a valid char.
                    self.push_char(key, char::from_u32(cp).unwrap_or('\u{fffd}'));
                    Str::Normal
                }
            }
            Str::LowBackslash { high } => match b {
                b'\\' => Str::LowU { high },
                _ => return Err(PartialJsonError::new("unexpected end of hex escape", at)),
            },
            Str::LowU { high } => match b {
                b'u' => Str::LowHex { high, n: 0, cp: 0 },
                _ => return Err(PartialJsonError::new("unexpected end of hex escape", at)),
            },
            Str::LowHex { high, n, cp } => {
                let d = hex(b).ok_or_else(|| PartialJsonError::new("invalid escape", at))?;
                let cp = cp * 16 + d;
                if n + 1 < 4 {
                    Str::LowHex { high, n: n + 1, cp }
                } else if (0xDC00..0xE000).contains(&cp) {
                    let c = 0x10000 + ((high - 0xD800) << 10) + (cp - 0xDC00);
                    self.push_char(key, char::from_u32(c).unwrap_or('\u{fffd}'));
                    Str::Normal
                } else {
                    return Err(PartialJsonError::new(
                        "lone leading surrogate in hex escape",
                        at,
                    ));
                }
            }
        };
        self.token = Token::Str { key, st: next };
        Ok(())
    }

    /// One byte in a number. Returns whether it was consumed: a byte that
    /// ends the number is left for the structural parser.
    fn number_byte(&mut self, n: Num, b: u8, at: usize) -> Result<bool, PartialJsonError> {
        let digit = b.is_ascii_digit();
        let next = match (n, b) {
            (Num::Minus, b'0') => Some(Num::Zero),
            (Num::Minus, _) if digit => Some(Num::Int),
            (Num::Zero | Num::Int, b'.') => Some(Num::Dot),
            (Num::Zero | Num::Int | Num::Frac, b'e' | b'E') => Some(Num::E),
            (Num::Int, _) if digit => Some(Num::Int),
            (Num::Dot | Num::Frac, _) if digit => Some(Num::Frac),
            (Num::E, b'+' | b'-') => Some(Num::ESign),
            (Num::E | Num::ESign | Num::Exp, _) if digit => Some(Num::Exp),
            _ => None,
        };
        if let Some(next) = next {
            self.buf.push(b as char);
            self.token = Token::Num(next);
            return Ok(true);
        }
        if !n.terminal() || (n == Num::Zero && digit) {
            return Err(PartialJsonError::new("invalid number", at));
        }
        let v = number(&self.buf, at)?;
        self.token = Token::None;
        self.version += 1;
        self.complete(v);
        Ok(false)
    }
}

/// A complete number's text as serde_json reads it (integers as `u64`/`i64`
/// when they fit, else `f64`).
fn number(text: &str, at: usize) -> Result<Value, PartialJsonError> {
    serde_json::from_str::<Value>(text).map_err(|e| {
        let m = e.to_string();
        let m = m.split(" at line ").next().unwrap_or(&m).to_string();
        PartialJsonError::new(m, at)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str) -> Result<Value, PartialJsonError> {
        let mut p = PartialJson::new();
        p.feed(s)?;
        p.finish()
    }

    #[test]
    fn whole_documents() {
        assert_eq!(parse("{}").unwrap(), json!({}));
        assert_eq!(
            parse(" [1, -2.5e3, true, null] ").unwrap(),
            json!([1, -2500.0, true, null])
        );
        assert_eq!(parse("42").unwrap(), json!(42));
        assert_eq!(parse(r#""\ud83d\ude00\n""#).unwrap(), json!("😀\n"));
    }

    #[test]
    fn errors_are_reported_not_panics() {
        for bad in [
            "{,}",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "-",
            "1.",
            "tru ",
            "\"\\x\"",
            "[1 2]",
            "{1:2}",
            "\"\\ude00\"",
            "1 2",
            "]",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let mut p = PartialJson::new();
        assert!(p.feed("[1,").is_ok());
        let e = p.feed("]").unwrap_err();
        assert_eq!(e.message(), "trailing comma");
        assert_eq!(e.offset(), 3);
        // Sticky.
        assert_eq!(p.feed("1]").unwrap_err(), e);
    }

    /// `n` arrays inside each other, closed when `close`.
    fn nested(n: usize, close: bool) -> String {
        let mut s = "[".repeat(n);
        if close {
            s.push_str(&"]".repeat(n));
        }
        s
    }

    /// `{"a":{"a":…{}…}}`: `n` objects inside each other.
    fn nested_objects(n: usize) -> String {
        "{\"a\":".repeat(n - 1) + "{}" + &"}".repeat(n - 1)
    }

    /// Feeds `text` in pieces of `size` bytes (all ASCII here).
    fn feed_in(text: &str, size: usize) -> (PartialJson, Result<(), PartialJsonError>) {
        let mut p = PartialJson::new();
        for piece in text.as_bytes().chunks(size) {
            if let Err(e) = p.feed(std::str::from_utf8(piece).unwrap()) {
                return (p, Err(e));
            }
        }
        (p, Ok(()))
    }

    /// How deeply arrays and objects nest in `v`, counted without recursion.
    fn depth(v: &Value) -> usize {
        let mut deepest = 0;
        let mut todo = vec![(v, 0)];
        while let Some((v, d)) = todo.pop() {
            let children: Vec<&Value> = match v {
                Value::Array(items) => items.iter().collect(),
                Value::Object(map) => map.values().collect(),
                _ => continue,
            };
            deepest = deepest.max(d + 1);
            todo.extend(children.into_iter().map(|c| (c, d + 1)));
        }
        deepest
    }

    #[test]
    fn nesting_is_bounded_exactly_where_serde_json_bounds_it() {
        let max = PartialJson::MAX_DEPTH;
        for doc in [nested(max, true), nested_objects(max)] {
            let ours = parse(&doc).unwrap();
            assert_eq!(ours, serde_json::from_str::<Value>(&doc).unwrap());
            assert_eq!(depth(&ours), max);
        }
        for doc in [nested(max + 1, true), nested_objects(max + 1)] {
            let e = parse(&doc).unwrap_err();
            assert_eq!(e.kind(), PartialJsonErrorKind::TooDeep);
            assert_eq!(
                e.message(),
                "nested too deeply: more than 127 arrays and objects inside each other"
            );
            let serde = serde_json::from_str::<Value>(&doc).unwrap_err();
            assert_eq!(
                serde.to_string(),
                format!(
                    "recursion limit exceeded at line 1 column {}",
                    e.offset() + 1
                )
            );
        }
        // The bracket too many is the 128th open one, wherever it is.
        assert_eq!(parse(&nested(max + 1, true)).unwrap_err().offset(), 127);
        // An object, an array and arrays inside: `max` levels, then one more.
        let mixed = format!("{{\"k\": [1, {}, \"x\"]}}", nested(max - 2, true));
        assert_eq!(
            parse(&mixed).unwrap(),
            serde_json::from_str::<Value>(&mixed).unwrap()
        );
        let mixed = format!("{{\"k\": [1, {}, \"x\"]}}", nested(max - 1, true));
        assert_eq!(
            parse(&mixed).unwrap_err().kind(),
            PartialJsonErrorKind::TooDeep
        );
        assert!(serde_json::from_str::<Value>(&mixed).is_err());
        // Depth is the containers open at once, not how many there are.
        let wide = format!("[{}]", vec![nested(max - 1, true); 1000].join(","));
        assert_eq!(parse(&wide).unwrap().as_array().unwrap().len(), 1000);
    }

    #[test]
    fn thousands_of_levels_are_an_error_not_a_stack_overflow() {
        // A thread with a small stack: a recursion over 20,000 levels
        // (a snapshot's clone, a comparison, a drop) would overflow it,
        // one over 127 levels does not.
        std::thread::Builder::new()
            .stack_size(512 << 10)
            .spawn(|| {
                for n in [20_000, 100_000] {
                    for close in [false, true] {
                        let doc = nested(n, close);
                        for size in [doc.len(), 1, 7, 4096] {
                            let (mut p, fed) = feed_in(&doc, size);
                            let e = fed.unwrap_err();
                            assert_eq!(e.kind(), PartialJsonErrorKind::TooDeep, "{n} by {size}");
                            assert_eq!(e.offset(), PartialJson::MAX_DEPTH);
                            // Sticky, and the value so far stops changing.
                            let version = p.version();
                            assert_eq!(p.feed("]").unwrap_err(), e);
                            assert_eq!(p.version(), version);
                            assert_eq!(p.finish().unwrap_err(), e);
                            let snap = p.snapshot().unwrap();
                            assert_eq!(depth(&snap), PartialJson::MAX_DEPTH);
                            assert_eq!(snap.clone(), snap);
                            assert_eq!(snap.to_string(), nested(PartialJson::MAX_DEPTH, true));
                            assert_eq!(p.clone().into_value().unwrap_err(), e);
                        }
                    }
                }
                let deep_objects = "{\"a\":".repeat(20_000);
                let (p, fed) = feed_in(&deep_objects, 3);
                assert_eq!(fed.unwrap_err().kind(), PartialJsonErrorKind::TooDeep);
                assert_eq!(depth(&p.snapshot().unwrap()), PartialJson::MAX_DEPTH);
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn error_kinds() {
        assert_eq!(
            parse("[1,]").unwrap_err().kind(),
            PartialJsonErrorKind::Syntax
        );
        assert_eq!(parse("[1,").unwrap_err().kind(), PartialJsonErrorKind::Eof);
        assert_eq!(parse("\"ab").unwrap_err().kind(), PartialJsonErrorKind::Eof);
    }

    #[test]
    fn torn_escapes_and_numbers() {
        let mut p = PartialJson::new();
        for piece in [
            "[\"a\\", "u00", "e9\\ud8", "3d\\", "ude", "00\", 12", "3", "4, 5",
        ] {
            p.feed(piece).unwrap();
        }
        assert_eq!(p.snapshot(), Some(json!(["aé😀", 1234])));
        p.feed("]").unwrap();
        assert_eq!(p.finish().unwrap(), json!(["aé😀", 1234, 5]));
    }
}
