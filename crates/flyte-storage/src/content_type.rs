//! [`guess_content_type`]: the content type of an object from its file name.
//!
//! A small table rather than a MIME database: the common types of files tasks write
//! (documents, tables, images, archives, decks), with the types Python's `mimetypes`
//! gives them by default, which is what s3fs and gcsfs send under flytekit. Anything
//! else gets no content type from us and the store's default.

/// Extension (lower case, without the dot) to content type.
const TYPES: &[(&str, &str)] = &[
    ("html", "text/html"),
    ("htm", "text/html"),
    ("txt", "text/plain"),
    ("log", "text/plain"),
    ("csv", "text/csv"),
    ("tsv", "text/tab-separated-values"),
    ("md", "text/markdown"),
    ("css", "text/css"),
    ("py", "text/x-python"),
    ("xml", "text/xml"),
    ("json", "application/json"),
    ("js", "application/javascript"),
    ("pdf", "application/pdf"),
    ("zip", "application/zip"),
    ("tar", "application/x-tar"),
    ("gz", "application/gzip"),
    ("tgz", "application/gzip"),
    ("bz2", "application/x-bzip2"),
    ("xz", "application/x-xz"),
    ("h5", "application/x-hdf5"),
    ("hdf", "application/x-hdf"),
    ("nc", "application/x-netcdf"),
    ("wasm", "application/wasm"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("svg", "image/svg+xml"),
    ("bmp", "image/bmp"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("webp", "image/webp"),
    ("ico", "image/vnd.microsoft.icon"),
    ("mp3", "audio/mpeg"),
    ("wav", "audio/x-wav"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
];

/// The content type of a file called `name` (a file name or a path; only the part
/// after the last `/` counts), by its extension in any case; `None` for an unknown or
/// missing extension.
///
/// A compressed file is what it is on the wire: `logs.txt.gz` is `application/gzip`.
/// (Python's `mimetypes` says `text/plain` with encoding `gzip`, and s3fs and gcsfs
/// drop the encoding, so they label the compressed bytes `text/plain`.)
///
/// ```
/// use flyte_storage::guess_content_type;
/// assert_eq!(guess_content_type("deck.html"), Some("text/html"));
/// assert_eq!(guess_content_type("dir/Table.CSV"), Some("text/csv"));
/// assert_eq!(guess_content_type("outputs.pb"), None);
/// ```
pub fn guess_content_type(name: &str) -> Option<&'static str> {
    let file = name.rsplit('/').next().unwrap_or(name);
    let (stem, extension) = file.rsplit_once('.')?;
    if stem.is_empty() {
        // A dot file (`.env`) has no extension.
        return None;
    }
    let extension = extension.to_ascii_lowercase();
    TYPES
        .iter()
        .find(|(known, _)| *known == extension)
        .map(|(_, content_type)| *content_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_extensions_give_their_type_in_any_case() {
        assert_eq!(guess_content_type("a/b/deck.html"), Some("text/html"));
        assert_eq!(guess_content_type("REPORT.PDF"), Some("application/pdf"));
        assert_eq!(guess_content_type("data.json"), Some("application/json"));
    }

    #[test]
    fn compressed_files_are_typed_by_their_compression() {
        assert_eq!(guess_content_type("logs.txt.gz"), Some("application/gzip"));
        assert_eq!(guess_content_type("code.tar.gz"), Some("application/gzip"));
    }

    #[test]
    fn unknown_missing_and_dot_file_extensions_give_none() {
        for name in [
            "outputs.pb",
            "model.joblib",
            "README",
            ".env",
            "dir.d/file",
            "",
        ] {
            assert_eq!(guess_content_type(name), None, "{name}");
        }
    }
}
