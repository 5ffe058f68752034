"""``hpo-widget spark-conf``: print the Spark conf the spark backend would use on Kubernetes.

The settings are computed from the pod's environment (``POD_IP``, ``POD_NAME``, ...); printing
them lets a user check them in a terminal of the notebook pod before starting a study, or paste
them into ``spark-defaults.conf`` for their own SparkSession.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._common import EXIT_OK, EXIT_USAGE, PROG, CliError, _out


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, got {text!r}")
    return key.strip(), value


def _executors(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1 or 'auto', got {text}")
    return value


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    conf = sub.add_parser(
        "spark-conf",
        parents=parents,
        help="print the Spark conf of master k8s (a notebook pod as Spark driver)",
        description="Print, as key=value lines, every Spark setting the spark backend computes "
        "for backend_options={'master': 'k8s', ...} from this pod's environment (POD_IP, "
        "POD_NAME, POD_NAMESPACE, HPO_WIDGET_EXECUTOR_IMAGE, ...), --conf entries applied last. "
        "Exit 2 with what to set when something is missing.",
    )
    conf.add_argument(
        "--master", default="k8s", help="k8s (this pod's cluster, default) or k8s://https://..."
    )
    conf.add_argument(
        "--conf",
        type=_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Spark setting that overrides the computed one (repeatable)",
    )
    conf.add_argument("--image", help="executor image (default: $HPO_WIDGET_EXECUTOR_IMAGE)")
    conf.add_argument("--executors", type=_executors, help="executor pods, or 'auto' (default 2)")
    conf.add_argument("--executor-cores", type=int, help="cores per executor (default 1)")
    conf.add_argument("--executor-memory", help="memory per executor (default 2g)")
    conf.add_argument("--python", help="Python of the executor image (default: $PYSPARK_PYTHON)")
    conf.add_argument("--namespace", help="namespace (default: $POD_NAMESPACE)")
    conf.set_defaults(handler=_cmd_spark_conf)


def _cmd_spark_conf(args: argparse.Namespace) -> int:
    from ..backends.spark_kubernetes import (
        format_settings,
        is_kubernetes_master,
        kubernetes_settings,
    )
    from ..config import ConfigError

    if not is_kubernetes_master(args.master):
        raise CliError(f"{PROG}: spark-conf: --master must be k8s or k8s://..., got {args.master}")
    options: dict[str, Any] = {"master": args.master, "conf": dict(args.conf)}
    for key in ("image", "executors", "executor_cores", "executor_memory", "python", "namespace"):
        value = getattr(args, key)
        if value is not None:
            options[key] = value
    try:
        settings = kubernetes_settings(options)
    except ConfigError as exc:
        lines = [f"{PROG}: spark-conf: cannot compute the Spark conf:"]
        lines += [f"  {p}" for p in exc.problems]
        raise CliError("\n".join(lines), EXIT_USAGE) from None
    for line in format_settings(settings):
        _out(line)
    return EXIT_OK
