"""
Where txslackrtm's time per inbound event goes: the inbound workload of the benchmark, run
against the same load server, once under cProfile and once under py-spy (a sampling profiler,
from the peers' venv, which does not slow the profiled code down the way cProfile does).

    python benchmarks/profile_inbound.py [--events 100000] [--top 25]

Prints, per event: cProfile's top functions by own time, and py-spy's samples of the receive
path (every stack under Twisted's C{Connection.doRead}) grouped by the innermost layer they are
in (Autobahn framing, UTF-8 validation, JSON decoding, txslackrtm's session, dispatch,
timers, logging checks, the benchmark's listener...). Files go to C{benchmarks/results/}.
"""

from __future__ import annotations

import argparse
import collections
import json
import pstats
import shutil
import subprocess
import sys
from typing import Any

from run import (
    CLIENTS,
    EXTRAS,
    RESULTS,
    SOURCE,
    LoadServer,
    child_env,
    hide_orjson,
    load_server,
    peers_python,
    prepare,
    snapshot,
    source_state,
    txslackrtm_path,
)

#: py-spy's samples per second. It pauses the process for each sample (its non-blocking mode
#: reads stacks mid-update and loses most frames under the dispatch), so the rate is modest.
SAMPLE_RATE = 250
#: Layers of the receive path, innermost first: a sample counts for the first layer that any
#: frame of its stack (read from the leaf up) belongs to.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "JSON decoding (json, orjson)",
        ("json/decoder.py", "json/__init__.py", "orjson", "decode (txslackrtm/_session"),
    ),
    ("UTF-8 validation (Autobahn, NVX)", ("utf8validator",)),
    ("benchmark listener (counts events)", ("txslackrtm_client.py",)),
    ("txslackrtm dispatch (_dispatch, Emitter.emit)", ("_listeners.py", "RTMClient._dispatch")),
    ("logging checks (ClientLog)", ("_logging.py",)),
    ("txslackrtm session (Session.receive, Incoming)", ("_session.py",)),
    (
        "timers (_arm_timer, callLater, cancel, _now)",
        ("RTMClient._arm_timer", "RTMClient._now", "DelayedCall", "ReactorBase.callLater"),
    ),
    ("Deferreds / txaio futures", ("twisted/internet/defer.py", "txaio/")),
    ("txslackrtm client glue (texts_received...)", ("txslackrtm/_client.py",)),
    (
        "txslackrtm socket and framing (RTMSocket, FrameSplitter)",
        ("txslackrtm/_websocket.py", "txslackrtm/_frames.py"),
    ),
    ("Autobahn framing (processData, onFrame*, onMessage*)", ("autobahn/",)),
    ("Twisted reactor and TCP read", ("twisted/",)),
)


def driver(server: LoadServer, events: int, extra: list[str]) -> list[str]:
    """The txslackrtm inbound driver's command line."""
    return [
        sys.executable,
        "txslackrtm_client.py",
        "--workload",
        "inbound",
        "--api",
        server.api("inbound", events),
        "--n",
        str(events),
        "--timeout",
        str(60 + events / 1000),
        *extra,
    ]


#: Extra environment for the profiled driver: C{PYTHONPATH} that hides orjson, or that
#: provides it (C{--orjson}).
ENV: list[tuple[str, str]] = []


def run(command: list[str], timeout: float) -> dict[str, Any]:
    """Run a command in C{clients/}; its C{RESULT} fields (or an error)."""
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=CLIENTS,
            env=child_env(ENV),
        )
    except subprocess.TimeoutExpired:
        return {"error": f"killed after {timeout:.0f} s"}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            fields: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return fields
    return {"error": done.stderr.strip()[-500:]}


def with_cprofile(server: LoadServer, events: int, top: int) -> None:
    """Profile the inbound run with cProfile and print the top functions by own time."""
    path = RESULTS / f"profile-inbound{_suffix()}.pstats"
    fields = run(driver(server, events, ["--profile", str(path)]), 120 + events / 500)
    print("### cProfile (deterministic; its overhead inflates small calls)")
    print(f"inbound run under cProfile: {fields}")
    if "error" in fields:
        return
    stats = pstats.Stats(str(path))
    entries = stats.stats  # type: ignore[attr-defined]
    rows = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:top]
    print()
    print("| own µs/event | cumulative µs/event | calls/event | function |")
    print("|---:|---:|---:|---|")
    for (filename, line, name), (_, calls, own, cumulative, _) in rows:
        where = _short(filename)
        print(
            f"| {own / events * 1e6:.2f} | {cumulative / events * 1e6:.2f} | "
            f"{calls / events:.2f} | `{name}` ({where}:{line}) |"
        )
    print()


def with_py_spy(server: LoadServer, events: int, top: int) -> None:
    """Sample the inbound run with py-spy and group the receive path's samples by layer."""
    py_spy = peers_python().parent / "py-spy"
    print(f"### py-spy (sampling, {SAMPLE_RATE} Hz)")
    if not py_spy.exists():
        print("py-spy is not installed in the peers' venv: skipped")
        return
    raw = RESULTS / f"profile-inbound{_suffix()}.py-spy.txt"
    command = [
        str(py_spy),
        "record",
        "--rate",
        str(SAMPLE_RATE),
        "--format",
        "raw",
        "--output",
        str(raw),
        "--",
        *driver(server, events, []),
    ]
    fields = run(command, 120 + events / 500)
    print(f"inbound run under py-spy: {fields}")
    if "error" in fields or not raw.exists():
        return
    cpu_per_event = fields["cpu_per_100k"] / 1e5
    layers: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    receive = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if not any("Connection.doRead" in frame for frame in frames):
            continue
        count = int(count_text)
        receive += count
        leaves[frames[-1]] += count
        layers[_layer(frames)] += count
    if not receive:
        print("no samples in the receive path")
        return
    print()
    print(
        f"{receive} samples in the receive path; µs/event = share x the run's CPU per event "
        f"({cpu_per_event * 1e6:.1f} µs)."
    )
    print()
    print("| layer (innermost) | share | µs/event |")
    print("|---|---:|---:|")
    for name, count in layers.most_common():
        share = count / receive
        print(f"| {name} | {share:.1%} | {share * cpu_per_event * 1e6:.2f} |")
    print()
    print("| own time (leaf frame) | share | µs/event |")
    print("|---|---:|---:|")
    for frame, count in leaves.most_common(top):
        share = count / receive
        print(f"| `{_short(frame)}` | {share:.1%} | {share * cpu_per_event * 1e6:.2f} |")
    print()


def _suffix() -> str:
    return "-orjson" if ENV and ENV[0][1].startswith(str(EXTRAS)) else ""


def _layer(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, needles in LAYERS:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def _short(text: str) -> str:
    """A path shortened to its package-relative part."""
    for marker in ("site-packages/", "/work/main/", "lib/python3."):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text


def main() -> None:
    """Start the load server and profile the inbound path both ways."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-setup", action="store_true", help="use .peers/ as it is")
    parser.add_argument(
        "--orjson", action="store_true", help="with txslackrtm's optional orjson extra"
    )
    parser.add_argument("--ref", default="", help="profile txslackrtm as committed at this ref")
    options = parser.parse_args()
    prepare(options.no_setup)
    if options.ref:
        SOURCE.append(snapshot(options.ref)[0])
    ENV.extend(txslackrtm_path(EXTRAS if options.orjson else hide_orjson()))
    print(f"txslackrtm at {source_state()}; orjson extra: {'on' if options.orjson else 'off'}")
    RESULTS.mkdir(exist_ok=True)
    kind = "node" if shutil.which("node") else "python"
    with load_server(kind) as server:
        with_cprofile(server, options.events, options.top)
        with_py_spy(server, options.events, options.top)


if __name__ == "__main__":
    main()
