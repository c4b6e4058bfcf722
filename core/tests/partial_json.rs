//! The incremental JSON parser against serde_json: every prefix of a corpus
//! of documents, documents cut at every point, generated documents fed in
//! random pieces, and invalid text (reported, never a panic).

use proptest::prelude::*;
use rivulet_core::PartialJson;
use serde_json::{json, Value};

/// Whether `next` keeps everything `prev` shows: every key and element, the
/// same complete values, partial strings only longer.
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

const CORPUS: &[&str] = &[
    r#"{}"#,
    r#"[]"#,
    r#"{"a":{},"b":[],"c":[{}],"d":[[]]}"#,
    r#"{"city": "Edinburgh", "country": "GB", "units": "c"}"#,
    r#"{"number": 4242}"#,
    r#"{"n": -0.5e-3, "m": 12345678901234567890, "k": -9223372036854775808, "f": 1E+2, "z": 0, "y": -0, "x": 3.14159}"#,
    r#"  {  "spaced" :  [ 1 , 2 ,  3 ] , "t" : true , "f" : false , "n" : null }  "#,
    "{\n  \"pretty\": {\n    \"nested\": [\n      1,\n      {\"deep\": [\"x\"]}\n    ]\n  }\r\n}\t",
    r#"{"esc": "quote \" backslash \\ slash \/ bs \b ff \f nl \n cr \r tab \t", "u": "\u00e9\u4e2d\u0000\uFFFF"}"#,
    r#"{"pair": "\ud83d\ude00 and \uD834\uDD1E", "raw": "😀 𝄞 中文 é"}"#,
    r#"["", "a", "", {"": ""}]"#,
    r#"[[[[[[[[[[1]]]]]]]]]]"#,
    r#"{"title": "The Hobbit", "author": "J. R. R. Tolkien", "year": 1937, "tags": ["fantasy", "classic"], "rating": 4.7, "in_print": true, "sequel": null}"#,
    r#"[1.5, -2, 3e10, 4E-2, 0.0, 100, 7]"#,
    r#""just a string with \"escapes\" and \u0041""#,
    r#"12345"#,
    r#"-0.000001"#,
    r#"true"#,
    r#"null"#,
    r#"{"a":[{"b":[{"c":[{"d":"e"}]}]}],"f":{"g":{"h":{"i":[1,[2,[3,[4]]]]}}}}"#,
];

/// Feeds `text` one char at a time: no error on the way, every snapshot
/// grows from the previous one, and the end equals serde_json's parse.
fn check_char_by_char(text: &str) {
    let expected: Value = serde_json::from_str(text).unwrap();
    let mut p = PartialJson::new();
    let mut prev: Option<Value> = None;
    let mut fed = 0;
    for (i, c) in text.char_indices() {
        let piece = &text[i..i + c.len_utf8()];
        p.feed(piece)
            .unwrap_or_else(|e| panic!("prefix {:?} of {text:?}: {e}", &text[..i + 1]));
        fed += piece.len();
        let snap = p.snapshot();
        if let Some(before) = &prev {
            let now = snap
                .as_ref()
                .unwrap_or_else(|| panic!("snapshot vanished at {:?}", &text[..fed]));
            assert!(
                grows(before, now),
                "{text:?}: snapshot shrank at {:?}: {before} -> {now}",
                &text[..fed]
            );
        }
        if snap.is_some() {
            prev = snap;
        }
        // Every snapshot is itself a prefix-consistent view of the final value.
        if let Some(s) = &prev {
            assert!(
                grows(s, &expected),
                "{text:?}: {s} is not part of {expected}"
            );
        }
    }
    assert_eq!(p.finish().unwrap(), expected, "{text}");
    // Only a top-level number shows nothing until the end.
    assert_eq!(prev.is_none(), expected.is_number(), "{text}");
}

#[test]
fn every_prefix_of_the_corpus() {
    for doc in CORPUS {
        check_char_by_char(doc);
    }
}

#[test]
fn every_prefix_parsed_fresh_never_fails() {
    for doc in CORPUS {
        for (i, _) in doc.char_indices() {
            let mut p = PartialJson::new();
            p.feed(&doc[..i])
                .unwrap_or_else(|e| panic!("{:?}: {e}", &doc[..i]));
            let _ = p.snapshot();
        }
    }
}

#[test]
fn every_two_piece_cut_gives_serde_json_s_value() {
    for doc in CORPUS {
        let expected: Value = serde_json::from_str(doc).unwrap();
        for (i, _) in doc.char_indices() {
            let mut p = PartialJson::new();
            p.feed(&doc[..i]).unwrap();
            p.feed(&doc[i..]).unwrap();
            assert_eq!(p.finish().unwrap(), expected, "{doc} cut at {i}");
        }
    }
}

#[test]
fn snapshots_close_what_is_open() {
    let cases = [
        (r#"{"a": "Edinb"#, Some(json!({"a": "Edinb"}))),
        (r#"{"a": 12"#, Some(json!({}))),
        (r#"{"a": 12,"#, Some(json!({"a": 12}))),
        (r#"{"a": tr"#, Some(json!({}))),
        (r#"{"a": true"#, Some(json!({"a": true}))),
        (
            r#"{"a": ["x", {"b": ["#,
            Some(json!({"a": ["x", {"b": []}]})),
        ),
        (r#"{"ke"#, Some(json!({}))),
        (r#"{"key":"#, Some(json!({}))),
        (r#"{"key": ""#, Some(json!({"key": ""}))),
        (r#"["a\"#, Some(json!(["a"]))),
        (r#"["\u00"#, Some(json!([""]))),
        (r#"["\ud83d\"#, Some(json!([""]))),
        (r#"["\ud83d\ude00"#, Some(json!(["😀"]))),
        ("  ", None),
        ("-12", None),
        ("", None),
    ];
    for (text, expected) in cases {
        let mut p = PartialJson::new();
        p.feed(text).unwrap();
        assert_eq!(p.snapshot(), expected, "{text}");
    }
}

#[test]
fn invalid_json_is_an_error_like_serde_json() {
    let bad = [
        "{,}",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{'a': 1}",
        "[01]",
        "[-]",
        "[1.]",
        "[1e]",
        "[1e+]",
        "[.5]",
        "[+1]",
        "nul",
        "[nulL]",
        "[True]",
        "\"\\x\"",
        "\"\\u12G4\"",
        "\"\\ude00\"",
        "\"\\ud83d\"",
        "\"\\ud83dx\"",
        "\"\\ud83d\\u0041\"",
        "\"tab\there\"",
        "{\"a\":1}}",
        "[1] [2]",
        "{1: 2}",
        "]",
        "}",
        ":",
        "[1:2]",
        "{\"a\":1 \"b\":2}",
        "[1e400]",
        "\"unterminated",
        "[",
        "{\"a\":",
        "",
        "   ",
    ];
    for text in bad {
        assert!(
            serde_json::from_str::<Value>(text).is_err(),
            "serde_json accepts {text:?}"
        );
        let mut p = PartialJson::new();
        let fed = p.feed(text);
        let done = p.finish();
        assert!(done.is_err(), "{text:?} accepted as {done:?}");
        if let Err(e) = fed {
            // A feed error is sticky and is what finish reports.
            assert_eq!(done.unwrap_err(), e);
        }
    }
    // The error says where.
    let mut p = PartialJson::new();
    let e = p.feed(r#"{"a": [1, 2,]}"#).unwrap_err();
    assert_eq!((e.message(), e.offset()), ("trailing comma", 12));
    let mut p = PartialJson::new();
    p.feed(r#"{"a": [1"#).unwrap();
    assert_eq!(
        p.finish().unwrap_err().to_string(),
        "EOF while parsing a list at byte 8"
    );
}

#[test]
fn version_changes_exactly_when_the_snapshot_does() {
    let text = CORPUS[12];
    let mut p = PartialJson::new();
    let mut last = (p.version(), p.snapshot());
    for (i, c) in text.char_indices() {
        p.feed(&text[i..i + c.len_utf8()]).unwrap();
        let now = (p.version(), p.snapshot());
        assert_eq!(now.0 != last.0, now.1 != last.1, "at {:?}", &text[..=i]);
        last = now;
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e12f64..1e12).prop_map(|f| json!(f)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        "[\"\\\\/\u{0}-\u{1f}\u{e9}\u{1F600}a ]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Splits `text` at `cuts` (byte positions moved down to char boundaries).
fn pieces<'a>(text: &'a str, cuts: &[usize]) -> Vec<&'a str> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|&c| {
            let mut c = c % (text.len() + 1);
            while !text.is_char_boundary(c) {
                c -= 1;
            }
            c
        })
        .collect();
    at.push(0);
    at.push(text.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_documents_in_random_pieces(
        v in arb_json(),
        pretty in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let text = if pretty {
            serde_json::to_string_pretty(&v).unwrap()
        } else {
            serde_json::to_string(&v).unwrap()
        };
        let expected: Value = serde_json::from_str(&text).unwrap();
        let mut p = PartialJson::new();
        let mut prev: Option<Value> = None;
        for piece in pieces(&text, &cuts) {
            p.feed(piece).unwrap();
            if let Some(now) = p.snapshot() {
                if let Some(before) = &prev {
                    prop_assert!(grows(before, &now), "{} -> {}", before, now);
                }
                prop_assert!(grows(&now, &expected));
                prev = Some(now);
            }
        }
        prop_assert_eq!(p.finish().unwrap(), expected);
    }

    #[test]
    fn arbitrary_text_agrees_with_serde_json(
        text in "[\\[\\]{}:,\"\\\\ 0-9eE.+\\-tfrulnasx\u{e9}]{0,24}",
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut p = PartialJson::new();
        let mut failed = false;
        for piece in pieces(&text, &cuts) {
            if p.feed(piece).is_err() {
                failed = true;
                break;
            }
        }
        let ours = p.finish();
        prop_assert!(!(failed && ours.is_ok()));
        match serde_json::from_str::<Value>(&text) {
            Ok(v) => prop_assert_eq!(ours.unwrap(), v),
            Err(_) => prop_assert!(ours.is_err(), "accepted {:?}", text),
        }
    }
}
