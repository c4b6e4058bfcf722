//! Streamed text and thought parts, as the decoders of Chat Completions,
//! Gemini and Cohere share them: which chunks start, fill and end a part
//! of each kind ([`TextKind`]), and the one part open at a time in a
//! stream whose text comes as one run of fragments ([`OpenTextPart`]:
//! Chat Completions, Gemini). Cohere keeps a part open per content index
//! (each ends at its own `content-end`), so it keeps its own list of them.
//!
//! Bedrock's and Anthropic's blocks are not kept here: keyed by block
//! index, they are tool calls as well as text, and a thought ends with the
//! signature and redacted content its deltas brought.
//!
//! Kept apart from `decode.rs` (which knows nothing of it): it is what
//! these decoders share, not what every decoder does.

use rivulet_core::{Chunk, Delta};

use crate::decode::{Decoded, Parts};

/// What a streamed part of text is: it says which chunks start, fill and
/// end the part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TextKind {
    /// The answer's text.
    Text,
    /// Text the model refuses with (Chat Completions' `refusal`): text
    /// chunks, in a part of its own, so that the answer's text then a
    /// refusal is two parts.
    Refusal,
    /// The model's thinking: thought chunks.
    Thought,
}

impl TextKind {
    /// The chunk that starts a part of this kind.
    #[inline]
    pub(crate) fn start(self, part: usize) -> Chunk {
        match self {
            TextKind::Text | TextKind::Refusal => Chunk::TextStart { part },
            TextKind::Thought => Chunk::ThoughtStart { part },
        }
    }

    /// The chunk that adds `delta` to a part of this kind.
    #[inline]
    pub(crate) fn delta(self, part: usize, delta: Delta) -> Chunk {
        match self {
            TextKind::Text | TextKind::Refusal => Chunk::Text { part, delta },
            TextKind::Thought => Chunk::Thought { part, delta },
        }
    }

    /// The chunk that ends a part of this kind (a thought with neither
    /// signature nor redacted content).
    pub(crate) fn end(self, part: usize) -> Chunk {
        match self {
            TextKind::Text | TextKind::Refusal => Chunk::TextEnd { part },
            TextKind::Thought => Chunk::thought_end(part),
        }
    }
}

/// The text or thought part open in a stream that has at most one open at
/// a time (Chat Completions, Gemini): a fragment of the open part's kind
/// goes on it, one of another kind ends it and starts a new part.
///
/// Part numbers come from the decoder's [`Parts`], which its tool calls and
/// other parts draw from too.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OpenTextPart {
    open: Option<(TextKind, usize)>,
}

impl OpenTextPart {
    /// The open part, when it is of `kind`.
    #[inline]
    pub(crate) fn part(&self, kind: TextKind) -> Option<usize> {
        match self.open {
            Some((k, part)) if k == kind => Some(part),
            _ => None,
        }
    }

    /// Starts a part of `kind`, numbered by `parts`, and pushes its start
    /// chunk. The caller has ended the open part, if any (a decoder whose
    /// part ends with more than its end chunk ends it itself).
    pub(crate) fn start(&mut self, kind: TextKind, parts: &mut Parts, out: &mut Decoded) -> usize {
        debug_assert!(self.open.is_none(), "a part is open");
        let part = parts.take();
        self.open = Some((kind, part));
        out.push(Ok(kind.start(part)));
        part
    }

    /// The open part of `kind`; when another is open, it is ended and a
    /// part of `kind` started.
    #[inline]
    pub(crate) fn open(&mut self, kind: TextKind, parts: &mut Parts, out: &mut Decoded) -> usize {
        match self.part(kind) {
            Some(part) => part,
            None => self.restart(kind, parts, out),
        }
    }

    /// Appends `text` to the part of `kind`, opened as [`OpenTextPart::open`]
    /// does; empty text is nothing (it opens no part). A text owned by the
    /// caller moves into its chunk.
    #[inline]
    pub(crate) fn push<T>(&mut self, kind: TextKind, text: T, parts: &mut Parts, out: &mut Decoded)
    where
        T: AsRef<str> + Into<Delta>,
    {
        if text.as_ref().is_empty() {
            return;
        }
        let part = self.open(kind, parts, out);
        out.push(Ok(kind.delta(part, text.into())));
    }

    /// Ends the open part, if any, with its end chunk; returns its kind and
    /// number.
    pub(crate) fn end(&mut self, out: &mut Decoded) -> Option<(TextKind, usize)> {
        let (kind, part) = self.open.take()?;
        out.push(Ok(kind.end(part)));
        Some((kind, part))
    }

    /// Closes the open part without its end chunk, which the caller pushes
    /// itself (a Gemini thought ends with the signature that came on it).
    pub(crate) fn close(&mut self) {
        self.open = None;
    }

    /// Ends the open part and starts one of `kind`: off the path of a
    /// fragment that goes on the open part.
    #[cold]
    fn restart(&mut self, kind: TextKind, parts: &mut Parts, out: &mut Decoded) -> usize {
        self.end(out);
        self.start(kind, parts, out)
    }
}
