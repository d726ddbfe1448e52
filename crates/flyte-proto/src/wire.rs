//! The protobuf wire format, read as a stream: checking that bytes are a valid message
//! without building it, and pointing a `LiteralMap`'s offloaded-literal references
//! elsewhere without decoding the rest of it.
//!
//! Decoding a message holds it whole, and a literal tree takes ten to fifty times its
//! encoded size in memory (a 9 MB list of a million integers decodes into about 450 MB).
//! [`check`] reads from any [`Read`] with memory bounded by the nesting depth, whatever
//! the size, and accepts what prost accepts: well-formed tags and varints, the wire type
//! each known field declares (packed or not for repeated numbers), valid UTF-8 in
//! strings, lengths that fit their enclosing message; unknown fields are skipped. Its
//! nesting limit is [`Limits::max_depth`], not prost's fixed 100, so a literal nested as
//! deep as flytekit writes and Flyte's Go services read passes.
//!
//! ```
//! use flyte_proto::{literal, wire};
//! use prost::Message;
//!
//! let map = literal::literal_map([("o0", literal::integer(7))]);
//! let bytes = map.encode_to_vec();
//! wire::check(&bytes[..], "flyteidl.core.LiteralMap", wire::Limits::default()).expect("valid");
//! let error = wire::check(&bytes[..bytes.len() - 1], "flyteidl.core.LiteralMap", wire::Limits::default())
//!     .unwrap_err();
//! assert!(error.to_string().contains("ends inside"), "{error}");
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::sync::OnceLock;

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};

use crate::core::{Literal, LiteralMap};

/// How deep and how large a checked message may be.
///
/// ```
/// use flyte_proto::{Message, literal, wire};
///
/// // A list of lists, 40 deep: 80 nested messages under the map's.
/// let deep = (0..40).fold(literal::integer(1), |inner, _| literal::collection([inner]));
/// let bytes = literal::literal_map([("o0", deep)]).encode_to_vec();
/// let name = "flyteidl.core.LiteralMap";
/// assert!(wire::check(&bytes[..], name, wire::Limits::default()).is_ok());
/// let error = wire::check(&bytes[..], name, wire::Limits { max_depth: 32 }).unwrap_err();
/// assert!(matches!(error.problem, wire::Problem::TooDeep(32)), "{error}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Messages nested inside one another at most. Default 10,000, the limit of
    /// protobuf-go, which Flyte's services decode with. (Every level of a literal
    /// collection is two messages: `Literal` and `LiteralCollection`.)
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 10_000 }
    }
}

/// Why bytes are not a valid encoding of a message: what, where, and in which field.
///
/// ```
/// use flyte_proto::{Message, literal, wire};
///
/// let bytes = literal::literal_map([("o0", literal::string("text"))]).encode_to_vec();
/// let cut = &bytes[..bytes.len() - 2];
/// let error = wire::check(cut, "flyteidl.core.LiteralMap", wire::Limits::default()).unwrap_err();
/// assert!(matches!(error.problem, wire::Problem::Truncated));
/// assert!(error.offset <= cut.len() as u64);
/// assert!(error.to_string().starts_with("the data ends inside a field or message at byte"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("{problem} at byte {offset}{}", context(.field))]
pub struct WireError {
    /// Where in the stream the problem was found.
    pub offset: u64,
    /// The field being read, as `Message.field`, when there was one.
    pub field: Option<String>,
    /// What is wrong.
    pub problem: Problem,
}

fn context(field: &Option<String>) -> String {
    field
        .as_deref()
        .map(|field| format!(" (in {field})"))
        .unwrap_or_default()
}

/// What is wrong with the bytes.
///
/// ```
/// use flyte_proto::wire::{self, Limits, Problem};
///
/// // Field 1 of a LiteralMap (a map entry) announced as a varint: the wrong wire type.
/// let error = wire::check(&[0x08, 0x01][..], "flyteidl.core.LiteralMap", Limits::default());
/// match error.map_err(|e| e.problem) {
///     Err(Problem::WireTypeMismatch { found }) => assert_eq!(found, 0),
///     Err(Problem::Io(io)) => panic!("reading failed: {io}"),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The data stops inside a field or an enclosing message.
    #[error("the data ends inside a field or message")]
    Truncated,
    /// A varint runs over ten bytes or past 64 bits.
    #[error("a varint is malformed")]
    BadVarint,
    /// A tag names field 0, or a wire type protobuf does not have.
    #[error("a field tag is invalid ({0})")]
    BadTag(u64),
    /// A known field arrived with a wire type its declaration does not allow.
    #[error("a field has wire type {found}, which its declared type does not allow")]
    WireTypeMismatch {
        /// The wire type on the wire.
        found: u8,
    },
    /// A string field holds bytes that are not UTF-8.
    #[error("a string is not valid UTF-8")]
    InvalidUtf8,
    /// Messages nest deeper than [`Limits::max_depth`].
    #[error("messages nest deeper than {0} levels")]
    TooDeep(usize),
    /// A packed repeated field's length does not fit its elements.
    #[error("a packed repeated field is malformed")]
    BadPacked,
    /// A group's end does not match its start.
    #[error("a group is malformed")]
    BadGroup,
    /// The message named is not in flyte-proto's descriptors.
    #[error("{0} is not a message flyte-proto knows")]
    UnknownMessage(String),
    /// Reading failed.
    // Printed, not a `source()`: a `WireError` shows its problem in its own message.
    #[error("reading failed: {0}")]
    Io(io::Error),
}

/// Checks that `reader` holds a valid encoding of the message `message` (a full name,
/// e.g. `flyteidl.core.LiteralMap`), reading it once with memory bounded by its depth.
///
/// ```
/// use flyte_proto::core::{ContainerError, ErrorDocument};
/// use flyte_proto::{Message, wire};
///
/// let error = ContainerError { code: "USER:ValueError".into(), ..Default::default() };
/// let bytes = ErrorDocument { error: Some(error) }.encode_to_vec();
/// wire::check(&bytes[..], "flyteidl.core.ErrorDocument", wire::Limits::default())
///     .expect("a valid error document");
/// // Any `Read` works, e.g. a file or a download stream, read once.
/// let error = wire::check(&b"\xff"[..], "flyteidl.core.ErrorDocument", wire::Limits::default());
/// assert!(error.is_err());
/// ```
pub fn check(reader: impl Read, message: &str, limits: Limits) -> Result<(), WireError> {
    let schema = schema();
    let root = schema.messages.get(message).ok_or_else(|| WireError {
        offset: 0,
        field: None,
        problem: Problem::UnknownMessage(message.to_owned()),
    })?;
    let mut stream = Stream::new(reader);
    let mut stack: Vec<Frame<'_>> = vec![Frame {
        message: root,
        end: None,
    }];
    loop {
        let frame = stack.last().expect("the root frame is never popped early");
        if frame.end == Some(stream.position) {
            stack.pop();
            continue;
        }
        let Some((number, wire_type)) = stream.key(frame.end)? else {
            // A clean end of the data, only allowed at the top level.
            return if stack.len() == 1 {
                Ok(())
            } else {
                Err(stream.error(None, Problem::Truncated))
            };
        };
        let message = frame.message;
        let end = frame.end;
        let Some(field) = message.fields.get(&number) else {
            stream.skip_field(number, wire_type, end)?;
            continue;
        };
        let field_error = |stream: &Stream<_>, problem| {
            stream.error(Some(format!("{}.{}", message.name, field.name)), problem)
        };
        match (&field.kind, wire_type) {
            (FieldKind::Message(name), WireType::Len) => {
                let len = stream.varint()?;
                let nested_end = stream.end_of(len, end)?;
                if stack.len() >= limits.max_depth {
                    return Err(field_error(&stream, Problem::TooDeep(limits.max_depth)));
                }
                let nested = schema
                    .messages
                    .get(name.as_str())
                    .ok_or_else(|| field_error(&stream, Problem::UnknownMessage(name.clone())))?;
                stack.push(Frame {
                    message: nested,
                    end: Some(nested_end),
                });
            }
            (FieldKind::String, WireType::Len) => {
                let len = stream.varint()?;
                stream.end_of(len, end)?;
                stream
                    .utf8(len)
                    .map_err(|problem| field_error(&stream, problem))?;
            }
            (FieldKind::Bytes, WireType::Len) => {
                let len = stream.varint()?;
                stream.end_of(len, end)?;
                stream.skip(len)?;
            }
            (FieldKind::Varint, WireType::Varint) => {
                stream.varint()?;
            }
            (FieldKind::Fixed32, WireType::Fixed32) => stream.skip(4)?,
            (FieldKind::Fixed64, WireType::Fixed64) => stream.skip(8)?,
            // Repeated numbers may come packed.
            (FieldKind::Varint | FieldKind::Fixed32 | FieldKind::Fixed64, WireType::Len)
                if field.repeated =>
            {
                let len = stream.varint()?;
                let packed_end = stream.end_of(len, end)?;
                match field.kind {
                    FieldKind::Varint => {
                        while stream.position < packed_end {
                            stream.varint()?;
                        }
                        if stream.position != packed_end {
                            return Err(field_error(&stream, Problem::BadPacked));
                        }
                    }
                    FieldKind::Fixed32 | FieldKind::Fixed64 => {
                        let width = if field.kind == FieldKind::Fixed32 {
                            4
                        } else {
                            8
                        };
                        if len % width != 0 {
                            return Err(field_error(&stream, Problem::BadPacked));
                        }
                        stream.skip(len)?;
                    }
                    _ => unreachable!("matched above"),
                }
            }
            (_, found) => {
                return Err(field_error(
                    &stream,
                    Problem::WireTypeMismatch { found: found as u8 },
                ));
            }
        }
    }
}

/// One field of a message, as [`fields`] finds it.
///
/// ```
/// use flyte_proto::{Message, core::DynamicJobSpec, wire};
///
/// let bytes = DynamicJobSpec { min_successes: 3, ..Default::default() }.encode_to_vec();
/// let field = wire::fields(&bytes[..]).next().expect("one field").expect("valid");
/// assert_eq!(field, wire::Field { number: 2, value: wire::FieldValue::Varint(3) });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The field number.
    pub number: u32,
    /// Its value, or where a length-delimited value lies.
    pub value: FieldValue,
}

/// A field's value as the wire carries it.
///
/// ```
/// use flyte_proto::wire::{self, FieldValue};
///
/// // Field 1: the string "ab"; field 2: the varint 5.
/// let bytes = [0x0a, 2, b'a', b'b', 0x10, 5];
/// for field in wire::fields(&bytes[..]) {
///     match field.expect("valid").value {
///         FieldValue::Delimited { offset, len } => assert_eq!((offset, len), (2, 2)),
///         FieldValue::Varint(value) => assert_eq!(value, 5),
///         FieldValue::Fixed64(_) | FieldValue::Fixed32(_) => unreachable!(),
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValue {
    /// A varint (integers, booleans, enums).
    Varint(u64),
    /// Eight bytes (double, fixed64, sfixed64), little-endian.
    Fixed64(u64),
    /// Four bytes (float, fixed32, sfixed32), little-endian.
    Fixed32(u32),
    /// A length-delimited value (string, bytes, message, packed numbers), not read:
    /// it is `len` bytes starting `offset` bytes into the stream.
    Delimited {
        /// Where the value starts.
        offset: u64,
        /// How long it is.
        len: u64,
    },
}

/// The top-level fields of the message in `reader`, in order, without reading (or
/// holding) length-delimited values: each comes back as where it lies, so a caller with a
/// seekable source can read just the part it wants, however large the rest. Groups are
/// skipped.
///
/// ```
/// use std::io::{Read, Seek, SeekFrom};
/// use flyte_proto::{Message, literal, wire};
///
/// let bytes = literal::literal_map([("o0", literal::integer(7))]).encode_to_vec();
/// let mut source = std::io::Cursor::new(bytes);
/// // Where each map entry lies, without reading the entries.
/// let entries: Vec<(u64, u64)> = wire::fields(&mut source)
///     .map(|field| match field.expect("valid").value {
///         wire::FieldValue::Delimited { offset, len } => (offset, len),
///         other => panic!("a LiteralMap holds entries only, not {other:?}"),
///     })
///     .collect();
/// // Then read just the first one.
/// let (offset, len) = entries[0];
/// let mut entry = vec![0; len as usize];
/// source.seek(SeekFrom::Start(offset)).and_then(|_| source.read_exact(&mut entry)).unwrap();
/// assert_eq!(entry[..4], [0x0a, 2, b'o', b'0']);
/// ```
pub fn fields<R: Read>(reader: R) -> Fields<R> {
    Fields {
        stream: Stream::new(reader),
        failed: false,
    }
}

/// The iterator [`fields`] returns: a [`Field`] at a time, then `None`; after an
/// error, `None`.
///
/// ```
/// use flyte_proto::wire;
/// // A tag, then nothing: one error, then the end.
/// let mut fields: wire::Fields<&[u8]> = wire::fields(&[0x0a][..]);
/// assert!(fields.next().is_some_and(|field| field.is_err()));
/// assert!(fields.next().is_none());
/// ```
pub struct Fields<R> {
    stream: Stream<R>,
    failed: bool,
}

impl<R: Read> Iterator for Fields<R> {
    type Item = Result<Field, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let result = (|| loop {
            let Some((number, wire_type)) = self.stream.key(None)? else {
                return Ok(None);
            };
            let value = match wire_type {
                WireType::Varint => FieldValue::Varint(self.stream.varint()?),
                WireType::Fixed64 => {
                    let mut bytes = [0u8; 8];
                    self.stream.exact(&mut bytes)?;
                    FieldValue::Fixed64(u64::from_le_bytes(bytes))
                }
                WireType::Fixed32 => {
                    let mut bytes = [0u8; 4];
                    self.stream.exact(&mut bytes)?;
                    FieldValue::Fixed32(u32::from_le_bytes(bytes))
                }
                WireType::Len => {
                    let len = self.stream.varint()?;
                    let offset = self.stream.position;
                    self.stream.skip(len)?;
                    FieldValue::Delimited { offset, len }
                }
                WireType::StartGroup | WireType::EndGroup => {
                    self.stream.skip_field(number, wire_type, None)?;
                    continue;
                }
            };
            return Ok(Some(Field { number, value }));
        })();
        match result {
            Ok(field) => field.map(Ok),
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }
}

/// Checks the file at `path` as [`check`] does; a file that cannot be read is
/// [`Problem::Io`].
///
/// ```
/// use flyte_proto::{files, io, literal, wire};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join(files::OUTPUTS_FILE);
/// # io::write_literal_map(&path, &literal::literal_map([("o0", literal::integer(1))]))?;
/// let name = "flyteidl.core.LiteralMap";
/// wire::check_file(&path, name, wire::Limits::default())?;
/// let missing = wire::check_file("/nonexistent/outputs.pb", name, wire::Limits::default());
/// assert!(matches!(missing.unwrap_err().problem, wire::Problem::Io(_)));
/// # Ok(())
/// # }
/// ```
pub fn check_file(
    path: impl AsRef<std::path::Path>,
    message: &str,
    limits: Limits,
) -> Result<(), WireError> {
    let file = std::fs::File::open(path).map_err(|source| WireError {
        offset: 0,
        field: None,
        problem: Problem::Io(source),
    })?;
    check(
        io::BufReader::with_capacity(64 * 1024, file),
        message,
        limits,
    )
}

/// The encoded `LiteralMap` `map` with every top-level offloaded-literal reference's URI
/// replaced by what `rewrite` returns for it (`None` keeps it). Only the entries that
/// are references are decoded; every other entry is copied byte for byte, however large
/// or deep. Top level is where flytekit puts references (it offloads whole outputs).
///
/// ```
/// use flyte_proto::{core::LiteralMap, io, literal, wire};
///
/// let outputs = literal::literal_map([
///     ("o0", literal::offloaded("/tmp/work/o0_offloaded_metadata.pb", 1 << 20, None)),
///     ("o1", literal::integer(5)),
/// ]);
/// let moved = wire::rewrite_offloaded_uris(&io::encode(&outputs), |uri| {
///     uri.strip_prefix("/tmp/work/").map(|name| format!("s3://bucket/outputs/{name}"))
/// })
/// .expect("a valid LiteralMap");
/// let moved: LiteralMap = io::decode(&moved).expect("still valid");
/// let reference = moved.literals["o0"].as_offloaded().expect("still a reference");
/// assert_eq!(reference.uri, "s3://bucket/outputs/o0_offloaded_metadata.pb");
/// assert_eq!(moved.literals["o1"].as_integer(), Some(5));
/// ```
pub fn rewrite_offloaded_uris(
    map: &[u8],
    mut rewrite: impl FnMut(&str) -> Option<String>,
) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(map.len());
    let mut stream = Stream::new(map);
    loop {
        let field_start = stream.position as usize;
        let Some((number, wire_type)) = stream.key(None)? else {
            return Ok(out);
        };
        if number != 1 || wire_type != WireType::Len {
            stream.skip_field(number, wire_type, None)?;
            out.extend_from_slice(&map[field_start..stream.position as usize]);
            continue;
        }
        let len = stream.varint()?;
        let body_start = stream.position as usize;
        stream.end_of(len, None)?;
        stream.skip(len)?;
        let field_end = stream.position as usize;
        match rewritten_entry(&map[body_start..field_end], &mut rewrite) {
            // Re-encoded as a one-entry map: the same bytes as that entry's field.
            Some(entry) => LiteralMap {
                literals: [entry].into(),
            }
            .encode(&mut out)
            .expect("a Vec grows as needed"),
            None => out.extend_from_slice(&map[field_start..field_end]),
        }
    }
}

/// The entry `(key, literal)` with its URI rewritten, when the entry is an offloaded
/// reference whose URI `rewrite` changes.
fn rewritten_entry(
    entry: &[u8],
    rewrite: &mut impl FnMut(&str) -> Option<String>,
) -> Option<(String, Literal)> {
    // A reference is small: decode the entry only when its value says it is one.
    let mut stream = Stream::new(entry);
    let mut is_reference = false;
    while let Ok(Some((number, wire_type))) = stream.key(None) {
        if number == 2 && wire_type == WireType::Len {
            let len = stream.varint().ok()?;
            let start = stream.position as usize;
            stream.skip(len).ok()?;
            is_reference = literal_is_reference(&entry[start..stream.position as usize]);
        } else {
            stream.skip_field(number, wire_type, None).ok()?;
        }
    }
    if !is_reference {
        return None;
    }
    let (key, mut literal) = decode_entry(entry)?;
    let metadata = match &mut literal.value {
        Some(crate::core::literal::Value::OffloadedMetadata(metadata)) => metadata,
        _ => return None,
    };
    metadata.uri = rewrite(&metadata.uri)?;
    Some((key, literal))
}

/// Decodes one map entry (`key` 1, `value` 2) of a `LiteralMap`.
fn decode_entry(entry: &[u8]) -> Option<(String, Literal)> {
    #[derive(Clone, PartialEq, Message)]
    struct Entry {
        #[prost(string, tag = "1")]
        key: String,
        #[prost(message, optional, tag = "2")]
        value: Option<Literal>,
    }
    let entry = Entry::decode(entry).ok()?;
    Some((entry.key, entry.value.unwrap_or_default()))
}

/// Whether the encoded `Literal` holds field 8, `offloaded_metadata`.
fn literal_is_reference(literal: &[u8]) -> bool {
    let mut stream = Stream::new(literal);
    while let Ok(Some((number, wire_type))) = stream.key(None) {
        if number == 8 {
            return true;
        }
        if stream.skip_field(number, wire_type, None).is_err() {
            return false;
        }
    }
    false
}

/// The protobuf wire types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WireType {
    Varint = 0,
    Fixed64 = 1,
    Len = 2,
    StartGroup = 3,
    EndGroup = 4,
    Fixed32 = 5,
}

/// One message being read, and where it ends (`None`: at the end of the data).
struct Frame<'s> {
    message: &'s MessageInfo,
    end: Option<u64>,
}

/// A reader that counts the bytes it has consumed.
struct Stream<R> {
    inner: R,
    position: u64,
    /// UTF-8 checking reads strings through this buffer.
    buffer: Vec<u8>,
}

impl<R: Read> Stream<R> {
    fn new(inner: R) -> Self {
        Stream {
            inner,
            position: 0,
            buffer: Vec::new(),
        }
    }

    fn error(&self, field: Option<String>, problem: Problem) -> WireError {
        WireError {
            offset: self.position,
            field,
            problem,
        }
    }

    fn io_error(&self, error: io::Error) -> WireError {
        let problem = if error.kind() == io::ErrorKind::UnexpectedEof {
            Problem::Truncated
        } else {
            Problem::Io(error)
        };
        self.error(None, problem)
    }

    /// The next byte; `None` at the end of the data.
    fn byte(&mut self) -> Result<Option<u8>, WireError> {
        let mut byte = [0u8];
        loop {
            match self.inner.read(&mut byte) {
                Ok(0) => return Ok(None),
                Ok(_) => {
                    self.position += 1;
                    return Ok(Some(byte[0]));
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(self.io_error(error)),
            }
        }
    }

    /// A varint, as prost reads one: at most ten bytes, the tenth at most 1.
    fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for index in 0..10 {
            let Some(byte) = self.byte()? else {
                return Err(self.error(None, Problem::Truncated));
            };
            if index == 9 && byte > 1 {
                return Err(self.error(None, Problem::BadVarint));
            }
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error(None, Problem::BadVarint))
    }

    /// The next field's number and wire type; `None` at a clean end of the data (which
    /// is only clean when no enclosing message is still open: the caller checks).
    fn key(&mut self, end: Option<u64>) -> Result<Option<(u32, WireType)>, WireError> {
        if end.is_some_and(|end| self.position >= end) {
            return Ok(None);
        }
        let start = self.position;
        let Some(first) = self.byte()? else {
            return Ok(None);
        };
        let mut key = u64::from(first & 0x7f);
        if first & 0x80 != 0 {
            // The rest of the varint.
            let mut shift = 7;
            loop {
                let Some(byte) = self.byte()? else {
                    return Err(self.error(None, Problem::Truncated));
                };
                if shift == 63 && byte > 1 {
                    return Err(self.error(None, Problem::BadVarint));
                }
                key |= u64::from(byte & 0x7f) << shift;
                if byte & 0x80 == 0 {
                    break;
                }
                shift += 7;
                if shift > 63 {
                    return Err(self.error(None, Problem::BadVarint));
                }
            }
        }
        let wire_type = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            3 => WireType::StartGroup,
            4 => WireType::EndGroup,
            5 => WireType::Fixed32,
            _ => {
                self.position = start;
                return Err(self.error(None, Problem::BadTag(key)));
            }
        };
        let number = key >> 3;
        if number == 0 || number > u64::from(u32::MAX >> 3) {
            return Err(self.error(None, Problem::BadTag(key)));
        }
        Ok(Some((number as u32, wire_type)))
    }

    /// Where a length-delimited value of `len` bytes starting here ends; an error when
    /// it would overrun the enclosing message.
    fn end_of(&self, len: u64, enclosing_end: Option<u64>) -> Result<u64, WireError> {
        let end = self
            .position
            .checked_add(len)
            .ok_or_else(|| self.error(None, Problem::Truncated))?;
        if enclosing_end.is_some_and(|enclosing| end > enclosing) {
            return Err(self.error(None, Problem::Truncated));
        }
        Ok(end)
    }

    /// Fills `bytes`.
    fn exact(&mut self, bytes: &mut [u8]) -> Result<(), WireError> {
        self.inner
            .read_exact(bytes)
            .map_err(|error| self.io_error(error))?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// Consumes `len` bytes.
    fn skip(&mut self, len: u64) -> Result<(), WireError> {
        let copied = io::copy(&mut (&mut self.inner).take(len), &mut io::sink())
            .map_err(|error| self.io_error(error))?;
        self.position += copied;
        if copied < len {
            return Err(self.error(None, Problem::Truncated));
        }
        Ok(())
    }

    /// Consumes `len` bytes that must be UTF-8, in chunks.
    fn utf8(&mut self, len: u64) -> Result<(), Problem> {
        const CHUNK: usize = 64 * 1024;
        let mut left = len;
        // Bytes of a character split across chunks, carried to the next.
        let mut carried = 0usize;
        self.buffer.resize(CHUNK + 4, 0);
        while left > 0 {
            let want = (left as usize).min(CHUNK);
            let read_into = carried..carried + want;
            let mut buffer = std::mem::take(&mut self.buffer);
            let read = self
                .inner
                .read_exact(&mut buffer[read_into.clone()])
                .map_err(|error| self.io_error(error).problem);
            if let Err(problem) = read {
                self.buffer = buffer;
                return Err(problem);
            }
            self.position += want as u64;
            left -= want as u64;
            let filled = &buffer[..carried + want];
            carried = match std::str::from_utf8(filled) {
                Ok(_) => 0,
                // An incomplete character at the end: check it with the next chunk.
                Err(error) if error.error_len().is_none() && left > 0 => {
                    let valid = error.valid_up_to();
                    let rest = filled.len() - valid;
                    buffer.copy_within(valid..valid + rest, 0);
                    rest
                }
                Err(_) => {
                    self.buffer = buffer;
                    return Err(Problem::InvalidUtf8);
                }
            };
            self.buffer = buffer;
        }
        Ok(())
    }

    /// Skips a field this reader has no declaration for, as prost does.
    fn skip_field(
        &mut self,
        number: u32,
        wire_type: WireType,
        end: Option<u64>,
    ) -> Result<(), WireError> {
        match wire_type {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.skip(8),
            WireType::Fixed32 => self.skip(4),
            WireType::Len => {
                let len = self.varint()?;
                self.end_of(len, end)?;
                self.skip(len)
            }
            WireType::StartGroup => {
                // Groups nest; skip to the matching end.
                let mut open = vec![number];
                while let Some(&current) = open.last() {
                    let Some((inner, inner_type)) = self.key(end)? else {
                        return Err(self.error(None, Problem::Truncated));
                    };
                    match inner_type {
                        WireType::EndGroup if inner == current => {
                            open.pop();
                        }
                        WireType::EndGroup => return Err(self.error(None, Problem::BadGroup)),
                        WireType::StartGroup => open.push(inner),
                        other => self.skip_field(inner, other, end)?,
                    }
                }
                Ok(())
            }
            WireType::EndGroup => Err(self.error(None, Problem::BadGroup)),
        }
    }
}

/// What a checked message's fields are, by number.
struct MessageInfo {
    name: String,
    fields: HashMap<u32, FieldInfo>,
}

struct FieldInfo {
    name: String,
    kind: FieldKind,
    repeated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FieldKind {
    Varint,
    Fixed32,
    Fixed64,
    String,
    Bytes,
    /// A nested message, by full name.
    Message(String),
}

/// Every message of flyte-proto's descriptors and the well-known types they import.
struct Schema {
    messages: HashMap<String, MessageInfo>,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schema({} messages)", self.messages.len())
    }
}

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut messages = HashMap::new();
        for set in [
            crate::FILE_DESCRIPTOR_SET,
            include_bytes!("generated/google_protobuf.descriptor.bin").as_slice(),
        ] {
            let set = prost_types::FileDescriptorSet::decode(set)
                .expect("the checked-in descriptor sets decode");
            for file in set.file {
                let package = file.package().to_owned();
                for message in file.message_type {
                    add_message(&mut messages, &package, message);
                }
            }
        }
        Schema { messages }
    })
}

fn add_message(
    messages: &mut HashMap<String, MessageInfo>,
    scope: &str,
    message: prost_types::DescriptorProto,
) {
    let name = format!("{scope}.{}", message.name());
    let fields = message
        .field
        .iter()
        .map(|field| {
            let kind = match field.r#type() {
                Type::Double | Type::Fixed64 | Type::Sfixed64 => FieldKind::Fixed64,
                Type::Float | Type::Fixed32 | Type::Sfixed32 => FieldKind::Fixed32,
                Type::String => FieldKind::String,
                Type::Bytes => FieldKind::Bytes,
                Type::Message | Type::Group => {
                    FieldKind::Message(field.type_name().trim_start_matches('.').to_owned())
                }
                _ => FieldKind::Varint,
            };
            (
                field.number() as u32,
                FieldInfo {
                    name: field.name().to_owned(),
                    kind,
                    repeated: field.label() == Label::Repeated,
                },
            )
        })
        .collect();
    for nested in message.nested_type {
        add_message(messages, &name, nested);
    }
    messages.insert(name.clone(), MessageInfo { name, fields });
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::literal;

    fn nested_list(depth: usize) -> LiteralMap {
        let mut value = literal::integer(1);
        for _ in 0..depth {
            value = literal::collection([value]);
        }
        literal::literal_map([("o0", value)])
    }

    fn check_map(bytes: &[u8]) -> Result<(), WireError> {
        check(bytes, "flyteidl.core.LiteralMap", Limits::default())
    }

    #[test]
    fn everything_prost_encodes_checks() {
        let map = literal::literal_map([
            ("i", literal::integer(-5)),
            ("f", literal::float(2.5)),
            ("s", literal::string("héllo wörld")),
            ("b", literal::boolean(true)),
            (
                "t",
                literal::datetime(prost_types::Timestamp {
                    seconds: 3,
                    nanos: 4,
                }),
            ),
            ("n", literal::none()),
            ("m", literal::map([("k", literal::string("v"))])),
            ("blob", literal::blob("s3://b/k", "csv", Default::default())),
            ("sd", literal::structured_dataset("s3://b/d", "parquet")),
            ("o", literal::offloaded("s3://b/o.pb", 10, None)),
        ]);
        check_map(&map.encode_to_vec()).expect("valid");
    }

    #[test]
    fn nesting_deeper_than_prosts_limit_checks_up_to_ours() {
        let bytes = nested_list(200).encode_to_vec();
        assert!(
            LiteralMap::decode(&bytes[..]).is_err(),
            "prost's own limit of 100 refuses it"
        );
        check_map(&bytes).expect("within 10,000 levels");
        let error = check(
            &bytes[..],
            "flyteidl.core.LiteralMap",
            Limits { max_depth: 50 },
        )
        .expect_err("too deep");
        assert!(matches!(error.problem, Problem::TooDeep(50)), "{error}");
    }

    #[test]
    fn corrupt_bytes_are_refused_with_where_and_what() {
        let valid = literal::literal_map([("s", literal::string("abc"))]).encode_to_vec();
        let error = check_map(&valid[..valid.len() - 2]).expect_err("truncated");
        assert!(matches!(error.problem, Problem::Truncated), "{error}");

        let mut bad_utf8 = valid.clone();
        let at = bad_utf8
            .windows(3)
            .position(|w| w == b"abc")
            .expect("the string");
        bad_utf8[at] = 0xff;
        let error = check_map(&bad_utf8).expect_err("bad UTF-8");
        assert!(matches!(error.problem, Problem::InvalidUtf8), "{error}");
        assert!(error.to_string().contains("string_value"), "{error}");

        let error = check_map(b"\xff\xff\xff not a literal map").expect_err("garbage");
        assert!(error.to_string().contains("at byte"), "{error}");
        // The same bytes prost refuses.
        assert!(LiteralMap::decode(&b"\xff\xff\xff not a literal map"[..]).is_err());
    }

    #[test]
    fn a_known_field_with_the_wrong_wire_type_is_refused() {
        // LiteralMap.literals (1) as a varint.
        let error = check_map(&[0x08, 0x01]).expect_err("wrong wire type");
        assert!(
            matches!(error.problem, Problem::WireTypeMismatch { found: 0 }),
            "{error}"
        );
        assert!(LiteralMap::decode(&[0x08, 0x01][..]).is_err());
    }

    #[test]
    fn unknown_fields_of_every_wire_type_are_skipped_as_prost_skips_them() {
        let mut bytes = literal::literal_map([("a", literal::integer(1))]).encode_to_vec();
        // Field 99 as varint, fixed64, bytes, a group holding a varint, fixed32.
        bytes.extend([0x98, 0x06, 0x05]);
        bytes.extend([0x99, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]);
        bytes.extend([0x9a, 0x06, 0x02, b'h', b'i']);
        bytes.extend([0x9b, 0x06, 0x08, 0x01, 0x9c, 0x06]);
        bytes.extend([0x9d, 0x06, 1, 2, 3, 4]);
        check_map(&bytes).expect("unknown fields skipped");
        assert!(LiteralMap::decode(&bytes[..]).is_ok());
    }

    /// Deterministic pseudo-random numbers (a 64-bit LCG), so failures reproduce.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) as usize) % n.max(1)
        }
    }

    #[test]
    fn mutated_bytes_are_accepted_exactly_when_prost_accepts_them() {
        let map = literal::literal_map([
            ("i", literal::integer(300)),
            ("s", literal::string("héllo")),
            (
                "l",
                literal::collection([literal::float(1.5), literal::boolean(false)]),
            ),
            ("m", literal::map([("k", literal::none())])),
            (
                "t",
                literal::datetime(prost_types::Timestamp {
                    seconds: 1,
                    nanos: 2,
                }),
            ),
            ("b", literal::blob("s3://b/k", "csv", Default::default())),
        ]);
        let valid = map.encode_to_vec();
        let mut random = Lcg(42);
        let mut disagreements = Vec::new();
        for _ in 0..5_000 {
            let mut bytes = valid.clone();
            for _ in 0..=random.below(3) {
                let at = random.below(bytes.len());
                match random.below(4) {
                    0 => bytes[at] = random.below(256) as u8,
                    1 => bytes[at] ^= 1 << random.below(8),
                    2 => bytes.truncate(at),
                    _ => bytes.insert(at, random.below(256) as u8),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            let ours = check_map(&bytes).is_ok();
            let prost = LiteralMap::decode(&bytes[..]).is_ok();
            if ours != prost {
                disagreements.push((bytes, ours, prost));
            }
        }
        assert!(
            disagreements.is_empty(),
            "{} disagreements, e.g. {:?}",
            disagreements.len(),
            disagreements.first()
        );
    }

    #[test]
    fn fields_says_where_long_values_lie_without_reading_them() {
        let document = crate::core::ErrorDocument {
            error: Some(crate::core::ContainerError {
                code: "USER:ValueError".to_owned(),
                message: "m".repeat(300),
                kind: 1,
                ..Default::default()
            }),
        };
        let bytes = document.encode_to_vec();
        let top: Vec<Field> = fields(&bytes[..])
            .collect::<Result<_, _>>()
            .expect("fields");
        let [
            Field {
                number: 1,
                value: FieldValue::Delimited { offset, len },
            },
        ] = top[..]
        else {
            panic!("{top:?}")
        };
        let error = &bytes[offset as usize..(offset + len) as usize];
        let inner: Vec<Field> = fields(error).collect::<Result<_, _>>().expect("fields");
        assert_eq!(inner.len(), 3, "{inner:?}");
        assert_eq!(
            inner[2],
            Field {
                number: 3,
                value: FieldValue::Varint(1)
            }
        );
        let FieldValue::Delimited { offset, len } = inner[1].value else {
            panic!("{inner:?}")
        };
        assert_eq!(
            &error[offset as usize..(offset + len) as usize],
            "m".repeat(300).as_bytes()
        );
        assert!(fields(&bytes[..bytes.len() - 1]).any(|field| field.is_err()));
    }

    #[test]
    fn strings_split_across_read_chunks_are_checked_whole() {
        // Longer than one 64 KiB chunk, with multi-byte characters on the boundary.
        let text = "é".repeat(70_000);
        let bytes = literal::literal_map([("s", literal::string(text))]).encode_to_vec();
        check_map(&bytes).expect("valid UTF-8 across chunks");
    }

    #[test]
    fn offloaded_references_are_rewritten_and_other_entries_copied_as_they_are() {
        let deep = nested_list(150);
        let mut map = deep.clone();
        map.literals.insert(
            "big".to_owned(),
            literal::offloaded("big_offloaded_metadata.pb", 9, None),
        );
        let encoded = map.encode_to_vec();
        let rewritten =
            rewrite_offloaded_uris(&encoded, |uri| Some(format!("s3://bucket/out/{uri}")))
                .expect("rewritten");
        check_map(&rewritten).expect("still valid");
        // The deep entry came through untouched (prost could not even decode it).
        let deep_entry = deep.encode_to_vec();
        assert!(
            rewritten
                .windows(deep_entry.len())
                .any(|w| w == deep_entry.as_slice()),
            "the deep entry's bytes are copied"
        );
        let reference = literal::literal_map([(
            "big",
            literal::offloaded("s3://bucket/out/big_offloaded_metadata.pb", 9, None),
        )])
        .encode_to_vec();
        assert!(
            rewritten
                .windows(reference.len())
                .any(|w| w == reference.as_slice()),
            "the reference points at the new URI"
        );
    }
}
