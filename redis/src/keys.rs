//! The key layout in Redis, and how entry ids map to chunk offsets.
//!
//! For a stream `ID` under prefix `P` (see the crate docs for what each
//! holds):
//! - `P:ID:log` — the Redis Stream of chunks and the terminal entry;
//! - `P:ID:meta` — a hash: `model`, `owner`, `started`, `status`, at the
//!   end `ended` and `chunks`, and `cancel` once a cancel was requested;
//! - `P:ID:owner` — the owner's lease: its node id, with a `PX` expiry;
//! - `P:streams` — a sorted set of stream ids by start time (ms);
//! - `P:cancel:NODE` — the pub/sub channel node `NODE` hears cancels on;
//! - `P:chat:CHAT` — the id of the stream last started for the AI SDK
//!   chat `CHAT` (see `Node::set_chat`), with the copies' expiry.
//!
//! Entry ids are `0-N` with `N` = offset + 1 (Redis refuses `0-0`), so the
//! entry after offset `k` is the first one after id `0-(k+1)`, which is
//! exactly what `XREAD … STREAMS key 0-(k+1)` returns: `Last-Event-ID: k`
//! maps to one `XREAD` with no arithmetic beyond the `+1`.

/// The keys of one stream.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    pub log: String,
    pub meta: String,
    pub owner: String,
}

impl Keys {
    pub fn new(prefix: &str, id: &str) -> Keys {
        Keys {
            log: format!("{prefix}:{id}:log"),
            meta: format!("{prefix}:{id}:meta"),
            owner: format!("{prefix}:{id}:owner"),
        }
    }
}

/// The sorted set listing every stream.
pub(crate) fn index(prefix: &str) -> String {
    format!("{prefix}:streams")
}

/// The channel node `node` hears cancels on.
pub(crate) fn cancel_channel(prefix: &str, node: &str) -> String {
    format!("{prefix}:cancel:{node}")
}

/// The key naming chat `chat`'s latest stream.
pub(crate) fn chat(prefix: &str, chat: &str) -> String {
    format!("{prefix}:chat:{chat}")
}

/// The entry id of the chunk at `offset`, or of the entry that follows
/// `offset` chunks (the terminal entry of a stream of `offset` chunks):
/// `0-N` with N = offset + 1, formatted on the stack (one per chunk
/// written).
pub(crate) struct EntryId {
    bytes: [u8; 22],
    len: usize,
}

impl EntryId {
    pub(crate) fn new(offset: u64) -> Self {
        use std::io::Write;
        let mut bytes = [0u8; 22];
        let room = bytes.len();
        let mut rest = &mut bytes[..];
        // "0-" and at most 20 digits: always fits.
        let _ = write!(rest, "0-{}", u128::from(offset) + 1);
        let len = room - rest.len();
        EntryId { bytes, len }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits and '-' were written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("0-0")
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// The sequence number `N` of an entry id `0-N` (N ≥ 1); `None` for an id
/// this crate did not write.
pub(crate) fn sequence(entry_id: &str) -> Option<u64> {
    let n: u64 = entry_id.strip_prefix("0-")?.parse().ok()?;
    (n >= 1).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_entry_ids() {
        assert_eq!(EntryId::new(0).as_str(), "0-1");
        assert_eq!(EntryId::new(41).as_str(), "0-42");
        assert_eq!(EntryId::new(41).len(), 4);
        assert_eq!(EntryId::new(u64::MAX).as_str(), "0-18446744073709551616");
        assert_eq!(sequence("0-42"), Some(42));
        assert_eq!(sequence("0-0"), None);
        assert_eq!(sequence("1700000000000-0"), None);
        assert_eq!(sequence("0-x"), None);
        let k = Keys::new("rivulet", "st_1");
        assert_eq!(k.log, "rivulet:st_1:log");
        assert_eq!(k.meta, "rivulet:st_1:meta");
        assert_eq!(k.owner, "rivulet:st_1:owner");
        assert_eq!(index("rivulet"), "rivulet:streams");
        assert_eq!(cancel_channel("rivulet", "a"), "rivulet:cancel:a");
    }
}
