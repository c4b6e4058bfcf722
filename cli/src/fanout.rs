//! `--subscribers N`: the stream fanned out to N-1 more consumers besides
//! the one that prints, each checking, chunk by chunk, that it sees what
//! the printing consumer saw.
//!
//! Each extra consumer is a task on the CLI's runtime, not a thread:
//! 100,000 of them fit in memory, where as many threads would exhaust the
//! process. What the printing consumer saw is kept once, in a `watch`
//! channel; a consumer that is ahead waits for it there, so a consumer
//! costs its subscription and a cursor, not a copy of the stream.

use std::io::Write;

use futures::{Stream, StreamExt};
use rivulet_actors::{Policy, SharedChunk};
use rivulet_core::Error;
use tokio::sync::watch;
use tokio::task::JoinSet;

use rivulet::json::error_line;
use rivulet::Chunks;
use rivulet::StreamResponse;

/// How a stream ended, as the consumers compare it.
#[derive(Clone, Debug, PartialEq)]
enum End {
    Finished,
    /// The closing `-o chunks` line.
    Failed(String),
}

impl End {
    fn of(error: Option<&Error>) -> End {
        match error {
            None => End::Finished,
            Some(e) => End::Failed(error_line(e)),
        }
    }
}

/// What the printing consumer has seen so far.
#[derive(Default)]
struct Seen {
    chunks: Vec<SharedChunk>,
    end: Option<End>,
}

/// The extra consumers of one stream.
pub struct FanOut {
    seen: watch::Sender<Seen>,
    tasks: JoinSet<(u32, Result<(), String>)>,
    consumers: u32,
}

impl FanOut {
    /// Starts `consumers - 1` extra consumers of `response` as tasks on the
    /// current tokio runtime. Each subscribes at once, so each follows the
    /// stream live; detached, so none of them slows the stream.
    pub fn start(response: &StreamResponse, consumers: u32) -> FanOut {
        let (seen, _) = watch::channel(Seen::default());
        let mut tasks = JoinSet::new();
        // Numbered as the user counts them: the printing consumer is 1.
        for n in 2..=consumers {
            let chunks = Chunks::new(response.subscribe(Policy::Detached { capacity: 64 }));
            let seen = seen.subscribe();
            tasks.spawn(async move { (n, follow(chunks, seen).await) });
        }
        FanOut {
            seen,
            tasks,
            consumers,
        }
    }

    /// The printing consumer saw `chunk`.
    pub fn saw(&self, chunk: &SharedChunk) {
        self.seen.send_modify(|s| s.chunks.push(chunk.clone()));
    }

    /// The printing consumer's stream ended, with `error` if it failed.
    pub fn ended(&self, error: Option<&Error>) {
        let end = End::of(error);
        self.seen.send_modify(|s| s.end = Some(end));
    }

    /// Waits for every consumer to finish its check and says on `err`
    /// whether they all saw the same chunks (then it returns `true`) or
    /// how many did not, and what one of them saw.
    pub async fn report(mut self, err: &mut dyn Write) -> bool {
        let mut differ = 0;
        let mut first: Option<(u32, String)> = None;
        while let Some(joined) = self.tasks.join_next().await {
            let (n, result) = match joined {
                Ok(r) => r,
                Err(e) => (0, Err(format!("its task failed: {e}"))),
            };
            if let Err(why) = result {
                differ += 1;
                // The lowest-numbered one, so the report does not depend
                // on which task finished first.
                match &first {
                    Some((m, _)) if *m <= n => {}
                    _ => first = Some((n, why)),
                }
            }
        }
        let consumers = self.consumers;
        match first {
            None => {
                let seen = self.seen.borrow();
                let failed = matches!(seen.end, Some(End::Failed(_)));
                let events = seen.chunks.len() + usize::from(failed);
                let _ = writeln!(
                    err,
                    "rivulet: {consumers} subscribers saw the same {events} chunks"
                );
                true
            }
            Some((n, why)) => {
                let _ = writeln!(
                    err,
                    "rivulet: fan-out mismatch: {differ} of {consumers} subscribers saw other chunks (subscriber {n}: {why})"
                );
                false
            }
        }
    }
}

/// One extra consumer: reads its own subscription to the end, comparing
/// each chunk and the end with what the printing consumer saw at the
/// same position.
async fn follow(
    mut chunks: impl Stream<Item = Result<SharedChunk, Error>> + Unpin,
    mut seen: watch::Receiver<Seen>,
) -> Result<(), String> {
    let mut at = 0;
    loop {
        let mine = chunks.next().await;
        // Wait until the printing consumer has seen as far, or has ended.
        let view = seen
            .wait_for(|s| s.chunks.len() > at || s.end.is_some())
            .await
            .map_err(|_| "the printing consumer went away".to_string())?;
        let theirs = view.chunks.get(at);
        match (mine, theirs) {
            (Some(Ok(chunk)), Some(expected)) if *chunk == **expected => at += 1,
            (Some(Ok(_)), Some(_)) => return Err(format!("chunk {} differs", at + 1)),
            (Some(Ok(_)), None) => return Err(format!("saw more than {at} chunks")),
            (_, Some(_)) => return Err(format!("saw {at} chunks, not {}", view.chunks.len())),
            (end, None) => {
                let mine = End::of(end.and_then(Result::err).as_ref());
                return match &view.end {
                    Some(theirs) if *theirs == mine => Ok(()),
                    _ => Err(format!("the stream ended differently: {mine:?}")),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet_core::Chunk;

    fn chunks(texts: &[&str]) -> Vec<SharedChunk> {
        texts
            .iter()
            .map(|t| SharedChunk::from(Chunk::text(0, *t)))
            .collect()
    }

    /// What `follow` says of a consumer that saw `mine` (then `mine_end`)
    /// where the printing consumer saw `theirs` (then `their_end`).
    fn check(
        mine: &[&str],
        mine_end: Option<Error>,
        theirs: &[&str],
        their_end: Option<Error>,
    ) -> Result<(), String> {
        let mut items: Vec<Result<SharedChunk, Error>> = chunks(mine).into_iter().map(Ok).collect();
        items.extend(mine_end.map(Err));
        let (tx, rx) = watch::channel(Seen::default());
        let theirs = chunks(theirs);
        let their_end = End::of(their_end.as_ref());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async move {
            let follower = tokio::spawn(follow(futures::stream::iter(items), rx));
            // The printing consumer comes later, a chunk at a time.
            for c in theirs {
                tokio::task::yield_now().await;
                tx.send_modify(|s| s.chunks.push(c));
            }
            tx.send_modify(|s| s.end = Some(their_end));
            follower.await.unwrap()
        })
    }

    #[test]
    fn the_same_chunks_and_end_agree() {
        assert_eq!(check(&["a", "b"], None, &["a", "b"], None), Ok(()));
        let cut = || Some(Error::connection("reset"));
        assert_eq!(check(&["a"], cut(), &["a"], cut()), Ok(()));
    }

    #[test]
    fn any_difference_is_named() {
        assert_eq!(
            check(&["a", "x"], None, &["a", "b"], None),
            Err("chunk 2 differs".into())
        );
        assert_eq!(
            check(&["a", "b", "c"], None, &["a", "b"], None),
            Err("saw more than 2 chunks".into())
        );
        assert_eq!(
            check(&["a"], None, &["a", "b"], None),
            Err("saw 1 chunks, not 2".into())
        );
        let e = check(&["a"], Some(Error::connection("reset")), &["a"], None).unwrap_err();
        assert!(e.starts_with("the stream ended differently"), "{e}");
    }
}
