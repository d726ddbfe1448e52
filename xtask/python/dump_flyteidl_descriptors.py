"""Writes the descriptors of the installed flyteidl's `flyteidl.core` protobuf files.

Output (stdout, binary): a serialized google.protobuf.FileDescriptorSet holding the
FileDescriptorProto of every `flyteidl.core.*_pb2` module, in module-name order. The Rust
test crates/flyte-proto/tests/wire_compat.rs compares it with our own descriptor set.

The descriptors are the ones the modules were generated with (their embedded
`serialized_pb`), not a re-derivation: that is exactly what Python parses and writes with.
"""

import importlib
import pkgutil
import sys

from google.protobuf import descriptor_pb2

import flyteidl.core


def core_pb2_modules():
    """Every `*_pb2` module of the installed flyteidl.core package, by name."""
    names = sorted(
        info.name
        for info in pkgutil.iter_modules(flyteidl.core.__path__)
        if info.name.endswith("_pb2")
    )
    if not names:
        sys.exit(f"no *_pb2 modules found in {flyteidl.core.__path__}: is flyteidl installed?")
    return [importlib.import_module(f"flyteidl.core.{name}") for name in names]


def fill_missing_json_names(file_proto, file_descriptor):
    """Generators may leave json_name out of the embedded descriptor; take the runtime's.

    The runtime value is the one Python's JSON codec actually uses, so the comparison stays
    about behaviour, not about which generator flag was set.
    """

    def visit(message_proto, message_descriptor):
        fields = message_descriptor.fields_by_name
        for field in message_proto.field:
            if not field.HasField("json_name"):
                field.json_name = fields[field.name].json_name
        nested = message_descriptor.nested_types_by_name
        for nested_proto in message_proto.nested_type:
            visit(nested_proto, nested[nested_proto.name])

    for message_proto in file_proto.message_type:
        visit(message_proto, file_descriptor.message_types_by_name[message_proto.name])


def main():
    descriptor_set = descriptor_pb2.FileDescriptorSet()
    for module in core_pb2_modules():
        file_proto = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        fill_missing_json_names(file_proto, module.DESCRIPTOR)
        file_proto.ClearField("source_code_info")
        descriptor_set.file.append(file_proto)
    sys.stdout.buffer.write(descriptor_set.SerializeToString(deterministic=True))


if __name__ == "__main__":
    main()
