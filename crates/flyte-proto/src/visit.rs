//! Every data URI in a literal tree, for reading or rewriting.
//!
//! Large values live outside the literal: blobs (files, directories), schemas,
//! structured datasets, and literals offloaded whole. Code that moves data (uploading
//! local files, rewriting to a new prefix) needs each of those URIs; the walkers here
//! reach them through collections, maps and unions, in a stable order (collection order,
//! map keys in byte order).
//!
//! ```
//! use flyte_proto::{literal, visit};
//! use flyte_proto::core::blob_type::BlobDimensionality;
//!
//! let mut outputs = literal::literal_map([
//!     ("report", literal::blob("/tmp/report.csv", "csv", BlobDimensionality::Single)),
//!     ("count", literal::integer(3)),
//! ]);
//! visit::rewrite_uris(&mut outputs, |_, uri| {
//!     uri.strip_prefix("/tmp/").map(|rest| format!("s3://bucket/{rest}"))
//! });
//! let mut seen = Vec::new();
//! visit::for_each_uri(&outputs, |kind, uri| seen.push((kind, uri.to_owned())));
//! assert_eq!(seen, [(visit::UriKind::Blob, "s3://bucket/report.csv".to_owned())]);
//! ```

use crate::core::literal::Value as LiteralValue;
use crate::core::scalar::Value as ScalarValue;
use crate::core::{Literal, LiteralMap};

/// What kind of value a URI points at.
///
/// ```
/// use flyte_proto::visit::{self, UriKind};
/// use flyte_proto::literal;
///
/// let outputs = literal::literal_map([
///     ("df", literal::structured_dataset("s3://bucket/df", "parquet")),
///     ("big", literal::offloaded("s3://bucket/big.pb", 10, None)),
/// ]);
/// let mut data = Vec::new();
/// visit::for_each_uri(&outputs, |kind, uri| {
///     // An offloaded literal's file is a serialized Literal, not user data.
///     if kind != UriKind::OffloadedLiteral {
///         data.push(uri.to_owned());
///     }
/// });
/// assert_eq!(data, ["s3://bucket/df"]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UriKind {
    /// A file or directory (`Blob`: FlyteFile, FlyteDirectory, pickles …).
    Blob,
    /// A legacy `Schema` (FlyteSchema).
    Schema,
    /// A `StructuredDataset` (dataframes).
    StructuredDataset,
    /// A whole literal stored elsewhere (`LiteralOffloadedMetadata`): the URI names a
    /// serialized `Literal`, not user data.
    OffloadedLiteral,
}

/// Calls `visit` with every data URI in `map`, each with its kind. Empty URIs are
/// reported too: judging them is the caller's business.
///
/// ```
/// use flyte_proto::core::blob_type::BlobDimensionality::{Multipart, Single};
/// use flyte_proto::{literal, visit};
///
/// let inputs = literal::literal_map([
///     (
///         "files",
///         literal::collection([
///             literal::blob("s3://bucket/a.csv", "csv", Single),
///             literal::blob("s3://bucket/b.csv", "csv", Single),
///         ]),
///     ),
///     ("dir", literal::blob("gs://bucket/dir", "", Multipart)),
/// ]);
/// let mut uris = Vec::new();
/// visit::for_each_uri(&inputs, |_, uri| uris.push(uri.to_owned()));
/// assert_eq!(uris, ["gs://bucket/dir", "s3://bucket/a.csv", "s3://bucket/b.csv"]);
/// ```
pub fn for_each_uri(map: &LiteralMap, mut visit: impl FnMut(UriKind, &str)) {
    for literal in map.literals.values() {
        walk(literal, &mut visit);
    }
}

/// [`for_each_uri`] for a single literal.
///
/// ```
/// use flyte_proto::{literal, visit};
/// let df = literal::structured_dataset("s3://bucket/df", "parquet");
/// let mut count = 0;
/// visit::for_each_uri_in_literal(&df, |_, _| count += 1);
/// assert_eq!(count, 1);
/// ```
pub fn for_each_uri_in_literal(literal: &Literal, mut visit: impl FnMut(UriKind, &str)) {
    walk(literal, &mut visit);
}

/// Calls `rewrite` with every data URI in `map` (same order as [`for_each_uri`]) and
/// replaces the URI with what it returns, or leaves it when it returns `None`.
///
/// ```
/// use flyte_proto::core::blob_type::BlobDimensionality::Single;
/// use flyte_proto::{literal, visit};
///
/// let file = literal::blob("/tmp/work/out.csv", "csv", Single);
/// let mut outputs = literal::literal_map([("o0", file)]);
/// visit::rewrite_uris(&mut outputs, |_, uri| {
///     uri.strip_prefix("/tmp/work/").map(|name| format!("s3://bucket/raw/{name}"))
/// });
/// let blob = outputs.literals["o0"].as_blob().expect("a blob");
/// assert_eq!(blob.uri, "s3://bucket/raw/out.csv");
/// ```
pub fn rewrite_uris(
    map: &mut LiteralMap,
    mut rewrite: impl FnMut(UriKind, &str) -> Option<String>,
) {
    for literal in map.literals.values_mut() {
        walk_mut(literal, &mut rewrite);
    }
}

/// [`rewrite_uris`] for a single literal.
///
/// ```
/// use flyte_proto::{literal, visit};
/// let mut df = literal::structured_dataset("s3://old/df", "parquet");
/// visit::rewrite_uris_in_literal(&mut df, |_, uri| {
///     uri.strip_prefix("s3://old/").map(|key| format!("s3://new/{key}"))
/// });
/// assert_eq!(df.as_structured_dataset().map(|d| d.uri.as_str()), Some("s3://new/df"));
/// ```
pub fn rewrite_uris_in_literal(
    literal: &mut Literal,
    mut rewrite: impl FnMut(UriKind, &str) -> Option<String>,
) {
    walk_mut(literal, &mut rewrite);
}

// Recursion depth is bounded by prost's decode recursion limit for decoded messages;
// hand-built trees are as deep as their builder made them.
fn walk(literal: &Literal, visit: &mut impl FnMut(UriKind, &str)) {
    match &literal.value {
        None => {}
        Some(LiteralValue::Collection(collection)) => collection
            .literals
            .iter()
            .for_each(|item| walk(item, visit)),
        Some(LiteralValue::Map(map)) => map.literals.values().for_each(|item| walk(item, visit)),
        Some(LiteralValue::OffloadedMetadata(offloaded)) => {
            visit(UriKind::OffloadedLiteral, &offloaded.uri)
        }
        Some(LiteralValue::Scalar(scalar)) => match &scalar.value {
            Some(ScalarValue::Blob(blob)) => visit(UriKind::Blob, &blob.uri),
            Some(ScalarValue::Schema(schema)) => visit(UriKind::Schema, &schema.uri),
            Some(ScalarValue::StructuredDataset(dataset)) => {
                visit(UriKind::StructuredDataset, &dataset.uri)
            }
            Some(ScalarValue::Union(union)) => {
                if let Some(inner) = &union.value {
                    walk(inner, visit);
                }
            }
            // Listed, not `_`, so a new scalar kind in flyteidl forces a decision here.
            Some(
                ScalarValue::Primitive(_)
                | ScalarValue::Binary(_)
                | ScalarValue::NoneType(_)
                | ScalarValue::Error(_)
                | ScalarValue::Generic(_),
            )
            | None => {}
        },
    }
}

fn walk_mut(literal: &mut Literal, rewrite: &mut impl FnMut(UriKind, &str) -> Option<String>) {
    let mut apply = |kind: UriKind, uri: &mut String| {
        if let Some(new_uri) = rewrite(kind, uri) {
            *uri = new_uri;
        }
    };
    match &mut literal.value {
        None => {}
        Some(LiteralValue::Collection(collection)) => {
            collection
                .literals
                .iter_mut()
                .for_each(|item| walk_mut(item, rewrite));
        }
        Some(LiteralValue::Map(map)) => map
            .literals
            .values_mut()
            .for_each(|item| walk_mut(item, rewrite)),
        Some(LiteralValue::OffloadedMetadata(offloaded)) => {
            apply(UriKind::OffloadedLiteral, &mut offloaded.uri)
        }
        Some(LiteralValue::Scalar(scalar)) => match &mut scalar.value {
            Some(ScalarValue::Blob(blob)) => apply(UriKind::Blob, &mut blob.uri),
            Some(ScalarValue::Schema(schema)) => apply(UriKind::Schema, &mut schema.uri),
            Some(ScalarValue::StructuredDataset(dataset)) => {
                apply(UriKind::StructuredDataset, &mut dataset.uri)
            }
            Some(ScalarValue::Union(union)) => {
                if let Some(inner) = &mut union.value {
                    walk_mut(inner, rewrite);
                }
            }
            Some(
                ScalarValue::Primitive(_)
                | ScalarValue::Binary(_)
                | ScalarValue::NoneType(_)
                | ScalarValue::Error(_)
                | ScalarValue::Generic(_),
            )
            | None => {}
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::blob_type::BlobDimensionality;
    use crate::core::{LiteralOffloadedMetadata, Schema, Union};
    use crate::literal::{self, blob, collection, integer, map, structured_dataset};

    fn union_of(inner: Literal) -> Literal {
        literal::scalar(ScalarValue::Union(Box::new(Union {
            value: Some(Box::new(inner)),
            r#type: None,
        })))
    }

    /// One of each URI kind, nested every way a literal can nest.
    fn every_kind_nested() -> LiteralMap {
        let schema = literal::scalar(ScalarValue::Schema(Schema {
            uri: "s3://b/schema".into(),
            r#type: None,
        }));
        let offloaded = Literal {
            value: Some(LiteralValue::OffloadedMetadata(LiteralOffloadedMetadata {
                uri: "s3://b/offloaded.pb".into(),
                size_bytes: 10,
                inferred_type: None,
            })),
            ..Default::default()
        };
        literal::literal_map([
            (
                "a_plain",
                blob("s3://b/file", "", BlobDimensionality::Single),
            ),
            (
                "b_list",
                collection([
                    integer(1),
                    structured_dataset("s3://b/df", "parquet"),
                    schema,
                ]),
            ),
            (
                "c_map",
                map([(
                    "inner",
                    union_of(blob("s3://b/dir", "", BlobDimensionality::Multipart)),
                )]),
            ),
            ("d_offloaded", offloaded),
            ("e_nothing", integer(2)),
        ])
    }

    fn collect(map: &LiteralMap) -> Vec<(UriKind, String)> {
        let mut seen = Vec::new();
        for_each_uri(map, |kind, uri| seen.push((kind, uri.to_owned())));
        seen
    }

    #[test]
    fn for_each_uri_reaches_every_kind_through_collections_maps_and_unions() {
        let expected = [
            (UriKind::Blob, "s3://b/file"),
            (UriKind::StructuredDataset, "s3://b/df"),
            (UriKind::Schema, "s3://b/schema"),
            (UriKind::Blob, "s3://b/dir"),
            (UriKind::OffloadedLiteral, "s3://b/offloaded.pb"),
        ]
        .map(|(kind, uri)| (kind, uri.to_owned()));
        assert_eq!(collect(&every_kind_nested()), expected);
    }

    #[test]
    fn rewrite_uris_replaces_only_what_the_closure_returns() {
        let mut map = every_kind_nested();
        rewrite_uris(&mut map, |kind, uri| {
            (kind != UriKind::Schema).then(|| uri.replace("s3://b/", "gs://c/"))
        });
        let uris: Vec<_> = collect(&map).into_iter().map(|(_, uri)| uri).collect();
        assert_eq!(
            uris,
            [
                "gs://c/file",
                "gs://c/df",
                "s3://b/schema",
                "gs://c/dir",
                "gs://c/offloaded.pb"
            ]
        );
    }

    #[test]
    fn single_literal_walkers_match_the_map_walkers() {
        let mut literal = union_of(blob("file:///x", "", BlobDimensionality::Single));
        rewrite_uris_in_literal(&mut literal, |_, _| Some("s3://y".into()));
        let mut seen = Vec::new();
        for_each_uri_in_literal(&literal, |kind, uri| seen.push((kind, uri.to_owned())));
        assert_eq!(seen, [(UriKind::Blob, "s3://y".to_owned())]);
    }

    #[test]
    fn empty_literals_and_empty_unions_are_skipped_without_panicking() {
        let map = literal::literal_map([
            ("empty", Literal::default()),
            (
                "empty_union",
                literal::scalar(ScalarValue::Union(Box::default())),
            ),
        ]);
        assert!(collect(&map).is_empty());
    }
}
