//! Proof that our `proto/` files describe the same wire format as the installed flyteidl.
//!
//! The venv's Python dumps the descriptors its `flyteidl.core` modules were generated
//! from (xtask/python/dump_flyteidl_descriptors.py); we compare them with the descriptor
//! set our code was generated from, field by field, and list every difference at once.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use flyte_proto::Message;
use flyte_proto::prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    FileDescriptorSet,
};

fn our_descriptor_set() -> FileDescriptorSet {
    FileDescriptorSet::decode(flyte_proto::FILE_DESCRIPTOR_SET)
        .expect("our checked-in descriptor set decodes")
}

fn flyteidl_descriptor_set() -> FileDescriptorSet {
    let script =
        flyte_test_support::workspace_root().join("xtask/python/dump_flyteidl_descriptors.py");
    let output = Command::new(flyte_test_support::python())
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} failed ({}):\n{}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    FileDescriptorSet::decode(output.stdout.as_slice())
        .expect("the script prints a FileDescriptorSet")
}

#[test]
fn our_descriptors_match_the_installed_flyteidl_field_by_field() {
    let flyteidl = flyteidl_descriptor_set();
    let ours = our_descriptor_set();
    let comparison = compare(&flyteidl, &ours);
    assert!(
        comparison.differences.is_empty(),
        "{} wire difference(s) between flyteidl (Python) and proto/ (ours); fix proto/ and run \
         `cargo xtask codegen`:\n  {}",
        comparison.differences.len(),
        comparison.differences.join("\n  ")
    );
    // Guard against a vacuous pass (e.g. both sides empty).
    assert!(
        comparison.files_compared >= 17,
        "only {} files compared",
        comparison.files_compared
    );
    assert!(
        comparison.fields_compared > 300,
        "only {} fields compared",
        comparison.fields_compared
    );
    eprintln!(
        "compared {} files and {} fields",
        comparison.files_compared, comparison.fields_compared
    );
}

#[test]
fn comparator_reports_a_changed_field_number() {
    let reference = our_descriptor_set();
    let mut changed = reference.clone();
    let hash = message_mut(&mut changed, "flyteidl/core/literals.proto", "Literal")
        .field
        .iter_mut()
        .find(|field| field.name() == "hash")
        .expect("Literal.hash");
    hash.number = Some(40);

    let differences = compare(&reference, &changed).differences;
    assert_eq!(
        differences,
        ["flyteidl.core.Literal.hash: number differs: flyteidl 4, ours 40"]
    );
}

#[test]
fn comparator_reports_every_difference_not_just_the_first() {
    let reference = our_descriptor_set();
    let mut changed = reference.clone();
    let literal = message_mut(&mut changed, "flyteidl/core/literals.proto", "Literal");
    literal.field.retain(|field| field.name() != "hash");
    let scalar = literal
        .field
        .iter_mut()
        .find(|field| field.name() == "scalar")
        .expect("Literal.scalar");
    scalar.oneof_index = None;
    let file = changed
        .file
        .iter_mut()
        .find(|f| f.name() == "flyteidl/core/types.proto")
        .expect("types.proto");
    let simple_type = file
        .enum_type
        .iter_mut()
        .find(|e| e.name() == "SimpleType")
        .expect("SimpleType");
    simple_type
        .value
        .iter_mut()
        .find(|v| v.name() == "STRUCT")
        .expect("STRUCT")
        .number = Some(99);
    changed
        .file
        .retain(|f| f.name() != "flyteidl/core/metrics.proto");

    let differences = compare(&reference, &changed).differences;
    assert_eq!(
        differences,
        [
            "flyteidl.core.Literal.hash: field in flyteidl but not ours",
            "flyteidl.core.Literal.scalar: oneof differs: flyteidl Some(\"value\"), ours None",
            "flyteidl/core/metrics.proto: in flyteidl but not ours",
            "flyteidl.core.SimpleType.STRUCT: number differs: flyteidl 9, ours 99",
        ]
    );
}

fn message_mut<'a>(
    set: &'a mut FileDescriptorSet,
    file: &str,
    message: &str,
) -> &'a mut DescriptorProto {
    let file = set
        .file
        .iter_mut()
        .find(|f| f.name() == file)
        .expect("file in our set");
    file.message_type
        .iter_mut()
        .find(|m| m.name() == message)
        .expect("message in file")
}

/// The outcome of comparing two descriptor sets.
struct Comparison {
    /// One line per difference, `<what>: <how it differs>`.
    differences: Vec<String>,
    files_compared: usize,
    fields_compared: usize,
}

/// Compares everything that decides the wire (and JSON) format: files, messages (nested
/// too), fields (name, number, type, type name, label, oneof, proto3 optional, JSON name,
/// packed), map-entry markers, enums and their values. Documentation, options for other
/// languages, and reserved ranges do not change what bytes mean, so they are not compared.
fn compare(flyteidl: &FileDescriptorSet, ours: &FileDescriptorSet) -> Comparison {
    let mut comparison = Comparison {
        differences: Vec::new(),
        files_compared: 0,
        fields_compared: 0,
    };
    let flyteidl_files = by_name(&flyteidl.file, FileDescriptorProto::name);
    let our_files = by_name(&ours.file, FileDescriptorProto::name);
    for (name, pair) in pair_up(&flyteidl_files, &our_files) {
        match pair {
            Pair::OnlyFlyteidl => comparison.differ(name, "in flyteidl but not ours"),
            Pair::OnlyOurs => comparison.differ(name, "in ours but not flyteidl"),
            Pair::Both(theirs, mine) => {
                comparison.files_compared += 1;
                comparison.same(name, "package", theirs.package(), mine.package());
                let scope = theirs.package();
                comparison.messages(scope, &theirs.message_type, &mine.message_type);
                comparison.enums(scope, &theirs.enum_type, &mine.enum_type);
            }
        }
    }
    comparison
}

impl Comparison {
    fn differ(&mut self, what: &str, how: &str) {
        self.differences.push(format!("{what}: {how}"));
    }

    fn same<T: PartialEq + std::fmt::Debug>(
        &mut self,
        what: &str,
        attribute: &str,
        flyteidl: T,
        ours: T,
    ) {
        if flyteidl != ours {
            self.differ(
                what,
                &format!("{attribute} differs: flyteidl {flyteidl:?}, ours {ours:?}"),
            );
        }
    }

    fn messages(&mut self, scope: &str, flyteidl: &[DescriptorProto], ours: &[DescriptorProto]) {
        let flyteidl = by_name(flyteidl, DescriptorProto::name);
        let ours = by_name(ours, DescriptorProto::name);
        for (name, pair) in pair_up(&flyteidl, &ours) {
            let full_name = format!("{scope}.{name}");
            match pair {
                Pair::OnlyFlyteidl => self.differ(&full_name, "message in flyteidl but not ours"),
                Pair::OnlyOurs => self.differ(&full_name, "message in ours but not flyteidl"),
                Pair::Both(theirs, mine) => self.message(&full_name, theirs, mine),
            }
        }
    }

    fn message(&mut self, full_name: &str, flyteidl: &DescriptorProto, ours: &DescriptorProto) {
        let map_entry =
            |message: &DescriptorProto| message.options.as_ref().and_then(|o| o.map_entry);
        self.same(full_name, "map_entry", map_entry(flyteidl), map_entry(ours));
        let their_fields = by_name(&flyteidl.field, FieldDescriptorProto::name);
        let our_fields = by_name(&ours.field, FieldDescriptorProto::name);
        for (name, pair) in pair_up(&their_fields, &our_fields) {
            let field_name = format!("{full_name}.{name}");
            match pair {
                Pair::OnlyFlyteidl => self.differ(&field_name, "field in flyteidl but not ours"),
                Pair::OnlyOurs => self.differ(&field_name, "field in ours but not flyteidl"),
                Pair::Both(theirs, mine) => {
                    self.fields_compared += 1;
                    self.field(&field_name, (flyteidl, theirs), (ours, mine));
                }
            }
        }
        self.messages(full_name, &flyteidl.nested_type, &ours.nested_type);
        self.enums(full_name, &flyteidl.enum_type, &ours.enum_type);
    }

    fn field(
        &mut self,
        field_name: &str,
        (their_message, theirs): (&DescriptorProto, &FieldDescriptorProto),
        (our_message, mine): (&DescriptorProto, &FieldDescriptorProto),
    ) {
        // Oneofs are compared by name: their index is a declaration-order detail.
        let oneof = |message: &DescriptorProto, field: &FieldDescriptorProto| {
            field
                .oneof_index
                .and_then(|index| message.oneof_decl.get(usize::try_from(index).ok()?))
                .map(|oneof| oneof.name().to_owned())
        };
        let packed = |field: &FieldDescriptorProto| field.options.as_ref().and_then(|o| o.packed);
        self.same(field_name, "number", theirs.number(), mine.number());
        self.same(field_name, "type", theirs.r#type(), mine.r#type());
        self.same(
            field_name,
            "type_name",
            theirs.type_name(),
            mine.type_name(),
        );
        self.same(field_name, "label", theirs.label(), mine.label());
        self.same(
            field_name,
            "oneof",
            oneof(their_message, theirs),
            oneof(our_message, mine),
        );
        self.same(
            field_name,
            "proto3_optional",
            theirs.proto3_optional(),
            mine.proto3_optional(),
        );
        self.same(
            field_name,
            "json_name",
            theirs.json_name(),
            mine.json_name(),
        );
        self.same(field_name, "packed", packed(theirs), packed(mine));
    }

    fn enums(
        &mut self,
        scope: &str,
        flyteidl: &[EnumDescriptorProto],
        ours: &[EnumDescriptorProto],
    ) {
        let flyteidl = by_name(flyteidl, EnumDescriptorProto::name);
        let ours = by_name(ours, EnumDescriptorProto::name);
        for (name, pair) in pair_up(&flyteidl, &ours) {
            let full_name = format!("{scope}.{name}");
            match pair {
                Pair::OnlyFlyteidl => self.differ(&full_name, "enum in flyteidl but not ours"),
                Pair::OnlyOurs => self.differ(&full_name, "enum in ours but not flyteidl"),
                Pair::Both(theirs, mine) => {
                    let their_values = by_name(&theirs.value, |v| v.name());
                    let our_values = by_name(&mine.value, |v| v.name());
                    for (value, pair) in pair_up(&their_values, &our_values) {
                        let value_name = format!("{full_name}.{value}");
                        match pair {
                            Pair::OnlyFlyteidl => {
                                self.differ(&value_name, "enum value in flyteidl but not ours")
                            }
                            Pair::OnlyOurs => {
                                self.differ(&value_name, "enum value in ours but not flyteidl")
                            }
                            Pair::Both(a, b) => {
                                self.same(&value_name, "number", a.number(), b.number())
                            }
                        }
                    }
                }
            }
        }
    }
}

fn by_name<'a, T>(items: &'a [T], name: impl Fn(&'a T) -> &'a str) -> BTreeMap<&'a str, &'a T> {
    items.iter().map(|item| (name(item), item)).collect()
}

enum Pair<'a, T> {
    OnlyFlyteidl,
    OnlyOurs,
    Both(&'a T, &'a T),
}

/// Every name on either side, in name order, with what each side has under it.
fn pair_up<'a, T>(
    flyteidl: &BTreeMap<&'a str, &'a T>,
    ours: &BTreeMap<&'a str, &'a T>,
) -> Vec<(&'a str, Pair<'a, T>)> {
    let names: BTreeSet<&str> = flyteidl.keys().chain(ours.keys()).copied().collect();
    names
        .into_iter()
        .map(|name| {
            let pair = match (flyteidl.get(name), ours.get(name)) {
                (Some(theirs), Some(mine)) => Pair::Both(*theirs, *mine),
                (Some(_), None) => Pair::OnlyFlyteidl,
                (None, Some(_)) => Pair::OnlyOurs,
                (None, None) => unreachable!("{name} came from one of the two maps"),
            };
            (name, pair)
        })
        .collect()
}
