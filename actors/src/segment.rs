//! The log's storage: chunks kept inline in shared, fixed-size segments.
//!
//! Why not one `Arc<Chunk>` per chunk: every chunk would then be its own
//! allocation, 80 bytes from the allocator for a 56-byte chunk, plus an
//! 8-byte slot in the log's queue. A response of a few hundred chunks
//! spends a third of its log on that overhead, and a process streaming a
//! thousand responses feels it. A [`Segment`] holds [`SLOTS`] chunks in one
//! allocation; a consumer receives a [`SharedChunk`], a counted reference
//! to the segment plus the chunk's slot in it. Handing a chunk to one more
//! consumer is still one reference-count increment, and nothing is copied.
//!
//! A segment is filled in order by the stream's single writer (the log,
//! under its lock) while readers already hold earlier slots of it. Each
//! slot is written once, before `filled` is advanced past it, and never
//! again; readers only ever see slots below `filled`. That is the whole
//! invariant the `unsafe` code below relies on.

use std::cell::UnsafeCell;
use std::fmt;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rivulet_core::Chunk;

/// Chunks per segment. Sixteen keeps a short answer's unused tail under
/// 1 KiB while making the per-segment overhead (two reference counts, the
/// fill count, the allocator's header and the log's pointer) about 3 bytes
/// per chunk.
pub(crate) const SLOTS: usize = 16;

/// A slot number, below [`SLOTS`]. An enum rather than a `u8` so the
/// compiler knows the other 240 values are never used and can keep
/// [`Event`](crate::Event)'s tag in them: an `Event` stays 16 bytes, and
/// every subscription's channel is sized in events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Slot {
    S0,
    S1,
    S2,
    S3,
    S4,
    S5,
    S6,
    S7,
    S8,
    S9,
    S10,
    S11,
    S12,
    S13,
    S14,
    S15,
}

impl Slot {
    const ALL: [Slot; SLOTS] = {
        use Slot::*;
        [
            S0, S1, S2, S3, S4, S5, S6, S7, S8, S9, S10, S11, S12, S13, S14, S15,
        ]
    };

    fn index(self) -> usize {
        self as usize
    }
}

/// A run of [`SLOTS`] log entries, filled in order. See the module docs.
// `repr(C)` to keep `filled`, which the writer stores to on every push,
// away from the reference counts at the front of the allocation, which
// every consumer updates for every chunk.
#[repr(C)]
pub(crate) struct Segment {
    slots: [UnsafeCell<MaybeUninit<Chunk>>; SLOTS],
    /// How many slots hold a chunk. Only the writer stores here.
    filled: AtomicUsize,
    /// The log offset of slot 0, so a [`SharedChunk`] knows its offset
    /// without carrying it: an `Event` stays 16 bytes.
    base: u64,
}

// SAFETY: the slots are written only by `push`, whose contract makes the
// writer unique, and each slot only before `filled` covers it (Release);
// readers touch a slot only after seeing it covered (Acquire) and only
// through `&Chunk`. `Chunk` is `Send + Sync`, so sharing `&Chunk` across
// threads is sound.
unsafe impl Sync for Segment {}

impl Segment {
    /// A segment whose first slot holds `chunk`, the log's entry `base`.
    pub(crate) fn starting_with(chunk: Chunk, base: u64) -> Arc<Segment> {
        let mut slots = [const { UnsafeCell::new(MaybeUninit::uninit()) }; SLOTS];
        slots[0].get_mut().write(chunk);
        Arc::new(Segment {
            slots,
            filled: AtomicUsize::new(1),
            base,
        })
    }

    /// Stores `chunk` in the next free slot, or gives it back if the
    /// segment is full.
    ///
    /// # Safety
    /// Calls must not run concurrently with each other on the same segment
    /// (the log makes them under its lock).
    pub(crate) unsafe fn push(&self, chunk: Chunk) -> Result<(), Chunk> {
        let n = self.filled.load(Ordering::Relaxed);
        if n == SLOTS {
            return Err(chunk);
        }
        // SAFETY: slot `n` is not covered by `filled`, so no reader can
        // reach it, and the caller guarantees there is no other writer.
        unsafe { (*self.slots[n].get()).write(chunk) };
        self.filled.store(n + 1, Ordering::Release);
        Ok(())
    }

    /// A reference to the chunk in `slot`, if that slot is filled.
    pub(crate) fn share(self: &Arc<Self>, slot: usize) -> Option<SharedChunk> {
        (slot < self.filled.load(Ordering::Acquire)).then(|| SharedChunk {
            segment: Arc::clone(self),
            slot: Slot::ALL[slot],
        })
    }

    /// The chunk in `slot`, if that slot is filled.
    pub(crate) fn get(&self, slot: usize) -> Option<&Chunk> {
        if slot < self.filled.load(Ordering::Acquire) {
            // SAFETY: the slot is filled and will not be written again.
            Some(unsafe { (*self.slots[slot].get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// The filled chunks from `slot` on.
    pub(crate) fn iter_from(&self, slot: usize) -> impl Iterator<Item = &Chunk> {
        let filled = self.filled.load(Ordering::Acquire);
        (slot..filled).filter_map(move |i| self.get(i))
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        let filled = *self.filled.get_mut();
        for slot in &mut self.slots[..filled] {
            // SAFETY: the first `filled` slots were initialized by `push`,
            // and with `&mut self` nobody can read them any more.
            unsafe { slot.get_mut().assume_init_drop() };
        }
    }
}

/// A chunk in a stream's log, shared by every consumer: cloning it bumps a
/// reference count and never copies the chunk. It derefs to [`Chunk`], and
/// knows its [offset](SharedChunk::offset) in the log.
///
/// It keeps alive the segment of the log it lives in (up to 16 chunks), so
/// holding one chunk of a windowed stream holds its neighbours too; clone
/// the [`Chunk`] itself to keep it apart.
///
/// ```
/// use rivulet_actors::{Chunk, SharedChunk};
///
/// let shared = SharedChunk::new(Chunk::text(0, "Hello"));
/// let again = shared.clone();
/// assert!(SharedChunk::ptr_eq(&shared, &again));
/// assert!(matches!(&*again, Chunk::Text { delta, .. } if delta.as_str() == "Hello"));
/// assert_eq!(again.offset(), 0);
/// ```
///
/// `==` compares the chunks, not where they are: the same chunk at two
/// offsets is equal. Compare [`offset`](SharedChunk::offset)s too when the
/// position matters.
#[derive(Clone)]
pub struct SharedChunk {
    segment: Arc<Segment>,
    slot: Slot,
}

impl SharedChunk {
    /// Wraps a chunk that is not in any log, e.g. to feed a consumer in a
    /// test; its offset is 0. (It takes a whole segment; the log packs its
    /// chunks.)
    pub fn new(chunk: Chunk) -> SharedChunk {
        SharedChunk::at(0, chunk)
    }

    /// Like [`SharedChunk::new`], at `offset`.
    pub fn at(offset: u64, chunk: Chunk) -> SharedChunk {
        SharedChunk {
            segment: Segment::starting_with(chunk, offset),
            slot: Slot::S0,
        }
    }

    /// The chunk's offset: its position in the stream's log (0, 1, 2, …),
    /// counting chunks a window has since dropped. Pass it to
    /// `subscribe_from` to resume right after this chunk.
    pub fn offset(&self) -> u64 {
        self.segment.base + self.slot.index() as u64
    }

    /// Whether both are the same chunk of the same log, not merely equal.
    pub fn ptr_eq(a: &SharedChunk, b: &SharedChunk) -> bool {
        Arc::ptr_eq(&a.segment, &b.segment) && a.slot == b.slot
    }
}

impl Deref for SharedChunk {
    type Target = Chunk;

    fn deref(&self) -> &Chunk {
        // SAFETY: a `SharedChunk` is only made for a filled slot (`share`,
        // `new`), which is never written again while the segment lives.
        unsafe { (*self.segment.slots[self.slot.index()].get()).assume_init_ref() }
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

    #[test]
    fn a_full_segment_gives_the_chunk_back() {
        let segment = Segment::starting_with(Chunk::text(0, "0"), 32);
        for i in 1..SLOTS {
            assert!(unsafe { segment.push(Chunk::text(0, i.to_string())) }.is_ok());
        }
        let back = unsafe { segment.push(Chunk::text(0, "x")) };
        assert_eq!(back, Err(Chunk::text(0, "x")));
        assert_eq!(segment.get(3), Some(&Chunk::text(0, "3")));
        assert!(segment.share(SLOTS).is_none());
        let tail: Vec<Chunk> = segment.iter_from(14).cloned().collect();
        assert_eq!(tail, vec![Chunk::text(0, "14"), Chunk::text(0, "15")]);
        let third = segment.share(3).unwrap_or_else(|| unreachable!());
        assert_eq!(third.offset(), 35);
    }

    #[test]
    fn shared_chunks_keep_their_segment_and_drop_it_once() {
        let id: Arc<str> = Arc::from("call_1");
        let segment = Segment::starting_with(
            Chunk::ToolCallEnd {
                part: 0,
                id: id.clone(),
                signature: None,
            },
            0,
        );
        let shared = segment.share(0).unwrap_or_else(|| unreachable!());
        drop(segment);
        assert_eq!(Arc::strong_count(&id), 2);
        assert!(matches!(&*shared, Chunk::ToolCallEnd { id: i, .. } if &**i == "call_1"));
        drop(shared);
        // The chunk's own fields were dropped with the segment.
        assert_eq!(Arc::strong_count(&id), 1);
    }
}
