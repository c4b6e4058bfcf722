//! The log's storage: compact records over a text arena, a segment at a
//! time.
//!
//! Why not keep each [`Chunk`] as it is: a chunk is 56 bytes whatever its
//! delta, and a stream is mostly deltas of a few bytes, so a log of whole
//! chunks was about 67 bytes per chunk (the chunk, its share of a
//! segment's header and the allocator's rounding) for 4 bytes of text. A
//! [`Segment`] keeps the common chunks (text, thought and tool-call
//! deltas, and the starts and ends of text and thought parts) as 8-byte
//! records: where its delta ends in the segment's text, and in one word
//! what kind, which part and (for a tool call) an index into the
//! segment's few ids. Every
//! other chunk (rare: a tool call's start, usage, the finish reason, …) is
//! kept whole, behind an `Arc` that consumers share.
//!
//! A consumer receives a [`SharedChunk`] that owns a [`Chunk`] rebuilt from
//! its record (a delta of up to 24 bytes is rebuilt inline, without an
//! allocation) or shares the whole one. Rebuilding happens under the log's
//! lock, so nothing outside it ever points into a segment: a segment is
//! plain data and needs no `unsafe`.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use rivulet_core::{Chunk, Delta};

/// Records in a log's first segment: a short answer does not pay for a
/// long one's. Each next segment doubles, up to [`MAX_SLOTS`]. 32 rather
/// than 16: a 50-chunk answer then takes two segments, not three (5,000
/// such streams: 4 allocation calls and 0.7 KiB of peak heap less per
/// stream, heaptrack); a finished log gives back its last segment's unused
/// room anyway.
pub(crate) const MIN_SLOTS: usize = 32;

/// Records in a long stream's segments: 12 KiB of records, so a segment's
/// own overhead (its header, the allocator's rounding of its
/// buffers) is well under a byte per chunk.
pub(crate) const MAX_SLOTS: usize = 1024;

/// How to rebuild a record's chunk. Its number is what a record keeps
/// (see [`Record::kind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    TextStart = 0,
    Text = 1,
    TextEnd = 2,
    ThoughtStart = 3,
    Thought = 4,
    /// Without signature or redacted content (else it is kept whole).
    ThoughtEnd = 5,
    /// `aux` is the id's index in [`Segment::ids`].
    ToolCall = 6,
    /// Without signature; `aux` is the id's index in [`Segment::ids`].
    ToolCallEnd = 7,
    /// `aux` is the chunk's index in [`Segment::whole`].
    Whole = 8,
}

/// The bits of a record's `packed` word: its kind, its `aux` index, and
/// its part. A part too large for [`PART_BITS`] (a quarter of a million
/// parts into a stream) is not compact: its chunk is kept whole.
const KIND_BITS: u32 = 4;
const AUX_BITS: u32 = 10;
const PART_BITS: u32 = 32 - KIND_BITS - AUX_BITS;

/// One log entry. Its delta is the segment's text from the previous
/// record's `end` (0 for the first) to its own: records without text end
/// where the one before them ended.
///
/// Eight bytes, not twelve: the kind, the index into the segment's ids or
/// whole chunks (fewer than [`MAX_SLOTS`] of either) and the part share
/// one word. A stream of 200 chunks holds 224 records at its end (32, 64
/// and 128 slots), so this is 0.9 KiB less per stream.
#[derive(Clone, Copy, Debug)]
struct Record {
    end: u32,
    packed: u32,
}

const _: () = assert!(std::mem::size_of::<Record>() == 8);
const _: () = assert!((Kind::Whole as u32) < 1 << KIND_BITS);
const _: () = assert!(MAX_SLOTS <= 1 << AUX_BITS);

impl Record {
    /// A record of `kind` for `part`, if the part fits in one.
    fn new(end: u32, kind: Kind, part: usize) -> Option<Record> {
        let part = u32::try_from(part).ok().filter(|p| *p < 1 << PART_BITS)?;
        Some(Record {
            end,
            packed: part << (KIND_BITS + AUX_BITS) | kind as u32,
        })
    }

    /// A record of a chunk kept whole, at `index` in the segment's.
    fn whole(end: u32, index: usize) -> Record {
        debug_assert!(index < 1 << AUX_BITS);
        Record {
            end,
            packed: (index as u32) << KIND_BITS | Kind::Whole as u32,
        }
    }

    /// A match, not a table: no bounds check before the rebuild's own
    /// match (8 consumers of one 100,000-chunk stream, callgrind:
    /// `Segment::rebuild` 61.0M instructions with a table, 59.0M so).
    fn kind(self) -> Kind {
        match self.packed & ((1 << KIND_BITS) - 1) {
            0 => Kind::TextStart,
            1 => Kind::Text,
            2 => Kind::TextEnd,
            3 => Kind::ThoughtStart,
            4 => Kind::Thought,
            5 => Kind::ThoughtEnd,
            6 => Kind::ToolCall,
            7 => Kind::ToolCallEnd,
            _ => Kind::Whole,
        }
    }

    fn is_whole(self) -> bool {
        self.kind() == Kind::Whole
    }

    fn part(self) -> usize {
        (self.packed >> (KIND_BITS + AUX_BITS)) as usize
    }

    fn aux(self) -> usize {
        ((self.packed >> KIND_BITS) & ((1 << AUX_BITS) - 1)) as usize
    }

    /// The same record, referring to entry `aux` of the segment's ids.
    fn with_aux(self, aux: usize) -> Record {
        debug_assert!(aux < 1 << AUX_BITS);
        let mask = ((1 << AUX_BITS) - 1) << KIND_BITS;
        Record {
            end: self.end,
            packed: (self.packed & !mask) | ((aux as u32) << KIND_BITS),
        }
    }
}

/// How many of a segment's latest tool-call ids are searched before a new
/// one is added: parallel calls interleave a few ids, and a bounded search
/// keeps an absurd number of calls linear.
const RECENT_IDS: usize = 8;

/// A run of consecutive log entries. See the module docs.
#[derive(Debug)]
pub(crate) struct Segment {
    /// The log offset of `records[0]`.
    first: u64,
    /// Allocated once, for the segment's slots; never grows past them.
    records: Vec<Record>,
    /// The deltas of the compact records, one after the other.
    text: String,
    /// The tool-call ids the records refer to.
    ids: Vec<Arc<str>>,
    /// The chunks kept whole.
    whole: Vec<Arc<Chunk>>,
}

impl Segment {
    /// An empty segment for `slots` entries, the first at log offset
    /// `first`, with room for `text` bytes of deltas.
    pub(crate) fn new(first: u64, slots: usize, text: usize) -> Segment {
        Segment {
            first,
            records: Vec::with_capacity(slots.clamp(1, MAX_SLOTS)),
            text: String::with_capacity(text),
            ids: Vec::new(),
            whole: Vec::new(),
        }
    }

    /// The log offset of the first entry.
    pub(crate) fn first(&self) -> u64 {
        self.first
    }

    /// The number of entries stored.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// The number of entries it was made for.
    pub(crate) fn slots(&self) -> usize {
        self.records.capacity()
    }

    /// The room for deltas a segment of `slots` entries needs if its
    /// deltas are as long as this one's, on average.
    pub(crate) fn text_for(&self, slots: usize) -> usize {
        (self.text.len() * slots).div_ceil(self.records.len().max(1))
    }

    /// Stores `chunk` as the next entry, or gives it back if the segment
    /// is full.
    pub(crate) fn push(&mut self, chunk: Chunk) -> Result<(), Chunk> {
        if self.records.len() == self.records.capacity() {
            return Err(chunk);
        }
        let record = self.compact(chunk);
        self.records.push(record);
        Ok(())
    }

    /// The segment is complete (full, or the stream has ended): gives back
    /// the unused room of its buffers, records included, so
    /// [`slots`](Self::slots) is then its length and a later
    /// [`push`](Self::push) finds it full.
    pub(crate) fn seal(&mut self) {
        self.records.shrink_to_fit();
        self.text.shrink_to_fit();
        self.ids.shrink_to_fit();
        self.whole.shrink_to_fit();
    }

    /// The record of `chunk`, its delta appended to the text (or the chunk
    /// kept whole).
    fn compact(&mut self, chunk: Chunk) -> Record {
        let end = self.text.len() as u32;
        let compact = |kind, part: usize| Record::new(end, kind, part);
        let record = match &chunk {
            Chunk::TextStart { part } => compact(Kind::TextStart, *part),
            Chunk::TextEnd { part } => compact(Kind::TextEnd, *part),
            Chunk::ThoughtStart { part } => compact(Kind::ThoughtStart, *part),
            Chunk::ThoughtEnd {
                part,
                signature: None,
                redacted: None,
            } => compact(Kind::ThoughtEnd, *part),
            Chunk::Text { part, delta } => self.with_delta(compact(Kind::Text, *part), delta),
            Chunk::Thought { part, delta } => self.with_delta(compact(Kind::Thought, *part), delta),
            Chunk::ToolCall { part, id, delta } => {
                let record = self.with_delta(compact(Kind::ToolCall, *part), delta);
                record.map(|r| self.with_id(r, id))
            }
            Chunk::ToolCallEnd {
                part,
                id,
                signature: None,
            } => compact(Kind::ToolCallEnd, *part).map(|r| self.with_id(r, id)),
            _ => None,
        };
        record.unwrap_or_else(|| {
            self.whole.push(Arc::new(chunk));
            Record::whole(end, self.whole.len() - 1)
        })
    }

    /// `record` with `delta` appended to the text, if the text's offsets
    /// still fit in a record.
    fn with_delta(&mut self, record: Option<Record>, delta: &str) -> Option<Record> {
        let mut record = record?;
        record.end = u32::try_from(self.text.len() + delta.len()).ok()?;
        self.text.push_str(delta);
        Some(record)
    }

    /// `record` referring to `id`, added to the ids unless a recent one is
    /// the same.
    fn with_id(&mut self, record: Record, id: &Arc<str>) -> Record {
        let recent = self.ids.len().saturating_sub(RECENT_IDS);
        let found = self.ids[recent..]
            .iter()
            .rposition(|known| Arc::ptr_eq(known, id) || **known == **id);
        record.with_aux(match found {
            Some(i) => recent + i,
            None => {
                self.ids.push(Arc::clone(id));
                self.ids.len() - 1
            }
        })
    }

    /// The entry at `slot`, rebuilt or shared, if it is stored.
    pub(crate) fn share(&self, slot: usize) -> Option<SharedChunk> {
        let record = *self.records.get(slot)?;
        let held = if record.is_whole() {
            Held::Shared(Arc::clone(&self.whole[record.aux()]))
        } else {
            Held::Own(self.rebuild(slot, record))
        };
        Some(SharedChunk {
            held,
            offset: self.first + slot as u64,
        })
    }

    /// Hands the entries from `slot` on to `each`, rebuilding compact ones
    /// on the stack and lending whole ones in place.
    pub(crate) fn each_from(&self, slot: usize, each: &mut impl FnMut(&Chunk)) {
        for (at, record) in self.records.iter().enumerate().skip(slot) {
            if record.is_whole() {
                each(&self.whole[record.aux()]);
            } else {
                each(&self.rebuild(at, *record));
            }
        }
    }

    /// The chunk of the compact `record` at `slot`.
    fn rebuild(&self, slot: usize, record: Record) -> Chunk {
        let part = record.part();
        let start = match slot {
            0 => 0,
            _ => self.records[slot - 1].end as usize,
        };
        let delta = || Delta::new(&self.text[start..record.end as usize]);
        let id = || Arc::clone(&self.ids[record.aux()]);
        match record.kind() {
            Kind::TextStart => Chunk::TextStart { part },
            Kind::Text => Chunk::Text {
                part,
                delta: delta(),
            },
            Kind::TextEnd => Chunk::TextEnd { part },
            Kind::ThoughtStart => Chunk::ThoughtStart { part },
            Kind::Thought => Chunk::Thought {
                part,
                delta: delta(),
            },
            Kind::ThoughtEnd => Chunk::thought_end(part),
            Kind::ToolCall => Chunk::ToolCall {
                part,
                id: id(),
                delta: delta(),
            },
            Kind::ToolCallEnd => Chunk::tool_call_end(part, id()),
            Kind::Whole => (*self.whole[record.aux()]).clone(),
        }
    }

    #[cfg(test)]
    /// The bytes this segment holds on the heap beyond the text itself,
    /// each allocation rounded as glibc's malloc does, and the text's
    /// bytes. The whole chunks count as one `Arc` each, without what they
    /// own (they are rare; see the module docs).
    pub(crate) fn heap_bytes(&self) -> (usize, usize) {
        let buffers = [
            self.records.capacity() * std::mem::size_of::<Record>(),
            self.text.capacity(),
            self.ids.capacity() * std::mem::size_of::<Arc<str>>(),
            self.whole.capacity() * std::mem::size_of::<Arc<Chunk>>(),
        ];
        let arcs = self.whole.len() * malloc_size(16 + std::mem::size_of::<Chunk>());
        let total = buffers.into_iter().map(malloc_size).sum::<usize>() + arcs;
        let text = self.text.len();
        (total - text, text)
    }
}

#[cfg(test)]
/// What glibc's malloc takes for `n` bytes: a chunk of `n` plus its 8-byte
/// header, rounded up to 16 (none for an empty buffer, never allocated).
pub(crate) fn malloc_size(n: usize) -> usize {
    match n {
        0 => 0,
        n => (n + 8).max(32).next_multiple_of(16),
    }
}

/// A chunk handed to a consumer: rebuilt from the log's record, or the
/// whole chunk the log keeps, shared.
#[derive(Clone)]
enum Held {
    Own(Chunk),
    Shared(Arc<Chunk>),
}

/// A chunk of a stream's log, as a consumer receives it: it derefs to
/// [`Chunk`] and knows its [offset](SharedChunk::offset) in the log.
///
/// Text, thought and tool-call deltas (and the starts and ends of parts)
/// are kept compact in the log and rebuilt for each consumer (a delta of
/// up to 24 bytes inline, without an allocation); rarer chunks (a tool
/// call's start, usage, …) are kept whole and shared by every consumer,
/// cloning one bumps a reference count. Holding a `SharedChunk` never
/// holds any of the log.
///
/// ```
/// use rivulet_actors::{Chunk, SharedChunk};
///
/// let shared = SharedChunk::at(7, Chunk::text(0, "Hello"));
/// let again = shared.clone();
/// assert!(matches!(&*again, Chunk::Text { delta, .. } if delta.as_str() == "Hello"));
/// assert_eq!(again.offset(), 7);
/// ```
///
/// `==` compares the chunks, not where they are: the same chunk at two
/// offsets is equal. Compare [`offset`](SharedChunk::offset)s too when the
/// position matters.
#[derive(Clone)]
pub struct SharedChunk {
    held: Held,
    offset: u64,
}

impl SharedChunk {
    /// Wraps a chunk that is not in any log, e.g. to feed a consumer in a
    /// test; its offset is 0.
    pub fn new(chunk: Chunk) -> SharedChunk {
        SharedChunk::at(0, chunk)
    }

    /// Like [`SharedChunk::new`], at `offset`.
    pub fn at(offset: u64, chunk: Chunk) -> SharedChunk {
        SharedChunk {
            held: Held::Own(chunk),
            offset,
        }
    }

    /// The chunk's offset: its position in the stream's log (0, 1, 2, …),
    /// counting chunks a window has since dropped. Pass it to
    /// `subscribe_from` to resume right after this chunk.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The chunk itself, without a copy where the consumer held the only
    /// reference (or the chunk was rebuilt for it).
    pub fn into_chunk(self) -> Chunk {
        match self.held {
            Held::Own(chunk) => chunk,
            Held::Shared(chunk) => Arc::unwrap_or_clone(chunk),
        }
    }
}

impl Deref for SharedChunk {
    type Target = Chunk;

    fn deref(&self) -> &Chunk {
        match &self.held {
            Held::Own(chunk) => chunk,
            Held::Shared(chunk) => chunk,
        }
    }
}

impl AsRef<Chunk> for SharedChunk {
    fn as_ref(&self) -> &Chunk {
        self
    }
}

impl From<Chunk> for SharedChunk {
    fn from(chunk: Chunk) -> Self {
        SharedChunk::new(chunk)
    }
}

impl PartialEq for SharedChunk {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl fmt::Debug for SharedChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl serde::Serialize for SharedChunk {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<Chunk> {
        let id: Arc<str> = Arc::from("call_1");
        vec![
            Chunk::text_start(0),
            Chunk::text(0, "Hel"),
            Chunk::text(0, ""),
            Chunk::text(0, "a delta longer than the twenty-four inline bytes"),
            Chunk::text_end(0),
            Chunk::ThoughtStart { part: 1 },
            Chunk::Thought {
                part: 1,
                delta: "hmm".into(),
            },
            Chunk::thought_end(1),
            Chunk::ThoughtEnd {
                part: 1,
                signature: Some("sig".into()),
                redacted: None,
            },
            Chunk::ToolCallStart {
                part: 2,
                id: id.clone(),
                name: "f".into(),
            },
            Chunk::ToolCall {
                part: 2,
                id: id.clone(),
                delta: "{\"x\":".into(),
            },
            Chunk::ToolCall {
                part: 3,
                id: "call_2".into(),
                delta: "{}".into(),
            },
            // The same id in another allocation.
            Chunk::ToolCall {
                part: 2,
                id: "call_1".into(),
                delta: "1}".into(),
            },
            Chunk::tool_call_end(2, id.clone()),
            Chunk::ToolCallEnd {
                part: 3,
                id: "call_2".into(),
                signature: Some("s".into()),
            },
            Chunk::text(usize::MAX, "a part beyond a record's"),
            Chunk::text((1 << PART_BITS) - 1, "|last"),
            Chunk::ToolCall {
                part: 1 << PART_BITS,
                id: id.clone(),
                delta: "2".into(),
            },
            Chunk::FinishReason {
                reason: rivulet_core::FinishReason::Stop,
                raw: "stop".into(),
            },
        ]
    }

    #[test]
    fn every_kind_of_chunk_comes_back_as_it_was_stored() {
        let chunks = every_kind();
        let mut segment = Segment::new(40, chunks.len() + 1, 0);
        for c in &chunks {
            assert!(segment.push(c.clone()).is_ok());
        }
        for (slot, c) in chunks.iter().enumerate() {
            let shared = segment.share(slot).unwrap_or_else(|| unreachable!());
            assert_eq!(*shared, *c, "slot {slot}");
            assert_eq!(shared.offset(), 40 + slot as u64);
        }
        let mut seen = Vec::new();
        segment.each_from(3, &mut |c| seen.push(c.clone()));
        assert_eq!(seen, chunks[3..]);
        assert!(segment.share(chunks.len()).is_none());
        // Two ids, stored once each; six chunks kept whole (two for
        // parts no record holds).
        assert_eq!(segment.ids.len(), 2);
        assert_eq!(segment.whole.len(), 6);
        assert_eq!(
            segment.text,
            "Hela delta longer than the twenty-four inline byteshmm{\"x\":{}1}|last"
        );
    }

    /// A full segment of tool-call deltas, each with an id of its own:
    /// every index into the ids a record can hold comes back right.
    #[test]
    fn a_segments_every_id_comes_back() {
        let mut segment = Segment::new(0, MAX_SLOTS, 0);
        let chunk = |i: usize| Chunk::ToolCall {
            part: i,
            id: Arc::from(format!("call_{i}")),
            delta: format!("{i}").into(),
        };
        for i in 0..MAX_SLOTS {
            assert!(segment.push(chunk(i)).is_ok());
        }
        assert_eq!(segment.ids.len(), MAX_SLOTS);
        assert!(segment.whole.is_empty());
        for i in 0..MAX_SLOTS {
            let shared = segment.share(i).unwrap_or_else(|| unreachable!());
            assert_eq!(*shared, chunk(i), "slot {i}");
        }
    }

    #[test]
    fn a_full_segment_gives_the_chunk_back() {
        let mut segment = Segment::new(0, 2, 0);
        assert!(segment.push(Chunk::text(0, "a")).is_ok());
        assert!(segment.push(Chunk::text(0, "b")).is_ok());
        assert_eq!(segment.push(Chunk::text(0, "c")), Err(Chunk::text(0, "c")));
        assert_eq!(segment.len(), 2);
    }

    #[test]
    fn whole_chunks_are_shared_and_dropped_with_the_last_holder() {
        let id: Arc<str> = Arc::from("call_1");
        let mut segment = Segment::new(0, 1, 0);
        let start = Chunk::ToolCallStart {
            part: 0,
            id: id.clone(),
            name: "f".into(),
        };
        assert!(segment.push(start.clone()).is_ok());
        let a = segment.share(0).unwrap_or_else(|| unreachable!());
        let b = segment.share(0).unwrap_or_else(|| unreachable!());
        assert!(std::ptr::eq(&*a, &*b), "one chunk, shared");
        drop(segment);
        // `id`, `start` and the one chunk `a` and `b` share.
        assert_eq!(Arc::strong_count(&id), 3);
        drop(a);
        assert_eq!(b.into_chunk(), start);
        assert_eq!(Arc::strong_count(&id), 2);
    }
}
