//! The SSE events of a stream's latest chunks, built once for all of its
//! attachers.
//!
//! Why: each attacher used to serialize the same chunk to JSON again and
//! build its own SSE event field by field. With 100 attachers on one
//! stream that was 56% of the server's instructions (callgrind; 10% the
//! JSON, 34% axum's `Event` builder growing its buffer, with its
//! reallocations). Now the first attacher to reach a chunk builds its
//! frame and leaves it here; the others share it (`Bytes`: a reference
//! count, no copy).
//!
//! Only the last [`KEPT`] chunks' events are kept, and only while the
//! stream has more than one attacher: attachers that follow live all read
//! the newest chunks within a few microseconds of each other, and one
//! replaying older chunks builds its own. So a stream costs at most
//! [`KEPT`] frames here, and a stream with one attacher nothing.
//!
//! The events are shared by the attachers' tasks: a std mutex, held to look
//! one up or store one, never across an `.await`.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use axum::body::Bytes;
use rivulet::SharedChunk;

use super::sse::chunk_frame;

/// How many of the latest chunks' events a stream keeps.
pub(crate) const KEPT: usize = 8;

/// One stream's latest events.
#[derive(Default)]
pub(crate) struct Frames {
    latest: Mutex<Latest>,
}

#[derive(Default)]
struct Latest {
    /// The offset of `events[0]`.
    first: u64,
    /// The events of offsets `first..first + events.len()`.
    events: VecDeque<Bytes>,
}

impl Frames {
    /// The SSE event of `chunk` (`id:` its offset, `event:` its type,
    /// `data:` its JSON line). `shared`: other attachers are reading the
    /// stream too, so keep a new event for them.
    pub(crate) fn event(&self, chunk: &SharedChunk, shared: bool) -> Bytes {
        let offset = chunk.offset();
        {
            let latest = self.lock();
            let i = offset.wrapping_sub(latest.first);
            if let Some(event) = usize::try_from(i).ok().and_then(|i| latest.events.get(i)) {
                return event.clone();
            }
        }
        let event = chunk_frame(chunk);
        if shared {
            let mut latest = self.lock();
            let next = latest.first + latest.events.len() as u64;
            // Kept only in order: the next offset, or a jump past the
            // last (or the first event kept), which starts again from it.
            if offset >= next || latest.events.is_empty() {
                if offset != next {
                    latest.events.clear();
                    latest.first = offset;
                }
                latest.events.push_back(event.clone());
                if latest.events.len() > KEPT {
                    latest.events.pop_front();
                    latest.first += 1;
                }
            }
        }
        event
    }

    fn lock(&self) -> MutexGuard<'_, Latest> {
        // The critical sections cannot panic halfway (a clone, a push).
        self.latest.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet::json::chunk_line;
    use rivulet::Chunk;

    /// Text chunks at offsets 0..n, as attachers receive them.
    fn chunks(n: usize) -> Vec<SharedChunk> {
        (0..n)
            .map(|i| SharedChunk::at(i as u64, Chunk::text(0, format!("t{i}"))))
            .collect()
    }

    fn text(event: Bytes) -> String {
        String::from_utf8(event.to_vec()).unwrap()
    }

    #[test]
    fn a_kept_event_is_the_same_frame_as_a_built_one() {
        let frames = Frames::default();
        let chunks = chunks(20);
        for c in &chunks {
            let first = text(frames.event(c, true));
            let again = text(frames.event(c, true));
            let alone = text(Frames::default().event(c, false));
            assert_eq!(first, alone);
            assert_eq!(again, alone);
        }
        let c = &chunks[3];
        assert_eq!(
            text(frames.event(c, true)),
            format!("id: 3\nevent: text_chunk\ndata: {}\n\n", chunk_line(c))
        );
        let latest = frames.lock();
        assert_eq!(latest.events.len(), KEPT);
        assert_eq!(latest.first, 20 - KEPT as u64);
    }

    #[test]
    fn nothing_is_kept_for_a_single_attacher() {
        let frames = Frames::default();
        for c in &chunks(5) {
            let _ = frames.event(c, false);
        }
        assert!(frames.lock().events.is_empty());
    }
}
