"""The start-up task of `cargo xtask bench`: a new user's first task, nothing to move but
inputs.pb and outputs.pb. Kept apart from bench_tasks.py so that the floor,
`python -c "import flytekit, startup_tasks"`, imports no more than flytekit does."""

from flytekit import task


@task
def trivial(x: int) -> int:
    return x + 1
