//! Citations decoded from real recorded streams (SOURCES.md): Anthropic
//! `citations_delta`, Gemini grounding, Responses `url_citation` and
//! `file_citation` annotations, OpenRouter `annotations`, Perplexity
//! `citations`. Each stream is decoded whole, one byte at a time and split
//! in two at many points; every way gives the same chunks, and the
//! citations come out typed, on the text part they belong to.

mod common;

use common::fold;
use rivulet_core::{Chunk, Citation, CitationKind, ContentPart, Error, Response};
use rivulet_providers::{anthropic, google, openai, responses};
use rivulet_testkit::wire;

type Decoded = Vec<Result<Chunk, Error>>;

fn decode(file: &str, pieces: Vec<&[u8]>) -> Decoded {
    let p = pieces.into_iter();
    match file.split('/').next().unwrap() {
        "anthropic" => anthropic::decode_pieces("anthropic", false, p),
        "gemini" => google::decode_pieces("google", false, p),
        "openai-responses" => responses::decode_pieces(false, p),
        "openrouter" => openai::decode_pieces("openrouter", false, p),
        _ => openai::decode_pieces("openai", false, p),
    }
}

/// The response `file` folds into, the same whole, byte by byte and split
/// in two at every 101st byte.
fn response(file: &str) -> Response {
    let body = wire(file);
    let whole = decode(file, vec![&body[..]]);
    assert_eq!(decode(file, body.chunks(1).collect()), whole, "{file}");
    for k in (0..body.len()).step_by(101) {
        let split = decode(file, vec![&body[..k], &body[k..]]);
        assert_eq!(split, whole, "{file} split at {k}");
    }
    let out = fold(whole);
    assert!(out.error.is_none(), "{file}: {:?}", out.error);
    out.response
}

/// The citations of the response's text entries, with each entry's index
/// in `content`.
fn cited(r: &Response) -> Vec<(usize, Citation)> {
    (0..r.content.len())
        .flat_map(|i| r.citations(i).into_iter().map(move |c| (i, c.clone())))
        .collect()
}

#[test]
fn anthropic_citations_delta() {
    let r = response("anthropic/web_search_citations.sse");
    let c = cited(&r);
    assert_eq!(c.len(), 7);
    assert_eq!(r.citations.len(), 7, "every citation is on a text entry");
    let (i, first) = &c[0];
    assert!(matches!(r.content[*i], ContentPart::Text(_)));
    assert_eq!(first.kind, CitationKind::Url);
    assert_eq!(
        first.url.as_deref(),
        Some("https://www.accuweather.com/en/us/san-francisco/94103/september-weather/347629")
    );
    assert_eq!(
        first.title.as_deref(),
        Some("San Francisco, CA Monthly Weather | AccuWeather")
    );
    assert!(first
        .cited_text
        .as_deref()
        .unwrap()
        .starts_with("San Francisco, CA Weather Today WinterCast Local"));
    assert_eq!((first.start, first.end), (None, None), "the whole block");
    assert_eq!(first.json["type"], "web_search_result_location");
    assert!(first.json["encrypted_index"].is_string());
    // Blocks 9 and 11 cite twice each, 13 and 15 once: five text entries.
    let mut entries: Vec<usize> = c.iter().map(|(i, _)| *i).collect();
    entries.dedup();
    assert_eq!(entries.len(), 5);
    assert_eq!(
        c[6].1.url.as_deref(),
        Some("https://en.climate-data.org/north-america/united-states-of-america/california/san-francisco-385/t/september-9/")
    );
}

#[test]
fn gemini_grounding_supports_sources_and_queries() {
    let r = response("gemini/google_search_grounding.sse");
    let c = cited(&r);
    // Eight supports, one naming two sources: nine citations; every source
    // is named by a support, so none is added unplaced.
    assert_eq!(c.len(), 9);
    assert!(c.iter().all(|(i, _)| *i == c[0].0), "one text part");
    let first = &c[0].1;
    assert_eq!(first.kind, CitationKind::Url);
    assert_eq!(
        first.url.as_deref(),
        Some("https://www.google.com/search?q=weather+in+San Francisco, CA,+US")
    );
    assert_eq!(
        first.title.as_deref(),
        Some("Weather information for San Francisco, CA, US")
    );
    assert_eq!((first.start, first.end), (Some(235), Some(375)));
    assert_eq!(
        first.cited_text.as_deref(),
        Some("As of Tuesday afternoon, the temperature is around 69°F (21°C), with a real feel of about 76°F (24°C) and humidity at approximately 68%.")
    );
    assert_eq!(
        first.json["webSearchQueries"],
        serde_json::json!(["weather in San Francisco today"])
    );
    // The support naming sources 4 and 1, in that order.
    let titles: Vec<&str> = c[6..8]
        .iter()
        .map(|(_, c)| c.title.as_deref().unwrap())
        .collect();
    assert_eq!(titles, ["accuweather.com", "timeanddate.com"]);
    assert_eq!((c[6].1.start, c[6].1.end), (Some(755), Some(881)));
    // The spans are byte offsets into the answer's text.
    let text = r.text();
    assert_eq!(
        &text.as_bytes()[882..932],
        b"The chance of rain remains low throughout the day."
    );
    assert_eq!((c[8].1.start, c[8].1.end), (Some(882), Some(932)));
}

#[test]
fn responses_url_and_file_citations() {
    let r = response("openai-responses/web_search_url_citation.sse");
    let c = cited(&r);
    assert_eq!(c.len(), 1);
    let (i, url) = &c[0];
    assert_eq!(url.kind, CitationKind::Url);
    assert_eq!(
        url.url.as_deref(),
        Some("https://www.britannica.com/place/Mount-Columbia?utm_source=openai")
    );
    assert_eq!(
        url.title.as_deref(),
        Some("Mount Columbia | mountain, Alberta, Canada | Britannica")
    );
    assert_eq!((url.start, url.end), (Some(77), Some(162)));
    let ContentPart::Text(t) = &r.content[*i] else {
        panic!("{:?}", r.content[*i])
    };
    // The span, in characters, is the markdown link the model wrote.
    let span: String = t.text.chars().skip(77).take(162 - 77).collect();
    assert_eq!(
        span,
        "([britannica.com](https://www.britannica.com/place/Mount-Columbia?utm_source=openai))"
    );

    let r = response("openai-responses/file_search_call.sse");
    let c = cited(&r);
    assert_eq!(c.len(), 1);
    let file = &c[0].1;
    assert_eq!(file.kind, CitationKind::File);
    assert_eq!(file.file_id.as_deref(), Some("file-9RhPAs9YqVajpGXRfcgavJ"));
    assert_eq!(file.filename.as_deref(), Some("tmp8l5_2pzy.txt"));
    assert_eq!((file.start, file.end), (Some(30), None));
}

#[test]
fn openrouter_annotations_open_the_text_they_cite() {
    let r = response("openrouter/web_search_annotations.sse");
    let c = cited(&r);
    let urls: Vec<&str> = c.iter().map(|(_, c)| c.url.as_deref().unwrap()).collect();
    assert_eq!(
        urls,
        [
            "https://github.com/pydantic/pydantic-ai",
            "https://pydantic.dev/pydantic-ai",
            "https://github.com/pydantic/pydantic-ai/releases/tag/v2.0.0",
            "https://pydantic.dev/docs/ai/overview/",
            "https://github.com/pydantic/pydantic-ai/tree/refs/tags/v1.44.0",
        ]
    );
    // They came before any text: the one text part holds them and the text.
    assert_eq!(r.texts().len(), 1);
    assert!(c.iter().all(|(i, _)| *i == 0));
    assert!(!r.text().is_empty());
    let first = &c[0].1;
    assert_eq!(
        first.title.as_deref(),
        Some("AI Agent Framework, the Pydantic way - GitHub")
    );
    assert_eq!(first.cited_text.as_ref().map(String::len), Some(438));
    assert_eq!((first.start, first.end), (None, None), "0..0 is unplaced");
    assert_eq!(c[1].1.title.as_deref(), Some(""));
}

#[test]
fn perplexity_citations_once_each() {
    let r = response("perplexity/citations.sse");
    let c = cited(&r);
    // Repeated on all eight chunks, passed on once.
    assert_eq!(c.len(), 7);
    assert_eq!(
        c[1].1.url.as_deref(),
        Some("https://en.wikipedia.org/wiki/San_Francisco")
    );
    assert_eq!(c[1].1.json["index"], 2, "the [2] in the text");
    assert!(r.text().starts_with("The current population of **"));
    assert!(r.text().ends_with("[2][3]"));
}
