"""The hpo-widget command line, called in-process through ``main(argv)`` and as real processes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from hpo_widget import StudyRunner, _attrs
from hpo_widget.cli import _ProgressBar, main
from hpo_widget.runner import counts_towards_budget

SPECS = Path(__file__).resolve().parent.parent / "example_notebooks" / "specs"
SPACE = {
    "x": {"type": "float", "low": -5, "high": 5},
    "k": {"type": "categorical", "choices": ["a", "b"]},
}
PG_URL = "postgresql://user:s3cret@127.0.0.1:1/db"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the embedded journal lands here
    monkeypatch.delenv("HPO_WIDGET_STORAGE", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the CLI adds the spec's dir


def write_spec(
    tmp_path: Path, name: str = "quad", *, module: str = "cli_quad", **fields: Any
) -> Path:
    """A fast params-style spec (threading backend) with its objective module next to it."""
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            """\
            import time

            def objective(params):
                time.sleep(params.get("_sleep", 0.0))
                return (params["x"] - 1) ** 2 + (0.5 if params["k"] == "b" else 0.0)

            def slow(params):
                time.sleep(0.05)
                return (params["x"] - 1) ** 2

            def crash(params):
                import os

                os._exit(7)  # the worker process dies (a SystemExit would only fail the trial)

            def trial_style(trial):
                return trial.suggest_float("x", -1, 1) ** 2
            """
        )
    )
    data = {
        "objective": f"{module}:objective",
        "space": SPACE,
        "backend": {"name": "threading", "n_workers": 2},
        "seed": 0,
        "n_trials": 6,
        **fields,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def journal_study(name: str, path: str = "hpo_studies.journal") -> optuna.Study:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    return optuna.load_study(study_name=name, storage=storage)


def run_attr(study: optuna.Study) -> Any:
    return study._storage.get_study_system_attrs(study._study_id)[_attrs.RUN]


def counted(study: optuna.Study) -> int:
    return sum(1 for t in study.get_trials(deepcopy=False) if counts_towards_budget(t))


# -- run ----------------------------------------------------------------------------------------
def test_run_reaches_the_total_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path)
    assert main(["run", str(spec)]) == 0
    out, err = capsys.readouterr()
    assert counted(journal_study("quad")) == 6
    assert "study    quad" in out and "(6 new in this run; target 6)" in out
    assert f"journal file {tmp_path / 'hpo_studies.journal'}" in out
    assert "best     " in out and "params   x=" in out
    assert "6/6" in err and "\r" not in err  # not a TTY: plain lines
    assert len(err.strip().splitlines()) <= 12

    assert main(["run", str(spec), "--quiet"]) == 0  # already at the total: nothing to do
    out, err = capsys.readouterr()
    assert "(0 new in this run; target 6)" in out and err == ""
    assert len(journal_study("quad").trials) == 6

    assert main(["run", str(spec), "--n-trials", "9", "-q"]) == 0  # exactly 3 more
    out, _ = capsys.readouterr()
    assert "(3 new in this run; target 9)" in out
    study = journal_study("quad")
    assert counted(study) == 9 and len(study.trials) == 9
    assert not any(t.state == TrialState.RUNNING for t in study.trials)
    assert run_attr(study)["stop"] is True  # external workers would leave


def test_run_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path)
    journal = tmp_path / "other" / "runs.journal"
    argv = ["run", str(spec), "--study", "renamed", "--storage", str(journal)]
    argv += ["--backend", "threading", "--workers", "1", "--n-trials", "4", "-q"]
    assert main(argv) == 0
    out, _ = capsys.readouterr()
    assert "study    renamed" in out
    study = journal_study("renamed", str(journal))
    assert counted(study) == 4
    assert len({t.system_attrs[_attrs.WORKER] for t in study.trials}) == 1
    assert not (tmp_path / "hpo_studies.journal").exists()


def test_run_with_timeout_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path, n_trials=None, objective="cli_quad:slow")
    assert main(["run", str(spec), "--timeout", "0.5"]) == 0
    out, err = capsys.readouterr()
    assert "trials" in out and "elapsed" in err
    study = journal_study("quad")
    assert counted(study) >= 2
    assert not any(t.state == TrialState.RUNNING for t in study.trials)


def test_progress_redraws_in_place_on_a_tty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_spec(tmp_path)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["run", str(spec)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("\r[") and err.endswith("\n") and err.count("\n") == 1
    assert "6/6" in err and "ETA" in err and "best" in err


def test_progress_prints_about_every_ten_percent() -> None:
    class FakeRunner:
        def __init__(self) -> None:
            self.study = optuna.create_study()
            self.n = 0

        @property
        def progress(self) -> Any:
            from hpo_widget.events import RunStatus
            from hpo_widget.runner import Progress

            return Progress(self.n, 0, 0, 0, 0, 200, 1.0, RunStatus.RUNNING)

    runner = FakeRunner()
    stream = io.StringIO()
    bar = _ProgressBar(runner, stream=stream, tty=False, enabled=True, timeout=None)
    for n in range(201):
        runner.n = n
        bar.on_event(None)
    bar.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11  # 0 %, 10 %, ..., 100 %; the final line is not repeated
    assert lines[-1].startswith("[####################] 200/200")


def test_run_is_interrupted_cleanly_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_spec(tmp_path, objective="cli_quad:slow", n_trials=30)
    original = StudyRunner.wait
    calls = {"n": 0}

    def wait_then_ctrl_c(self: StudyRunner, timeout: float | None = None) -> optuna.Study:
        calls["n"] += 1
        if calls["n"] == 1:
            deadline = time.time() + 30
            while self.progress.finished < 3 and time.time() < deadline:  # a few trials first
                time.sleep(0.05)
            raise KeyboardInterrupt
        return original(self, timeout)

    monkeypatch.setattr(StudyRunner, "wait", wait_then_ctrl_c)
    assert main(["run", str(spec)]) == 130
    err = capsys.readouterr().err
    assert "stopped; resume with the same command" in err
    study = journal_study("quad")
    assert 3 <= counted(study) < 30
    assert not any(t.state == TrialState.RUNNING for t in study.trials)
    assert run_attr(study)["stop"] is True

    assert main(["run", str(spec), "-q"]) == 0  # the same command resumes to the total
    assert counted(journal_study("quad")) == 30


def test_run_failure_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(
        tmp_path, objective="cli_quad:crash", retries=0, backend={"name": "loky", "n_workers": 1}
    )
    assert main(["run", str(spec), "-q"]) == 1
    err = capsys.readouterr().err
    assert "hpo-widget: run failed:" in err and "workers keep failing" in err


# -- bad specs and arguments: exit 2 -----------------------------------------------------------
def test_invalid_spec_lists_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "objective": "cli_quad:objective",
                "n_trails": 5,
                "backend": {"name": "loky", "n_workers": -1},
                "space": {"lr": {"type": "float", "low": 0, "high": 1, "log": True}},
                "storage": "postgresqlx://user:s3cret@h/db",
            }
        )
    )
    assert main(["run", str(spec)]) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines[0] == f"hpo-widget: invalid spec {spec}:"
    assert any(
        line.startswith("  n_trails: unknown field; did you mean 'n_trials'?") for line in lines
    )
    assert any(
        line.startswith("  backend.n_workers: must be a whole number >= 0") for line in lines
    )
    assert any(line.startswith("  space.lr.low: must be > 0 when log=True") for line in lines)
    assert any(
        line.startswith("  storage: cannot use 'postgresqlx://user:***@h/db'") for line in lines
    )
    assert "s3cret" not in out + err


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sampler": "grid"}, "sampler: grid cannot enumerate 'x'"),  # found by StudyRunner
        ({"objective": "no_such_module_abc:objective"}, "objective: cannot import module"),
        ({"objective": "cli_quad:objective", "space": None}, "space: the objective takes a params"),
    ],
)
def test_spec_that_fails_at_construction_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: dict[str, Any], message: str
) -> None:
    spec = write_spec(tmp_path, **fields)
    assert main(["run", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hpo-widget: invalid spec {spec}:\n")
    assert message in err


RAISING_MODULE = (
    'def f(trial):\n    return 0.0\n\nraise RuntimeError("boom while importing raisingmod")\n'
)
IMPORT_PROBLEM = (
    "objective: importing module 'raisingmod' raised RuntimeError: boom while importing "
    "raisingmod at File "
)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "SPEC", "-q"],
        ["worker", "--spec", "SPEC", "--wait", "0"],
        ["worker", "--objective", "raisingmod:f", "--study", "s", "--storage", "s.journal"],
    ],
    ids=["run", "worker-spec", "worker-objective"],
)
def test_objective_module_that_raises_on_import_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    # Before: exit 1 with the bare "boom ..." (taken for a storage that could not be opened) on
    # `run`, and an uncaught traceback (exit 1) from both `worker` forms.
    (tmp_path / "raisingmod.py").write_text(RAISING_MODULE)
    spec = write_spec(tmp_path, objective="raisingmod:f", space=None, storage="s.journal")
    argv = [str(spec) if a == "SPEC" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert IMPORT_PROBLEM in err, err
    assert f'{tmp_path / "raisingmod.py"}", line 4, in <module>: raise RuntimeError(' in err
    assert "Traceback" not in err
    if argv[0] == "run" or "--spec" in argv:
        assert err.startswith(f"hpo-widget: invalid spec {spec}:\n  objective: ")
    else:
        assert err.startswith("hpo-widget: worker: objective: ")
    assert not (tmp_path / "s.journal").exists()  # rejected before the storage is opened


def test_console_script_exits_2_for_an_objective_that_raises_on_import(tmp_path: Path) -> None:
    (tmp_path / "raisingmod.py").write_text(RAISING_MODULE)
    spec = write_spec(tmp_path, objective="raisingmod:f", space=None)
    env = {k: v for k, v in os.environ.items() if k != "HPO_WIDGET_STORAGE"}
    proc = subprocess.run(
        [sys.executable, "-m", "hpo_widget", "run", str(spec)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert IMPORT_PROBLEM in proc.stderr


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"sampler": {"name": "tpe", "options": {"n_startup_trials": -3}}},
            "sampler.options.n_startup_trials: must be >= 0, got -3",
        ),
        (
            {"sampler": {"name": "tpe", "options": {"n_startup": 3}}},
            "sampler.options.n_startup: TPESampler has no such argument; did you mean "
            "'n_startup_trials'? (it takes: consider_prior, ",
        ),
        (
            {"sampler": {"name": "tpe", "options": {"multivariate": "yes"}}},
            "sampler.options.multivariate: must be true or false, got 'yes'",
        ),
        (  # Optuna's own validation, reached by building the sampler once
            {"sampler": {"name": "qmc", "options": {"qmc_type": "bogus"}}},
            "sampler.options.qmc_type: QMCSampler rejects it: The `qmc_type='bogus'` is invalid",
        ),
        (
            {"pruner": {"name": "median", "options": {"n_warmup_steps": -1}}},
            "pruner.options.n_warmup_steps: must be >= 0, got -1",
        ),
        (
            {"pruner": {"name": "successive_halving", "options": {"reduction_factor": 1}}},
            "pruner.options.reduction_factor: must be >= 2, got 1",
        ),
        (
            {"pruner": {"name": "hyperband", "options": {"max_resource": 0}}},
            "pruner.options.max_resource: must be >= 1, got 0 (or 'auto')",
        ),
    ],
    ids=["negative", "unknown", "not-bool", "optuna", "warmup", "reduction", "max-resource"],
)
@pytest.mark.parametrize("command", ["run", "worker"])
def test_bad_sampler_or_pruner_options_exit_2_naming_the_field(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fields: dict[str, Any],
    message: str,
    command: str,
) -> None:
    spec = write_spec(tmp_path, **fields)
    argv = ["run", str(spec), "-q"] if command == "run" else ["worker", "--spec", str(spec)]
    assert main([*argv, "--wait", "0"] if command == "worker" else argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hpo-widget: invalid spec {spec}:\n")
    assert f"\n  {message}" in err, err
    assert not (tmp_path / "hpo_studies.journal").exists()  # no trial ran, nothing was opened


def test_missing_spec_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "nope.yaml"]) == 2
    assert "hpo-widget: invalid spec nope.yaml:\n  spec: cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["run"],
        ["run", "x.yaml", "--n-trials", "0"],
        ["run", "x.yaml", "--workers", "-1"],
        ["run", "x.yaml", "--timeout", "soon"],
        ["worker", "--study", "s"],  # neither --objective nor --spec
        ["worker", "--objective", "a:b", "--spec", "s.yaml"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage: hpo-widget" in capsys.readouterr().err


def test_bad_override_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path)
    assert main(["run", str(spec), "--backend", "lokky"]) == 2
    assert "backend: unknown 'lokky'" in capsys.readouterr().err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    from hpo_widget import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"hpo-widget {__version__}"
    assert main(["run", "--help"]) == 0
    assert "--n-trials" in capsys.readouterr().out


def test_optuna_logs_are_warnings_only_unless_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        assert main(["-v", "studies"]) == 0
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
        assert main(["studies", "--verbose"]) == 0
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
        assert main(["studies"]) == 0
        assert optuna.logging.get_verbosity() == optuna.logging.WARNING
    finally:
        optuna.logging.set_verbosity(optuna.logging.WARNING)


# -- password masking ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["run", "SPEC", "--storage", PG_URL],
        ["studies", "--storage", PG_URL],
        ["report", "s", "--storage", PG_URL],
        ["worker", "--objective", "cli_quad:trial_style", "--study", "s", "--storage", PG_URL],
    ],
)
def test_passwords_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    spec = write_spec(tmp_path)
    argv = [str(spec) if a == "SPEC" else a for a in argv]
    assert main(argv) == 1  # the storage cannot be opened
    out, err = capsys.readouterr()
    assert "***" in err
    assert "s3cret" not in out + err


# -- studies and report -------------------------------------------------------------------------
def test_studies_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["studies"]) == 0
    assert capsys.readouterr().out.startswith("no studies in journal file")
    assert not (tmp_path / "hpo_studies.journal").exists()  # listing does not create it

    spec = write_spec(tmp_path)
    assert main(["run", str(spec), "-q"]) == 0
    assert main(["run", str(spec), "-q", "--study", "second", "--n-trials", "3"]) == 0
    capsys.readouterr()
    assert main(["studies"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "NAME", "DIRECTIONS", "COMPLETE", "PRUNED", "FAIL", "LOST", "RUNNING", "WAITING", "BEST"
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["quad"][1:8] == ["minimize", "6", "0", "0", "0", "0", "0"]
    assert rows["second"][1:8] == ["minimize", "3", "0", "0", "0", "0", "0"]
    assert len({line.index("COMPLETE") + len("COMPLETE") for line in lines[:1]}) == 1
    assert len({len(line.split("  minimize")[0]) for line in lines[1:]}) == 1  # aligned

    assert main(["studies", "--json"]) == 0
    data = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert data["quad"]["complete"] == 6 and data["second"]["complete"] == 3
    assert data["quad"]["n_trials"] == 6 and data["quad"]["lost"] == 0
    assert data["quad"]["directions"] == ["minimize"]
    study = journal_study("quad")
    assert data["quad"]["best_value"] == pytest.approx(study.best_value)
    assert data["quad"]["best_trial"] == study.best_trial.number


def test_report_writes_html_and_rejects_unknown_study(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, n_trials=4)
    assert main(["run", str(spec), "-q", "--study", "alpha"]) == 0
    assert main(["run", str(spec), "-q", "--study", "beta"]) == 0
    capsys.readouterr()
    assert main(["report", "alpha", "-o", "out/report.html"]) == 0
    assert "wrote" in capsys.readouterr().out
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html") and "alpha" in html

    assert main(["report", "gamma"]) == 2
    err = capsys.readouterr().err
    journal = tmp_path / "hpo_studies.journal"
    assert f"report: no study named gamma in journal file {journal}; available: alpha, beta" in err


# -- worker -------------------------------------------------------------------------------------
def test_worker_without_active_run_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spec(tmp_path)
    argv = ["worker", "--objective", "cli_quad:trial_style", "--study", "nobody", "--wait", "0.3"]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "no active run of study 'nobody'" in err and "after 0.3 s" in err

    spec = write_spec(tmp_path)
    assert main(["run", str(spec), "-q"]) == 0  # finished: its run is no longer active
    capsys.readouterr()
    assert main(["worker", "--spec", str(spec), "--wait", "0"]) == 3


def test_worker_rejects_memory_storage_and_bad_space(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spec(tmp_path)
    base = ["worker", "--objective", "cli_quad:objective", "--study", "s"]
    memory = ["worker", "--objective", "cli_quad:trial_style", "--study", "s"]
    assert main([*memory, "--storage", "memory"]) == 2
    assert "in-memory storage cannot be shared" in capsys.readouterr().err
    (tmp_path / "space.yaml").write_text("x: {type: float, low: 1, high: 0}\n")
    assert main([*base, "--space", "space.yaml"]) == 2
    assert (
        "invalid space space.yaml:\n  x.high: must be greater than low" in capsys.readouterr().err
    )
    assert main([*base]) == 2  # a params-style objective needs a space
    assert "space: the objective takes a params dict" in capsys.readouterr().err


def test_worker_processes_join_a_driver_with_no_local_workers(tmp_path: Path) -> None:
    (tmp_path / "shared_objective.py").write_text(
        "import time\n\ndef objective(params):\n    time.sleep(0.1)\n    return params['x'] ** 2\n"
    )
    journal = tmp_path / "shared.journal"
    space = {"x": {"type": "float", "low": -3, "high": 3}}
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space))
    spec = tmp_path / "shared.yaml"
    spec.write_text(
        yaml.safe_dump(
            {"objective": "shared_objective:objective", "space": space, "storage": str(journal)}
        )
    )
    runner = StudyRunner(
        lambda params: 0.0, space=space, study_name="shared", storage=str(journal), n_workers=0
    )
    cmd = [sys.executable, "-m", "hpo_widget", "worker", "--wait", "60"]
    env = {k: v for k, v in os.environ.items() if k != "HPO_WIDGET_STORAGE"}
    workers = [
        subprocess.Popen(
            [*cmd, "--spec", str(spec)],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ),
        subprocess.Popen(
            [*cmd, "--objective", "shared_objective:objective", "--space", "space.yaml",
             "--study", "shared", "--storage", str(journal), "--threads", "2", "--index", "1"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ),
    ]  # fmt: skip
    try:
        for w in workers:  # both are up and waiting before the run starts
            assert w.stderr is not None
            assert "waiting up to 60 s" in w.stderr.readline()
        runner.start(n_trials=20)
        study = runner.wait(timeout=60)
        outputs = [w.communicate(timeout=60) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    assert [w.returncode for w in workers] == [0, 0], outputs
    ran = [int(out.split("ran ")[1].split(" trial")[0]) for out, _ in outputs]
    assert all(n >= 1 for n in ran), outputs
    assert sum(ran) == 20
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 20
    assert len({t.system_attrs[_attrs.WORKER].rsplit(":", 1)[0] for t in study.trials}) == 2


# -- real processes -----------------------------------------------------------------------------
def test_console_script_runs_the_quadratic_example(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("hpo-widget")
    assert script.exists(), "the package's console script should be installed in the venv"
    env = {k: v for k, v in os.environ.items() if k != "HPO_WIDGET_STORAGE"}
    proc = subprocess.run(
        [str(script), "run", str(SPECS / "quadratic.yaml"), "--n-trials", "12"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "study    quadratic" in proc.stdout
    assert "12 complete, 0 pruned, 0 failed (12 new in this run; target 12)" in proc.stdout
    assert "Trial 0 finished" not in proc.stderr  # Optuna's INFO logs are off without -v
    assert (tmp_path / "hpo_studies.journal").exists()

    version = subprocess.run(
        [sys.executable, "-m", "hpo_widget", "--version"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert version.returncode == 0 and version.stdout.startswith("hpo-widget ")
