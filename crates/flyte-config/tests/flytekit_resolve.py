"""Prints what flytekit itself resolves, for tests/flytekit_cross_check.rs.

Reads a JSON list of scenarios on stdin ({"env": {...}, "cwd": "..."}), and for each one
replaces the process environment, changes directory, clears flytekit's cached config
file lookup and writes one JSON line: the storage, statsd, logging, secrets, platform,
identity and runtime settings flytekit resolves, or {"error": "..."} where flytekit raises.
"""

import json
import os
import sys

from flytekit import loggers
from flytekit.bin import entrypoint
from flytekit.configuration import DataConfig, PlatformConfig, SecretsConfig, StatsConfig
from flytekit.configuration.file import get_config_file
from flytekit.core.utils import str2bool

IDENTITY = [
    ("execution_project", "FLYTE_INTERNAL_EXECUTION_PROJECT", "_F_PRJ"),
    ("execution_domain", "FLYTE_INTERNAL_EXECUTION_DOMAIN", "_F_DM"),
    ("execution_name", "FLYTE_INTERNAL_EXECUTION_ID", "_F_NM"),
    ("execution_workflow", "FLYTE_INTERNAL_EXECUTION_WORKFLOW", "_F_WF"),
    ("execution_launchplan", "FLYTE_INTERNAL_EXECUTION_LAUNCHPLAN", "_F_LP"),
    ("task_project", "FLYTE_INTERNAL_TASK_PROJECT", "_F_TK_PRJ"),
    ("task_domain", "FLYTE_INTERNAL_TASK_DOMAIN", "_F_TK_DM"),
    ("task_name", "FLYTE_INTERNAL_TASK_NAME", "_F_TK_NM"),
    ("task_version", "FLYTE_INTERNAL_TASK_VERSION", "_F_TK_V"),
]


def resolve():
    get_config_file.cache_clear()
    data = DataConfig.auto()
    stats = StatsConfig.auto()
    secrets = SecretsConfig.auto()
    platform = PlatformConfig.auto()
    config_file = get_config_file(None)
    fmt = "json" if os.environ.get(loggers.LOGGING_FMT_ENV_VAR, "json") == "json" else "text"
    return {
        "config_file": config_file._location if config_file else None,
        "storage": {
            "s3": {
                "endpoint": data.s3.endpoint,
                "access_key_id": data.s3.access_key_id,
                "secret_access_key": data.s3.secret_access_key,
                "enable_debug": data.s3.enable_debug,
                "retries": data.s3.retries,
                "backoff_seconds": int(data.s3.backoff.total_seconds()),
                "addressing_style": data.s3.adressing_style,
            },
            "gcs": {"gsutil_parallelism": data.gcs.gsutil_parallelism},
            "azure": {
                "account_name": data.azure.account_name,
                "account_key": data.azure.account_key,
                "tenant_id": data.azure.tenant_id,
                "client_id": data.azure.client_id,
                "client_secret": data.azure.client_secret,
            },
            "attach_execution_metadata": data.generic.attach_execution_metadata,
        },
        "statsd": {
            "host": stats.host,
            "port": stats.port,
            "disabled": stats.disabled,
            "disable_tags": stats.disabled_tags,
        },
        "logging": {
            "level": loggers._get_env_logging_level(),
            "format": fmt,
            "dev_level": loggers._get_dev_env_logging_level(),
        },
        "secrets": {
            "env_prefix": secrets.env_prefix,
            "default_dir": secrets.default_dir,
            "file_prefix": secrets.file_prefix,
        },
        "platform": {
            "endpoint": platform.endpoint,
            "insecure": platform.insecure,
            "insecure_skip_verify": platform.insecure_skip_verify,
            "console_endpoint": platform.console_endpoint,
            "client_id": platform.client_id,
            "scopes": platform.scopes or None,
        },
        "identity": {field: entrypoint.get_one_of(a, b) for field, a, b in IDENTITY},
        "runtime": {
            "distributed_error_strategy": entrypoint.get_one_of(
                "FLYTE_INTERNAL_DIST_ERROR_STRATEGY", "_F_DES"
            )
            or None,
            "worker_name": entrypoint._get_worker_name(),
            "fail_on_error": str2bool(os.getenv("FLYTE_FAIL_ON_ERROR")),
        },
    }


def main():
    scenarios = json.load(sys.stdin)
    for scenario in scenarios:
        os.environ.clear()
        os.environ.update(scenario["env"])
        os.chdir(scenario["cwd"])
        try:
            result = resolve()
        except Exception as e:  # flytekit raising is a result to compare too
            result = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
