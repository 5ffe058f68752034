"""The shared bundle: a run's worker task pickled once with its arrays out of band, which every
worker process on a host maps from one file (loky: a file the driver writes; Spark: the file the
executor JVM writes for a broadcast)."""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from pyspark.core.broadcast import Broadcast

from hpo_widget import SearchSpace, StudyRunner, with_data
from hpo_widget.backends import _shared_bundle as sb
from hpo_widget.backends import _spark_broadcast
from tests import spark_objectives as so


def _write(bundle: sb.Bundle, path: Path, head: bytes = b"") -> None:
    with open(path, "wb") as out:
        out.write(head)
        bundle.write(out)


def test_arrays_come_back_equal_aligned_writable_and_mapped(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    shared = {
        "X": rng.random((500, 40)),
        "y": rng.integers(0, 3, 500),
        "strided": np.arange(10_000)[::3],  # not contiguous: pickled in the stream instead
        "f": lambda v: v + 1,  # by value, as a notebook objective
    }
    bundle = sb.pack(shared)
    assert len(bundle.buffers) == 2
    _write(bundle, tmp_path / "b")
    back = sb.load_file(tmp_path / "b")
    for key in ("X", "y", "strided"):
        assert np.array_equal(back[key], shared[key])
    assert back["f"](1) == 2
    for key in ("X", "y"):
        assert back[key].ctypes.data % 64 == 0
        assert back[key].flags.writeable


def test_a_write_in_one_mapping_is_private_to_it(tmp_path: Path) -> None:
    _write(sb.pack(np.zeros(100_000)), tmp_path / "b")
    first, second = sb.load_file(tmp_path / "b"), sb.load_file(tmp_path / "b")
    first[0] = 7.0
    assert second[0] == 0.0
    assert sb.load_file(tmp_path / "b")[0] == 0.0  # nor does the file change


def test_the_bundle_is_found_after_a_header_and_stays_aligned_there(tmp_path: Path) -> None:
    head = b"\x80\x05\x96" + b"\0" * 8  # what PySpark writes before a pickled bytearray
    data = np.arange(300_000, dtype=np.float64)
    _write(sb.pack(data, base=len(head)), tmp_path / "b", head)
    back = sb.load_file(tmp_path / "b")
    assert np.array_equal(back, data) and back.ctypes.data % 64 == 0


def test_a_truncated_or_foreign_file_is_refused_by_name(tmp_path: Path) -> None:
    _write(sb.pack(np.arange(100_000)), tmp_path / "b")
    whole = (tmp_path / "b").read_bytes()
    (tmp_path / "b").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(sb.BundleError, match="shorter than its header"):
        sb.load_file(tmp_path / "b")
    (tmp_path / "c").write_bytes(pickle.dumps([1, 2, 3]) * 50)
    with pytest.raises(sb.BundleError, match="no hpo_widget bundle"):
        sb.load_file(tmp_path / "c")


def _pyspark_broadcast_bytes(shared: object) -> bytes:
    """A broadcast's bytes as PySpark's driver writes them (Broadcast.dump of the bundle)."""
    bundle = sb.pack(shared, base=_spark_broadcast._BROADCAST_FILE_HEAD)
    return pickle.dumps(bundle.to_bytearray(), 5)


def test_a_pyspark_executor_broadcast_file_is_mapped(tmp_path: Path) -> None:
    """PySpark's executor-side Broadcast as worker_util builds it: a path, read lazily."""
    data = np.arange(200_000, dtype=np.float64)
    (tmp_path / "broadcast").write_bytes(_pyspark_broadcast_bytes(data))
    broadcast = Broadcast(path=str(tmp_path / "broadcast"))
    back = _spark_broadcast._load(broadcast)
    assert _spark_broadcast.last_load == "mapped"
    assert np.array_equal(back, data) and back.flags.writeable
    assert "_value" not in vars(broadcast)  # PySpark never read the file
    assert isinstance(broadcast.value, bytearray)  # once PySpark has read the file itself,
    assert np.array_equal(_spark_broadcast._load(broadcast), data)  # its value is used
    assert _spark_broadcast.last_load == "copied"


def test_an_encrypted_broadcast_without_a_file_is_unpickled_from_its_value() -> None:
    """With spark.io.encryption.enabled the JVM streams the value through a socket instead."""
    data = np.arange(200_000, dtype=np.float64)
    broadcast = Broadcast(sock_file=io.BytesIO(_pyspark_broadcast_bytes(data)))  # type: ignore[arg-type]
    back = _spark_broadcast._load(broadcast)
    assert _spark_broadcast.last_load == "copied"
    assert np.array_equal(back, data) and back.flags.writeable


def test_loky_workers_map_one_file_that_is_gone_after_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    objective = so.ReportsHowItsArrayArrived(1_000_000)  # 8 MB
    runner = StudyRunner(
        objective, storage=str(tmp_path / "s.journal"), backend="loky", n_workers=2, seed=0
    )
    try:
        study = runner.start(n_trials=6).wait(timeout=120)
    finally:
        runner.close()
    trials = study.get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 6
    assert all(t.value == t.params["i"] * 0.5 for t in trials)
    assert {(t.user_attrs["mapped"], t.user_attrs["writeable"]) for t in trials} == {(True, True)}
    assert not [p for p in os.listdir(tmp_path) if p.startswith("hpo-widget-shared-")]


def test_a_small_loky_task_travels_inside_its_calls(tmp_path: Path) -> None:
    def objective(trial: object) -> float:
        return 0.0

    function, args, path = sb.ship_as_file(objective, [(objective, 0), (objective, 1)], 1 << 20)
    assert (function, args, path) == (objective, [(objective, 0), (objective, 1)], None)


def test_data_given_with_with_data_is_mapped_like_captured_data(tmp_path: Path) -> None:
    data = np.arange(1_000_000, dtype=np.float64) * 0.5
    runner = StudyRunner(
        with_data(so.looks_up_given_array, data=data),
        storage=str(tmp_path / "s.journal"),
        backend="loky",
        n_workers=2,
        seed=0,
    )
    try:
        study = runner.start(n_trials=4).wait(timeout=120)
    finally:
        runner.close()
    assert all(t.value == t.params["i"] * 0.5 for t in study.trials)
    assert {t.user_attrs["mapped"] for t in study.trials} == {True}


def test_with_data_keeps_a_params_objective_a_params_objective() -> None:
    space = SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}})
    runner = StudyRunner(
        with_data(lambda params, offset: params["x"] + offset, offset=10.0), space=space, seed=0
    )
    study = runner.start(n_trials=3).wait(timeout=60)
    assert all(t.value == t.params["x"] + 10.0 for t in study.trials)
    with pytest.raises(TypeError, match="with_data: objective must be callable"):
        with_data(42)  # type: ignore[arg-type]
