"""Run folders and the :class:`RunContext` handed to a paper's ``run(config, ctx)``.

A reproduce is one folder ``runs/<slug>/<UTC timestamp>-<profile>-s<seed>[x<n>]/`` holding
``config.json``, ``env.json``, ``status.json``, ``metrics.json`` (per-seed values, mean, sd),
``claims.json``, ``log.txt``, figures and ``report.md``; each seed runs in ``seed-<s>/`` with its own
``metrics.json``, ``log.txt`` and figures. Folders are never reused. ``status.json`` says ``running``
until the run ends, so a run killed midway stays visibly incomplete.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import random
import shlex
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livepapers.core.config import to_dict


class Diverged(RuntimeError):
    """Training produced a NaN/inf loss; the run folder is kept and claims come out inconclusive."""


class RunFolderExists(FileExistsError):
    pass


# ------------------------------------------------------------------------------------------------
# atomic writes
# ------------------------------------------------------------------------------------------------


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, torch.Tensor):
        return o.detach().cpu().tolist()
    if isinstance(o, Path):
        return str(o)
    return to_dict(o) if hasattr(o, "__dataclass_fields__") else str(o)


def _clean(o: Any) -> Any:
    """Replace non-finite floats by strings so the JSON stays standard ("NaN" is not JSON)."""
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    obj = json.loads(json.dumps(obj, default=_json_default))  # normalise numpy/torch/dataclasses
    atomic_write_text(path, json.dumps(_clean(obj), indent=2, allow_nan=False) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def as_float(v: Any) -> float:
    """Inverse of the JSON cleaning: "nan"/"inf" strings back to floats."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


# ------------------------------------------------------------------------------------------------
# environment
# ------------------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def source_root() -> Path:
    """The checkout this package was imported from (``src/livepapers/core`` -> repo root)."""
    return Path(__file__).resolve().parents[3]


def env_info(seed: int | None = None) -> dict[str, Any]:
    """Versions, CPU, threads, git revision + dirty flag and the command line."""
    root = source_root()
    rev = _git(["rev-parse", "HEAD"], root)
    # untracked files count: a paper package not yet committed is code the revision does not hold
    dirty = _git(["status", "--porcelain"], root)
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "hostname": socket.gethostname(),
        "git_revision": rev,
        "git_dirty": None if dirty is None else bool(dirty),
        "command": shlex.join(sys.argv),
        "time_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if seed is not None:
        info["seed"] = seed
    return info


def seed_everything(seed: int, threads: int = 1) -> None:
    """Seed python, numpy and torch; use ``threads`` intra-op threads (1 is fastest on shared cores)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - legacy global state that user code may still read
    torch.manual_seed(seed)
    torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------------------
# the context handed to run()
# ------------------------------------------------------------------------------------------------


def _is_quiet() -> bool:
    return bool(os.environ.get("PYTEST_CURRENT_TEST")) or os.environ.get("LIVEPAPERS_QUIET") == "1"


class RunContext:
    """What a paper's ``run(config, ctx)`` may use: folder, seed, generators, logging, figures, JSON.

    Picklable, so it travels to worker processes (local pool or Ray). ``shared`` is the run's ``shared/``
    folder written once by the paper's ``prepare`` (None when the paper has none).
    """

    def __init__(self, folder: str | Path, *, seed: int, config: Any, profile: str = "custom",
                 slug: str = "", verbose: bool = False, position: int = 0,
                 shared: str | Path | None = None) -> None:
        self.folder = Path(folder)
        self.shared = None if shared is None else Path(shared)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.seed = int(seed)
        self.config = config
        self.profile = profile
        self.slug = slug
        self.verbose = verbose
        self.position = position
        self.figures: list[dict[str, str]] = []

    @classmethod
    def for_test(cls, folder: str | Path, config: Any, seed: int = 0, profile: str = "smoke",
                 shared: str | Path | None = None) -> RunContext:
        """A context for calling ``run`` (or ``prepare``) directly (tests, notebooks): seeds everything, 1 thread."""
        seed_everything(seed)
        return cls(folder, seed=seed, config=config, profile=profile, shared=shared)

    def shared_path(self, name: str) -> Path:
        """``shared/<name>``: a file written by the paper's ``prepare`` (one per reproduce, read by every seed)."""
        if self.shared is None:
            raise RuntimeError("this run has no shared folder: the paper's prepare() did not run "
                               "(calling run() directly? pass shared= to RunContext.for_test)")
        path = self.shared / name
        if not path.exists():
            raise FileNotFoundError(f"prepare() did not write {name!r} into {self.shared}")
        return path

    # -- randomness
    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU ``torch.Generator`` seeded from ``(seed, offset)``; hand it to data generators."""
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + offset)
        return g

    def numpy_rng(self, offset: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, offset])

    # -- progress and logging
    def progress(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "") -> Iterator:
        """tqdm on a terminal (one bar line per worker), silent in tests and pipes."""
        from tqdm.auto import tqdm

        disable = _is_quiet() or not sys.stderr.isatty()
        label = f"[s{self.seed}] {desc}" if desc else f"[s{self.seed}]"
        return tqdm(iterable, total=total, desc=label, disable=disable, position=self.position,
                    leave=False, dynamic_ncols=True)

    def log(self, msg: str) -> None:
        """Append a timestamped line to ``log.txt`` (and print it when verbose)."""
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        line = f"{stamp} [seed {self.seed}] {msg}"
        with open(self.folder / "log.txt", "a", encoding="utf-8") as f:
            f.write(line + "\n")
        if self.verbose and not _is_quiet():
            print(line, file=sys.stderr, flush=True)

    # -- outputs
    def _check_name(self, name: str) -> str:
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"output name must be a plain file name, got {name!r}")
        return name

    def figure(self, name: str, caption: str = "") -> Path:
        """Path for a PNG named ``name`` (".png" added if missing); recorded for the report."""
        name = self._check_name(name if name.endswith(".png") else name + ".png")
        self.figures.append({"file": name, "caption": caption})
        self._save_figure_index()
        return self.folder / name

    def savefig(self, fig: Any, name: str, caption: str = "", dpi: int = 110) -> Path:
        """Save a matplotlib figure as ``<name>.png``, close it and record it for the report."""
        import matplotlib.pyplot as plt

        path = self.figure(name, caption)
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        return path

    def _save_figure_index(self) -> None:
        atomic_write_json(self.folder / "figures.json", self.figures)

    def save_json(self, name: str, obj: Any) -> Path:
        """Write ``obj`` as JSON, atomically."""
        name = self._check_name(name if name.endswith(".json") else name + ".json")
        atomic_write_json(self.folder / name, obj)
        return self.folder / name

    def save_csv(self, name: str, rows: list[Mapping[str, Any]]) -> Path:
        """Write a list of dicts as CSV (columns = union of keys, in first-seen order), atomically."""
        name = self._check_name(name if name.endswith(".csv") else name + ".csv")
        cols = list(dict.fromkeys(k for r in rows for k in r))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
        atomic_write_text(self.folder / name, buf.getvalue())
        return self.folder / name

    # -- guards
    def check_finite(self, value: float | torch.Tensor, step: int, what: str = "loss") -> None:
        """Raise :class:`Diverged` naming the step when ``value`` is NaN or inf."""
        v = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
        if not math.isfinite(v):
            raise Diverged(f"{what} became {v} at step {step} (seed {self.seed})")


# ------------------------------------------------------------------------------------------------
# run folders
# ------------------------------------------------------------------------------------------------


def run_folder_name(profile: str, seed: int, n_seeds: int, when: datetime | None = None) -> str:
    when = when or datetime.now(UTC)
    suffix = f"s{seed}" + (f"x{n_seeds}" if n_seeds > 1 else "")
    return f"{when.strftime('%Y%m%dT%H%M%SZ')}-{profile}-{suffix}"


def create_run_folder(root: str | Path, slug: str, profile: str, seed: int, n_seeds: int) -> Path:
    """Create ``root/<slug>/<timestamp>-<profile>-s<seed>[x<n>]``, never an existing folder.

    Two runs started within the same second get ``-2``, ``-3`` … appended to the later one's name.
    """
    root = Path(root)
    base = run_folder_name(profile, seed, n_seeds)
    try:
        (root / slug).mkdir(parents=True, exist_ok=True)
        for k in range(1, 100):
            folder = root / slug / (base if k == 1 else f"{base}-{k}")
            try:
                folder.mkdir()
                return folder
            except FileExistsError:
                continue
    except OSError as e:
        raise OSError(f"cannot write the output folder {root}: {e.strerror}") from None
    raise RunFolderExists(f"run folders {root / slug / base}[-2..-99] all exist; runs are never overwritten")


def process_start(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (``/proc/<pid>/stat`` field 22), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:  # the command name (field 2) may hold spaces and parentheses: split after its closing parenthesis
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (ValueError, IndexError):
        return None


def write_status(folder: Path, status: str, **extra: Any) -> None:
    """Write ``status.json`` with this process's PID and its start time (a reused PID is then told apart)."""
    data = {"status": status, "pid": os.getpid(), "pid_start": process_start(os.getpid()),
            "hostname": socket.gethostname(), "time_utc": datetime.now(UTC).isoformat(timespec="seconds"), **extra}
    atomic_write_json(folder / "status.json", data)


def _pid_alive(pid: int, start: int | None = None) -> bool:
    """Whether ``pid`` is alive and, when ``start`` is known, is the same process (not a reused PID)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if start is not None:
        now = process_start(pid)
        if now is not None and now != start:
            return False
    return True


STATUSES = ("complete", "diverged", "failed", "interrupted", "running", "incomplete")


def read_status(folder: Path) -> str:
    """``complete``, ``diverged``, ``failed``, ``interrupted``, ``running`` (still alive here) or ``incomplete``.

    A ``running`` status whose process is gone, or whose PID now belongs to another process, reads
    ``incomplete`` (the run was killed).
    """
    p = Path(folder) / "status.json"
    if not p.exists():
        return "incomplete"
    try:
        st = read_json(p)
    except (OSError, ValueError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return "incomplete"
    if not isinstance(st, dict):
        return "incomplete"
    s = st.get("status", "incomplete")
    if s not in STATUSES:
        return "incomplete"
    if s == "running":
        same_host = st.get("hostname") == socket.gethostname()
        start = st.get("pid_start") if isinstance(st.get("pid_start"), int) else None
        if not (same_host and isinstance(st.get("pid"), int) and _pid_alive(st["pid"], start)):
            return "incomplete"
    return s
