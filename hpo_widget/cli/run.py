"""``hpo-widget run``: a spec headless, with a progress bar."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from typing import IO, Any

from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    PROG,
    CliError,
    _best_text,
    _duration,
    _err,
    _invalid_spec,
    _out,
)


class _ProgressBar:
    """One progress line on stderr: redrawn with ``\\r`` on a terminal, otherwise one line per
    ~10 % of the target (or of the timeout, or every 30 s without either) so logs stay short."""

    def __init__(
        self,
        runner: Any,
        *,
        stream: IO[str],
        tty: bool,
        enabled: bool,
        timeout: float | None,
    ) -> None:
        self.runner = runner
        self.stream = stream
        self.tty = tty
        self.enabled = enabled
        self.timeout = timeout
        self.finished_before = runner.progress.finished
        self.started = time.time()
        self._lock = threading.Lock()
        self._last_draw = 0.0
        self._last_bucket = -1
        self._last_len = 0
        self._last_key: tuple[int, ...] = ()
        self._done = False
        self._detail = ""

    def on_event(self, event: Any) -> None:
        detail = getattr(event, "detail", None)
        if detail is not None and detail != self._detail:
            self._detail = detail
            if detail:
                self.note(detail)
        self.update()

    def note(self, text: str) -> None:
        """A line of its own (what the run waits for: pending executors), above the bar."""
        if self._done:  # printed even with --quiet: it says why nothing happens
            return
        with self._lock:
            if self.tty and self._last_len:
                self.stream.write("\r" + " " * self._last_len + "\r")
                self._last_len = 0
            self.stream.write(f"{PROG}: {text}\n")
            self.stream.flush()

    def tick(self) -> None:
        self.update(tick=True)

    def line(self) -> str:
        p = self.runner.progress
        elapsed = time.time() - self.started
        counts = f"complete {p.complete}  pruned {p.pruned}  failed {p.failed}"
        best = _best_text(self.runner.study)
        tail = f"  best {best}" if best else ""
        if p.target is not None:
            left = max(p.target - p.finished, 0)
            # The engine's ETA: the rate since the run's first finished trial, not since the
            # start (a first Spark run spends its first half-minute starting up).
            eta = 0.0 if left == 0 else p.eta
            width = 20
            filled = min(width, int(width * p.finished / p.target)) if p.target else width
            bar = "#" * filled + "." * (width - filled)
            return (
                f"[{bar}] {p.finished}/{p.target}  {counts}{tail}  "
                f"elapsed {_duration(elapsed)}  ETA {_duration(eta)}"
            )
        limit = f" of {_duration(self.timeout)}" if self.timeout else ""
        return f"{p.finished} trials  {counts}{tail}  elapsed {_duration(elapsed)}{limit}"

    def update(self, *, tick: bool = False, final: bool = False) -> None:
        if not self.enabled or self._done:
            return
        with self._lock:
            if self._done:
                return
            now = time.time()
            if self.tty:
                if not final and now - self._last_draw < (0.5 if tick else 0.1):
                    return
                text = self.line()
                pad = " " * max(0, self._last_len - len(text))
                self.stream.write("\r" + text + pad + ("\n" if final else ""))
                self._last_len = len(text)
            else:
                p = self.runner.progress
                if p.target:
                    bucket = min(10, 10 * p.finished // p.target)
                    due = bucket > self._last_bucket
                    if due:
                        self._last_bucket = bucket
                else:
                    every = self.timeout / 10 if self.timeout else 30.0
                    due = now - self._last_draw >= every
                if not (due or final):
                    return
                key = (p.finished, p.complete, p.pruned, p.failed)
                if key != self._last_key:  # the final line would often repeat the 100 % one
                    self._last_key = key
                    self.stream.write(self.line() + "\n")
            self._last_draw = now
            if final:
                self._done = True
            self.stream.flush()

    def finish(self) -> None:
        self.update(final=True)


# -- run -------------------------------------------------------------------------------------
def _summary(runner: Any, finished_before: int, elapsed: float) -> list[str]:
    p = runner.progress
    new = p.finished - finished_before
    target = f"; target {p.target}" if p.target is not None else ""
    rows = [
        ("study", runner.study_name),
        ("storage", runner.storage_description),
        (
            "trials",
            f"{p.complete} complete, {p.pruned} pruned, {p.failed} failed "
            f"({new} new in this run{target})",
        ),
    ]
    study = runner.study
    best = _best_text(study)
    rows.append(("best", best or "no completed trial yet"))
    if best and len(study.directions) == 1:
        params = ", ".join(f"{k}={v!r}" for k, v in study.best_trial.params.items())
        rows.append(("params", params or "(none)"))
    rows.append(("elapsed", f"{elapsed:.1f} s"))
    if runner.stop_reason:
        rows.append(("ended", runner.stop_reason))  # a stop rule, or a stop through storage
    return [f"{k:<8} {v}" for k, v in rows]


def _cmd_run(args: argparse.Namespace) -> int:
    from ..runner import RunError
    from ..spec import RunSpec, SpecError

    try:
        spec = RunSpec.from_file(args.spec).with_overrides(
            study=args.study,
            storage=args.storage,
            backend=args.backend,
            n_workers=args.workers,
            n_trials=args.n_trials,
            timeout=args.timeout,
        )
        runner = spec.build_runner()
    except SpecError as exc:
        raise _invalid_spec(args.spec, exc.problems) from None
    except RuntimeError as exc:  # the storage could not be opened
        raise CliError(f"{PROG}: {exc}", EXIT_FAILED) from None
    except Exception as exc:  # e.g. the objective's module raised while being imported
        raise _invalid_spec(args.spec, [f"{type(exc).__name__}: {exc}"]) from None

    if spec.n_trials is None and spec.timeout is None:
        _err(f"{PROG}: no n_trials or timeout: running until Ctrl-C")
    bar = _ProgressBar(
        runner,
        stream=sys.stderr,
        tty=sys.stderr.isatty(),
        enabled=not args.quiet,
        timeout=spec.timeout,
    )
    unsubscribe = runner.subscribe(bar.on_event)
    started = time.time()
    try:
        runner.start(n_trials=spec.n_trials, timeout=spec.timeout)
        while True:
            try:
                runner.wait(timeout=0.25)
                break
            except TimeoutError:
                bar.tick()
    except KeyboardInterrupt:
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: leave at once
            runner.stop()
        bar.finish()
        _err("stopped; resume with the same command")
        return EXIT_INTERRUPTED
    except RunError as exc:
        bar.finish()
        raise CliError(f"{PROG}: run failed: {exc}", EXIT_FAILED) from None
    finally:
        unsubscribe()
        runner.close()
    bar.finish()
    for line in _summary(runner, bar.finished_before, time.time() - started):
        _out(line)
    return EXIT_OK
