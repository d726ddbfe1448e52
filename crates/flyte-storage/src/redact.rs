//! Credentials scrubbed out of text before it can reach an error document, stderr or a
//! log line.
//!
//! The HTTP clients under the object-store SDKs put the whole request URL in their error
//! text (`error sending request for url (https://…/blob?sv=…&sig=…)`), and a connection
//! string or endpoint that fails to parse is quoted back. So every error that comes out
//! of an SDK is turned into a [`RedactedError`] at the one place it enters this crate (a
//! backend's failure, see `cloud/backend.rs`), and nothing downstream has to remember.
//!
//! [`redact`] keeps what says *where* (scheme, host, port, path, the names of query
//! parameters) and replaces what could let someone in: the values of every query
//! parameter and the fragment of a URL, the `user:password@` of its authority, the
//! values of well-known secret fields written as `name=value` anywhere
//! (`SharedAccessSignature=`, `AccountKey=`, `sig=`, `X-Amz-Signature=`, …) and
//! `Bearer` tokens.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::io;

/// What stands where a secret was.
///
/// ```
/// use flyte_storage::{REDACTED, redact};
/// assert_eq!(redact("https://host/k?sig=abc"), format!("https://host/k?sig={REDACTED}"));
/// ```
pub const REDACTED: &str = "<redacted>";

/// `text` with every credential replaced by [`REDACTED`] (see the module documentation);
/// borrowed when there was nothing to replace.
///
/// ```
/// use flyte_storage::redact;
///
/// let message = "GET https://acct.blob.core.windows.net/c/in.pb?sv=2022-11-02&sig=SECRET failed";
/// assert_eq!(
///     redact(message),
///     "GET https://acct.blob.core.windows.net/c/in.pb?sv=<redacted>&sig=<redacted> failed"
/// );
/// let refused = redact("endpoint http://user:pw@minio:9000 refused");
/// assert_eq!(refused, "endpoint http://<redacted>@minio:9000 refused");
/// assert!(matches!(redact("s3://bucket/key"), std::borrow::Cow::Borrowed(_)));
/// ```
pub fn redact(text: &str) -> Cow<'_, str> {
    let urls = redact_urls(text);
    let fields = match redact_fields(&urls) {
        Cow::Borrowed(_) => None,
        Cow::Owned(fields) => Some(fields),
    };
    let text = fields.map_or(urls, Cow::Owned);
    let bearer = match redact_bearer(&text) {
        Cow::Borrowed(_) => None,
        Cow::Owned(bearer) => Some(bearer),
    };
    bearer.map_or(text, Cow::Owned)
}

/// An error, and every cause under it, as text that went through [`redact`]: its
/// `Display`, `Debug` and [`source`](Error::source) chain say no secret, so a `{:#}`
/// chain, a `{:?}` and a walk of the causes are all clean. An operating system error in
/// the chain is kept as an [`io::Error`] of the same number (its text names no URL), so
/// the errno at the root still reaches whoever looks for it.
///
/// ```
/// use std::error::Error;
/// use flyte_storage::RedactedError;
///
/// let io = std::io::Error::other("request to https://host/o?X-Amz-Signature=SECRET failed");
/// let clean = RedactedError::new(&io);
/// assert!(!clean.to_string().contains("SECRET"));
/// assert!(!format!("{clean:?}").contains("SECRET"));
/// assert!(clean.source().is_none());
/// ```
pub struct RedactedError {
    message: String,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl RedactedError {
    /// The redacted copy of `error` and its chain. (The original is not kept: its
    /// `Debug` would print the URL the redaction removed.)
    ///
    /// ```
    /// use flyte_storage::RedactedError;
    ///
    /// let sdk_error = std::io::Error::other("connect to http://user:SECRET@minio:9000 refused");
    /// let logged = RedactedError::new(&sdk_error).to_string();
    /// assert_eq!(logged, "connect to http://<redacted>@minio:9000 refused");
    /// ```
    pub fn new(error: &(dyn Error + 'static)) -> Self {
        RedactedError {
            message: redact(&error.to_string()).into_owned(),
            source: error.source().map(redacted_level),
        }
    }

    /// `error`, redacted unless it already is: for a store of one's own that keeps an
    /// SDK's error as the source of a [`StorageError`](crate::StorageError).
    ///
    /// ```
    /// use flyte_storage::{RedactedError, StorageError};
    ///
    /// let sdk_error: Box<dyn std::error::Error + Send + Sync> =
    ///     "403 from https://host/o?sig=SECRET".into();
    /// let error = StorageError::PermissionDenied {
    ///     uri: "vault://box/o".into(),
    ///     source: RedactedError::boxed(sdk_error),
    /// };
    /// let source = std::error::Error::source(&error).expect("a cause");
    /// assert_eq!(source.to_string(), "403 from https://host/o?sig=<redacted>");
    /// ```
    pub fn boxed(
        error: Box<dyn Error + Send + Sync + 'static>,
    ) -> Box<dyn Error + Send + Sync + 'static> {
        if error.is::<RedactedError>() {
            error
        } else {
            Box::new(RedactedError::new(&*error))
        }
    }
}

/// One cause of a chain: an operating system error stays itself, anything else is
/// redacted.
fn redacted_level(error: &(dyn Error + 'static)) -> Box<dyn Error + Send + Sync + 'static> {
    if let Some(code) = error
        .downcast_ref::<io::Error>()
        .filter(|io| io.get_ref().is_none())
        .and_then(io::Error::raw_os_error)
    {
        return Box::new(io::Error::from_raw_os_error(code));
    }
    Box::new(RedactedError::new(error))
}

impl fmt::Display for RedactedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for RedactedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("RedactedError");
        debug.field("message", &self.message);
        if let Some(source) = &self.source {
            debug.field("source", source);
        }
        debug.finish()
    }
}

impl Error for RedactedError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|source| source as _)
    }
}

/// Schemes whose authority is `container@account`, not userinfo: nothing secret there.
const CONTAINER_AT_ACCOUNT_SCHEMES: &[&str] = &["abfs", "abfss", "wasb", "wasbs"];

/// Every `scheme://…` in `text` with its userinfo, query values and fragment redacted.
fn redact_urls(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find("://") {
        let separator = search + found;
        let end = url_end(bytes, separator + 3);
        if let Some(start) = scheme_start(bytes, separator).filter(|start| *start >= copied)
            && let Cow::Owned(clean) = redact_url(&text[start..end], separator - start)
        {
            out.push_str(&text[copied..start]);
            out.push_str(&clean);
            copied = end;
        }
        search = end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Where the scheme ending at `separator` (the index of its "://") begins, if the text
/// before it is a scheme (a letter, then letters, digits, '+', '-', '.').
fn scheme_start(bytes: &[u8], separator: usize) -> Option<usize> {
    let mut start = separator;
    while start > 0
        && matches!(bytes[start - 1], b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'+' | b'-' | b'.')
    {
        start -= 1;
    }
    // "1.http://" is "http://" after some text.
    while start < separator && !bytes[start].is_ascii_alphabetic() {
        start += 1;
    }
    (start < separator).then_some(start)
}

/// Where a URL whose authority begins at `from` ends: at white space, a quote, an angle
/// bracket or a closing parenthesis (messages write `(url)`), or the end of the text.
fn url_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|byte| {
            byte.is_ascii_whitespace()
                || byte.is_ascii_control()
                || matches!(byte, b'"' | b'\'' | b'<' | b'>' | b'`' | b')')
        })
        .map_or(bytes.len(), |at| from + at)
}

/// One URL (`scheme_len` bytes of scheme, then "://") with its secrets redacted;
/// borrowed when it had none.
fn redact_url(url: &str, scheme_len: usize) -> Cow<'_, str> {
    let scheme = &url[..scheme_len];
    let after = scheme_len + 3;
    let authority_end = url[after..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| after + at);
    let authority = &url[after..authority_end];
    let userinfo = authority.rfind('@').filter(|_| {
        !CONTAINER_AT_ACCOUNT_SCHEMES
            .iter()
            .any(|known| scheme.eq_ignore_ascii_case(known))
    });
    let rest = &url[authority_end..];
    let (before_fragment, fragment) = match rest.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (rest, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (before_fragment, None),
    };
    let query_secret = query.is_some_and(|query| {
        query
            .split('&')
            .any(|pair| !pair.is_empty() && pair.split_once('=').is_none_or(|(_, v)| v != REDACTED))
    });
    let fragment_secret =
        fragment.is_some_and(|fragment| !fragment.is_empty() && fragment != REDACTED);
    if userinfo.is_none() && !query_secret && !fragment_secret {
        return Cow::Borrowed(url);
    }
    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..after]);
    match userinfo {
        Some(at) => {
            out.push_str(REDACTED);
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    out.push_str(path);
    if let Some(query) = query {
        out.push('?');
        let pairs = query.split('&').map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{name}={REDACTED}"),
            None if pair.is_empty() => String::new(),
            None => REDACTED.to_owned(),
        });
        out.push_str(&pairs.collect::<Vec<_>>().join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        if !fragment.is_empty() {
            out.push_str(REDACTED);
        }
    }
    Cow::Owned(out)
}

/// Names (lowercase) whose `name=value` carries a secret wherever it is written: SAS
/// and presigned-URL parameters outside a URL, connection-string keys, OAuth fields.
const SECRET_FIELDS: &[&str] = &[
    "sig",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
    "accountkey",
    "sharedaccesskey",
    "sharedaccesssignature",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "password",
    "secret",
    "token",
];

/// Fields whose value runs to the next ';' (a connection string's separator): a SAS
/// token is itself `sv=…&sig=…`.
const CONNECTION_STRING_FIELDS: &[&str] = &["sharedaccesssignature"];

/// Every `name=value` of a [`SECRET_FIELDS`] name with its value redacted.
fn redact_fields(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find('=') {
        let equals = search + found;
        let mut name_start = equals;
        while name_start > 0
            && matches!(bytes[name_start - 1], b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-')
        {
            name_start -= 1;
        }
        let name = text[name_start..equals].to_ascii_lowercase();
        search = equals + 1;
        if name_start < copied || !SECRET_FIELDS.contains(&name.as_str()) {
            continue;
        }
        let whole_field = CONNECTION_STRING_FIELDS.contains(&name.as_str());
        let value_end = bytes[search..]
            .iter()
            .position(|byte| {
                byte.is_ascii_whitespace()
                    || matches!(byte, b';' | b'"' | b'\'' | b')' | b'<' | b'>' | b'`')
                    || (!whole_field && matches!(byte, b'&' | b','))
            })
            .map_or(bytes.len(), |at| search + at);
        let value = &text[search..value_end];
        if value.is_empty() || value == REDACTED {
            continue;
        }
        out.push_str(&text[copied..search]);
        out.push_str(REDACTED);
        copied = value_end;
        search = value_end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Every `Bearer <token>` (as in an `Authorization` header) with its token redacted.
fn redact_bearer(text: &str) -> Cow<'_, str> {
    const BEARER: &str = "bearer ";
    let lower = text.to_ascii_lowercase();
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find(BEARER) {
        let token_start = search + found + BEARER.len();
        let token_end = text.as_bytes()[token_start..]
            .iter()
            .position(|byte| {
                !(byte.is_ascii_alphanumeric()
                    || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'='))
            })
            .map_or(text.len(), |at| token_start + at);
        search = token_end.max(token_start);
        if token_end == token_start {
            continue;
        }
        out.push_str(&text[copied..token_start]);
        out.push_str(REDACTED);
        copied = token_end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sas_query_keeps_the_names_and_loses_the_values() {
        let text = "error sending request for url \
                    (http://127.0.0.1:1/devstoreaccount1/cont/a/in.pb?sv=2022-11-02&ss=b&sig=SECRET)";
        assert_eq!(
            redact(text),
            "error sending request for url \
             (http://127.0.0.1:1/devstoreaccount1/cont/a/in.pb?sv=<redacted>&ss=<redacted>&sig=<redacted>)"
        );
    }

    #[test]
    fn a_presigned_s3_query_is_redacted() {
        let text = "GET https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                    &X-Amz-Credential=AKIDSECRET%2F20240101&X-Amz-Signature=SECRETSIG failed";
        let clean = redact(text);
        assert!(!clean.contains("SECRET"), "{clean}");
        assert!(clean.starts_with("GET https://b.s3.amazonaws.com/k?X-Amz-Algorithm=<redacted>"));
        assert!(
            clean.ends_with("X-Amz-Signature=<redacted> failed"),
            "{clean}"
        );
    }

    #[test]
    fn a_gcs_signed_url_is_redacted() {
        let text = "https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256\
                    &X-Goog-Credential=sa%40p.iam&X-Goog-Signature=abcdefSECRET";
        let clean = redact(text);
        assert!(
            !clean.contains("SECRET") && !clean.contains("sa%40p"),
            "{clean}"
        );
        assert!(
            clean.starts_with("https://storage.googleapis.com/b/o?"),
            "{clean}"
        );
    }

    #[test]
    fn userinfo_is_redacted_and_the_host_kept() {
        assert_eq!(
            redact("endpoint http://user:SECRET@127.0.0.1:9000/bucket refused"),
            "endpoint http://<redacted>@127.0.0.1:9000/bucket refused"
        );
        assert_eq!(redact("s3://AKID:SECRET@bucket"), "s3://<redacted>@bucket");
    }

    #[test]
    fn an_azure_container_at_account_is_not_userinfo() {
        let uri = "abfs://container@account.dfs.core.windows.net/path/in.pb";
        assert!(matches!(redact(uri), Cow::Borrowed(_)));
    }

    #[test]
    fn urls_inside_longer_text_and_several_urls_are_all_redacted() {
        let text = "first \"https://a.example/x?token=ONE\" then <http://u:TWO@b.example/y#THREE>, \
                    and s3://bucket/plain/key stays";
        let clean = redact(text);
        for secret in ["ONE", "TWO", "THREE"] {
            assert!(!clean.contains(secret), "{secret} in {clean}");
        }
        assert!(
            clean.contains("https://a.example/x?token=<redacted>"),
            "{clean}"
        );
        assert!(
            clean.contains("http://<redacted>@b.example/y#<redacted>"),
            "{clean}"
        );
        assert!(clean.contains("s3://bucket/plain/key stays"), "{clean}");
    }

    #[test]
    fn connection_string_secrets_are_redacted_outside_urls() {
        let text = "does not parse: DefaultEndpointsProtocol=http;AccountName=dev;\
                    AccountKey=KEYSECRET==;SharedAccessSignature=sv=2022&sig=SASSECRET;x=1";
        let clean = redact(text);
        assert!(!clean.contains("SECRET"), "{clean}");
        assert!(clean.contains("AccountName=dev;"), "{clean}");
        assert!(
            clean.contains("SharedAccessSignature=<redacted>;x=1"),
            "{clean}"
        );
    }

    #[test]
    fn bearer_tokens_are_redacted() {
        assert_eq!(
            redact("authorization: Bearer ya29.SECRET-token, next"),
            "authorization: Bearer <redacted>, next"
        );
    }

    #[test]
    fn text_without_credentials_is_untouched() {
        for text in [
            "I/O error on /tmp/x: No space left on device (os error 28)",
            "no object at s3://bucket/a=b/c.pb",
            "the store sent 12 bytes of the range 0..100; a=b",
            "Ünïcödé, ratio 3/4 = 0.75, key=value, https://host/path/only",
            "",
        ] {
            assert!(matches!(redact(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn redaction_is_idempotent() {
        let once = redact("http://u:p@h/x?sig=S&a=b#f; AccountKey=K").into_owned();
        assert_eq!(redact(&once), once);
        assert!(matches!(redact(&once), Cow::Borrowed(_)));
    }

    #[derive(Debug)]
    struct Leaky {
        url: String,
        source: Option<io::Error>,
    }

    impl fmt::Display for Leaky {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "error sending request for url ({})", self.url)
        }
    }

    impl Error for Leaky {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.source.as_ref().map(|e| e as _)
        }
    }

    #[test]
    fn a_redacted_error_is_clean_in_display_debug_and_every_cause() {
        let inner = Leaky {
            url: "http://127.0.0.1:1/c/b?sig=INNER".into(),
            source: Some(io::Error::from_raw_os_error(111)),
        };
        let outer = Leaky {
            url: "http://127.0.0.1:1/c/b?sig=OUTER".into(),
            source: Some(io::Error::other(inner)),
        };
        let redacted = RedactedError::new(&outer);
        let mut texts = vec![format!("{redacted}"), format!("{redacted:?}")];
        let mut current: Option<&(dyn Error + 'static)> = Some(&redacted);
        let mut errno = None;
        while let Some(error) = current {
            texts.push(error.to_string());
            texts.push(format!("{error:?}"));
            if let Some(code) = error
                .downcast_ref::<io::Error>()
                .and_then(io::Error::raw_os_error)
            {
                errno = Some(code);
            }
            current = error.source();
        }
        for text in &texts {
            assert!(!text.contains("INNER") && !text.contains("OUTER"), "{text}");
        }
        assert!(
            texts[0].contains("http://127.0.0.1:1/c/b?sig=<redacted>"),
            "{}",
            texts[0]
        );
        assert_eq!(
            texts.len(),
            2 + 2 * 3,
            "the chain keeps its depth: {texts:?}"
        );
        assert_eq!(
            errno,
            Some(111),
            "the OS error at the root is still an io::Error"
        );
    }

    #[test]
    fn boxing_twice_redacts_once() {
        let boxed = RedactedError::boxed("http://h/?sig=S".into());
        let again = RedactedError::boxed(boxed);
        assert_eq!(again.to_string(), "http://h/?sig=<redacted>");
        assert!(again.source().is_none());
    }
}
