//! Building and reading [`Literal`]s without spelling out the message nesting.
//!
//! A Flyte value is a `Literal` wrapping a `Scalar` wrapping a `Primitive` wrapping, say,
//! an integer. The free functions here build those trees in one call; the accessor
//! methods (added to [`Literal`] itself, so no trait import is needed) read them back,
//! returning `None` when the literal holds something else.
//!
//! ```
//! use flyte_proto::literal;
//! let numbers = literal::collection([literal::integer(1), literal::integer(2)]);
//! let items = numbers.as_collection().expect("a collection");
//! assert_eq!(items[1].as_integer(), Some(2));
//! assert_eq!(items[1].as_str(), None);
//! ```

use std::collections::BTreeMap;

use prost_types::{Duration, Timestamp};

use crate::core::blob_type::BlobDimensionality;
use crate::core::literal::Value as LiteralValue;
use crate::core::primitive::Value as PrimitiveValue;
use crate::core::scalar::Value as ScalarValue;
use crate::core::{
    Blob, BlobMetadata, BlobType, Literal, LiteralCollection, LiteralMap, LiteralOffloadedMetadata,
    LiteralType, Primitive, Scalar, StructuredDataset, StructuredDatasetMetadata,
    StructuredDatasetType, Union, Void,
};

/// A literal holding `scalar`, for the scalars without a constructor of their own
/// (binary, error, generic struct, schema, union).
///
/// ```
/// use flyte_proto::core::{Binary, scalar::Value};
/// use flyte_proto::literal;
/// let raw = literal::scalar(Value::Binary(Binary { value: vec![1, 2], tag: "msgpack".into() }));
/// assert!(matches!(raw.as_scalar(), Some(Value::Binary(b)) if b.tag == "msgpack"));
/// ```
pub fn scalar(scalar: ScalarValue) -> Literal {
    Literal {
        value: Some(LiteralValue::Scalar(Box::new(Scalar {
            value: Some(scalar),
        }))),
        ..Default::default()
    }
}

fn primitive(value: PrimitiveValue) -> Literal {
    scalar(ScalarValue::Primitive(Primitive { value: Some(value) }))
}

/// An integer (`int` in Python).
///
/// ```
/// assert_eq!(flyte_proto::literal::integer(42).as_integer(), Some(42));
/// ```
pub fn integer(value: i64) -> Literal {
    primitive(PrimitiveValue::Integer(value))
}

/// A float (`float` in Python).
///
/// ```
/// assert_eq!(flyte_proto::literal::float(0.5).as_float(), Some(0.5));
/// ```
pub fn float(value: f64) -> Literal {
    primitive(PrimitiveValue::FloatValue(value))
}

/// A string.
///
/// ```
/// assert_eq!(flyte_proto::literal::string("hello").as_str(), Some("hello"));
/// ```
pub fn string(value: impl Into<String>) -> Literal {
    primitive(PrimitiveValue::StringValue(value.into()))
}

/// A boolean.
///
/// ```
/// assert_eq!(flyte_proto::literal::boolean(true).as_bool(), Some(true));
/// ```
pub fn boolean(value: bool) -> Literal {
    primitive(PrimitiveValue::Boolean(value))
}

/// A point in time: a [`Timestamp`] or a [`std::time::SystemTime`].
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let when = flyte_proto::literal::datetime(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// assert_eq!(when.as_datetime().map(|t| t.seconds), Some(1_700_000_000));
/// ```
pub fn datetime(value: impl Into<Timestamp>) -> Literal {
    primitive(PrimitiveValue::Datetime(value.into()))
}

/// A duration (`timedelta` in Python). From a [`std::time::Duration`]:
/// `prost_types::Duration::try_from(d)` (fails only beyond `i64::MAX` seconds).
///
/// ```
/// use flyte_proto::{literal, prost_types};
/// let d = prost_types::Duration::try_from(std::time::Duration::from_millis(1500)).unwrap();
/// let timeout = literal::duration(d);
/// assert_eq!(timeout.as_duration().map(|d| (d.seconds, d.nanos)), Some((1, 500_000_000)));
/// ```
pub fn duration(value: Duration) -> Literal {
    primitive(PrimitiveValue::Duration(value))
}

/// The absent value (`None` in Python).
///
/// ```
/// assert!(flyte_proto::literal::none().is_none());
/// ```
pub fn none() -> Literal {
    scalar(ScalarValue::NoneType(Void {}))
}

/// A list of literals, in order (a Python `list[…]`).
///
/// ```
/// use flyte_proto::literal;
/// let names = literal::collection(["a", "b"].map(literal::string));
/// assert_eq!(names.as_collection().map(|items| items.len()), Some(2));
/// ```
pub fn collection(items: impl IntoIterator<Item = Literal>) -> Literal {
    Literal {
        value: Some(LiteralValue::Collection(LiteralCollection {
            literals: items.into_iter().collect(),
        })),
        ..Default::default()
    }
}

/// A string-keyed map of literals (a Python `dict[str, …]`). A repeated key keeps its
/// last value. (For the `LiteralMap` of inputs.pb and outputs.pb, see [`literal_map`].)
///
/// ```
/// use flyte_proto::literal;
/// let scores = literal::map([("alice", literal::integer(3)), ("bob", literal::integer(5))]);
/// assert_eq!(scores.as_map().and_then(|m| m["bob"].as_integer()), Some(5));
/// ```
pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Literal)>) -> Literal {
    Literal {
        value: Some(LiteralValue::Map(literal_map(entries))),
        ..Default::default()
    }
}

/// A reference to a file (`Single`) or directory (`Multipart`) at `uri`; `format` is free
/// text such as `"csv"`, empty when unknown. A FlyteFile is `Single`, a FlyteDirectory
/// `Multipart`.
///
/// ```
/// use flyte_proto::core::blob_type::BlobDimensionality;
/// use flyte_proto::literal;
/// let report = literal::blob("s3://bucket/data/report.csv", "csv", BlobDimensionality::Single);
/// assert_eq!(report.as_blob().map(|b| b.uri.as_str()), Some("s3://bucket/data/report.csv"));
/// ```
pub fn blob(
    uri: impl Into<String>,
    format: impl Into<String>,
    dimensionality: BlobDimensionality,
) -> Literal {
    scalar(ScalarValue::Blob(Blob {
        metadata: Some(BlobMetadata {
            r#type: Some(BlobType {
                format: format.into(),
                dimensionality: dimensionality.into(),
            }),
        }),
        uri: uri.into(),
    }))
}

/// A reference to a structured dataset (e.g. a dataframe) at `uri`, stored as `format`
/// (e.g. `"parquet"`), with no column information.
///
/// ```
/// let df = flyte_proto::literal::structured_dataset("gs://bucket/df/", "parquet");
/// assert_eq!(df.as_structured_dataset().map(|d| d.uri.as_str()), Some("gs://bucket/df/"));
/// ```
pub fn structured_dataset(uri: impl Into<String>, format: impl Into<String>) -> Literal {
    scalar(ScalarValue::StructuredDataset(StructuredDataset {
        uri: uri.into(),
        metadata: Some(StructuredDatasetMetadata {
            structured_dataset_type: Some(StructuredDatasetType {
                format: format.into(),
                ..Default::default()
            }),
        }),
    }))
}

/// A literal stored elsewhere (flytekit's literal offloading): `uri` names a file holding
/// the serialized `Literal`, `size_bytes` its encoded size, `inferred_type` the type the
/// task's interface gives it (flytekit always sets it; Propeller uses it to type the
/// value without reading the file).
///
/// ```
/// use flyte_proto::core::{LiteralType, SimpleType, literal_type::Type};
/// use flyte_proto::literal;
/// let int_type = LiteralType {
///     r#type: Some(Type::Simple(SimpleType::Integer.into())),
///     ..Default::default()
/// };
/// let uri = "s3://bucket/outputs/o0_offloaded_metadata.pb";
/// let big = literal::offloaded(uri, 4096, Some(int_type));
/// assert_eq!(big.as_offloaded().map(|o| o.size_bytes), Some(4096));
/// ```
pub fn offloaded(
    uri: impl Into<String>,
    size_bytes: u64,
    inferred_type: Option<LiteralType>,
) -> Literal {
    Literal {
        value: Some(LiteralValue::OffloadedMetadata(LiteralOffloadedMetadata {
            uri: uri.into(),
            size_bytes,
            inferred_type,
        })),
        ..Literal::default()
    }
}

/// A `LiteralMap` (the message of inputs.pb and outputs.pb) from `(name, literal)` pairs.
/// A repeated name keeps its last literal.
///
/// ```
/// use flyte_proto::literal;
/// let outputs = literal::literal_map([("o0", literal::integer(1)), ("o1", literal::string("x"))]);
/// assert_eq!(outputs.literals["o1"].as_str(), Some("x"));
/// ```
pub fn literal_map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Literal)>) -> LiteralMap {
    LiteralMap {
        literals: entries
            .into_iter()
            .map(|(name, literal)| (name.into(), literal))
            .collect(),
    }
}

/// Accessors: each returns `None` (or `false`) when the literal holds something else.
/// None of them looks through unions; call [`Literal::peel_unions`] first for that.
impl Literal {
    /// The scalar, if this literal is one (the typed accessors below read the common
    /// ones).
    ///
    /// ```
    /// use flyte_proto::{core::scalar::Value, literal};
    /// assert!(matches!(literal::none().as_scalar(), Some(Value::NoneType(_))));
    /// assert!(literal::collection([]).as_scalar().is_none());
    /// ```
    pub fn as_scalar(&self) -> Option<&ScalarValue> {
        match &self.value {
            Some(LiteralValue::Scalar(scalar)) => scalar.value.as_ref(),
            _ => None,
        }
    }

    fn as_primitive(&self) -> Option<&PrimitiveValue> {
        match self.as_scalar() {
            Some(ScalarValue::Primitive(primitive)) => primitive.value.as_ref(),
            _ => None,
        }
    }

    /// The integer, if this literal is one.
    ///
    /// ```
    /// use flyte_proto::literal;
    /// assert_eq!(literal::integer(7).as_integer(), Some(7));
    /// assert_eq!(literal::string("7").as_integer(), None);
    /// ```
    pub fn as_integer(&self) -> Option<i64> {
        match self.as_primitive() {
            Some(PrimitiveValue::Integer(value)) => Some(*value),
            _ => None,
        }
    }

    /// The float, if this literal is one (an integer is not converted).
    ///
    /// ```
    /// use flyte_proto::literal;
    /// assert_eq!(literal::float(2.5).as_float(), Some(2.5));
    /// assert_eq!(literal::integer(2).as_float(), None);
    /// ```
    pub fn as_float(&self) -> Option<f64> {
        match self.as_primitive() {
            Some(PrimitiveValue::FloatValue(value)) => Some(*value),
            _ => None,
        }
    }

    /// The string, if this literal is one.
    ///
    /// ```
    /// use flyte_proto::literal;
    /// let inputs = literal::literal_map([("name", literal::string("world"))]);
    /// assert_eq!(inputs.literals["name"].as_str(), Some("world"));
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self.as_primitive() {
            Some(PrimitiveValue::StringValue(value)) => Some(value),
            _ => None,
        }
    }

    /// The boolean, if this literal is one.
    ///
    /// ```
    /// use flyte_proto::literal;
    /// assert_eq!(literal::boolean(false).as_bool(), Some(false));
    /// assert_eq!(literal::integer(0).as_bool(), None);
    /// ```
    pub fn as_bool(&self) -> Option<bool> {
        match self.as_primitive() {
            Some(PrimitiveValue::Boolean(value)) => Some(*value),
            _ => None,
        }
    }

    /// The point in time, if this literal is one.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime, UNIX_EPOCH};
    /// let when = UNIX_EPOCH + Duration::from_secs(60);
    /// let literal = flyte_proto::literal::datetime(when);
    /// let timestamp = literal.as_datetime().cloned().expect("a datetime");
    /// assert_eq!(SystemTime::try_from(timestamp), Ok(when));
    /// ```
    pub fn as_datetime(&self) -> Option<&Timestamp> {
        match self.as_primitive() {
            Some(PrimitiveValue::Datetime(value)) => Some(value),
            _ => None,
        }
    }

    /// The duration, if this literal is one.
    ///
    /// ```
    /// use flyte_proto::{literal, prost_types::Duration};
    /// let timeout = literal::duration(Duration { seconds: 90, nanos: 0 });
    /// assert_eq!(timeout.as_duration().map(|d| d.seconds), Some(90));
    /// ```
    pub fn as_duration(&self) -> Option<&Duration> {
        match self.as_primitive() {
            Some(PrimitiveValue::Duration(value)) => Some(value),
            _ => None,
        }
    }

    /// Whether this literal is the absent value (`None` in Python). An empty `Literal`
    /// (no value at all) is not.
    ///
    /// ```
    /// use flyte_proto::{core::Literal, literal};
    /// assert!(literal::none().is_none());
    /// assert!(!Literal::default().is_none());
    /// ```
    pub fn is_none(&self) -> bool {
        matches!(self.as_scalar(), Some(ScalarValue::NoneType(_)))
    }

    /// The items, if this literal is a collection.
    ///
    /// ```
    /// use flyte_proto::literal;
    /// let list = literal::collection([literal::integer(1), literal::integer(2)]);
    /// let items = list.as_collection().unwrap_or_default();
    /// let sum: i64 = items.iter().filter_map(|item| item.as_integer()).sum();
    /// assert_eq!(sum, 3);
    /// ```
    pub fn as_collection(&self) -> Option<&[Literal]> {
        match &self.value {
            Some(LiteralValue::Collection(collection)) => Some(&collection.literals),
            _ => None,
        }
    }

    /// The entries, if this literal is a map.
    ///
    /// ```
    /// use flyte_proto::literal;
    /// let dict = literal::map([("k", literal::boolean(true))]);
    /// assert_eq!(dict.as_map().map(|entries| entries.len()), Some(1));
    /// ```
    pub fn as_map(&self) -> Option<&BTreeMap<String, Literal>> {
        match &self.value {
            Some(LiteralValue::Map(map)) => Some(&map.literals),
            _ => None,
        }
    }

    /// The offloaded-literal reference, if this literal is one (see [`offloaded`]).
    ///
    /// ```
    /// use flyte_proto::literal;
    /// let big = literal::offloaded("s3://bucket/o0_offloaded_metadata.pb", 2048, None);
    /// let reference = big.as_offloaded().expect("an offloaded literal");
    /// assert_eq!(reference.uri, "s3://bucket/o0_offloaded_metadata.pb");
    /// ```
    pub fn as_offloaded(&self) -> Option<&LiteralOffloadedMetadata> {
        match &self.value {
            Some(LiteralValue::OffloadedMetadata(metadata)) => Some(metadata),
            _ => None,
        }
    }

    /// The blob (file or directory reference), if this literal is one.
    ///
    /// ```
    /// use flyte_proto::core::blob_type::BlobDimensionality;
    /// use flyte_proto::literal;
    /// let dir = literal::blob("s3://bucket/dir", "", BlobDimensionality::Multipart);
    /// let blob = dir.as_blob().expect("a blob");
    /// let blob_type = blob.metadata.as_ref().and_then(|m| m.r#type.as_ref());
    /// assert_eq!(blob_type.map(|t| t.dimensionality()), Some(BlobDimensionality::Multipart));
    /// ```
    pub fn as_blob(&self) -> Option<&Blob> {
        match self.as_scalar() {
            Some(ScalarValue::Blob(blob)) => Some(blob),
            _ => None,
        }
    }

    /// The structured dataset reference, if this literal is one.
    ///
    /// ```
    /// use flyte_proto::literal;
    /// let df = literal::structured_dataset("s3://bucket/df", "parquet");
    /// assert_eq!(df.as_structured_dataset().map(|d| d.uri.as_str()), Some("s3://bucket/df"));
    /// ```
    pub fn as_structured_dataset(&self) -> Option<&StructuredDataset> {
        match self.as_scalar() {
            Some(ScalarValue::StructuredDataset(dataset)) => Some(dataset),
            _ => None,
        }
    }

    /// The union (value plus the variant type it was stored as), if this literal is one.
    ///
    /// ```
    /// use flyte_proto::core::{Union, scalar::Value};
    /// use flyte_proto::literal;
    /// let optional = literal::scalar(Value::Union(Box::new(Union {
    ///     value: Some(Box::new(literal::integer(5))),
    ///     r#type: None,
    /// })));
    /// assert!(optional.as_union().is_some_and(|u| u.value.is_some()));
    /// ```
    pub fn as_union(&self) -> Option<&Union> {
        match self.as_scalar() {
            Some(ScalarValue::Union(union)) => Some(union),
            _ => None,
        }
    }

    /// The value inside any unions: flytekit stores an `Optional[int]` as a union wrapping
    /// the integer (or none), so `peel_unions().as_integer()` reads it. A union with no
    /// value peels to itself.
    ///
    /// ```
    /// use flyte_proto::core::{Union, scalar::Value};
    /// use flyte_proto::literal;
    /// let optional = literal::scalar(Value::Union(Box::new(Union {
    ///     value: Some(Box::new(literal::integer(5))),
    ///     r#type: None,
    /// })));
    /// assert_eq!(optional.as_integer(), None);
    /// assert_eq!(optional.peel_unions().as_integer(), Some(5));
    /// ```
    pub fn peel_unions(&self) -> &Literal {
        let mut literal = self;
        while let Some(inner) = literal.as_union().and_then(|union| union.value.as_deref()) {
            literal = inner;
        }
        literal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::LiteralType;

    #[test]
    fn primitives_read_back_through_their_own_accessor_only() {
        assert_eq!(integer(-7).as_integer(), Some(-7));
        assert_eq!(integer(-7).as_float(), None);
        assert_eq!(float(3.5).as_float(), Some(3.5));
        assert_eq!(string("x").as_str(), Some("x"));
        assert_eq!(boolean(true).as_bool(), Some(true));
        assert!(none().is_none());
        assert!(!integer(0).is_none());
        assert!(!Literal::default().is_none());
    }

    #[test]
    fn datetime_accepts_a_system_time() {
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_500);
        let literal = datetime(when);
        assert_eq!(
            literal.as_datetime(),
            Some(&Timestamp {
                seconds: 1,
                nanos: 500_000_000
            })
        );
    }

    #[test]
    fn duration_reads_back() {
        let literal = duration(Duration {
            seconds: 90,
            nanos: 0,
        });
        assert_eq!(literal.as_duration().map(|d| d.seconds), Some(90));
    }

    #[test]
    fn collections_and_maps_hold_their_items() {
        let list = collection([integer(1), string("b")]);
        assert_eq!(list.as_collection().map(<[Literal]>::len), Some(2));
        let dict = map([("k", boolean(false))]);
        assert_eq!(dict.as_map().and_then(|m| m["k"].as_bool()), Some(false));
        assert_eq!(list.as_map(), None);
    }

    #[test]
    fn literal_map_keeps_the_last_of_repeated_names() {
        let map = literal_map([("x", integer(1)), ("x", integer(2))]);
        assert_eq!(map.literals.len(), 1);
        assert_eq!(map.literals["x"].as_integer(), Some(2));
    }

    #[test]
    fn blob_carries_uri_format_and_dimensionality() {
        let literal = blob("s3://b/dir", "csv", BlobDimensionality::Multipart);
        let blob = literal.as_blob().expect("a blob");
        assert_eq!(blob.uri, "s3://b/dir");
        let blob_type = blob
            .metadata
            .as_ref()
            .and_then(|m| m.r#type.as_ref())
            .expect("type");
        assert_eq!(blob_type.format, "csv");
        assert_eq!(blob_type.dimensionality(), BlobDimensionality::Multipart);
    }

    #[test]
    fn structured_dataset_carries_uri_and_format() {
        let literal = structured_dataset("gs://b/df", "parquet");
        let dataset = literal.as_structured_dataset().expect("a dataset");
        assert_eq!(dataset.uri, "gs://b/df");
        let format = dataset
            .metadata
            .as_ref()
            .and_then(|m| m.structured_dataset_type.as_ref())
            .map(|t| &t.format);
        assert_eq!(format.map(String::as_str), Some("parquet"));
    }

    #[test]
    fn peel_unions_reaches_the_value_of_nested_unions() {
        let wrap = |inner: Literal| {
            scalar(ScalarValue::Union(Box::new(Union {
                value: Some(Box::new(inner)),
                r#type: Some(LiteralType::default()),
            })))
        };
        let optional = wrap(wrap(integer(5)));
        assert_eq!(optional.as_integer(), None);
        assert_eq!(optional.peel_unions().as_integer(), Some(5));
        let empty_union = scalar(ScalarValue::Union(Box::default()));
        assert_eq!(empty_union.peel_unions(), &empty_union);
    }
}
