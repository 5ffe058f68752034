"""A Spark driver in client mode against the stand-in, run as its own process (own JVM):

    KUBECONFIG=... python -m tests.k8s_standin.smoke_driver URL OUT.json

Starts a SparkSession with one executor pod, squares 0..3 on it, stops, and writes
{"result": [...], "seconds_to_result": s, "seconds_total": s} to OUT.json."""

from __future__ import annotations

import json
import os
import socket
import sys
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(url: str, out: str, extra: list[str]) -> None:
    from pyspark.sql import SparkSession

    t0 = time.monotonic()
    builder = (
        SparkSession.builder.master("k8s://" + url)
        .appName("k8s-standin-smoke")
        .config("spark.kubernetes.namespace", os.environ.get("STANDIN_NAMESPACE", "hpo"))
        .config("spark.kubernetes.container.image", "hpo-widget:test")
        .config("spark.kubernetes.driver.pod.name", "jupyterlab-0")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.port", str(free_port()))
        .config("spark.driver.blockManager.port", str(free_port()))
        .config("spark.kubernetes.driver.service.deleteOnTermination", "false")
        .config("spark.kubernetes.driver.ownPersistentVolumeClaim", "false")
        .config("spark.executor.instances", "1")
        .config("spark.executor.cores", "1")
        .config("spark.executor.memory", "512m")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.kubernetes.authenticate.executor.serviceAccountName", "hpo-widget-executor")
        .config("spark.authenticate", "true")
        .config("spark.network.crypto.enabled", "true")
        .config("spark.ui.enabled", "false")
    )
    for kv in extra:
        k, _, v = kv.partition("=")
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    t_session = time.monotonic() - t0
    sc = spark.sparkContext
    result = sc.parallelize(range(4), 2).map(lambda x: x * x).collect()
    t_result = time.monotonic() - t0
    spark.stop()
    with open(out, "w") as f:
        json.dump(
            {
                "result": result,
                "seconds_to_session": t_session,
                "seconds_to_result": t_result,
                "seconds_total": time.monotonic() - t0,
            },
            f,
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
