"""
Run the whole RTM client benchmark and print one table: txslackrtm beside the RTM clients
people use today, on the same loopback load server, in the same run.

    python benchmarks/run.py            # full run (~5-10 minutes on 2 cores)
    python benchmarks/run.py --quick    # smaller sizes (under ~2 minutes)

Run it with the project's interpreter (the one where C{import txslackrtm} works). The peers
are installed on first use into C{benchmarks/.peers/} (ignored by git), never into the
project's environment: a venv with C{slack_sdk} and C{aiohttp} from PyPI, and, when C{node}
and C{npm} are present, C{@slack/rtm-api@7.0.4} and C{ws} from npm.

Each client runs in its own process, aimed at the load server through its own API-URL option.
The load server's CPU use is read from it after every measurement, and a null client (frame
counting only, no JSON) shows in every run how far the server can go.

The script prints figures only; it asserts nothing about them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import select
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CLIENTS = HERE / "clients"
PEERS = HERE / ".peers"
PEERS_VENV = PEERS / "venv"
PEERS_NODE = PEERS / "node"
#: Optional extras of txslackrtm (orjson), installed with C{pip --target} for the project's
#: interpreter and put on C{PYTHONPATH} for the "txslackrtm + orjson" row only.
EXTRAS = PEERS / "extras"
#: A directory whose C{orjson} module fails to import: on C{PYTHONPATH}, it makes the plain
#: "txslackrtm" row use the standard library's decoder even where orjson is installed.
HIDE_ORJSON = PEERS / "hide-orjson"
RESULTS = HERE / "results"
#: What the peers' venv gets from PyPI (pinned, so that runs compare; bump them together).
PYTHON_PEERS = ["slack_sdk==3.48.0", "aiohttp==3.14.5"]
#: Tools for profiling and measuring, also kept out of the project's environment.
PYTHON_TOOLS = ["py-spy", "orjson"]
NODE_PEERS = ["@slack/rtm-api@7.0.4", "ws@8"]
#: What the "txslackrtm + orjson" row adds to txslackrtm (its optional fast decoder).
PROJECT_EXTRAS = ["orjson"]
#: Seconds any one command (an install, a server start) may take.
COMMAND_TIMEOUT = 600.0
#: Seconds the load server may take to say it listens.
SERVER_START_TIMEOUT = 20.0
#: The load server's share of a core above which a row may be limited by the server.
SERVER_BUSY = 0.75
#: Environment variables that would send the clients' loopback traffic to a proxy.
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")


@dataclass(frozen=True)
class Sizes:
    """How big each workload is, and how often it is repeated (the best run is kept)."""

    inbound_events: int
    send_one: int
    send_many: int
    startup_runs: int
    startup_runs_slow: int
    idle_connections: int
    repeats: int
    null_events: int


QUICK = Sizes(50_000, 2_000, 10_000, 15, 2, 100, 1, 500_000)
FULL = Sizes(300_000, 10_000, 50_000, 60, 5, 1_000, 3, 2_000_000)


@dataclass(frozen=True)
class Client:
    """A client under test: how to start its driver."""

    key: str
    label: str
    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    #: Its start-to-ready is slow (Node waits 2 s; slack_sdk v2 polls every 0.1 s and its
    #: runs slow down as its threads pile up), so it gets fewer startup runs.
    slow_start: bool = False
    #: Its send queue admits one message at a time, whatever the caller does.
    max_inflight: int | None = None


@dataclass
class Measurement:
    """One workload on one client: the driver's result and what the run cost around it."""

    fields: dict[str, Any]
    wall: float
    client_cpu: float
    server_cpu: float
    machine_busy: float

    @property
    def ok(self) -> bool:
        """Whether the driver reported figures rather than an error."""
        return "error" not in self.fields

    @property
    def server_share(self) -> float:
        """The load server's CPU use over the driver's run, as a fraction of one core."""
        return self.server_cpu / self.wall if self.wall else 0.0

    @property
    def others_share(self) -> float:
        """CPU used by other processes on the machine meanwhile, as a fraction of one core."""
        others = self.machine_busy - self.client_cpu - self.server_cpu
        return max(0.0, others / self.wall) if self.wall else 0.0


@dataclass
class Report:
    """Everything measured in one run."""

    machine: dict[str, str]
    sizes: Sizes
    results: dict[str, dict[str, Measurement]] = field(default_factory=dict)
    null: dict[str, Measurement] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# Setup


def log(message: str) -> None:
    """Progress, on stderr, so that stdout holds the report only."""
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def run_command(command: Sequence[str], cwd: Path | None = None) -> bool:
    """Run a setup command; C{False} (and its output logged) when it fails."""
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        log(f"{' '.join(command)}: {error}")
        return False
    if done.returncode != 0:
        log(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return False
    return True


def peers_python() -> Path:
    """The peers' venv interpreter."""
    return PEERS_VENV / "bin" / "python"


def setup_python_peers() -> bool:
    """Create C{.peers/venv} with the Python peers, unless it is there and up to date."""
    wanted = "\n".join(PYTHON_PEERS + PYTHON_TOOLS)
    stamp = PEERS_VENV / ".bench-installed"
    if stamp.exists() and stamp.read_text() == wanted and peers_python().exists():
        return True
    log(f"creating {PEERS_VENV.relative_to(HERE.parent)} with {' '.join(PYTHON_PEERS)}")
    if not peers_python().exists() and not run_command(
        [sys.executable, "-m", "venv", str(PEERS_VENV)]
    ):
        return False
    pip = [str(peers_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if not run_command([*pip, *PYTHON_PEERS]):
        return False
    if not run_command([*pip, *PYTHON_TOOLS]):
        log("py-spy/orjson could not be installed: profiling falls back to cProfile only")
    stamp.write_text(wanted)
    return True


def hide_orjson() -> Path:
    """The directory that hides orjson from the plain txslackrtm row (made on first use)."""
    shim = HIDE_ORJSON / "orjson.py"
    if not shim.exists():
        HIDE_ORJSON.mkdir(parents=True, exist_ok=True)
        shim.write_text('raise ImportError("orjson is hidden from this benchmark row")\n')
    return HIDE_ORJSON


def setup_extras() -> bool:
    """Install txslackrtm's optional extras into C{.peers/extras} for the project's Python."""
    wanted = "\n".join(PROJECT_EXTRAS)
    stamp = EXTRAS / ".bench-installed"
    if stamp.exists() and stamp.read_text() == wanted:
        return True
    log(f"pip install --target {EXTRAS.relative_to(HERE.parent)} {' '.join(PROJECT_EXTRAS)}")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if not run_command([*command, "--upgrade", "--target", str(EXTRAS), *PROJECT_EXTRAS]):
        return False
    stamp.write_text(wanted)
    return True


def setup_node_peers() -> bool:
    """C{npm install} the Node peer into C{.peers/node} when node and npm are present."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return False
    wanted = " ".join(NODE_PEERS)
    stamp = PEERS_NODE / ".bench-installed"
    if stamp.exists() and stamp.read_text() == wanted:
        return True
    log(f"npm install {wanted} into {PEERS_NODE.relative_to(HERE.parent)}")
    PEERS_NODE.mkdir(parents=True, exist_ok=True)
    package = PEERS_NODE / "package.json"
    if not package.exists():
        package.write_text('{"private": true, "description": "benchmark peers"}\n')
    if not run_command(["npm", "install", "--no-audit", "--no-fund", *NODE_PEERS], PEERS_NODE):
        return False
    stamp.write_text(wanted)
    return True


def version_of(command: Sequence[str]) -> str:
    """The first line a C{--version}-like command prints, or C{"?"}."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (done.stdout.strip() or done.stderr.strip() or "?").splitlines()[0]


#: Where C{--ref} snapshots of the txslackrtm package are unpacked.
SNAPSHOTS = PEERS / "snapshots"
#: The directory holding the txslackrtm package under test, first on the txslackrtm rows'
#: C{PYTHONPATH}; C{None} measures the package the interpreter imports (the work tree).
SOURCE: list[Path] = []


def snapshot(ref: str) -> tuple[Path, str]:
    """
    Unpack C{txslackrtm/} as it is at the git C{ref} (with C{git archive}, which touches
    neither the index nor the work tree), so that edits made in the checkout during a run
    cannot change what is measured. Returns the directory and the commit.
    """
    commit = version_of(["git", "-C", str(HERE.parent), "rev-parse", "--short", ref])
    if commit == "?":
        sys.exit(f"--ref {ref}: not a commit of {HERE.parent}")
    target = SNAPSHOTS / commit
    if not (target / "txslackrtm" / "__init__.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(HERE.parent), "archive", commit, "txslackrtm"],
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=True,
        )
        subprocess.run(
            ["tar", "-x", "-C", str(target)],
            input=archive.stdout,
            timeout=COMMAND_TIMEOUT,
            check=True,
        )
    return target, commit


def txslackrtm_path(first: Path) -> tuple[tuple[str, str], ...]:
    """The C{PYTHONPATH} of a txslackrtm row: C{first}, then the snapshot if there is one."""
    return (("PYTHONPATH", os.pathsep.join(str(p) for p in [first, *SOURCE])),)


def source_state() -> str:
    """The commit txslackrtm is at, and whether its sources differ from it."""
    commit = version_of(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"])
    changed = version_of(
        ["git", "-C", str(HERE.parent), "status", "--porcelain", "--", "txslackrtm"]
    )
    if SOURCE:
        return f"{SOURCE[0].name} (snapshot of the commit, from --ref)"
    return commit if changed == "?" else f"{commit} (with uncommitted changes in txslackrtm/)"


def machine_info(have_node: bool, have_peers: bool) -> dict[str, str]:
    """The machine and software versions, for the report's header."""
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        memory_text = f"{int(memory) / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        memory_text = "?"
    info = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory_text,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "project": version_of(
            [
                sys.executable,
                "-c",
                "import twisted, autobahn, txslackrtm; "
                "print(f'twisted {twisted.__version__}, autobahn {autobahn.__version__}')",
            ]
        ),
        "txslackrtm commit": source_state(),
    }
    if have_peers:
        info["peers (python)"] = version_of(
            [
                str(peers_python()),
                "-c",
                "import slack_sdk, aiohttp, platform; "
                "print(f'slack_sdk {slack_sdk.version.__version__}, "
                "aiohttp {aiohttp.__version__}, python {platform.python_version()}')",
            ]
        )
    if have_node:
        info["node"] = version_of(["node", "--version"])
        try:
            package = PEERS_NODE / "node_modules" / "@slack" / "rtm-api" / "package.json"
            info["peers (node)"] = "@slack/rtm-api " + json.loads(package.read_text())["version"]
        except (OSError, ValueError, KeyError):
            pass
    return info


# The load server


@dataclass
class LoadServer:
    """A running load server: its process and port."""

    process: subprocess.Popen[str]
    port: int
    kind: str

    def api(self, workload: str, n: int = 0) -> str:
        """The API URL that makes C{rtm.connect} hand out a socket for C{workload}."""
        return f"http://127.0.0.1:{self.port}/{workload}/{n}/api/"

    def stats(self) -> dict[str, Any]:
        """The server's counters and its own CPU seconds so far."""
        url = f"http://127.0.0.1:{self.port}/stats"
        with urllib.request.urlopen(url, timeout=10) as response:
            stats: dict[str, Any] = json.loads(response.read())
            return stats


@contextmanager
def load_server(kind: str) -> Iterator[LoadServer]:
    """Start the Node (or the Python) load server; stop it afterwards."""
    if kind == "node":
        command = ["node", str(HERE / "loadserver.js"), "--port", "0"]
    else:
        command = [sys.executable, str(HERE / "loadserver.py"), "--port", "0"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=child_env()
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        line = ""
        while not line.startswith("LISTENING"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                break
            readable, _, _ = select.select([process.stdout], [], [], remaining)
            if readable:
                line = process.stdout.readline()
        match = re.match(r"LISTENING (\d+)", line)
        if not match:
            raise RuntimeError(f"the {kind} load server did not start: {line!r}")
        yield LoadServer(process, int(match.group(1)), kind)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# Running drivers


def child_env(extra: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
    """The environment of every child: no proxy, so that loopback stays loopback."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def machine_busy_seconds() -> float:
    """CPU seconds all processes used so far, from C{/proc/stat} (0 where it is missing)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(value) for value in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds of the children this process has waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_driver(
    server: LoadServer, client: Client, workload: str, arguments: Sequence[str], timeout: float
) -> Measurement:
    """Run one driver to its end, bounded by C{timeout}, and measure the run around it."""
    command = [*client.command, "--workload", workload, *arguments, "--timeout", str(timeout)]
    server_before = server.stats()["cpu"]
    busy_before = machine_busy_seconds()
    children_before = children_cpu()
    started = time.monotonic()
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout + 30,
            env=child_env(client.env),
            cwd=CLIENTS,
        )
        output, errors = done.stdout, done.stderr
    except subprocess.TimeoutExpired as expired:
        output = expired.stdout if isinstance(expired.stdout, str) else ""
        errors = f"killed after {timeout + 30:.0f} s"
    wall = time.monotonic() - started
    fields: dict[str, Any] = {"error": f"no result; stderr: {errors.strip()[-300:]}"}
    for line in output.splitlines():
        if line.startswith("RESULT "):
            fields = json.loads(line[len("RESULT ") :])
    return Measurement(
        fields=fields,
        wall=wall,
        client_cpu=children_cpu() - children_before,
        server_cpu=server.stats()["cpu"] - server_before,
        machine_busy=machine_busy_seconds() - busy_before,
    )


def best(measurements: list[Measurement], key: str, highest: bool = True) -> Measurement:
    """The successful run with the best C{key}, or the last failed one."""
    good = [m for m in measurements if m.ok]
    if not good:
        return measurements[-1]
    return (max if highest else min)(good, key=lambda m: m.fields[key])


# The workloads


WORKLOADS = ("inbound", "send1", "send100", "startup", "idle")


def measure(server: LoadServer, client: Client, workload: str, sizes: Sizes) -> Measurement:
    """One workload on one client, repeated C{sizes.repeats} times where it is a rate."""
    if workload == "inbound":
        n = sizes.inbound_events
        runs = [
            run_driver(
                server,
                client,
                "inbound",
                ["--api", server.api("inbound", n), "--n", str(n)],
                timeout=60 + n / 2_000,
            )
            for _ in range(sizes.repeats)
        ]
        return best(runs, "rate")
    if workload in ("send1", "send100"):
        inflight = 1 if workload == "send1" else 100
        n = sizes.send_one if inflight == 1 else sizes.send_many
        if client.max_inflight is not None and inflight > client.max_inflight:
            n = sizes.send_one  # it sends one at a time anyway: keep the run short
        args = ["--api", server.api("send"), "--n", str(n), "--inflight", str(inflight)]
        runs = [
            run_driver(server, client, "send", args, timeout=60 + n / 500)
            for _ in range(sizes.repeats)
        ]
        return best(runs, "rate")
    if workload == "startup":
        runs_count = sizes.startup_runs_slow if client.slow_start else sizes.startup_runs
        args = ["--api", server.api("startup"), "--runs", str(runs_count)]
        return run_driver(server, client, "startup", args, timeout=60 + 5 * runs_count)
    if workload == "idle":
        conns = sizes.idle_connections
        args = ["--api", server.api("idle"), "--conns", str(conns)]
        return run_driver(server, client, "idle", args, timeout=120 + conns / 5)
    raise ValueError(workload)


def clients(have_peers: bool, have_node: bool, have_extras: bool) -> list[Client]:
    """Every client that can run here, txslackrtm first."""
    project = sys.executable
    found = [
        Client(
            "txslackrtm",
            "txslackrtm (this project, stdlib json)",
            (project, "txslackrtm_client.py"),
            txslackrtm_path(hide_orjson()),
        ),
    ]
    if have_extras:
        found.append(
            Client(
                "txslackrtm-orjson",
                "txslackrtm + orjson (optional extra)",
                (project, "txslackrtm_client.py"),
                txslackrtm_path(EXTRAS),
            )
        )
    node_env = (("NODE_PATH", str(PEERS_NODE / "node_modules")),)
    if have_node:
        found.append(
            Client(
                "rtm-api",
                "Node `@slack/rtm-api` 7.0.4",
                ("node", "--expose-gc", "rtm_api.js"),
                node_env,
                slow_start=True,
                max_inflight=1,
            )
        )
    if have_peers:
        peer = str(peers_python())
        found.append(Client("sdk-v1", "`slack_sdk.rtm` (v1, aiohttp)", (peer, "slack_sdk_v1.py")))
        found.append(
            Client(
                "sdk-v2",
                "`slack_sdk.rtm_v2` (threads)",
                (peer, "slack_sdk_v2.py"),
                slow_start=True,
            )
        )
    found.append(
        Client("autobahn", "bare Autobahn: `json.loads` + one call", (project, "autobahn_bare.py"))
    )
    if have_peers:
        found.append(
            Client("aiohttp", "bare aiohttp: `json.loads` + one call", (peer, "aiohttp_bare.py"))
        )
    return found


def null_client(have_node: bool) -> Client:
    """The frame-counting client that shows the server's own limit."""
    if have_node:
        return Client("null", "null client (Node, counts frames)", ("node", "null_client.js"))
    return Client(
        "null", "null client (Python, counts frames)", (sys.executable, "null_client.py")
    )


# The report


def number(value: float | None, kind: str) -> str:
    """A figure as the table shows it."""
    if value is None:
        return "-"
    if kind == "rate":
        return f"{value / 1000:.1f} k" if value >= 1000 else f"{value:.0f}"
    if kind == "cpu":
        return f"{value:.2f}"
    if kind == "ms":
        return f"{value:.1f}" if value < 100 else f"{value:.0f}"
    if kind == "kb":
        return f"{value:.0f}"
    return str(value)


#: Each metric: the workload it comes from and the field that holds it.
METRICS = {
    "inbound": ("inbound", "rate"),
    "cpu": ("inbound", "cpu_per_100k"),
    "send1": ("send1", "rate"),
    "send100": ("send100", "rate"),
    "startup": ("startup", "median_ms"),
    "idle": ("idle", "kb_per_conn"),
}


def figure(report: Report, key: str, metric: str) -> float | None:
    """The headline figure of one metric of one client, or C{None}."""
    workload, name = METRICS[metric]
    measurement = report.results.get(key, {}).get(workload)
    if measurement is None or not measurement.ok:
        return None
    value = measurement.fields.get(name)
    return float(value) if value is not None else None


COLUMNS = (
    ("inbound", "inbound", "rate"),
    ("inbound", "cpu", "cpu"),
    ("send1", "send1", "rate"),
    ("send100", "send100", "rate"),
    ("startup", "startup", "ms"),
    ("idle", "idle", "kb"),
)


def cell(report: Report, client: Client, workload: str, metric: str, kind: str) -> str:
    """One cell: the figure, its detail, and for a peer the ratio txslackrtm/peer."""
    measurement = report.results.get(client.key, {}).get(workload)
    if measurement is None:
        return "not run"
    fields = measurement.fields
    if not measurement.ok:
        error = str(fields["error"])
        return "fails" if metric == "cpu" else f"fails: {error}"
    value = figure(report, client.key, metric)
    text = number(value, kind)
    if workload in ("send1", "send100"):
        text += f" ({number(fields.get('p50_ms'), 'ms')} / {number(fields.get('p99_ms'), 'ms')})"
        if client.max_inflight is not None and workload == "send100":
            text += f" [queue: {client.max_inflight} at a time]"
    if workload == "startup" and "hello_median_ms" in fields and client.slow_start:
        text += f" (hello {number(fields['hello_median_ms'], 'ms')})"
    imported = fields.get("orjson_loaded")
    if metric == "inbound" and imported is not None and imported != ("orjson" in client.key):
        text += " (orjson imported)" if imported else " (orjson not imported)"
    ours = figure(report, "txslackrtm", metric)
    if not client.key.startswith("txslackrtm") and value and ours is not None:
        ratio = ours / value
        text += f" · **{ratio:.2f}x**" if ratio >= 0.1 else f" · **{ratio:.2g}x**"
    return text


def table(report: Report, all_clients: list[Client]) -> str:
    """The one table: every client's figures, and txslackrtm/peer ratios in peers' cells."""
    sizes = report.sizes
    header = (
        "| client | inbound events/s | CPU s / 100k events | send+ack msg/s, 1 in flight "
        "(p50 / p99 ms) | send+ack msg/s, 100 in flight (p50 / p99 ms) | start→ready ms "
        f"(median) | kB per idle connection ({sizes.idle_connections:,} in one process) |"
    )
    lines = [header, "|---|---|---|---|---|---|---|"]
    for client in all_clients:
        cells = [cell(report, client, w, m, k) for w, m, k in COLUMNS]
        lines.append(f"| {client.label} | " + " | ".join(cells) + " |")
    null = report.null
    rates = [
        number(m.fields.get("rate"), "rate") if m is not None and m.ok else "-"
        for m in (null.get("inbound"), null.get("send1"), null.get("send100"))
    ]
    lines.append(
        f"| *load server → null client (no JSON)* | {rates[0]} | - | {rates[1]} | {rates[2]} "
        "| - | - |"
    )
    return "\n".join(lines)


def server_lines(report: Report) -> list[str]:
    """Evidence that the load server was not the bottleneck, and how busy the machine was."""
    shares = [
        (key, workload, m)
        for key, workloads in report.results.items()
        for workload, m in workloads.items()
    ]
    if not shares:
        return []
    key, workload, busiest = max(shares, key=lambda item: item[2].server_share)
    others = max(m.others_share for _, _, m in shares)
    verdict = (
        "it stays far from saturation while the clients run"
        if busiest.server_share < SERVER_BUSY
        else "close to a full core: the server may have limited that row"
    )
    lines = [
        f"- Load server: at most {busiest.server_share:.0%} of one core while serving any client "
        f"(busiest: {key}, {workload}); {verdict}.",
    ]
    null_inbound = report.null.get("inbound")
    if null_inbound is not None and null_inbound.ok:
        fastest = max((figure(report, k, "inbound") or 0.0) for k in report.results)
        lines.append(
            f"- Null client: {number(null_inbound.fields['rate'], 'rate')} events/s inbound "
            f"(server at {null_inbound.server_share:.0%} of a core), "
            f"{null_inbound.fields['rate'] / fastest:.1f}x the fastest client above."
            if fastest
            else f"- Null client: {number(null_inbound.fields['rate'], 'rate')} events/s inbound."
        )
    null_send = report.null.get("send100")
    if null_send is not None and null_send.ok:
        fastest = max((figure(report, k, "send100") or 0.0) for k in report.results)
        ratio = (
            f", {null_send.fields['rate'] / fastest:.1f}x the fastest client" if fastest else ""
        )
        lines.append(
            f"- Null client: {number(null_send.fields['rate'], 'rate')} acks/s with 100 in "
            f"flight (server at {null_send.server_share:.0%} of a core){ratio}."
        )
    lines.append(
        f"- Other processes on the machine used up to {others:.0%} of one core during a "
        "measurement (from /proc/stat, minus the client and the server)."
    )
    return lines


TARGETS = (
    ("inbound events/s ≥ Node's", "inbound", "rtm-api", 1.0, True),
    ("inbound events/s ≥ 4x slack_sdk v1's", "inbound", "sdk-v1", 4.0, True),
    ("CPU per event ≤ Node's", "cpu", "rtm-api", 1.0, False),
    ("send+ack (100 in flight) ≥ 1.5x slack_sdk v1's", "send100", "sdk-v1", 1.5, True),
    ("start→ready ≤ 1.5x bare Autobahn's", "startup", "autobahn", 1.5, False),
    ("memory per idle connection ≤ slack_sdk v1's", "idle", "sdk-v1", 1.0, False),
)


def target_lines(report: Report) -> list[str]:
    """Issue 6's targets, as ratios from this run (information, not assertions)."""
    lines = []
    variants = [key for key in ("txslackrtm", "txslackrtm-orjson") if key in report.results]
    for text, metric, peer, bound, higher in TARGETS:
        verdicts = []
        for key in variants:
            ours, theirs = figure(report, key, metric), figure(report, peer, metric)
            if ours is None or not theirs:
                verdicts.append(f"{key}: not measured")
                continue
            ratio = ours / theirs
            met = ratio >= bound if higher else ratio <= bound
            verdicts.append(f"{key} {ratio:.2f} ({'met' if met else 'missed'})")
        wanted = f"wanted {'≥' if higher else '≤'} {bound:g}"
        lines.append(f"- {text} ({wanted}): " + "; ".join(verdicts))
    return lines


def render(report: Report, all_clients: list[Client]) -> str:
    """The whole report, as Markdown."""
    sizes = report.sizes
    machine = "\n".join(f"- {name}: {value}" for name, value in report.machine.items())
    parts = [
        "## Machine",
        machine,
        "",
        "## Results",
        f"Sizes: {sizes.inbound_events:,} inbound events; {sizes.send_one:,} messages at 1 in "
        f"flight and {sizes.send_many:,} at 100; {sizes.startup_runs} start→ready runs "
        f"({sizes.startup_runs_slow} for Node and slack_sdk v2) after one warm-up; "
        f"{sizes.idle_connections:,} idle connections; rates are the best of {sizes.repeats} "
        "run(s).",
        "",
        "A peer's cell ends with **txslackrtm ÷ peer**: above 1 is better for txslackrtm in "
        "events/s and msg/s; below 1 is better in CPU, ms and kB.",
        "",
        table(report, all_clients),
        "",
        *server_lines(report),
        "",
        "## Issue 6 targets in this run",
        *target_lines(report),
    ]
    if report.notes:
        parts += ["", "## Notes", *(f"- {note}" for note in report.notes)]
    return "\n".join(parts)


def save(report: Report) -> Path:
    """Keep the raw figures of the run under C{benchmarks/results/} (ignored by git)."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"run-{stamp}.json"

    def dump(m: Measurement) -> dict[str, Any]:
        return {
            "fields": m.fields,
            "wall": m.wall,
            "client_cpu": m.client_cpu,
            "server_cpu": m.server_cpu,
            "server_share": m.server_share,
            "others_share": m.others_share,
        }

    data = {
        "machine": report.machine,
        "sizes": report.sizes.__dict__,
        "results": {k: {w: dump(m) for w, m in ws.items()} for k, ws in report.results.items()},
        "null": {w: dump(m) for w, m in report.null.items()},
        "notes": report.notes,
    }
    path.write_text(json.dumps(data, indent=1))
    return path


# Main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="Benchmark txslackrtm against its peers.")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    parser.add_argument(
        "--clients",
        default="",
        help="comma-separated subset: txslackrtm,txslackrtm-orjson,rtm-api,sdk-v1,sdk-v2,"
        "autobahn,aiohttp",
    )
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help=f"subset of {','.join(WORKLOADS)}"
    )
    parser.add_argument(
        "--server", choices=["auto", "node", "python"], default="auto", help="load server"
    )
    parser.add_argument("--no-setup", action="store_true", help="use .peers/ as it is")
    parser.add_argument(
        "--ref",
        default="",
        help="measure txslackrtm as committed at this git ref (e.g. HEAD), not the work tree",
    )
    return parser.parse_args(argv)


def prepare(no_setup: bool) -> tuple[bool, bool, bool]:
    """
    Make sure the peers are installed; whether the Python peers, the Node peer and
    txslackrtm's extras can run.
    """
    if no_setup:
        have_peers = peers_python().exists()
        have_node = (PEERS_NODE / "node_modules" / "@slack" / "rtm-api").exists()
        have_extras = (EXTRAS / ".bench-installed").exists()
    else:
        have_peers = setup_python_peers()
        have_node = setup_node_peers()
        have_extras = setup_extras()
    return have_peers, have_node and shutil.which("node") is not None, have_extras


def main(argv: Sequence[str] | None = None) -> None:
    """Set up, measure everything, print the report."""
    args = parse_args(argv)
    check = subprocess.run([sys.executable, "-c", "import txslackrtm"], capture_output=True)
    if check.returncode != 0:
        sys.exit(
            f"run this with the project's interpreter: {sys.executable} cannot import txslackrtm"
        )
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    have_peers, have_node, have_extras = prepare(args.no_setup)
    if args.ref:
        SOURCE.append(snapshot(args.ref)[0])
    sizes = QUICK if args.quick else FULL
    report = Report(machine_info(have_node, have_peers), sizes)
    if hard < 3 * sizes.idle_connections:
        report.notes.append(f"open-file limit {hard} may be too low for the idle workload")
    if not have_peers:
        report.notes.append("the Python peers could not be installed: their rows are missing")
    if not have_node:
        report.notes.append("node/npm missing or failed: no Node peer, Python load server")
    kind = args.server if args.server != "auto" else ("node" if shutil.which("node") else "python")
    all_clients = clients(have_peers, have_node, have_extras)
    if args.clients:
        chosen = set(args.clients.split(","))
        all_clients = [c for c in all_clients if c.key in chosen]
    workloads = [w for w in WORKLOADS if w in args.workloads.split(",")]
    started = time.monotonic()
    with load_server(kind) as server:
        report.machine["load server"] = (
            f"{kind} ({HERE.name}/loadserver.{'js' if kind == 'node' else 'py'})"
        )
        null = null_client(shutil.which("node") is not None)
        log(f"{null.label}: inbound")
        n = sizes.null_events
        report.null["inbound"] = run_driver(
            server, null, "inbound", ["--api", server.api("inbound", n), "--n", str(n)], 120
        )
        log(f"{null.label}: send, 1 in flight")
        report.null["send1"] = run_driver(
            server,
            null,
            "send",
            ["--api", server.api("send"), "--n", str(sizes.send_one), "--inflight", "1"],
            120,
        )
        log(f"{null.label}: send, 100 in flight")
        report.null["send100"] = run_driver(
            server,
            null,
            "send",
            ["--api", server.api("send"), "--n", str(sizes.send_many * 2), "--inflight", "100"],
            120,
        )
        for workload in workloads:
            for client in all_clients:
                log(f"{client.key}: {workload}")
                measurement = measure(server, client, workload, sizes)
                report.results.setdefault(client.key, {})[workload] = measurement
                if not measurement.ok:
                    log(f"  {client.key} {workload}: {measurement.fields['error']}")
    at_end = source_state()
    if at_end != report.machine["txslackrtm commit"]:
        report.notes.append(
            f"txslackrtm changed during the run: {report.machine['txslackrtm commit']} at the "
            f"start, {at_end} at the end; rerun for figures of one version"
        )
    report.machine["run took"] = (
        f"{time.monotonic() - started:.0f} s ({'quick' if args.quick else 'full'})"
    )
    path = save(report)
    print(render(report, all_clients))
    print(f"\n(raw figures: {path.relative_to(HERE.parent)})")


if __name__ == "__main__":
    main()
