//! Citations: the sources a response's text cites, as the provider
//! reports them (Anthropic `citations_delta`, Responses `url_citation` and
//! `file_citation` annotations, Gemini grounding supports, OpenRouter
//! `annotations`).
//!
//! A citation belongs to a text part: it streams as a `citation_chunk`
//! naming the part, and [`crate::Response::citations`] gives those of a
//! part once folded.

use serde::{Deserialize, Serialize};

/// What a citation points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CitationKind {
    /// A web page (a search result, a fetched URL).
    Url,
    /// A file the provider holds (Responses file search, a container file).
    File,
    /// A span of a document given in the request (Anthropic char, page
    /// and content-block locations).
    Document,
    /// A search result given in the request (Anthropic `search_result`).
    SearchResult,
    /// A kind rivulet does not know: see `json`.
    Other,
}

/// One source cited by a text part.
///
/// `start` and `end` are the span of the text the source supports, in the
/// provider's units (Responses and OpenRouter: character indices in the
/// part's text; Gemini: byte offsets in the answer's text); `None` when
/// the provider cites the whole part (Anthropic). `json` is the
/// provider's own citation object, with everything this does not type
/// (Anthropic's document indices, Gemini's confidence scores, …).
///
/// ```
/// use rivulet_core::{Citation, CitationKind};
/// let c = Citation {
///     kind: CitationKind::Url,
///     url: Some("https://example.com".into()),
///     title: Some("Example".into()),
///     ..Citation::new(CitationKind::Url, serde_json::json!({}))
/// };
/// assert_eq!(c.label(), "Example <https://example.com>");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    /// What the citation points at.
    pub kind: CitationKind,
    /// The cited page's address, for a web source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The source's title, when the provider gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The cited passage, when the provider quotes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cited_text: Option<String>,
    /// The provider's id of the cited file, for a file source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// The cited file's name, when the provider gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Where the supported span of the part's text starts (see above for
    /// the units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<usize>,
    /// Where the supported span ends, exclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<usize>,
    /// The provider's citation object as it came.
    pub json: serde_json::Value,
}

impl Citation {
    /// A citation of `kind` with only the provider's object.
    pub fn new(kind: CitationKind, json: serde_json::Value) -> Self {
        Citation {
            kind,
            url: None,
            title: None,
            cited_text: None,
            file_id: None,
            filename: None,
            start: None,
            end: None,
            json,
        }
    }

    /// A short label for people: the title and the URL, else the file
    /// name or id, else the kind.
    pub fn label(&self) -> String {
        let title = self.title.as_deref().filter(|t| !t.is_empty());
        match (title, &self.url, &self.filename, &self.file_id) {
            (Some(t), Some(u), _, _) => format!("{t} <{u}>"),
            (None, Some(u), _, _) => u.clone(),
            (Some(t), None, _, _) => t.to_string(),
            (None, None, Some(f), _) => f.clone(),
            (None, None, None, Some(id)) => id.clone(),
            _ => format!("{:?}", self.kind).to_lowercase(),
        }
    }
}
