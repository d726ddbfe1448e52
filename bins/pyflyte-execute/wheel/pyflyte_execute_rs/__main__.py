"""`python -m pyflyte_execute_rs [ARGS]`: the Rust pyflyte-execute with this interpreter,
also where flytekit (and so its console scripts) is not installed, e.g. for `--version`."""

import sys

from pyflyte_execute_rs import binary, run_binary

if __name__ == "__main__":
    try:
        run_binary("pyflyte-execute", sys.argv[1:])
    except OSError as error:
        sys.exit("pyflyte-execute-rs: cannot run %s (%s)" % (binary(), error))
