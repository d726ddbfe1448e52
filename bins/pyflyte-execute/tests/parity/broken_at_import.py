"""A task module whose import fails, as when a dependency is missing in the image."""

from flytekit import task

raise RuntimeError("this module cannot be imported: missing configuration")


@task
def unreachable(x: int) -> int:
    return x
