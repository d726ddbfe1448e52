"""A flytekit ContainerTask as propeller would hand it to copilot, and its outputs read back.

`prepare WORKDIR`: serialises the task (its TypedInterface, input VariableMap and
DataLoadingConfig, base64 protobufs as propeller passes them) and its inputs (inputs.pb,
made by flytekit's TypeEngine, files uploaded by flytekit under WORKDIR/remote), and
prints them as JSON.
`read WORKDIR OUTPUTS_PB`: reads outputs.pb with flytekit's TypeEngine into the task's
output types and prints what it found as JSON.
"""

import base64
import datetime
import json
import os
import sys
import typing

import pandas as pd
from typing_extensions import Annotated

from flyteidl.core import tasks_pb2

from flytekit import ContainerTask, kwtypes
from flytekit.core.context_manager import FlyteContextManager
from flytekit.core.data_persistence import FileAccessProvider
from flytekit.core.interface import transform_interface_to_typed_interface
from flytekit.core.type_engine import TypeEngine
from flytekit.models.literals import LiteralMap
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile


def make_task(workdir: str) -> ContainerTask:
    return ContainerTask(
        name="copilot-parity",
        image="alpine:3",
        command=["sh", "-c", "true"],
        inputs=kwtypes(a=int, s=str, f=FlyteFile, d=FlyteDirectory, xs=typing.List[int]),
        outputs=kwtypes(
            total=int,
            report=FlyteFile,
            out_dir=FlyteDirectory,
            names=typing.List[str],
            scores=typing.Dict[str, float],
            ratio=float,
            done=bool,
            when=datetime.datetime,
            took=datetime.timedelta,
            maybe=typing.Optional[int],
            label=typing.Optional[str],
            pick=typing.Union[int, str],
            frame=Annotated[pd.DataFrame, kwtypes(x=int, name=str)],
        ),
        input_data_dir=os.path.join(workdir, "var/inputs"),
        output_data_dir=os.path.join(workdir, "var/outputs"),
    )


def b64(message) -> str:
    return base64.b64encode(message.to_flyte_idl().SerializeToString()).decode()


def context(workdir: str):
    ctx = FlyteContextManager.current_context()
    remote = os.path.join(workdir, "remote")
    os.makedirs(remote, exist_ok=True)
    provider = FileAccessProvider(local_sandbox_dir=os.path.join(workdir, "sandbox"), raw_output_prefix=remote)
    return ctx.with_file_access(provider)


def prepare(workdir: str) -> None:
    task = make_task(workdir)
    typed = transform_interface_to_typed_interface(task.python_interface)
    data_config = task._get_data_loading_config().to_flyte_idl()
    src = os.path.join(workdir, "src")
    os.makedirs(os.path.join(src, "dir/nested"), exist_ok=True)
    with open(os.path.join(src, "input.txt"), "w") as f:
        f.write("hello from flytekit")
    with open(os.path.join(src, "dir/nested/deep.txt"), "w") as f:
        f.write("deep")
    with FlyteContextManager.with_context(context(workdir)) as ctx:
        literals = TypeEngine.dict_to_literal_map(
            ctx,
            {
                "a": 7,
                "s": "seven",
                "f": FlyteFile(os.path.join(src, "input.txt")),
                "d": FlyteDirectory(os.path.join(src, "dir")),
                "xs": [1, 2, 3],
            },
            type_hints=task.python_interface.inputs,
        )
    # What the task's container writes as its dataframe output: one parquet file.
    frame = os.path.join(workdir, "frame.parquet")
    pd.DataFrame({"x": [1, 2, 3], "name": ["a", "b", "c"]}).to_parquet(frame)
    inputs_pb = os.path.join(workdir, "remote/inputs.pb")
    with open(inputs_pb, "wb") as f:
        f.write(literals.to_flyte_idl().SerializeToString())
    json.dump(
        {
            "interface": b64(typed),
            "inputs_variables": base64.b64encode(
                typed.to_flyte_idl().inputs.SerializeToString()
            ).decode(),
            "input_path": data_config.input_path,
            "output_path": data_config.output_path,
            "format": tasks_pb2.DataLoadingConfig.LiteralMapFormat.Name(data_config.format),
            "data_config_enabled": data_config.enabled,
            "inputs": inputs_pb,
            "frame": frame,
        },
        sys.stdout,
    )


def read(workdir: str, outputs_pb: str) -> None:
    task = make_task(workdir)
    from flyteidl.core import literals_pb2

    message = literals_pb2.LiteralMap()
    with open(outputs_pb, "rb") as f:
        message.ParseFromString(f.read())
    with FlyteContextManager.with_context(context(workdir)) as ctx:
        values = TypeEngine.literal_map_to_kwargs(
            ctx, LiteralMap.from_flyte_idl(message), python_types=task.python_interface.outputs
        )
        report = values["report"]
        out_dir = values["out_dir"]
        with open(report.download()) as f:
            report_text = f.read()
        local_dir = out_dir.download()
        frame = values["frame"]
        files = sorted(
            os.path.relpath(os.path.join(root, name), local_dir)
            for root, _, names in os.walk(local_dir)
            for name in names
        )
    json.dump(
        {
            "total": values["total"],
            "report": report_text,
            "out_dir": files,
            "names": values["names"],
            "scores": values["scores"],
            "ratio": values["ratio"],
            "done": values["done"],
            "when": values["when"].isoformat(),
            "took": values["took"].total_seconds(),
            "maybe": values["maybe"],
            "label": values["label"],
            "pick": values["pick"],
            "frame": frame.to_dict(orient="list"),
            "frame_columns": list(frame.columns),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2])
    else:
        read(sys.argv[2], sys.argv[3])
