//! The shared log against a real redis-server (one per test, on a free
//! loopback port, no persistence), with real recorded transcripts served
//! by the testkit's loopback server as the provider. Two `Node`s in one
//! process stand for two nodes: each has its own connections, as two
//! processes would.

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use rivulet::{ErrorKind, Outcome, StreamResponse};
use rivulet_redis::{Config, Error, Mirror, MirrorEnd, Node, RemoteEvent};
use rivulet_testkit::{wire, After, Replay, Server, Split};
use support::{local_lines, model, remote_lines, wait_until, RedisServer};

/// ~210 chunks of reasoning and text (DeepSeek, OpenAI-compatible).
const LONG: &str = "deepseek/reasoner_reasoning_content.sse";
/// Two tool calls streamed in parallel, ~25 chunks.
const TOOLS: &str = "openai-chat/parallel_tool_calls.sse";
/// As a model generates: one line per write, 2 ms apart.
const PACE: Duration = Duration::from_millis(2);

/// Node `name` on `redis`, with the defaults changed by `tweak`.
fn node(redis: &RedisServer, name: &str, tweak: impl FnOnce(&mut Config)) -> Node {
    let mut config = Config::new(redis.url());
    config.node_id = name.into();
    tweak(&mut config);
    Node::start(config).unwrap()
}

/// Nodes `node-a` and `node-b` with the defaults.
fn nodes(redis: &RedisServer) -> (Node, Node) {
    (node(redis, "node-a", |_| {}), node(redis, "node-b", |_| {}))
}

/// A generation owned by a node: its provider (keep it: dropping it stops
/// the provider), its stream, its mirror.
struct Owned {
    server: Server,
    response: StreamResponse,
    mirror: Mirror,
}

/// A DeepSeek generation served by `replay`, started on `owner` and
/// mirrored there as `id`, once registered.
async fn owned(owner: &Node, id: &str, replay: Replay) -> Owned {
    let server = Server::start(vec![replay]).await;
    let response = model("deepseek", &server.url()).stream("Hello");
    let mirror = owner.mirror(id, "deepseek/test-model", response.handle());
    mirror.registered().await.unwrap();
    Owned {
        server,
        response,
        mirror,
    }
}

/// The transcript, one line per write, `PACE` apart.
fn paced(transcript: &str) -> Replay {
    Replay::sse(wire(transcript))
        .split(Split::Lines)
        .delay(PACE)
}

/// The first half of the transcript's lines, then silence with the
/// connection open: a generation caught mid-stream.
fn cut_mid_stream(transcript: &str) -> Replay {
    let body = wire(transcript);
    let lines: Vec<&[u8]> = body.split_inclusive(|b| *b == b'\n').collect();
    let half: Vec<u8> = lines[..lines.len() / 2].concat();
    Replay::sse(half)
        .split(Split::Lines)
        .delay(PACE)
        .then(After::Stall)
}

fn spawn_local(
    response: &StreamResponse,
) -> tokio::task::JoinHandle<(Vec<(u64, String)>, Outcome)> {
    let response = response.clone();
    tokio::spawn(async move { local_lines(&response).await })
}

fn kind(outcome: &Outcome) -> Option<ErrorKind> {
    match outcome {
        Outcome::Finished => None,
        Outcome::Failed(e) => Some(e.kind()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_on_another_node_gets_exactly_the_owners_chunks() {
    let redis = RedisServer::start();
    let (a, b) = nodes(&redis);
    let Owned {
        server: _provider,
        response,
        mirror,
    } = owned(&a, "st_1", paced(LONG)).await;
    let local = spawn_local(&response);

    // Attach on B mid-stream.
    wait_until(Duration::from_secs(10), "20 chunks on A", || {
        response.handle().len() >= 20
    })
    .await;
    let mut follower = b.follow("st_1", None).await.unwrap();
    assert!(
        response.handle().outcome().is_none(),
        "B attached after the end"
    );
    assert_eq!(follower.owner(), "node-a");
    assert_eq!(follower.model(), "deepseek/test-model");
    let (remote, end) = remote_lines(&mut follower).await;
    let (local, outcome) = local.await.unwrap();

    assert_eq!(outcome, Outcome::Finished);
    assert!(local.len() > 200, "{} chunks", local.len());
    let offsets: Vec<u64> = local.iter().map(|(o, _)| *o).collect();
    assert_eq!(offsets, (0..local.len() as u64).collect::<Vec<_>>());
    assert_eq!(remote, local, "B's chunks are A's, line for line");
    assert_eq!(end.unwrap(), Outcome::Finished);
    assert_eq!(mirror.done().await, MirrorEnd::Complete);

    // What a non-owner can say about it.
    let status = b.status("st_1").await.unwrap();
    assert_eq!(status.status(), "finished");
    assert_eq!(status.chunks, local.len() as u64);
    assert_eq!(status.owner, "node-a");
    assert_eq!(status.model, "deepseek/test-model");
    let snapshot = b.snapshot("st_1").await.unwrap();
    let mut done = response.finish().await.unwrap();
    assert!(done.text().starts_with("Hello"), "{}", done.text());
    done.input.clear(); // the request is not in the shared log
    assert_eq!(snapshot.response, done);
    assert_eq!(snapshot.status, status);
    // Each chunk parses back into the chunk A has.
    let mut again = b.follow("st_1", None).await.unwrap();
    let mut sub = response.chunk_stream();
    while let Some(Ok(RemoteEvent::Chunk(remote))) = again.next().await {
        let local = sub.next().await.unwrap().unwrap();
        assert_eq!(remote.parse().unwrap(), *local);
        assert_eq!(remote.type_name(), local.type_name());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_after_offset_k_gives_exactly_the_rest() {
    let redis = RedisServer::start();
    let (a, b) = nodes(&redis);
    let Owned {
        server: _provider,
        response,
        ..
    } = owned(&a, "st_2", paced(LONG)).await;
    let local = spawn_local(&response);

    // A client reads up to offset k on B, disconnects, and comes back with
    // Last-Event-ID: k while the stream still runs.
    let k = 24;
    let mut first = b.follow("st_2", None).await.unwrap();
    let mut seen = Vec::new();
    while let Some(Ok(RemoteEvent::Chunk(c))) = first.next().await {
        seen.push((c.offset(), c.json().to_string()));
        if c.offset() == k {
            break;
        }
    }
    drop(first);
    assert!(
        response.handle().outcome().is_none(),
        "resumed after the end"
    );
    let mut resumed = b.follow("st_2", Some(k)).await.unwrap();
    let (rest, end) = remote_lines(&mut resumed).await;
    let (local, _) = local.await.unwrap();
    assert_eq!(rest.first().map(|c| c.0), Some(k + 1));
    seen.extend(rest);
    assert_eq!(seen, local, "nothing lost, nothing repeated");
    assert_eq!(end.unwrap(), Outcome::Finished);

    // After the end: from any offset, exactly the rest.
    let last = local.len() as u64 - 1;
    for from in [0, 100, last - 1] {
        let (rest, end) = remote_lines(&mut b.follow("st_2", Some(from)).await.unwrap()).await;
        assert_eq!(rest, local[from as usize + 1..], "after {from}");
        assert_eq!(end.unwrap(), Outcome::Finished);
    }
    // After the last chunk, or beyond it: just the end, as a local
    // subscription gives.
    for from in [last, last + 1, last + 50] {
        let (rest, end) = remote_lines(&mut b.follow("st_2", Some(from)).await.unwrap()).await;
        assert_eq!(rest, vec![], "after {from}");
        assert_eq!(end.unwrap(), Outcome::Finished, "after {from}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_from_another_node_closes_the_owners_upstream() {
    let redis = RedisServer::start();
    // The fallback (the flag the owner reads with each write) waits for
    // the next write; on a quiet stream that is the lease refresh, 10 s
    // away: a close within a second can only be the pub/sub message.
    let a = node(&redis, "node-a", |c| c.lease = Duration::from_secs(30));
    let b = node(&redis, "node-b", |_| {});
    let Owned {
        server,
        response,
        mirror,
    } = owned(&a, "st_3", cut_mid_stream(LONG)).await;
    let local = spawn_local(&response);
    let mut follower = b.follow("st_3", None).await.unwrap();
    let remote = tokio::spawn(async move { remote_lines(&mut follower).await });
    wait_quiet(&response, &mirror).await;
    assert!(mirror.stats().chunks >= 10);
    assert_eq!(server.open_connections(), 1);

    let asked = Instant::now();
    let request = b.cancel("st_3").await.unwrap();
    assert_eq!(request.owner, "node-a");
    assert!(request.heard, "A's listener is subscribed");
    let closed = server
        .wait_client_closed(Duration::from_secs(5))
        .await
        .expect("A's upstream connection closes");
    let took = closed.saturating_duration_since(asked);
    assert!(took < Duration::from_secs(1), "closed after {took:?}");
    assert!(server.wait_all_closed(Duration::from_secs(1)).await);

    let (local, outcome) = local.await.unwrap();
    assert_eq!(kind(&outcome), Some(ErrorKind::Cancelled));
    let (remote, end) = remote.await.unwrap();
    assert_eq!(kind(&end.unwrap()), Some(ErrorKind::Cancelled));
    assert_eq!(remote, local);
    assert_eq!(mirror.done().await, MirrorEnd::Complete);
    assert_eq!(b.status("st_3").await.unwrap().status(), "cancelled");
}

/// A cancel whose message the owner missed (its listener was
/// reconnecting, say) still arrives: the owner reads the flag with its
/// next write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_cancel_message_still_arrives_with_the_next_write() {
    let redis = RedisServer::start();
    let a = node(&redis, "node-a", |c| c.lease = Duration::from_millis(900));
    let Owned {
        server,
        response,
        mirror,
    } = owned(&a, "st_10", cut_mid_stream(LONG)).await;
    wait_quiet(&response, &mirror).await;
    // The flag alone, as if the message had gone to no one.
    assert_eq!(redis.command("HSET rivulet:st_10:meta cancel 1"), ":1\r\n");
    let asked = Instant::now();
    server
        .wait_client_closed(Duration::from_secs(5))
        .await
        .expect("A's upstream connection closes");
    let took = asked.elapsed();
    // The next write is the lease refresh, a third of the lease away.
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
    let (_, outcome) = local_lines(&response).await;
    assert_eq!(kind(&outcome), Some(ErrorKind::Cancelled));
    assert_eq!(mirror.done().await, MirrorEnd::Complete);
}

/// Waits until Redis has confirmed `n` chunks of `mirror`.
async fn in_redis(mirror: &Mirror, n: u64) {
    wait_until(Duration::from_secs(10), "chunks in Redis", || {
        mirror.stats().chunks >= n
    })
    .await;
}

/// Waits until the stream has stopped growing (its transcript cut short)
/// and Redis has every chunk of it.
async fn wait_quiet(response: &StreamResponse, mirror: &rivulet_redis::Mirror) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let len = response.handle().len();
        tokio::time::sleep(Duration::from_millis(200)).await;
        if len > 0 && response.handle().len() == len && mirror.stats().chunks == len as u64 {
            return;
        }
        assert!(Instant::now() < deadline, "the stream never went quiet");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_fail_naming_the_owner_when_its_lease_runs_out() {
    let redis = RedisServer::start();
    let a = node(&redis, "node-a", |c| c.lease = Duration::from_secs(1));
    let b = node(&redis, "node-b", |_| {});
    let Owned {
        server: _provider,
        response,
        mirror,
    } = owned(&a, "st_4", cut_mid_stream(LONG)).await;
    let mut follower = b.follow("st_4", None).await.unwrap();
    let remote = tokio::spawn(async move {
        let (lines, end) = remote_lines(&mut follower).await;
        (lines, end, Instant::now())
    });
    in_redis(&mirror, 10).await;

    // Node A stops writing anything, as if it died (no end, no refresh).
    let died = Instant::now();
    mirror.abort();
    assert_eq!(mirror.done().await, MirrorEnd::Aborted);
    let (lines, end, ended) = remote.await.unwrap();
    let outcome = end.unwrap();
    let Outcome::Failed(error) = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(error.kind(), ErrorKind::Connection);
    assert_eq!(
        error.message(),
        "owner node node-a of stream st_4 was lost: its lease expired before the stream ended"
    );
    let took = ended - died;
    assert!(
        took <= Duration::from_secs(2),
        "ended {took:?} after the owner"
    );
    assert!(lines.len() >= 10);
    let status = b.status("st_4").await.unwrap();
    assert_eq!(status.status(), "failed");
    assert_eq!(status.outcome, Some(outcome));

    // A's own stream never noticed.
    assert!(response.handle().outcome().is_none());
    response.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_stream_breaks_only_the_mirror_and_comes_back() {
    let mut redis = RedisServer::start();
    let a = node(&redis, "node-a", |c| {
        c.max_outage = Duration::from_secs(1);
        c.request_timeout = Duration::from_millis(500);
    });
    let b = node(&redis, "node-b", |_| {});

    // The same transcript with no mirror, for what A's clients must get.
    let reference_server = Server::start(vec![paced(LONG)]).await;
    let reference = model("deepseek", &reference_server.url()).stream("Hello");
    let (want, _) = local_lines(&reference).await;

    let Owned {
        server: _provider,
        response,
        mirror,
    } = owned(&a, "st_5", paced(LONG)).await;
    let local = spawn_local(&response);
    let mut follower = b.follow("st_5", None).await.unwrap();
    let remote = tokio::spawn(async move { remote_lines(&mut follower).await });
    in_redis(&mirror, 10).await;
    redis.kill();
    let killed = Instant::now();

    let (local, outcome) = local.await.unwrap();
    assert_eq!(outcome, Outcome::Finished);
    assert_eq!(local, want, "A's clients get every chunk");
    let (seen, end) = remote.await.unwrap();
    let error = end.expect_err("B's follower errors");
    assert!(
        matches!(error, Error::Redis(_) | Error::Timeout(_)),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with("the shared log (Redis)"),
        "{error}"
    );
    assert!(killed.elapsed() < Duration::from_secs(10));
    assert_eq!(seen, want[..seen.len()], "what B got before is right");
    let MirrorEnd::Lost { reason, recorded } = mirror.done().await else {
        panic!("the mirror should give up")
    };
    assert!(reason.starts_with("Redis failed for 1s"), "{reason}");
    assert!(!recorded);
    let metrics = a.metrics();
    assert_eq!(metrics.mirrors_lost, 1);
    assert_eq!(metrics.mirrors_running, 0);
    assert_eq!(metrics.lag_chunks, 0);
    assert!(metrics.errors > 0, "{metrics:?}");
    assert!(metrics.reconnects > 0, "{metrics:?}");

    // Redis comes back (empty): a new stream mirrors again.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.ping().await.is_err() {
        assert!(Instant::now() < deadline, "A never reconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let server = Server::start(vec![paced(TOOLS)]).await;
    let response = model("openai", &server.url()).stream("Weather?");
    let mirror = a.mirror("st_6", "openai/test-model", response.handle());
    mirror.registered().await.unwrap();
    let (local, _) = local_lines(&response).await;
    assert_eq!(mirror.done().await, MirrorEnd::Complete);
    let (remote, end) = remote_lines(&mut b.follow("st_6", None).await.unwrap()).await;
    assert_eq!(remote, local);
    assert_eq!(end.unwrap(), Outcome::Finished);
}

/// Writes Redis refuses for a while (out of memory) are sent again, each
/// before anything newer: the mirror does not wait for a write's answer
/// before the next chunk comes, but looks at it before sending more. Sent
/// out of order, a later write taken first would have Redis refuse the
/// earlier one's ids as already there, and the copy would miss them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_refused_for_a_while_are_sent_again_in_order() {
    let redis = RedisServer::start();
    let a = node(&redis, "node-a", |c| c.max_outage = Duration::from_secs(10));
    let b = node(&redis, "node-b", |_| {});
    let Owned {
        server: _provider,
        response,
        mirror,
    } = owned(&a, "st_12", paced(LONG)).await;
    let local = spawn_local(&response);
    in_redis(&mirror, 10).await;
    assert_eq!(redis.command("CONFIG SET maxmemory 1"), "+OK\r\n");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(redis.command("CONFIG SET maxmemory 0"), "+OK\r\n");

    let (local, outcome) = local.await.unwrap();
    assert_eq!(outcome, Outcome::Finished);
    assert_eq!(mirror.done().await, MirrorEnd::Complete);
    assert!(a.metrics().errors > 0, "no write failed: {:?}", a.metrics());
    assert_eq!(mirror.stats().chunks, local.len() as u64);
    let (remote, end) = remote_lines(&mut b.follow("st_12", None).await.unwrap()).await;
    assert_eq!(remote, local);
    assert_eq!(end.unwrap(), Outcome::Finished);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_past_its_lag_bound_closes_the_copy_with_a_failure() {
    let redis = RedisServer::start();
    let a = node(&redis, "node-a", |c| {
        c.max_lag = 5;
        c.request_timeout = Duration::from_millis(300);
    });
    let b = node(&redis, "node-b", |_| {});
    let Owned {
        server: _provider,
        response,
        mirror,
    } = owned(&a, "st_7", paced(LONG)).await;
    let local = spawn_local(&response);
    in_redis(&mirror, 10).await;
    // Redis stalls every write for 1.5 s: the mirror falls behind.
    assert_eq!(redis.command("CLIENT PAUSE 1500 WRITE"), "+OK\r\n");

    let (local, outcome) = local.await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Finished,
        "the local stream is not held back"
    );
    let MirrorEnd::Lost { reason, recorded } = mirror.done().await else {
        panic!("the mirror should give up")
    };
    assert!(
        reason.starts_with("it fell more than 5 chunks behind"),
        "{reason}"
    );
    assert!(
        recorded,
        "the failure is in Redis once it takes writes again"
    );

    // Any node sees the copy end with that failure, after the chunks it has.
    let (remote, end) = remote_lines(&mut b.follow("st_7", None).await.unwrap()).await;
    assert!(
        remote.len() >= 10 && remote.len() < local.len(),
        "{}",
        remote.len()
    );
    assert_eq!(remote, local[..remote.len()]);
    let outcome = end.unwrap();
    let Outcome::Failed(error) = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(error.kind(), ErrorKind::Connection);
    assert_eq!(
        error.message(),
        format!(
            "the mirror of this stream on node node-a was lost: {reason}; the rest of the stream \
             is not in the shared log"
        )
    );
    let status = b.status("st_7").await.unwrap();
    assert_eq!(status.status(), "failed");
    assert_eq!(status.chunks, remote.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_streams_followed_lose_duplicate_and_reorder_nothing() {
    const STREAMS: usize = 200;
    let redis = RedisServer::start();
    let (a, b) = nodes(&redis);
    let server = Server::start(vec![paced(TOOLS)]).await;
    let model = model("openai", &server.url());
    let mut runs = Vec::new();
    for i in 0..STREAMS {
        let id = format!("st_{i}");
        let response = model.stream("Weather?");
        let mirror = a.mirror(&id, "openai/test-model", response.handle());
        let local = spawn_local(&response);
        runs.push((id, response, mirror, local));
    }
    let mut followers = Vec::new();
    for (id, _, mirror, _) in &runs {
        mirror.registered().await.unwrap();
        let mut follower = b.follow(id, None).await.unwrap();
        followers.push(tokio::spawn(
            async move { remote_lines(&mut follower).await },
        ));
    }
    let (mut total, mut requests) = (0, 0);
    for ((id, _response, mirror, local), remote) in runs.into_iter().zip(followers) {
        let (local, outcome) = local.await.unwrap();
        let (remote, end) = remote.await.unwrap();
        assert_eq!(outcome, Outcome::Finished, "{id}");
        assert!(local.len() > 20, "{id}: {} chunks", local.len());
        assert_eq!(remote, local, "{id}");
        assert_eq!(end.unwrap(), Outcome::Finished, "{id}");
        assert_eq!(mirror.done().await, MirrorEnd::Complete, "{id}");
        total += local.len() as u64;
        requests += mirror.stats().round_trips;
    }
    let metrics = a.metrics();
    assert_eq!(metrics.chunks_mirrored, total);
    // The node's writer sent the mirrors' requests together: 200 streams
    // paced alike have requests ready at once, so the round trips are
    // fewer than the requests (the claims go alone).
    assert!(
        metrics.round_trips < requests,
        "{} round trips for {requests} requests",
        metrics.round_trips
    );
    assert_eq!(metrics.mirrors_running, 0);
    assert_eq!(metrics.errors, 0);
    assert_eq!(
        redis.calls("xadd"),
        total + STREAMS as u64,
        "each entry once"
    );
    let listed = b.list(1000).await.unwrap();
    assert_eq!(listed.len(), STREAMS);
    assert!(listed
        .iter()
        .all(|s| s.status() == "finished" && s.owner == "node-a"));
}

/// Once the node has loaded the claim script, a claim sends its hash, not
/// its text; a Redis that has lost the script (flushed, or restarted) gets
/// the text again, from the claim that found it missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_send_the_scripts_hash_and_its_text_only_to_a_redis_without_it() {
    let redis = RedisServer::start();
    let a = node(&redis, "node-a", |_| {});
    wait_until(Duration::from_secs(10), "the claim script loaded", || {
        redis.calls("script|load") == 1
    })
    .await;
    // The node sets its flag when the reply arrives, after Redis counts.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let claim = |id: &'static str| {
        let a = a.clone();
        async move {
            let owned = owned(&a, id, paced(TOOLS)).await;
            let (_, outcome) = local_lines(&owned.response).await;
            assert_eq!(outcome, Outcome::Finished, "{id}");
            assert_eq!(owned.mirror.done().await, MirrorEnd::Complete, "{id}");
        }
    };
    claim("st_h1").await;
    assert_eq!((redis.calls("evalsha"), redis.calls("eval")), (1, 0));
    assert_eq!(redis.command("SCRIPT FLUSH"), "+OK\r\n");
    claim("st_h2").await;
    // NOSCRIPT, then the text, which Redis caches again.
    assert_eq!((redis.calls("evalsha"), redis.calls("eval")), (2, 1));
    claim("st_h3").await;
    assert_eq!((redis.calls("evalsha"), redis.calls("eval")), (3, 1));
    assert_eq!(a.metrics().errors, 1, "the NOSCRIPT, counted once");
}

/// `INFO clients`: how many connections redis-server has.
fn connected_clients(redis: &RedisServer) -> u64 {
    let info = redis.command("INFO clients");
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("INFO clients names connected_clients")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodes_followers_share_one_connection_and_their_reads() {
    const STREAMS: usize = 50;
    let redis = RedisServer::start();
    let (a, b) = nodes(&redis);
    a.ping().await.unwrap();
    b.ping().await.unwrap();
    let server = Server::start(vec![paced(TOOLS)]).await;
    let model = model("openai", &server.url());
    let mut runs = Vec::new();
    for i in 0..STREAMS {
        let id = format!("st_{i}");
        let response = model.stream("Weather?");
        let mirror = a.mirror(&id, "openai/test-model", response.handle());
        mirror.registered().await.unwrap();
        runs.push((id, response, mirror));
    }
    let before = connected_clients(&redis);
    let reads_before = redis.calls("xread");
    let mut followers = Vec::new();
    for (id, _, _) in &runs {
        let mut follower = b.follow(id, None).await.unwrap();
        followers.push(tokio::spawn(
            async move { remote_lines(&mut follower).await },
        ));
    }
    // Every follower is reading now: one connection more for all of them
    // (B's tail), not one each.
    let during = connected_clients(&redis);
    assert!(
        during <= before + 1,
        "{before} connections before {STREAMS} followers, {during} with them"
    );
    let mut chunks = 0;
    for ((id, response, _mirror), remote) in runs.iter().zip(followers) {
        let (lines, end) = remote.await.unwrap();
        assert_eq!(end.unwrap(), Outcome::Finished, "{id}");
        assert_eq!(lines.len(), response.handle().len(), "{id}");
        chunks += lines.len() as u64;
    }
    // One read serves many streams: far fewer reads than chunks (a read
    // per follower per wake-up would be about one per chunk).
    let reads = redis.calls("xread") - reads_before;
    assert!(
        reads * 4 < chunks,
        "{reads} XREADs for {chunks} chunks of {STREAMS} streams"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_follower_holds_back_no_other_follower_of_its_stream() {
    let redis = RedisServer::start();
    let (a, b) = nodes(&redis);
    let Owned {
        server: _provider,
        response,
        mirror,
    } = owned(&a, "st_9", paced(LONG)).await;
    let local = spawn_local(&response);
    // Two followers of one stream on B: one is never read until the end.
    let mut stalled = b.follow("st_9", None).await.unwrap();
    let mut reading = b.follow("st_9", None).await.unwrap();
    let (lines, end) = remote_lines(&mut reading).await;
    let (local, outcome) = local.await.unwrap();
    assert_eq!(outcome, Outcome::Finished);
    assert_eq!(end.unwrap(), Outcome::Finished);
    assert_eq!(lines, local, "the reading follower got everything, live");
    assert_eq!(mirror.done().await, MirrorEnd::Complete);
    // The stalled one lost nothing meanwhile.
    let (late, end) = remote_lines(&mut stalled).await;
    assert_eq!(late, local);
    assert_eq!(end.unwrap(), Outcome::Finished);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_stream_costs_at_most_one_round_trip_per_32_chunks() {
    let redis = RedisServer::start();
    let (a, _) = nodes(&redis);
    // Chunks arriving faster than a round trip: the whole transcript at
    // once (~345 chunks of reasoning and text).
    let server = Server::start(vec![Replay::sse(wire("xai/text_reasoning_content.sse"))]).await;
    let response = model("xai", &server.url()).stream("Say a single word.");
    let mirror = a.mirror("st_8", "xai/test-model", response.handle());
    let (local, _) = local_lines(&response).await;
    assert_eq!(mirror.done().await, MirrorEnd::Complete);
    let stats = mirror.stats();
    let chunks = local.len() as u64;
    assert!(chunks > 300, "{chunks}");
    assert_eq!(stats.chunks, chunks);
    // The claim, then one pipeline per 32 chunks at most.
    assert!(
        stats.round_trips <= 1 + chunks.div_ceil(32),
        "{} round trips for {chunks} chunks",
        stats.round_trips
    );
    assert_eq!(a.metrics().round_trips, stats.round_trips);
    assert_eq!(
        redis.calls("xadd"),
        chunks + 1,
        "each entry once, and the end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_unknown_or_owned_elsewhere() {
    let redis = RedisServer::start();
    let (a, b) = nodes(&redis);
    for result in [
        b.follow("nope", None).await.map(|_| ()),
        b.status("nope").await.map(|_| ()),
        b.snapshot("nope").await.map(|_| ()),
        b.cancel("nope").await.map(|_| ()),
    ] {
        assert!(
            matches!(&result, Err(Error::NotFound(id)) if id == "nope"),
            "{result:?}"
        );
    }
    let server = Server::start(vec![cut_mid_stream(LONG)]).await;
    let model = model("deepseek", &server.url());
    let first = model.stream("Hello");
    a.mirror("st_9", "deepseek/test-model", first.handle())
        .registered()
        .await
        .unwrap();
    let second = model.stream("Hello");
    let refused = b.mirror("st_9", "deepseek/test-model", second.handle());
    assert_eq!(
        refused.registered().await,
        Err(MirrorEnd::Refused {
            owner: "node-a".into()
        })
    );
    assert_eq!(b.status("st_9").await.unwrap().owner, "node-a");
    first.cancel();
    second.cancel();
}

#[tokio::test]
async fn a_url_that_is_not_redis_is_refused_without_repeating_it() {
    for url in [
        "http://app:s3cret@10.0.0.5:6379",
        "s3cret",
        "redis://app:s3cret@[::1",
    ] {
        let error = Node::start(Config::new(url)).unwrap_err();
        assert!(matches!(error, Error::Url(_)), "{error:?}");
        assert!(
            !format!("{error} {error:?}").contains("s3cret"),
            "{error:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chats_latest_stream_is_found_from_every_node_until_it_expires() {
    let redis = RedisServer::start();
    let (a, b) = nodes(&redis);
    let short = node(&redis, "node-c", |c| {
        c.retention = Duration::from_millis(300)
    });
    assert_eq!(b.chat("chat-1").await.unwrap(), None);
    a.set_chat("chat-1", "st_1").await.unwrap();
    assert_eq!(b.chat("chat-1").await.unwrap().as_deref(), Some("st_1"));
    // A later turn of the same chat, from another node, takes its place.
    b.set_chat("chat-1", "st_2").await.unwrap();
    assert_eq!(a.chat("chat-1").await.unwrap().as_deref(), Some("st_2"));
    // The record expires with the copies.
    short.set_chat("chat-2", "st_3").await.unwrap();
    assert_eq!(a.chat("chat-2").await.unwrap().as_deref(), Some("st_3"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.chat("chat-2").await.unwrap(), None);
}
