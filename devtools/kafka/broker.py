"""A throwaway single-node KRaft Kafka broker for tests and ``make demo``.

Runs the real Apache Kafka server jars (fetched from Maven Central by the ``pom.xml``
beside this module, into ``libs/``) on a JVM, so no Docker engine is needed. Each broker
gets two fresh loopback ports and its own data folder; ``stop()`` ends exactly the
process it started.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

_HERE = Path(__file__).resolve().parent
POM = _HERE / "pom.xml"
DEFAULT_LIBS_DIR = _HERE / "libs"

_SERVER_JAR_GLOB = "kafka_2.13-*.jar"
# Written only after Maven succeeds, so an interrupted fetch is redone; it holds the
# pom's digest so editing the Kafka version refetches too.
_MARKER = ".fetched"
PROPERTIES_FILE = "server.properties"
_LOG_CONFIG = "log4j2.properties"
_SERVER_LOG = "server.log"
_CONSOLE_LOG = "console.log"
_STOP_GRACE_S = 20.0

_T = TypeVar("_T")


class DevKafkaError(RuntimeError):
    """The development broker could not be fetched, started or stopped."""


def ensure_jars(libs_dir: Path = DEFAULT_LIBS_DIR) -> Path:
    """Return a folder holding the Kafka server jars, fetching them with Maven if needed."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest() if POM.is_file() else None
    marker = libs_dir / _MARKER
    if (
        any(libs_dir.glob(_SERVER_JAR_GLOB))
        and marker.is_file()
        and marker.read_text().strip() == digest
    ):
        return libs_dir
    if digest is None:
        raise DevKafkaError(f"{POM} not found; the dev broker needs a source checkout of routeyard")
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DevKafkaError(
            "`mvn` is not on PATH; install Maven 3.8+ (and a JDK 17+) to fetch the Kafka jars"
        )
    _java()  # fail before a slow fetch whose jars could not run anyway
    libs_dir.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    # Old jars from another Kafka version would share the classpath with the new ones.
    for jar in libs_dir.glob("*.jar"):
        jar.unlink()
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={libs_dir}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0 or not any(libs_dir.glob(_SERVER_JAR_GLOB)):
        output = _tail_text(result.stdout + result.stderr, 40)
        raise DevKafkaError(f"fetching Kafka jars failed ({' '.join(cmd)}):\n{output}")
    marker.write_text(digest + "\n")
    return libs_dir


class DevKafka:
    """A single-node KRaft broker on 127.0.0.1, for one test session or one demo.

    ``data_dir`` defaults to a fresh temporary folder that ``stop()`` removes; a given
    folder is kept (and reused if already formatted). ``detached`` puts the JVM in its
    own session so it outlives this Python process and ignores the terminal's Ctrl-C.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        libs_dir: Path = DEFAULT_LIBS_DIR,
        startup_timeout_s: float = 60.0,
        heap: str = "512m",
        detached: bool = False,
    ) -> None:
        self._given_dir = data_dir
        self._libs_dir = libs_dir
        self._startup_timeout_s = startup_timeout_s
        self._heap = heap
        self._detached = detached
        self._dir: Path | None = None
        self._owns_dir = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    @property
    def bootstrap(self) -> str:
        if self._port is None:
            raise DevKafkaError("the broker is not started")
        return f"127.0.0.1:{self._port}"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise DevKafkaError("the broker is not started")
        return self._proc.pid

    @property
    def data_dir(self) -> Path:
        if self._dir is None:
            raise DevKafkaError("the broker is not started")
        return self._dir

    @property
    def properties_path(self) -> Path:
        return self.data_dir / PROPERTIES_FILE

    def start(self) -> Self:
        """Fetch jars if needed, launch the JVM and block until the broker answers metadata.

        Called from inside an event loop it still works, but blocks that loop for the
        few seconds the broker needs.
        """
        if self._proc is not None:
            raise DevKafkaError(f"the broker is already running (pid {self._proc.pid})")
        libs = ensure_jars(self._libs_dir)
        java = _java()
        if self._given_dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="routeyard-kafka-"))
            self._owns_dir = True
        else:
            self._dir = self._given_dir.resolve()
            self._dir.mkdir(parents=True, exist_ok=True)
        try:
            self._launch(java, libs, self._dir)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, java: str, libs: Path, data: Path) -> None:
        port, controller_port = _free_ports(2)
        (data / PROPERTIES_FILE).write_text(_server_properties(data, port, controller_port))
        (data / _LOG_CONFIG).write_text(_log4j2_properties(data / _SERVER_LOG))
        jvm = [
            java,
            f"-Xmx{self._heap}",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={data / _LOG_CONFIG}",
            "-cp",
            f"{libs}{os.sep}*",
        ]
        # A reused data dir keeps its storage: formatting again would need its cluster id.
        if not (data / "kraft" / "meta.properties").is_file():
            _format_storage(jvm, data)
        with (data / _CONSOLE_LOG).open("ab") as console:
            self._proc = subprocess.Popen(
                [*jvm, "kafka.Kafka", str(data / PROPERTIES_FILE)],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=self._detached,
            )
        self._port = port

    def _wait_ready(self) -> None:
        proc = self._proc
        assert proc is not None
        deadline = time.monotonic() + self._startup_timeout_s
        ready = _run_sync(_poll_ready(self.bootstrap, proc, deadline))
        if proc.poll() is not None:
            raise DevKafkaError(
                f"the Kafka broker exited with code {proc.returncode} while starting:\n"
                f"{self._log_tail()}"
            )
        if not ready:
            raise DevKafkaError(
                f"the Kafka broker did not answer on {self.bootstrap} within "
                f"{self._startup_timeout_s:g} s:\n{self._log_tail()}"
            )

    def stop(self) -> None:
        """End the broker this object started and remove a temporary data dir."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._owns_dir and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
            self._owns_dir = False
        self._port = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / _SERVER_LOG

    def _log_tail(self, lines: int = 40) -> str:
        if self._dir is None:
            return "(no log)"
        parts = []
        for name in (_CONSOLE_LOG, _SERVER_LOG):
            path = self._dir / name
            text = _tail_text(path.read_text(errors="replace"), lines) if path.is_file() else ""
            if text:
                parts.append(f"--- {path} ---\n{text}")
        return "\n".join(parts) or "(no log)"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def _poll_ready(bootstrap: str, proc: subprocess.Popen[bytes], deadline: float) -> bool:
    """Poll until the broker lists itself in a metadata response, it dies, or time runs out."""
    host, port = bootstrap.rsplit(":", 1)
    while proc.poll() is None and time.monotonic() < deadline:
        # A bare TCP probe first: aiokafka logs every refused connection as an error.
        if not await _accepts_tcp(host, int(port)):
            await asyncio.sleep(0.25)
            continue
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5_000)
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
            if cluster.get("brokers"):
                return True
        except (KafkaError, OSError, TimeoutError):
            pass  # not listening yet, or still catching up with its own metadata log
        finally:
            await admin.close()
        await asyncio.sleep(0.25)
    return False


async def _accepts_tcp(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=2)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


def _run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine to completion, even when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # asyncio.run refuses to nest, so give the coroutine a loop of its own in a thread.
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=runner, name="devkafka-admin")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: _T = box["value"]
    return value


def _format_storage(jvm: list[str], data: Path) -> None:
    cmd = [*jvm, "kafka.tools.StorageTool", "format", "-t", _cluster_id()]
    cmd += ["-c", str(data / PROPERTIES_FILE)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        output = _tail_text(result.stdout + result.stderr, 40)
        raise DevKafkaError(f"formatting Kafka storage in {data} failed:\n{output}")


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is not None and candidate.is_file():
        return str(candidate)
    java = shutil.which("java")
    if java is None:
        raise DevKafkaError("`java` is not on PATH (nor in $JAVA_HOME); install a JDK 17+")
    return java


def _free_ports(count: int) -> list[int]:
    # Hold all sockets open together so the OS hands out distinct ports.
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _cluster_id() -> str:
    # Kafka's Uuid.randomUuid(): 16 random bytes, URL-safe base64 without padding; it
    # rerolls ids starting with "-" because they read as command-line flags.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _server_properties(data: Path, port: int, controller_port: int) -> str:
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data / "kraft"),
        "num.partitions": "1",
        # One node: every internal topic must live with a single replica.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Fewer internal partitions make the first consumer group join faster.
        "offsets.topic.num.partitions": "4",
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _log4j2_properties(log_file: Path) -> str:
    # Kafka 4 logs through log4j2; without a config it would print to our console.
    return "\n".join(
        [
            "status = warn",
            "appender.file.type = File",
            "appender.file.name = file",
            f"appender.file.fileName = {log_file}",
            "appender.file.layout.type = PatternLayout",
            "appender.file.layout.pattern = [%d] %p %m (%c)%n",
            "rootLogger.level = INFO",
            "rootLogger.appenderRef.file.ref = file",
            "logger.statechange.name = state.change.logger",
            "logger.statechange.level = WARN",
            "",
        ]
    )


def _tail_text(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
