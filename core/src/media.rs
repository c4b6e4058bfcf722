//! Images and files sent to a model: where their content is (a URL or the
//! bytes), their media type and their file name.
//!
//! A [`Media`] is the payload of [`ContentPart::Image`] and
//! [`ContentPart::File`](crate::ContentPart::File) (PDFs and other
//! documents). Each provider encodes it in its own form; one that cannot
//! take a kind (a URL where only bytes go, a media type it does not read)
//! refuses the request with [`Error::Unsupported`](crate::Error) before
//! anything is sent.
//!
//! [`ContentPart::Image`]: crate::ContentPart::Image

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where an image's or a file's content is.
///
/// In JSON it is `{"url": …}` or `{"data": "<base64>"}`, flattened into
/// the part: `{"type": "image", "url": "https://…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MediaSource {
    /// A URL the provider fetches itself: `https://…`, `gs://…` (Gemini),
    /// `s3://…` (Bedrock), or a provider's file URI.
    Url {
        /// The URL.
        url: String,
    },
    /// The content itself. `Bytes` so that the request, the response's
    /// history and every resumed conversation share one buffer.
    Data {
        /// The bytes (base64 in JSON).
        #[serde(serialize_with = "to_base64", deserialize_with = "from_base64")]
        data: Bytes,
    },
}

fn to_base64<S: Serializer>(data: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&STANDARD.encode(data))
}

fn from_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
    let text = String::deserialize(d)?;
    STANDARD
        .decode(text.as_bytes())
        .map(Bytes::from)
        .map_err(serde::de::Error::custom)
}

/// An image or a file: its content, its media type and its file name.
///
/// Build one with [`Media::url`] or [`Media::data`]; a URL's media type is
/// optional (a provider that must name it, as Bedrock does, refuses a
/// media without one), the bytes' is not.
///
/// ```
/// use rivulet_core::{ContentPart, Media, Message, Role};
///
/// let photo = Media::data("image/png", vec![0x89, b'P', b'N', b'G']);
/// assert_eq!(photo.data_url().as_deref(), Some("data:image/png;base64,iVBORw=="));
/// let paper = Media::url("https://example.com/paper.pdf").with_media_type("application/pdf");
/// let message = Message {
///     role: Role::User,
///     content: vec![
///         ContentPart::text("Compare these."),
///         ContentPart::Image(photo),
///         ContentPart::File(paper.with_filename("paper.pdf")),
///     ],
/// };
/// assert_eq!(
///     serde_json::to_value(&message.content[2]).unwrap(),
///     serde_json::json!({"type": "file", "url": "https://example.com/paper.pdf",
///                        "media_type": "application/pdf", "filename": "paper.pdf"})
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// Where the content is.
    #[serde(flatten)]
    pub source: MediaSource,
    /// The IANA media type: `image/png`, `application/pdf`, `text/plain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The file's name, for providers that show or need one (OpenAI's
    /// `filename`, Bedrock's document `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

impl Media {
    /// Content at `url`, media type unknown until
    /// [`with_media_type`](Media::with_media_type) says it.
    pub fn url(url: impl Into<String>) -> Self {
        Media {
            source: MediaSource::Url { url: url.into() },
            media_type: None,
            filename: None,
        }
    }

    /// The content itself, of `media_type`.
    pub fn data(media_type: impl Into<String>, data: impl Into<Bytes>) -> Self {
        Media {
            source: MediaSource::Data { data: data.into() },
            media_type: Some(media_type.into()),
            filename: None,
        }
    }

    /// The same media, of `media_type`.
    pub fn with_media_type(mut self, media_type: impl Into<String>) -> Self {
        self.media_type = Some(media_type.into());
        self
    }

    /// The same media, named `filename`.
    pub fn with_filename(mut self, filename: impl Into<String>) -> Self {
        self.filename = Some(filename.into());
        self
    }

    /// The URL, when the content is at one.
    pub fn as_url(&self) -> Option<&str> {
        match &self.source {
            MediaSource::Url { url } => Some(url),
            MediaSource::Data { .. } => None,
        }
    }

    /// The bytes, when the content is here.
    pub fn as_data(&self) -> Option<&Bytes> {
        match &self.source {
            MediaSource::Data { data } => Some(data),
            MediaSource::Url { .. } => None,
        }
    }

    /// The bytes in standard base64, when the content is here.
    pub fn base64(&self) -> Option<String> {
        self.as_data().map(|d| STANDARD.encode(d))
    }

    /// The bytes as a `data:` URL (`data:image/png;base64,…`), when the
    /// content is here and its media type is known.
    pub fn data_url(&self) -> Option<String> {
        let data = self.as_data()?;
        let media_type = self.media_type.as_deref()?;
        Some(format!(
            "data:{media_type};base64,{}",
            STANDARD.encode(data)
        ))
    }

    /// The URL, or the bytes as a `data:` URL: what APIs that take either
    /// in one field want (OpenAI's `image_url`). `None` for bytes of an
    /// unknown media type.
    pub fn url_or_data_url(&self) -> Option<String> {
        match &self.source {
            MediaSource::Url { url } => Some(url.clone()),
            MediaSource::Data { .. } => self.data_url(),
        }
    }

    /// A short description for people: the URL, or the media type and
    /// size (`image/png, 1234 bytes`).
    pub fn describe(&self) -> String {
        let name = self
            .filename
            .as_deref()
            .map(|f| format!("{f}: "))
            .unwrap_or_default();
        match &self.source {
            MediaSource::Url { url } => format!("{name}{url}"),
            MediaSource::Data { data } => format!(
                "{name}{}, {} bytes",
                self.media_type.as_deref().unwrap_or("unknown type"),
                data.len()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContentPart;
    use serde_json::json;

    #[test]
    fn parts_round_trip_through_json() {
        let image = ContentPart::Image(Media::data("image/gif", &b"GIF89a"[..]));
        let v = serde_json::to_value(&image).unwrap();
        assert_eq!(
            v,
            json!({"type": "image", "data": "R0lGODlh", "media_type": "image/gif"})
        );
        assert_eq!(serde_json::from_value::<ContentPart>(v).unwrap(), image);

        let file = ContentPart::File(Media::url("gs://b/a.pdf").with_filename("a.pdf"));
        let v = serde_json::to_value(&file).unwrap();
        assert_eq!(
            v,
            json!({"type": "file", "url": "gs://b/a.pdf", "filename": "a.pdf"})
        );
        assert_eq!(serde_json::from_value::<ContentPart>(v).unwrap(), file);
    }

    #[test]
    fn bad_base64_is_an_error_not_a_panic() {
        let e = serde_json::from_value::<ContentPart>(json!({"type": "image", "data": "%%%"}));
        assert!(e.is_err());
    }

    #[test]
    fn urls_and_data_urls() {
        let m = Media::data("application/pdf", &b"%PDF-1.4"[..]);
        assert_eq!(
            m.url_or_data_url().unwrap(),
            "data:application/pdf;base64,JVBERi0xLjQ="
        );
        assert_eq!(m.describe(), "application/pdf, 8 bytes");
        let mut unknown = m.clone();
        unknown.media_type = None;
        assert_eq!(unknown.data_url(), None);
        let u = Media::url("https://x/y.png");
        assert_eq!(u.url_or_data_url().unwrap(), "https://x/y.png");
        assert_eq!(u.base64(), None);
        assert_eq!(
            u.with_filename("y.png").describe(),
            "y.png: https://x/y.png"
        );
    }
}
