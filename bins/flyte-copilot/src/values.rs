//! Primitive values as text, in the formats flytecopilot writes and reads: Go's
//! `strconv` for numbers and booleans, RFC 3339 for datetimes, Go's `time.Duration`
//! notation (`1h2m3.5s`) for durations.

use flyte_proto::prost_types::{Duration, Timestamp};
use thiserror::Error;

/// A text that is not the value its type asks for.
#[derive(Debug, Error)]
#[error("{text:?} is not {expected}")]
pub struct ParseError {
    /// What was read (trimmed).
    pub text: String,
    /// What it should have been, e.g. "an integer (e.g. 42)".
    pub expected: &'static str,
}

fn fail(text: &str, expected: &'static str) -> ParseError {
    ParseError {
        text: text.to_owned(),
        expected,
    }
}

/// A float as Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes it: the shortest digits
/// that read back to the same value, never an exponent.
pub fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value}")
    }
}

/// A float as Go's `strconv.ParseFloat` reads decimal text (decimal and exponent
/// forms, `Inf`, `Infinity`, `NaN`, any case, signed).
pub fn parse_float(text: &str) -> Result<f64, ParseError> {
    text.parse().map_err(|_| fail(text, "a float (e.g. 3.14)"))
}

/// A boolean as Go's `strconv.ParseBool` reads it.
pub fn parse_bool(text: &str) -> Result<bool, ParseError> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(fail(text, "a boolean (true or false)")),
    }
}

/// An integer as Go's `strconv.ParseInt(s, 10, 64)` reads it.
pub fn parse_integer(text: &str) -> Result<i64, ParseError> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail(text, "an integer (e.g. 42)"));
    }
    text.parse()
        .map_err(|_| fail(text, "an integer that fits in 64 bits"))
}

const NANOS_PER: [(&str, u128); 8] = [
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("µs", 1_000),
    // Go accepts the Greek letter mu too, which looks the same as the micro sign above.
    ("\u{3bc}s", 1_000),
    ("ns", 1),
];

/// A duration as Go's `time.Duration.String()` writes it: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn format_duration(duration: &Duration) -> String {
    let total = i128::from(duration.seconds) * 1_000_000_000 + i128::from(duration.nanos);
    let sign = if total < 0 { "-" } else { "" };
    let nanos = total.unsigned_abs();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        let (unit, size) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", fraction(nanos, size));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let seconds = fraction(nanos % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}s"),
        (0, m) => format!("{sign}{m}m{seconds}s"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}s"),
    }
}

/// A std duration in Go's notation, for messages about `--timeout`.
pub fn format_std_duration(duration: std::time::Duration) -> String {
    format_duration(&Duration {
        seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(duration.subsec_nanos()).unwrap_or(0),
    })
}

/// `value / size` with the fraction's trailing zeros dropped (`1500, 1000` → `1.5`).
fn fraction(value: u128, size: u128) -> String {
    let whole = value / size;
    let rest = value % size;
    if rest == 0 {
        return whole.to_string();
    }
    let width = size.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A duration as Go's `time.ParseDuration` reads it: a signed run of decimal numbers,
/// each with a unit (ns, us, µs, ms, s, m, h), e.g. `300ms`, `-1.5h`, `2h45m`. Each number
/// is digits, optionally followed by `.` and more digits (one side may be empty, not
/// both); anything else, such as a second `.`, is refused, and so is a total beyond
/// Go's `time.Duration` (about 292 years).
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    const EXPECTED: &str = "a duration (e.g. 300ms, 1.5h, 2h45m)";
    // Go's time.Duration is an int64 of nanoseconds; -2^63 is its least value.
    const MOST_NANOS: u128 = 1 << 63;
    let invalid = || fail(text, EXPECTED);
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(Duration::default());
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (whole, after_whole) = split_digits(rest);
        let (fraction, after_number) = match after_whole.strip_prefix('.') {
            Some(after_point) => split_digits(after_point),
            None => ("", after_whole),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let unit_end = after_number
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after_number.len());
        let (unit, after_unit) = after_number.split_at(unit_end);
        let size = NANOS_PER
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, size)| *size)
            .ok_or_else(invalid)?;
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        let mut nanos = whole.checked_mul(size).ok_or_else(invalid)?;
        // Digits finer than a nanosecond are dropped, as Go drops them.
        let mut scale = size;
        for digit in fraction.bytes() {
            scale /= 10;
            nanos += u128::from(digit - b'0') * scale;
        }
        total = total
            .checked_add(nanos)
            .filter(|total| *total <= MOST_NANOS)
            .ok_or_else(invalid)?;
        rest = after_unit;
    }
    if total == MOST_NANOS && !negative {
        return Err(invalid());
    }
    let total = i128::try_from(total).map_err(|_| invalid())?;
    let total = if negative { -total } else { total };
    Ok(Duration {
        seconds: i64::try_from(total.div_euclid(1_000_000_000)).map_err(|_| invalid())?,
        nanos: i32::try_from(total.rem_euclid(1_000_000_000)).map_err(|_| invalid())?,
    })
}

/// The leading ASCII digits of `text`, and what follows them.
fn split_digits(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at(end)
}

/// A std duration from a Go duration flag (`1h`, `90s`); negative or zero is `None`
/// (no bound), as copilot treats a non-positive download timeout.
pub fn parse_timeout(text: &str) -> Result<Option<std::time::Duration>, ParseError> {
    let duration = parse_duration(text)?;
    if duration.seconds < 0 || (duration.seconds == 0 && duration.nanos == 0) {
        return Ok(None);
    }
    Ok(Some(std::time::Duration::new(
        duration.seconds.unsigned_abs(),
        duration.nanos.unsigned_abs(),
    )))
}

/// A timestamp as Go's `time.Format(time.RFC3339Nano)` writes a UTC time:
/// `2024-01-02T03:04:05.5Z` (the fraction's trailing zeros dropped).
pub fn format_datetime(timestamp: &Timestamp) -> String {
    let days = timestamp.seconds.div_euclid(86_400);
    let second_of_day = timestamp.seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    );
    let fraction = if timestamp.nanos > 0 {
        let digits = format!("{:09}", timestamp.nanos);
        format!(".{}", digits.trim_end_matches('0'))
    } else {
        String::new()
    };
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}Z")
}

/// A timestamp in RFC 3339 (`2024-01-02T03:04:05Z`, `2024-01-02T03:04:05.25+02:00`), as
/// Go's `time.Parse(time.RFC3339, …)` reads it.
pub fn parse_datetime(text: &str) -> Result<Timestamp, ParseError> {
    const EXPECTED: &str = "an RFC 3339 datetime (e.g. 2024-01-02T03:04:05Z)";
    let err = || fail(text, EXPECTED);
    let bytes = text.as_bytes();
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return Err(err());
    }
    let number = |range: std::ops::Range<usize>| -> Result<i64, ParseError> {
        let part = text.get(range).ok_or_else(err)?;
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        part.parse().map_err(|_| err())
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(err());
    }
    let mut rest = &text[19..];
    let mut nanos: i32 = 0;
    if let Some(after) = rest.strip_prefix('.') {
        let end = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        if end == 0 {
            return Err(err());
        }
        let digits = &after[..end];
        let padded = format!("{:0<9}", &digits[..digits.len().min(9)]);
        nanos = padded.parse().map_err(|_| err())?;
        rest = &after[end..];
    }
    let offset_seconds = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return Err(err()),
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return Err(err());
            }
            let hours: i64 = rest[1..3].parse().map_err(|_| err())?;
            let minutes: i64 = rest[4..6].parse().map_err(|_| err())?;
            if hours > 23 || minutes > 59 {
                return Err(err());
            }
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_seconds;
    Ok(Timestamp { seconds, nanos })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days-from-civil algorithms (proleptic Gregorian calendar).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A JSON value as a protobuf `Struct` value (how copilot reads a STRUCT output).
pub fn json_to_proto(value: &serde_json::Value) -> flyte_proto::prost_types::Value {
    use flyte_proto::prost_types::value::Kind;
    use flyte_proto::prost_types::{ListValue, Struct, Value};
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(flag) => Kind::BoolValue(*flag),
        serde_json::Value::Number(number) => Kind::NumberValue(number.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(text) => Kind::StringValue(text.clone()),
        serde_json::Value::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(json_to_proto).collect(),
        }),
        serde_json::Value::Object(fields) => Kind::StructValue(Struct {
            fields: fields
                .iter()
                .map(|(key, value)| (key.clone(), json_to_proto(value)))
                .collect(),
        }),
    };
    Value { kind: Some(kind) }
}

/// A protobuf `Struct` value as JSON (how a STRUCT input is written: protobuf's JSON
/// mapping, an object).
pub fn proto_to_json(value: &flyte_proto::prost_types::Value) -> serde_json::Value {
    use flyte_proto::prost_types::value::Kind;
    match &value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(flag)) => serde_json::Value::Bool(*flag),
        Some(Kind::NumberValue(number)) => serde_json::Number::from_f64(*number)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| serde_json::Value::String(format_float(*number))),
        Some(Kind::StringValue(text)) => serde_json::Value::String(text.clone()),
        Some(Kind::ListValue(list)) => {
            serde_json::Value::Array(list.values.iter().map(proto_to_json).collect())
        }
        Some(Kind::StructValue(fields)) => struct_to_json(fields),
    }
}

/// A protobuf `Struct` as a JSON object.
pub fn struct_to_json(fields: &flyte_proto::prost_types::Struct) -> serde_json::Value {
    serde_json::Value::Object(
        fields
            .fields
            .iter()
            .map(|(key, value)| (key.clone(), proto_to_json(value)))
            .collect(),
    )
}

/// JSON as block-style YAML, keys in order, strings double-quoted (JSON's string
/// escapes are YAML's), as inputs.yaml is written.
pub fn json_to_yaml(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_yaml(value, 0, &mut out);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn write_yaml(value: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value;
    let pad = " ".repeat(indent);
    match value {
        Value::Object(fields) if !fields.is_empty() => {
            for (key, item) in fields {
                out.push_str(&pad);
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_nested(item, indent, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                write_nested(item, indent, out);
            }
        }
        scalar => {
            out.push_str(&pad);
            out.push_str(&scalar.to_string());
            out.push('\n');
        }
    }
}

fn write_nested(item: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value;
    match item {
        Value::Object(fields) if !fields.is_empty() => {
            out.push('\n');
            write_yaml(item, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_yaml(item, indent + 2, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar.to_string());
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duration(seconds: i64, nanos: i32) -> Duration {
        Duration { seconds, nanos }
    }

    #[test]
    fn durations_are_written_in_gos_notation() {
        assert_eq!(format_duration(&duration(0, 0)), "0s");
        assert_eq!(format_duration(&duration(3723, 500_000_000)), "1h2m3.5s");
        assert_eq!(format_duration(&duration(3600, 0)), "1h0m0s");
        assert_eq!(format_duration(&duration(90, 0)), "1m30s");
        assert_eq!(format_duration(&duration(0, 1_500_000)), "1.5ms");
        assert_eq!(format_duration(&duration(0, 2_000)), "2µs");
        assert_eq!(format_duration(&duration(0, 7)), "7ns");
        assert_eq!(format_duration(&duration(-1, 0)), "-1s");
    }

    #[test]
    fn durations_read_back_what_is_written_and_gos_forms() {
        for (seconds, nanos) in [
            (3723, 500_000_000),
            (3600, 0),
            (0, 1_500_000),
            (0, 7),
            (-2, 500_000_000),
        ] {
            let written = format_duration(&duration(seconds, nanos));
            let read = parse_duration(&written).expect("reads back");
            assert_eq!((read.seconds, read.nanos), (seconds, nanos), "{written}");
        }
        let read = parse_duration("2h45m").expect("valid");
        assert_eq!(read.seconds, 9900);
        let read = parse_duration("-1.5h").expect("valid");
        assert_eq!((read.seconds, read.nanos), (-5400, 0));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("").is_err());
        let read = parse_duration(".5s").expect("no whole part");
        assert_eq!((read.seconds, read.nanos), (0, 500_000_000));
        let read = parse_duration("1.s").expect("no fraction");
        assert_eq!((read.seconds, read.nanos), (1, 0));
        let read = parse_duration("2\u{3bc}s").expect("Greek mu");
        assert_eq!((read.seconds, read.nanos), (0, 2_000));
    }

    #[test]
    fn malformed_durations_are_refused_as_go_refuses_them() {
        for text in [
            "1.2.3s",
            "1..5s",
            ".s",
            ".",
            "5s.",
            "-",
            "+",
            "s",
            "1h-5m",
            "1.5",
            "1 s",
            "١s",
            // Beyond Go's time.Duration (2^63 ns, about 292 years).
            "9223372036854775808ns",
            "2562048h",
            "99999999999999999999999999999999999999999h",
        ] {
            let error = parse_duration(text).expect_err(text);
            assert_eq!(error.text, text);
        }
        let least = parse_duration("-9223372036854775808ns").expect("Go's least duration");
        assert_eq!(least.seconds, -9_223_372_037);
    }

    #[test]
    fn datetimes_round_trip_through_rfc3339() {
        let timestamp = Timestamp {
            seconds: 1_704_164_645,
            nanos: 250_000_000,
        };
        assert_eq!(format_datetime(&timestamp), "2024-01-02T03:04:05.25Z");
        assert_eq!(
            parse_datetime("2024-01-02T03:04:05.25Z").expect("valid"),
            timestamp
        );
        let offset = parse_datetime("2024-01-02T05:04:05.25+02:00").expect("valid");
        assert_eq!(offset, timestamp);
        assert_eq!(
            format_datetime(&Timestamp {
                seconds: -1,
                nanos: 0
            }),
            "1969-12-31T23:59:59Z"
        );
        assert!(parse_datetime("2024-02-30T00:00:00Z").is_err());
        assert!(parse_datetime("yesterday").is_err());
    }

    #[test]
    fn numbers_and_booleans_follow_gos_strconv() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(parse_float("1e3").expect("valid"), 1000.0);
        assert!(parse_float("+Inf").expect("valid").is_infinite());
        assert!(parse_float("one").is_err());
        assert_eq!(parse_integer("-42").expect("valid"), -42);
        assert!(parse_integer("4.2").is_err());
        assert!(parse_integer("99999999999999999999").is_err());
        assert!(parse_bool("T").expect("valid"));
        assert!(parse_bool("yes").is_err());
    }

    #[test]
    fn yaml_is_block_style_with_quoted_strings() {
        let value = serde_json::json!({"a": 1, "b": ["x", {"c": null}], "d": {}, "e": []});
        assert_eq!(
            json_to_yaml(&value),
            "\"a\": 1\n\"b\":\n  - \"x\"\n  -\n    \"c\": null\n\"d\": {}\n\"e\": []\n"
        );
    }

    #[test]
    fn json_objects_round_trip_through_protobuf_structs() {
        let value = serde_json::json!({"a": 1.5, "b": [true, null, "s"], "c": {"d": "e"}});
        assert_eq!(proto_to_json(&json_to_proto(&value)), value);
    }
}
