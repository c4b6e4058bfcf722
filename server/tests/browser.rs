//! The web page of `rivulet serve` in a real browser: headless Chromium
//! driven over WebDriver (chromedriver, plain WebDriver JSON over reqwest:
//! a handful of endpoints, no client crate needed), against the server
//! in-process whose upstream is testkit's replay server replaying a real
//! recorded OpenAI transcript line by line. And a page of another origin
//! (another port) that fetches the server: kept out (nothing starts, not
//! even from a `no-cors` post) unless its origin is allowed, then served
//! with CORS.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs
//! them). Without chromedriver the test skips, unless `CI` is set: then it
//! fails.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use futures::StreamExt;
use rivulet::json::chunk_line;
use rivulet::Model;
use rivulet_server::{serve, ServeConfig};
use rivulet_testkit::{wire, Replay, Server, Split};
use serde_json::{json, Value};

#[path = "support/serve.rs"]
mod serve_support;

use serve_support::start_with;

const TRANSCRIPT: &str = "openai-chat/text_include_usage.sse";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const TOKEN: &str = "page-token";
/// The WebDriver name of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn transcript(delay: Duration) -> Replay {
    Replay::sse(wire(TRANSCRIPT))
        .split(Split::Lines)
        .delay(delay)
}

/// The transcript's text, streamed in-process.
async fn expected_text() -> String {
    let upstream = Server::start(vec![transcript(Duration::ZERO)]).await;
    let url = format!("{}/v1", upstream.url());
    let model = Model::new("openai/gpt-4o-mini")
        .base_url(url)
        .api_key("sk-test")
        .retries(0);
    let mut text = String::new();
    let mut chunks = model.stream("hi").chunk_stream();
    while let Some(c) = chunks.next().await {
        let v: Value = serde_json::from_str(&chunk_line(&c.unwrap())).unwrap();
        if v["type"] == "text_chunk" {
            text.push_str(v["delta"].as_str().unwrap());
        }
    }
    assert!(text.len() > 5, "{text:?}");
    text
}

/// A response's JSON body (`null` if it is not JSON).
async fn json_of(r: reqwest::Response) -> Value {
    serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or_default()
}

/// chromedriver on a free loopback port; killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = client.get(format!("{}/status", driver.url)).send().await;
            if let Ok(r) = ready {
                let v = json_of(r).await;
                if v["value"]["ready"] == json!(true) {
                    return driver;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver never got ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One WebDriver session (one headless Chromium).
struct Session {
    client: reqwest::Client,
    base: String,
}

impl Session {
    async fn new(driver: &Driver, profile: &std::path::Path) -> Session {
        let client = reqwest::Client::new();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let r = client
            .post(format!("{}/session", driver.url))
            .header("content-type", "application/json")
            .body(caps.to_string())
            .send()
            .await
            .unwrap();
        let v = json_of(r).await;
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"));
        Session {
            base: format!("{}/session/{id}", driver.url),
            client,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let mut r = self.client.request(method, format!("{}{path}", self.base));
        if !body.is_null() {
            r = r
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let r = r.send().await.unwrap();
        let ok = r.status().is_success();
        let v = json_of(r).await;
        assert!(ok, "WebDriver {path}: {v}");
        v["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, body).await
    }

    async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    async fn element(&self, css: &str) -> String {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        v[ELEMENT].as_str().unwrap().to_string()
    }

    async fn click(&self, css: &str) {
        let e = self.element(css).await;
        self.post(&format!("/element/{e}/click"), json!({})).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css).await;
        self.post(&format!("/element/{e}/value"), json!({ "text": text }))
            .await;
    }

    /// The text content of `#id`.
    async fn text(&self, id: &str) -> String {
        let script = "return document.getElementById(arguments[0]).textContent";
        let v = self
            .post("/execute/sync", json!({"script": script, "args": [id]}))
            .await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// Waits (hang guard: 20 s) until `#id`'s text satisfies `ok`.
    async fn wait_text(&self, id: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let t = self.text(id).await;
            if ok(&t) {
                return t;
            }
            assert!(Instant::now() < deadline, "#{id} stayed {t:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn new_tab(&self) {
        let v = self.post("/window/new", json!({"type": "tab"})).await;
        let handle = v["handle"].as_str().unwrap().to_string();
        self.post("/window", json!({ "handle": handle })).await;
    }

    async fn screenshot(&self, path: &str) {
        let v = self
            .call(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }

    async fn close(self) {
        let _ = self.client.delete(&self.base).send().await;
    }
}

/// True (with a note) when chromedriver is missing, outside CI; under CI
/// that fails the test.
fn chromedriver_missing() -> bool {
    if std::path::Path::new(CHROMEDRIVER).exists() {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{CHROMEDRIVER} is missing: apt-get install chromium chromium-driver"
    );
    eprintln!("skipped: {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)");
    true
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_starts_watches_joins_late_and_cancels_in_a_real_browser() {
    if chromedriver_missing() {
        return;
    }
    let expected = expected_text().await;
    // The page's first stream replays slowly enough to watch it grow; the
    // second, slower, is cancelled.
    let upstream = Server::start(vec![
        transcript(Duration::from_millis(200)),
        transcript(Duration::from_secs(1)),
    ])
    .await;
    let url = format!("{}/v1", upstream.url());
    let prepare: rivulet_server::Prepare =
        Arc::new(move |m: Model| m.base_url(url.clone()).api_key("sk-test").retries(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ServeConfig {
        token: Some(TOKEN.into()),
        default_model: "openai/gpt-4o-mini".into(),
        prepare: Some(prepare),
        ..ServeConfig::default()
    };
    let server = tokio::spawn(serve(listener, config, async {
        let _ = stopped.await;
    }));

    let driver = Driver::start().await;
    let profile = std::env::temp_dir().join(format!("rivulet-browser-{}", std::process::id()));
    let browser = Session::new(&driver, &profile).await;
    let page = format!("{base}/?token={TOKEN}");

    // Start a stream from the page and see its text grow.
    browser.goto(&page).await;
    browser.type_into("#prompt", "hi").await;
    browser.click("#start").await;
    let first = browser.wait_text("text", |t| !t.is_empty()).await;
    let grown = browser.wait_text("text", |t| t.len() > first.len()).await;
    assert!(expected.starts_with(&grown), "{grown:?} vs {expected:?}");
    let id = browser.text("current").await;
    assert!(id.starts_with("st_"), "{id:?}");

    // A second tab joins the same stream late: the replay, then live.
    browser.new_tab().await;
    browser.goto(&format!("{page}&stream={id}")).await;
    browser.wait_text("status", |s| s == "finished").await;
    assert_eq!(browser.text("text").await, expected);
    // The stream's row in the list.
    browser
        .wait_text("streams", |t| t.contains(&id) && t.contains("finished"))
        .await;
    browser.screenshot("/tmp/rivulet-page.png").await;

    // Cancel a slow stream from the page.
    browser.type_into("#prompt", " again").await;
    browser.click("#start").await;
    browser
        .wait_text("current", |c| c.starts_with("st_") && c != id)
        .await;
    let slow = browser.text("current").await;
    browser.wait_text("text", |t| !t.is_empty()).await;
    browser.click("#cancel").await;
    browser.wait_text("status", |s| s == "cancelled").await;
    let r = reqwest::Client::new()
        .get(format!("{base}/v1/streams/{slow}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let v = json_of(r).await;
    assert_eq!(v["status"], json!("cancelled"), "{v}");
    let partial = v["response"]["content"][0]["text"].as_str().unwrap_or("");
    assert!(expected.starts_with(partial), "{v}");

    browser.close().await;
    drop(driver);
    let _ = std::fs::remove_dir_all(&profile);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

/// Runs `fetch(url, init)` in the page and answers `{status, type, body}`,
/// or `{error}` when the browser refused it.
const FETCH: &str = "const [url, init, done] = arguments;
fetch(url, init)
  .then(async (r) => done({status: r.status, type: r.type, body: await r.text()}))
  .catch((e) => done({error: String(e)}));";

/// How many streams the server at `base` has started.
async fn stream_count(base: &str) -> usize {
    let r = reqwest::get(format!("{base}/v1/streams")).await.unwrap();
    json_of(r).await["streams"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_of_another_origin_is_kept_out_unless_allowed() {
    if chromedriver_missing() {
        return;
    }
    // The app's page, on an origin of its own (another port).
    let app =
        Server::start(vec![Replay::new(200, "<!doctype html><title>app</title>")
            .header("content-type", "text/html")])
        .await;
    let app_origin = app.url();
    let upstream = Server::start(vec![transcript(Duration::ZERO)]).await;
    let closed = &start_with(&upstream, ServeConfig::default()).await;
    let open = &start_with(
        &upstream,
        ServeConfig {
            allowed_origins: vec![app_origin.clone()],
            ..ServeConfig::default()
        },
    )
    .await;

    let driver = Driver::start().await;
    let profile = std::env::temp_dir().join(format!("rivulet-origins-{}", std::process::id()));
    let browser = Session::new(&driver, &profile).await;
    browser.goto(&format!("{app_origin}/")).await;
    let fetch = |url: String, init: Value| {
        let browser = &browser;
        async move {
            browser
                .post(
                    "/execute/async",
                    json!({"script": FETCH, "args": [url, init]}),
                )
                .await
        }
    };
    let start = json!({"prompt": "hi"}).to_string();

    // Not allowed: the JSON post fails its preflight, and the post a page
    // can send without one (`no-cors`, text/plain) is refused by the
    // server: nothing starts.
    let v = fetch(
        format!("{closed}/v1/streams"),
        json!({"method": "POST", "headers": {"content-type": "application/json"}, "body": start}),
    )
    .await;
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("Failed to fetch")),
        "{v}"
    );
    let v = fetch(
        format!("{closed}/v1/streams"),
        json!({"method": "POST", "mode": "no-cors", "headers": {"content-type": "text/plain"}, "body": start}),
    )
    .await;
    assert_eq!(v["type"], "opaque", "{v}");
    assert_eq!(stream_count(closed).await, 0);

    // Allowed: the page starts a stream, reads its id and its events.
    let v = fetch(
        format!("{open}/v1/streams"),
        json!({"method": "POST", "headers": {"content-type": "application/json"}, "body": start}),
    )
    .await;
    assert_eq!(v["status"], 201, "{v}");
    let started: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
    let events_url = started["events_url"].as_str().unwrap();
    let v = fetch(format!("{open}{events_url}"), json!({})).await;
    assert_eq!(v["status"], 200, "{v}");
    let events = v["body"].as_str().unwrap();
    assert!(events.contains("event: text_chunk"), "{events}");
    assert!(
        events.ends_with("event: end\ndata: {\"status\":\"finished\"}\n\n"),
        "{events}"
    );
    assert_eq!(stream_count(open).await, 1);

    browser.close().await;
    drop(driver);
    let _ = std::fs::remove_dir_all(&profile);
}
