//! Structured output over loopback HTTP: `Model::format::<T>()` sends the
//! strict schema, `structured_stream` yields growing partials without
//! duplicates, `parse` validates the final text, `parse_partial` works at any
//! moment; truncated (`finish_length.sse`) and refused (`refusal.sse`)
//! outputs are parse errors.
//!
//! `tests/fixtures/json_schema_book.sse` is a constructed transcript: the
//! chunk shapes (ids, fields, the role chunk, the finish and usage chunks)
//! are those of the recorded `openai-chat/finish_length.sse`, a json_schema
//! response; the content deltas are a whole object cut as the model's
//! tokens would be, with a `\u` escape and escaped quotes.

use futures::StreamExt;
use rivulet::{ErrorKind, Model, Partial};
use rivulet_testkit::{wire, After, Replay, Server, Split};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(default)]
struct Book {
    title: String,
    author: String,
    year: u32,
    tags: Vec<String>,
    summary: String,
}

fn book_fixture() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/json_schema_book.sse"
    ))
    .unwrap()
}

fn final_book() -> Book {
    Book {
        title: "The Hobbit".into(),
        author: "J. R. R. Tolkien".into(),
        year: 1937,
        tags: vec!["fantasy".into(), "adventure".into()],
        summary: "Bilbo\u{2019}s quest \"there and back\".".into(),
    }
}

fn final_json() -> Value {
    json!({
        "title": "The Hobbit",
        "author": "J. R. R. Tolkien",
        "year": 1937,
        "tags": ["fantasy", "adventure"],
        "summary": "Bilbo\u{2019}s quest \"there and back\"."
    })
}

fn model(server: &Server) -> Model {
    Model::new("openai/gpt-4o")
        .base_url(format!("{}/v1", server.url()))
        .api_key("sk-test")
        .retries(0)
        .format::<Book>()
}

/// Whether `next` keeps everything `prev` shows (partial strings may grow).
fn grows(prev: &Value, next: &Value) -> bool {
    match (prev, next) {
        (Value::Object(a), Value::Object(b)) => {
            a.iter().all(|(k, v)| b.get(k).is_some_and(|w| grows(v, w)))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() <= b.len() && a.iter().zip(b).all(|(x, y)| grows(x, y))
        }
        (Value::String(a), Value::String(b)) => b.starts_with(a.as_str()),
        (x, y) => x == y,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn partials_grow_without_duplicates_and_end_as_the_parsed_object() {
    let server = Server::start(vec![Replay::sse(book_fixture()).split(Split::Bytes)]).await;
    let response = model(&server).stream("Recommend a fantasy book.");
    let partials: Vec<Partial<Book>> = response
        .structured_stream::<Book>()
        .map(Result::unwrap)
        .collect()
        .await;
    let jsons: Vec<Value> = partials.iter().map(|p| p.json().clone()).collect();

    assert_eq!(jsons[0], json!({}));
    assert_eq!(jsons[1], json!({"title": ""}));
    assert_eq!(jsons[2], json!({"title": "The"}));
    assert_eq!(jsons[3], json!({"title": "The Hobbit"}));
    assert_eq!(jsons[4], json!({"title": "The Hobbit", "author": ""}));
    // The year shows only once the number is complete.
    let year_at = jsons.iter().position(|j| j.get("year").is_some()).unwrap();
    assert_eq!(
        jsons[year_at],
        json!({"title": "The Hobbit", "author": "J. R. R. Tolkien", "year": 1937})
    );
    assert_eq!(
        jsons[year_at + 1],
        json!({"title": "The Hobbit", "author": "J. R. R. Tolkien", "year": 1937, "tags": [""]})
    );
    // The `\u2019` escape shows once its four digits have arrived.
    assert!(jsons.contains(&json!({
        "title": "The Hobbit", "author": "J. R. R. Tolkien", "year": 1937,
        "tags": ["fantasy", "adventure"], "summary": "Bilbo\u{2019}"
    })));
    for w in jsons.windows(2) {
        assert_ne!(w[0], w[1], "no duplicates");
        assert!(grows(&w[0], &w[1]), "{} -> {}", w[0], w[1]);
    }
    // One per visible change: 29 of the 40 content deltas change the object.
    assert_eq!(jsons.len(), 29);
    assert_eq!(jsons.last().unwrap(), &final_json());
    // Each partial is a Book: fields not received yet are empty.
    assert_eq!(
        partials[4].get(),
        Some(&Book {
            title: "The Hobbit".into(),
            ..Book::default()
        })
    );
    assert_eq!(partials.last().unwrap().get(), Some(&final_book()));

    assert_eq!(response.parse::<Book>().await.unwrap(), final_book());
    let after = response.parse_partial::<Book>().await.unwrap();
    assert_eq!(after.json(), &final_json());
    // A replay yields the same partials.
    let again: Vec<Value> = response
        .structured_stream::<Value>()
        .map(|p| p.unwrap().json().clone())
        .collect()
        .await;
    assert_eq!(again, jsons);

    // The strict schema went out as response_format.
    let sent = server.requests()[0].json();
    assert_eq!(
        sent["response_format"],
        json!({"type": "json_schema", "json_schema": {
            "name": "Book",
            "strict": true,
            "schema": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "author": {"type": "string"},
                    "year": {"type": "integer", "minimum": 0},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "summary": {"type": "string"}
                },
                "required": ["author", "summary", "tags", "title", "year"],
                "additionalProperties": false
            }
        }})
    );
}

#[test]
fn blocking_twins_and_parse_partial_mid_stream() {
    // The transcript up to `"author":"J. R. R. Tol`, then the server stalls.
    let text = String::from_utf8(book_fixture()).unwrap();
    let cut = text.find("\" Tol\"").unwrap();
    let cut = cut + text[cut..].find("\n\n").unwrap() + 2;
    let server = Server::start_blocking(vec![
        Replay::sse(text[..cut].to_string()).then(After::Stall),
        Replay::sse(book_fixture()).split(Split::Lines),
    ]);
    let response = model(&server).stream("q");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let expected = r#"{"title":"The Hobbit","author":"J. R. R. Tol"#;
    while response.blocking().snapshot().text() != expected {
        assert!(std::time::Instant::now() < deadline, "the text never came");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let p = response.blocking().parse_partial::<Book>().unwrap();
    assert_eq!(
        p.json(),
        &json!({"title": "The Hobbit", "author": "J. R. R. Tol"})
    );
    assert_eq!(
        p.into_inner(),
        Some(Book {
            title: "The Hobbit".into(),
            author: "J. R. R. Tol".into(),
            ..Book::default()
        })
    );
    response.cancel();
    assert_eq!(
        response.blocking().parse::<Book>().unwrap_err().kind(),
        ErrorKind::Cancelled
    );
    // Still there after the cancel.
    assert_eq!(
        response.blocking().parse_partial::<Value>().unwrap().json(),
        &json!({"title": "The Hobbit", "author": "J. R. R. Tol"})
    );

    let response = model(&server).stream("q");
    let partials: Vec<Value> = response
        .blocking()
        .structured_stream::<Book>()
        .map(|p| p.unwrap().json().clone())
        .collect();
    assert_eq!(partials.last().unwrap(), &final_json());
    assert_eq!(response.blocking().parse::<Book>().unwrap(), final_book());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_output_is_a_parse_error() {
    let server = Server::start(vec![Replay::sse(wire("openai-chat/finish_length.sse"))]).await;
    let response = model(&server).stream("q");
    let partials: Vec<Value> = response
        .structured_stream::<Value>()
        .map(|p| p.unwrap().json().clone())
        .collect()
        .await;
    assert_eq!(partials, vec![json!({})]);
    let err = response.parse::<Book>().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Parse);
    assert_eq!(
        err.message(),
        "EOF while parsing a string at line 1 column 2"
    );
    assert_eq!(
        response.parse_partial::<Book>().await.unwrap().get(),
        Some(&Book::default())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_is_a_parse_error_with_the_refusal() {
    let server = Server::start(vec![Replay::sse(wire("openai-chat/refusal.sse"))]).await;
    let response = model(&server).stream("q");
    let items: Vec<_> = response.structured_stream::<Book>().collect().await;
    assert_eq!(items.len(), 1);
    let err = items[0].as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Parse);
    assert_eq!(
        err.message(),
        "the output is not JSON: expected value at byte 0"
    );
    let err = response.parse::<Book>().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Parse);
    assert_eq!(
        err.message(),
        "the model refused: I'm sorry, I can't assist with that request."
    );
}
