//! What every request builder shares about images and files: the refusal
//! of a kind a provider cannot take (before anything is sent), and the
//! facts about media types that several wire formats need.

use rivulet_core::{ContentPart, Error, Media, Message, Role, ToolOutput};

/// `"an image"` or `"a file"`, for messages; `None` for other parts.
pub fn kind(part: &ContentPart) -> Option<&'static str> {
    match part {
        ContentPart::Image(_) => Some("an image"),
        ContentPart::File(_) => Some("a file"),
        _ => None,
    }
}

/// The refusal of `what` by `provider`: [`Error::Unsupported`], naming
/// both, returned before the request is sent.
pub fn unsupported(provider: &str, what: impl std::fmt::Display) -> Error {
    Error::unsupported(format!("{provider} cannot take {what}")).with_provider(provider)
}

/// The media type of `media`, which `provider` must send: an error naming
/// `what` (`"an image"`) when the caller did not give one.
pub fn media_type<'a>(provider: &str, what: &str, media: &'a Media) -> Result<&'a str, Error> {
    media.media_type.as_deref().ok_or_else(|| {
        unsupported(
            provider,
            format_args!("{what} without a media type ({})", media.describe()),
        )
    })
}

/// What `provider` sends `media` as where one field takes a URL or the
/// bytes (Chat Completions' `image_url`, Cohere's, the Responses API's
/// `input_image`): its URL, or its bytes as a `data:` URL. Bytes without a
/// media type are refused as [`media_type`] refuses them, naming `what`
/// (`"an image"`).
pub(crate) fn url_or_data_url(provider: &str, what: &str, media: &Media) -> Result<String, Error> {
    media.url_or_data_url().ok_or_else(|| {
        unsupported(
            provider,
            format_args!("{what} without a media type ({})", media.describe()),
        )
    })
}

/// Images and files only go in user turns (and tool outputs): no API
/// takes them in a system message or in the model's own turn. Returns the
/// refusal for the first one found elsewhere.
pub fn only_in_user_turns(provider: &str, messages: &[Message]) -> Result<(), Error> {
    for m in messages {
        if matches!(m.role, Role::User | Role::Tool) {
            continue;
        }
        if let Some(what) = m.content.iter().find_map(kind) {
            let role = match m.role {
                Role::System => "a system message",
                _ => "an assistant message",
            };
            return Err(unsupported(provider, format_args!("{what} in {role}")));
        }
    }
    Ok(())
}

/// The tool outputs of `message` that carry images or files, each with
/// the text that introduces them where a protocol must send them apart
/// from the tool message (Chat Completions, Cohere: a user message after
/// the tool messages).
pub fn tool_attachments(message: &Message) -> impl Iterator<Item = (String, &ToolOutput)> {
    message.content.iter().filter_map(|part| match part {
        ContentPart::ToolOutput(o) if !o.attachments.is_empty() => Some((
            format!("Attachments of tool call {} ({}):", o.id, o.name),
            o,
        )),
        _ => None,
    })
}

/// The messages that carry `message`'s tool outputs in a protocol whose
/// tool messages take text only (Chat Completions, Cohere): one tool
/// message per output, in order, then the images and files the tools
/// returned beside their text in one user message right after, each
/// call's introduced by a text naming it ([`tool_attachments`]). They
/// answer the previous assistant turn, so the caller puts them before the
/// rest of the message.
///
/// The protocol builds its own wire types: `tool_message` the tool message
/// of an output, `text` a text part, `media_part` an image's or a file's
/// part (`None` leaves it out, an error refuses it), `user_message` the
/// user message of those parts.
pub(crate) fn text_only_tool_messages<M, P>(
    message: &Message,
    tool_message: impl Fn(&ToolOutput) -> M,
    text: impl Fn(String) -> P,
    mut media_part: impl FnMut(&ContentPart) -> Result<Option<P>, Error>,
    user_message: impl FnOnce(Vec<P>) -> M,
) -> Result<Vec<M>, Error> {
    let mut out: Vec<M> = message
        .content
        .iter()
        .filter_map(|part| match part {
            ContentPart::ToolOutput(o) => Some(tool_message(o)),
            _ => None,
        })
        .collect();
    let mut attached = Vec::new();
    for (intro, o) in tool_attachments(message) {
        attached.push(text(intro));
        for a in &o.attachments {
            attached.extend(media_part(a)?);
        }
    }
    if !attached.is_empty() {
        out.push(user_message(attached));
    }
    Ok(out)
}

/// The media type without parameters, lower case: `text/plain;
/// charset=utf-8` → `text/plain`.
pub fn essence(media_type: &str) -> String {
    media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The usual extension of a document media type (`pdf`, `txt`, …), for
/// providers that want a file name or a format.
pub fn document_extension(media_type: &str) -> Option<&'static str> {
    Some(match essence(media_type).as_str() {
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "text/csv" => "csv",
        "text/markdown" => "md",
        "text/html" => "html",
        "application/json" => "json",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        _ => return None,
    })
}

/// The name of a file for APIs that require one: its own, else `file`
/// with the extension of its media type (`file.pdf`).
pub fn filename(media: &Media) -> String {
    if let Some(name) = &media.filename {
        return name.clone();
    }
    match media.media_type.as_deref().and_then(document_extension) {
        Some(ext) => format!("file.{ext}"),
        None => "file".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types() {
        assert_eq!(essence("Text/Plain; charset=utf-8"), "text/plain");
        assert_eq!(
            filename(&Media::data("application/pdf", vec![])),
            "file.pdf"
        );
        assert_eq!(filename(&Media::url("https://x/y")), "file");
        assert_eq!(
            filename(&Media::url("https://x/y").with_filename("y.docx")),
            "y.docx"
        );
        let e = media_type("bedrock", "an image", &Media::url("https://x/y")).unwrap_err();
        assert_eq!(e.kind(), rivulet_core::ErrorKind::Unsupported);
        assert_eq!(
            e.message(),
            "bedrock cannot take an image without a media type (https://x/y)"
        );
        assert_eq!(e.provider(), Some("bedrock"));
    }

    #[test]
    fn media_only_in_user_turns() {
        let image = ContentPart::Image(Media::url("https://x/y.png"));
        let user = Message {
            role: Role::User,
            content: vec![image.clone()],
        };
        assert!(only_in_user_turns("openai", &[user]).is_ok());
        let system = Message {
            role: Role::System,
            content: vec![image],
        };
        let e = only_in_user_turns("openai", &[system]).unwrap_err();
        assert_eq!(
            e.message(),
            "openai cannot take an image in a system message"
        );
    }
}
