//! `-a/--attach PATH|URL`: images and files sent with the prompt.
//!
//! A local file is read and sent as bytes; its media type comes from its
//! content (magic bytes, read by `infer`), else from its extension
//! (`mime_guess`), else it is plain text when it is UTF-8. A URL
//! (`http://`, `https://`, `gs://`, `s3://`) is sent as a URL for the
//! provider to fetch: its media type comes from its path's extension, and
//! one without a known extension is taken for an image. `image/*` is sent
//! as an image, anything else as a file.

use std::path::Path;

use rivulet_core::{ContentPart, Media};

/// The largest file `-a` reads: providers take far less (OpenAI 50 MB,
/// Anthropic 32 MB a request), so a larger one is a mistake, refused
/// before it fills memory.
pub const MAX_BYTES: u64 = 100 * 1024 * 1024;

/// The schemes sent as URLs rather than read as paths.
const URL_SCHEMES: &[&str] = &["http://", "https://", "gs://", "s3://"];

/// The part `-a arg` stands for; an error message naming the flag and the
/// argument when it cannot be read or typed.
pub fn attachment(arg: &str) -> Result<ContentPart, String> {
    let is_url = URL_SCHEMES.iter().any(|s| {
        arg.len() > s.len()
            && arg
                .get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s))
    });
    if is_url {
        return Ok(url_part(arg));
    }
    let path = Path::new(arg);
    let fail = |e: &dyn std::fmt::Display| format!("-a {arg}: {e}");
    let meta = std::fs::metadata(path).map_err(|e| fail(&e))?;
    if !meta.is_file() {
        return Err(fail(&"not a file"));
    }
    if meta.len() > MAX_BYTES {
        return Err(fail(&format_args!(
            "{} bytes, more than the {MAX_BYTES} bytes -a reads",
            meta.len()
        )));
    }
    let data = std::fs::read(path).map_err(|e| fail(&e))?;
    let media_type = sniff(path, &data)
        .ok_or_else(|| fail(&"cannot tell its media type from its content or its extension"))?;
    let mut media = Media::data(media_type, data);
    if let Some(name) = path.file_name() {
        media = media.with_filename(name.to_string_lossy());
    }
    Ok(part(media))
}

/// The media type of a file: from its magic bytes, else its extension,
/// else `text/plain` for UTF-8.
fn sniff(path: &Path, data: &[u8]) -> Option<String> {
    if let Some(kind) = infer::get(data) {
        return Some(kind.mime_type().to_string());
    }
    if let Some(mime) = mime_guess::from_path(path).first() {
        return Some(mime.essence_str().to_string());
    }
    std::str::from_utf8(data)
        .is_ok()
        .then(|| "text/plain".to_string())
}

/// A URL attachment: typed by its path's extension when it has a known one.
fn url_part(url: &str) -> ContentPart {
    // The path alone: neither the query nor the fragment names the type.
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let media = Media::url(url);
    match mime_guess::from_path(path).first() {
        Some(mime) => part(media.with_media_type(mime.essence_str())),
        None => ContentPart::Image(media),
    }
}

fn part(media: Media) -> ContentPart {
    let image = media
        .media_type
        .as_deref()
        .is_some_and(|t| t.starts_with("image/"));
    if image {
        ContentPart::Image(media)
    } else {
        ContentPart::File(media)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, data: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rivulet-attach-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        path
    }

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

    #[test]
    fn the_content_wins_over_the_extension() {
        // A PNG named .jpg is a PNG.
        let p = temp("photo.jpg", PNG);
        let ContentPart::Image(m) = attachment(p.to_str().unwrap()).unwrap() else {
            panic!()
        };
        assert_eq!(m.media_type.as_deref(), Some("image/png"));
        assert_eq!(m.filename.as_deref(), Some("photo.jpg"));
        assert_eq!(m.as_data().unwrap().as_ref(), PNG);
        // A PDF without an extension is a PDF, sent as a file.
        let p = temp("report", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n");
        let ContentPart::File(m) = attachment(p.to_str().unwrap()).unwrap() else {
            panic!()
        };
        assert_eq!(m.media_type.as_deref(), Some("application/pdf"));
    }

    #[test]
    fn text_by_extension_or_by_being_utf8() {
        let p = temp("table.csv", b"a,b\n1,2\n");
        let ContentPart::File(m) = attachment(p.to_str().unwrap()).unwrap() else {
            panic!()
        };
        assert_eq!(m.media_type.as_deref(), Some("text/csv"));
        let p = temp("NOTES", "café\n".as_bytes());
        let ContentPart::File(m) = attachment(p.to_str().unwrap()).unwrap() else {
            panic!()
        };
        assert_eq!(m.media_type.as_deref(), Some("text/plain"));
        let p = temp("blob", b"\xff\xfe\x00\x01garbage");
        let e = attachment(p.to_str().unwrap()).unwrap_err();
        assert!(e.ends_with("cannot tell its media type from its content or its extension"));
    }

    #[test]
    fn urls_are_sent_as_urls() {
        let ContentPart::File(m) = attachment("https://x.org/paper.PDF?dl=1#p2").unwrap() else {
            panic!()
        };
        assert_eq!(m.as_url(), Some("https://x.org/paper.PDF?dl=1#p2"));
        assert_eq!(m.media_type.as_deref(), Some("application/pdf"));
        let ContentPart::Image(m) = attachment("HTTPS://x.org/cat.webp").unwrap() else {
            panic!()
        };
        assert_eq!(m.media_type.as_deref(), Some("image/webp"));
        let ContentPart::Image(m) = attachment("https://x.org/avatar").unwrap() else {
            panic!()
        };
        assert_eq!(m.media_type, None);
    }

    #[test]
    fn missing_files_and_directories_are_named() {
        let e = attachment("/no/such/file.png").unwrap_err();
        assert!(e.starts_with("-a /no/such/file.png: "), "{e}");
        let dir = std::env::temp_dir();
        let e = attachment(dir.to_str().unwrap()).unwrap_err();
        assert!(e.ends_with(": not a file"), "{e}");
    }
}
