"""The one resume state of the benchmark, the sampler ablation and the experiments: a JSON file of finished work.

``OUT/<name>.json`` holds the ``request`` a job was started with (its settings), its finished ``parts``
(name -> output), its result ``rows`` and any other keys the job keeps (protocol, detector, notes, ...). It is
rewritten atomically, with the current environment, after every change, so nothing finished is lost when a job dies
and a rerun skips it; a rerun with another request is refused, naming the settings that differ.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from lfdm_bench.runs import environment, hardware_summary
from lfdm_bench.utils.io import atomic_write_json, jsonable, read_json


class ResumeState:
    """A resumable job's record at ``path`` (see the module docstring).

    Args:
        path: the JSON file (its folder is created).
        request: the job's settings; an existing file made with other settings raises ``ValueError``.
        what: how errors name the job (``"an ablation"``, ``"a text_encoder experiment"``, ...).
        ignore: request keys allowed to differ on resume (e.g. the absolute path of the run folder).
        **initial: further keys of a new record (``protocol=None``, ``notes=[]``, ...).
    """

    def __init__(self, path: str | Path, request: dict[str, Any] | None = None, *, what: str = "a job",
                 ignore: Sequence[str] = (), **initial: Any):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.request = jsonable(request or {})
        self.data: dict[str, Any] = {"request": self.request, "parts": {}, "rows": [], **initial}
        if self.path.is_file():
            old = read_json(self.path, f"delete it to run {what} again from its start (finished parts are redone)")
            before = old.get("request") or {}
            differ = sorted(k for k in set(self.request) | set(before)
                            if k not in ignore and self.request.get(k) != before.get(k))
            if differ:
                raise ValueError(f"{self.path.parent} holds {what} made with different settings ({', '.join(differ)});"
                                 " rerun with the same settings to resume it, or pass another --out")
            self.data.update({k: v for k, v in old.items() if k != "request"})

    # --- parts: named pieces of finished work --------------------------------------------------------------------
    def done(self, part: str) -> bool:
        return part in self.data["parts"]

    def get(self, part: str) -> Any:
        return self.data["parts"][part]

    def mark(self, part: str, output: Any) -> None:
        self.data["parts"][part] = output
        self.save()

    def mark_timed(self, part: str, seconds: float, output: Any = None) -> None:
        """:meth:`mark` with the wall time and the time it finished: ``{"seconds", "output", "finished"}``."""
        self.mark(part, {"seconds": round(seconds, 2), "output": output,
                         "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})

    # --- rows: result rows, one per key ----------------------------------------------------------------------------
    def row(self, name: str, key: str = "row") -> dict[str, Any] | None:
        return next((r for r in self.data["rows"] if r.get(key) == name), None)

    def add_row(self, row: dict[str, Any], key: str = "row") -> None:
        """Add ``row`` (replacing a row with the same ``row[key]``) and save."""
        self.data["rows"] = [r for r in self.data["rows"] if r.get(key) != row[key]] + [row]
        self.save()

    def save(self) -> None:
        self.data["environment"], self.data["hardware"] = environment(), hardware_summary()
        atomic_write_json(self.path, jsonable(self.data))
