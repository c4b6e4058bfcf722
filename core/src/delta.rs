//! [`Delta`]: the text one chunk adds to a part.
//!
//! A stream is mostly small deltas (a token is a few bytes), and every chunk
//! stays in the stream's replay log until the stream ends. Kept as a
//! `String`, each delta would be a second heap allocation next to the
//! chunk's own, and on a 100,000-chunk stream that allocation and its
//! allocator overhead were a third of the log's memory. A `Delta` keeps up
//! to 24 bytes inline (on `compact_str`, in the 24 bytes a `String` takes)
//! and spills to the heap only beyond that.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The text a text, thought or tool-call chunk adds to its part.
///
/// It reads as a `&str` (through `Deref`), prints as one and compares with
/// `&str` and `String`.
///
/// ```
/// use rivulet_core::{Chunk, Delta};
///
/// let chunk = Chunk::text(0, "Hel");
/// if let Chunk::Text { delta, .. } = &chunk {
///     assert_eq!(delta, "Hel");
///     assert_eq!(delta.len(), 3);
///     let owned: String = delta.to_string();
///     assert_eq!(owned, "Hel");
/// }
/// assert_eq!(Delta::from("lo"), *"lo");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Delta(CompactString);

impl Delta {
    /// A delta holding a copy of `text`.
    pub fn new(text: &str) -> Self {
        Delta(CompactString::new(text))
    }

    /// The delta's text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The delta as an owned `String`.
    pub fn into_string(self) -> String {
        self.0.into_string()
    }
}

impl Deref for Delta {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Delta {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Delta {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Delta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Delta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for Delta {
    fn from(text: &str) -> Self {
        Delta::new(text)
    }
}

impl From<&String> for Delta {
    fn from(text: &String) -> Self {
        Delta::new(text)
    }
}

impl From<String> for Delta {
    fn from(text: String) -> Self {
        // Reuses the String's buffer when it is too long to inline.
        Delta(CompactString::from(text))
    }
}

impl From<Cow<'_, str>> for Delta {
    fn from(text: Cow<'_, str>) -> Self {
        match text {
            Cow::Borrowed(s) => Delta::new(s),
            Cow::Owned(s) => Delta::from(s),
        }
    }
}

impl From<char> for Delta {
    fn from(c: char) -> Self {
        Delta::new(c.encode_utf8(&mut [0; 4]))
    }
}

impl From<Delta> for String {
    fn from(delta: Delta) -> Self {
        delta.into_string()
    }
}

impl PartialEq<str> for Delta {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Delta {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Delta {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Delta> for str {
    fn eq(&self, other: &Delta) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Delta> for &str {
    fn eq(&self, other: &Delta) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Delta> for String {
    fn eq(&self, other: &Delta) -> bool {
        self == other.as_str()
    }
}

impl Serialize for Delta {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Delta {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // compact_str visits the borrowed str, so a short delta is copied
        // straight inline without a String in between.
        CompactString::deserialize(deserializer).map(Delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_deltas_live_inline_and_long_ones_keep_their_text() {
        let short = Delta::from("a token");
        assert!(!short.0.is_heap_allocated());
        let long = "x".repeat(100);
        let spilled = Delta::from(long.clone());
        assert!(spilled.0.is_heap_allocated());
        assert_eq!(spilled, long);
        assert_eq!(String::from(spilled), long);
    }

    #[test]
    fn a_delta_is_no_bigger_than_a_string() {
        assert_eq!(std::mem::size_of::<Delta>(), std::mem::size_of::<String>());
    }

    #[test]
    fn serializes_as_a_plain_string() {
        let d = Delta::from("é\"x");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, r#""é\"x""#);
        let back: Delta = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        assert_eq!(format!("{d}|{d:?}"), "é\"x|\"é\\\"x\"");
    }
}
