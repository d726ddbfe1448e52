//! A readable JSON rendering of literals, for people: logs, debugging, CLI output.
//!
//! It is deliberately lossy and one-way (it is not the protobuf JSON mapping and cannot be
//! parsed back): plain values become plain JSON, references to data become small objects
//! naming the reference kind, and the literal's `hash` and `metadata` are left out.
//!
//! | literal                        | JSON                                                          |
//! |--------------------------------|---------------------------------------------------------------|
//! | integer, float, string, bool   | the JSON number, string or boolean (`NaN`/`±Infinity` as strings) |
//! | datetime                       | RFC 3339 string, `"2024-01-02T03:04:05.5Z"`                   |
//! | duration                       | seconds, `"1.5s"`                                             |
//! | none, an empty literal         | `null`                                                        |
//! | collection / map               | array / object                                                |
//! | union                          | its value                                                     |
//! | blob                           | `{"blob": {"uri", "format", "dimensionality": "SINGLE"\|"MULTIPART"}}` |
//! | structured dataset             | `{"structured_dataset": {"uri", "format"}}`                   |
//! | schema                         | `{"schema": {"uri"}}`                                         |
//! | generic (`Struct`)             | the struct as JSON                                            |
//! | binary                         | `{"binary": {"tag", "bytes": <length>}}`                      |
//! | error                          | `{"error": {"failed_node_id", "message"}}`                    |
//! | offloaded literal              | `{"offloaded_literal": {"uri", "size_bytes"}}`                |
//!
//! ```
//! use flyte_proto::{json, literal};
//! let inputs = literal::literal_map([
//!     ("n", literal::integer(3)),
//!     ("names", literal::collection([literal::string("a"), literal::string("b")])),
//! ]);
//! let rendered = json::literal_map_to_json(&inputs);
//! assert_eq!(rendered.to_string(), r#"{"n":3,"names":["a","b"]}"#);
//! println!("inputs: {rendered:#}"); // pretty-printed, for a person
//! ```

use serde_json::{Map, Number, Value, json};

use crate::core::blob_type::BlobDimensionality;
use crate::core::literal::Value as LiteralValue;
use crate::core::primitive::Value as PrimitiveValue;
use crate::core::scalar::Value as ScalarValue;
use crate::core::{Literal, LiteralMap, Primitive};

/// Renders `map` as a JSON object, one member per name (see the module docs for the shape).
///
/// ```
/// use flyte_proto::{json, literal};
/// let outputs = literal::literal_map([("o0", literal::integer(42)), ("o1", literal::none())]);
/// assert_eq!(json::literal_map_to_json(&outputs).to_string(), r#"{"o0":42,"o1":null}"#);
/// ```
pub fn literal_map_to_json(map: &LiteralMap) -> Value {
    Value::Object(
        map.literals
            .iter()
            .map(|(name, literal)| (name.clone(), literal_to_json(literal)))
            .collect(),
    )
}

/// Renders one literal (see the module docs for the shape).
///
/// ```
/// use flyte_proto::core::blob_type::BlobDimensionality::Single;
/// use flyte_proto::{json, literal};
/// let file = literal::blob("s3://bucket/a.csv", "csv", Single);
/// let expected = serde_json::json!({
///     "blob": {"uri": "s3://bucket/a.csv", "format": "csv", "dimensionality": "SINGLE"}
/// });
/// assert_eq!(json::literal_to_json(&file), expected);
/// ```
pub fn literal_to_json(literal: &Literal) -> Value {
    match &literal.value {
        None => Value::Null,
        Some(LiteralValue::Collection(collection)) => {
            collection.literals.iter().map(literal_to_json).collect()
        }
        Some(LiteralValue::Map(map)) => literal_map_to_json(map),
        Some(LiteralValue::OffloadedMetadata(offloaded)) => {
            json!({"offloaded_literal": {"uri": offloaded.uri, "size_bytes": offloaded.size_bytes}})
        }
        Some(LiteralValue::Scalar(scalar)) => match &scalar.value {
            None | Some(ScalarValue::NoneType(_)) => Value::Null,
            Some(ScalarValue::Primitive(primitive)) => primitive_to_json(primitive),
            Some(ScalarValue::Blob(blob)) => {
                let blob_type = blob
                    .metadata
                    .as_ref()
                    .and_then(|metadata| metadata.r#type.as_ref());
                let format = blob_type.map_or("", |t| t.format.as_str());
                let dimensionality =
                    blob_type.map_or(BlobDimensionality::Single, |t| t.dimensionality());
                json!({"blob": {"uri": blob.uri, "format": format, "dimensionality": dimensionality.as_str_name()}})
            }
            Some(ScalarValue::StructuredDataset(dataset)) => {
                let format = dataset
                    .metadata
                    .as_ref()
                    .and_then(|metadata| metadata.structured_dataset_type.as_ref())
                    .map_or("", |t| t.format.as_str());
                json!({"structured_dataset": {"uri": dataset.uri, "format": format}})
            }
            Some(ScalarValue::Schema(schema)) => json!({"schema": {"uri": schema.uri}}),
            Some(ScalarValue::Binary(binary)) => {
                json!({"binary": {"tag": binary.tag, "bytes": binary.value.len()}})
            }
            Some(ScalarValue::Error(error)) => {
                json!({"error": {"failed_node_id": error.failed_node_id, "message": error.message}})
            }
            Some(ScalarValue::Generic(generic)) => struct_to_json(generic),
            Some(ScalarValue::Union(union)) => {
                union.value.as_deref().map_or(Value::Null, literal_to_json)
            }
        },
    }
}

fn primitive_to_json(primitive: &Primitive) -> Value {
    match &primitive.value {
        None => Value::Null,
        Some(PrimitiveValue::Integer(value)) => Value::from(*value),
        Some(PrimitiveValue::FloatValue(value)) => float_to_json(*value),
        Some(PrimitiveValue::StringValue(value)) => Value::from(value.as_str()),
        Some(PrimitiveValue::Boolean(value)) => Value::from(*value),
        Some(PrimitiveValue::Datetime(value)) => Value::from(value.to_string()),
        Some(PrimitiveValue::Duration(value)) => Value::from(duration_to_string(value)),
    }
}

/// JSON has no NaN or infinities; they become the strings the protobuf JSON mapping uses.
fn float_to_json(value: f64) -> Value {
    match Number::from_f64(value) {
        Some(number) => Value::Number(number),
        None if value.is_nan() => Value::from("NaN"),
        None if value > 0.0 => Value::from("Infinity"),
        None => Value::from("-Infinity"),
    }
}

/// Seconds with only the fractional digits needed: `1.5s`, `90s`, `-0.000000001s`.
/// (prost's own `Display` pads to 3, 6 or 9 digits, which reads worse.)
fn duration_to_string(duration: &prost_types::Duration) -> String {
    let mut normalized = *duration;
    normalized.normalize();
    let negative = normalized.seconds < 0 || normalized.nanos < 0;
    let seconds = normalized.seconds.unsigned_abs();
    let nanos = normalized.nanos.unsigned_abs();
    let sign = if negative { "-" } else { "" };
    if nanos == 0 {
        format!("{sign}{seconds}s")
    } else {
        let fraction = format!("{nanos:09}");
        format!("{sign}{seconds}.{}s", fraction.trim_end_matches('0'))
    }
}

fn struct_to_json(value: &prost_types::Struct) -> Value {
    Value::Object(
        value
            .fields
            .iter()
            .map(|(key, field)| (key.clone(), struct_value_to_json(field)))
            .collect::<Map<_, _>>(),
    )
}

fn struct_value_to_json(value: &prost_types::Value) -> Value {
    use prost_types::value::Kind;
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(number)) => float_to_json(*number),
        Some(Kind::StringValue(string)) => Value::from(string.as_str()),
        Some(Kind::BoolValue(boolean)) => Value::from(*boolean),
        Some(Kind::StructValue(inner)) => struct_to_json(inner),
        Some(Kind::ListValue(list)) => list.values.iter().map(struct_value_to_json).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Binary, Error, LiteralOffloadedMetadata, Schema, Union};
    use crate::literal::{
        self, blob, boolean, collection, float, integer, map, none, string, structured_dataset,
    };
    use prost_types::{Duration, Timestamp};

    fn render(literal: Literal) -> String {
        literal_to_json(&literal).to_string()
    }

    #[test]
    fn primitives_render_as_plain_json_values() {
        assert_eq!(render(integer(-42)), "-42");
        assert_eq!(render(float(3.5)), "3.5");
        assert_eq!(render(float(2.0)), "2.0");
        assert_eq!(render(string("hi \"there\"")), r#""hi \"there\"""#);
        assert_eq!(render(boolean(true)), "true");
        assert_eq!(render(none()), "null");
        assert_eq!(render(Literal::default()), "null");
    }

    #[test]
    fn non_finite_floats_render_as_strings() {
        assert_eq!(render(float(f64::NAN)), r#""NaN""#);
        assert_eq!(render(float(f64::INFINITY)), r#""Infinity""#);
        assert_eq!(render(float(f64::NEG_INFINITY)), r#""-Infinity""#);
    }

    #[test]
    fn datetime_renders_as_rfc3339() {
        let when = Timestamp {
            seconds: 1_704_164_645,
            nanos: 500_000_000,
        };
        assert_eq!(
            render(literal::datetime(when)),
            r#""2024-01-02T03:04:05.500Z""#
        );
        assert_eq!(
            render(literal::datetime(Timestamp {
                seconds: 0,
                nanos: 0
            })),
            r#""1970-01-01T00:00:00Z""#
        );
    }

    #[test]
    fn duration_renders_as_seconds_with_only_needed_digits() {
        let render_duration =
            |seconds, nanos| render(literal::duration(Duration { seconds, nanos }));
        assert_eq!(render_duration(1, 500_000_000), r#""1.5s""#);
        assert_eq!(render_duration(90, 0), r#""90s""#);
        assert_eq!(render_duration(0, 1), r#""0.000000001s""#);
        assert_eq!(render_duration(-1, -250_000_000), r#""-1.25s""#);
        // Unnormalized input (mixed signs) is normalized first: -1s + 0.5s = -0.5s.
        assert_eq!(render_duration(-1, 500_000_000), r#""-0.5s""#);
        assert_eq!(
            render_duration(i64::MIN, 0),
            format!(r#""-{}s""#, i64::MIN.unsigned_abs())
        );
    }

    #[test]
    fn collections_and_maps_nest() {
        let nested = map([
            ("xs", collection([integer(1), collection([])])),
            ("empty", map::<String>([])),
        ]);
        assert_eq!(
            literal_to_json(&nested),
            json!({"xs": [1, []], "empty": {}})
        );
    }

    // Objects are compared as values, not strings: member order depends on whether some
    // crate in the build enables serde_json's `preserve_order`.
    #[test]
    fn references_render_as_objects_naming_their_kind() {
        assert_eq!(
            literal_to_json(&blob("s3://b/f.csv", "csv", BlobDimensionality::Single)),
            json!({"blob": {"uri": "s3://b/f.csv", "format": "csv", "dimensionality": "SINGLE"}})
        );
        assert_eq!(
            literal_to_json(&blob("s3://b/dir", "", BlobDimensionality::Multipart)),
            json!({"blob": {"uri": "s3://b/dir", "format": "", "dimensionality": "MULTIPART"}})
        );
        assert_eq!(
            literal_to_json(&structured_dataset("s3://b/df", "parquet")),
            json!({"structured_dataset": {"uri": "s3://b/df", "format": "parquet"}})
        );
        let schema = literal::scalar(ScalarValue::Schema(Schema {
            uri: "s3://b/s".into(),
            r#type: None,
        }));
        assert_eq!(
            literal_to_json(&schema),
            json!({"schema": {"uri": "s3://b/s"}})
        );
        let offloaded = Literal {
            value: Some(LiteralValue::OffloadedMetadata(LiteralOffloadedMetadata {
                uri: "s3://b/o.pb".into(),
                size_bytes: 1234,
                inferred_type: None,
            })),
            ..Default::default()
        };
        assert_eq!(
            literal_to_json(&offloaded),
            json!({"offloaded_literal": {"uri": "s3://b/o.pb", "size_bytes": 1234}})
        );
    }

    #[test]
    fn binary_renders_its_tag_and_length_not_its_bytes() {
        let binary = literal::scalar(ScalarValue::Binary(Binary {
            value: vec![0; 17],
            tag: "msgpack".into(),
        }));
        assert_eq!(
            literal_to_json(&binary),
            json!({"binary": {"tag": "msgpack", "bytes": 17}})
        );
    }

    #[test]
    fn error_literal_renders_node_and_message() {
        let error = literal::scalar(ScalarValue::Error(Error {
            failed_node_id: "n0".into(),
            message: "boom".into(),
        }));
        assert_eq!(
            literal_to_json(&error),
            json!({"error": {"failed_node_id": "n0", "message": "boom"}})
        );
    }

    #[test]
    fn union_renders_as_its_value() {
        let union = |value: Option<Literal>| {
            literal::scalar(ScalarValue::Union(Box::new(Union {
                value: value.map(Box::new),
                r#type: None,
            })))
        };
        assert_eq!(render(union(Some(float(3.5)))), "3.5");
        assert_eq!(render(union(Some(none()))), "null");
        assert_eq!(render(union(None)), "null");
    }

    #[test]
    fn generic_struct_renders_as_its_json() {
        use prost_types::value::Kind;
        let value = |kind| prost_types::Value { kind: Some(kind) };
        let inner = prost_types::Struct {
            fields: [("b".to_owned(), value(Kind::BoolValue(true)))].into(),
        };
        let generic = prost_types::Struct {
            fields: [
                ("n".to_owned(), value(Kind::NumberValue(1.25))),
                ("s".to_owned(), value(Kind::StringValue("x".into()))),
                ("null".to_owned(), value(Kind::NullValue(0))),
                (
                    "list".to_owned(),
                    value(Kind::ListValue(prost_types::ListValue {
                        values: vec![value(Kind::StructValue(inner))],
                    })),
                ),
            ]
            .into(),
        };
        assert_eq!(
            literal_to_json(&literal::scalar(ScalarValue::Generic(generic))),
            json!({"n": 1.25, "s": "x", "null": null, "list": [{"b": true}]})
        );
    }

    #[test]
    fn literal_map_renders_one_member_per_name() {
        let outputs = literal::literal_map([("o0", integer(1)), ("o1", string("a"))]);
        assert_eq!(literal_map_to_json(&outputs), json!({"o0": 1, "o1": "a"}));
    }
}
