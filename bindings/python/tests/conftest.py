"""conftest.py - pytest harness for the Python binding: private mosquitto
brokers on free 127.0.0.1 ports (plain, TLS with certificates made at test
time by tests/support/certs.sh), programs run with /usr/bin/python3 against
libmq or paho-mqtt, and a paho-mqtt subscriber that records what arrives.

Every process started here is stopped by its PID. Fixtures are used from
the test's main thread only.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BINDING = os.path.dirname(HERE)
SOURCE_ROOT = os.path.dirname(os.path.dirname(BINDING))
EXAMPLES = os.path.join(BINDING, "examples")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PYTHON = "/usr/bin/python3"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=10.0, step=0.02):
    """Poll pred() until true or timeout; returns its last value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


class Broker:
    """A mosquitto on free loopback ports: .port (plain), and with tls=True
    .tls_port (server cert for localhost/127.0.0.1) and .wrong_port (cert
    for wrong.example.invalid only). stop()/start() keep the ports."""

    def __init__(self, tmp, tls=False, certs=None, persistence=False,
                 extra=""):
        self.dir = tempfile.mkdtemp(prefix="mqpy-broker-", dir=tmp)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.tls_port = self.wrong_port = None
        self.certs = certs
        lines = ["per_listener_settings false", "allow_anonymous true",
                 "listener %d 127.0.0.1" % self.port]
        if tls:
            self.tls_port, self.wrong_port = free_port(), free_port()
            for port, name in ((self.tls_port, "server"),
                               (self.wrong_port, "wronghost")):
                lines += ["listener %d 127.0.0.1" % port,
                          "cafile %s/ca.crt" % certs,
                          "certfile %s/%s.crt" % (certs, name),
                          "keyfile %s/%s.key" % (certs, name)]
        if persistence:
            lines += ["persistence true",
                      "persistence_location %s/" % self.dir]
            shutil.chown(self.dir, "mosquitto") if os.getuid() == 0 and \
                _has_user("mosquitto") else None
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n" + extra)
        self.log = os.path.join(self.dir, "broker.log")
        self.extra_ports = [int(w.split()[1]) for w in extra.splitlines()
                            if w.startswith("listener ")]
        self.proc = None
        self.start()

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def start(self):
        for _ in range(50):
            logf = open(self.log, "a")
            self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf, "-v"],
                                         stdout=logf, stderr=logf)
            logf.close()
            ports = [p for p in (self.port, self.tls_port, self.wrong_port)
                     if p] + list(self.extra_ports)
            if wait_for(lambda: self.proc.poll() is not None or
                        all(_listening(p) for p in ports), 10):
                if self.proc.poll() is None:
                    return
            self.stop()
            time.sleep(0.1)   # port still in TIME_WAIT after a restart
        raise RuntimeError("mosquitto did not start: " +
                           open(self.log).read()[-2000:])

    def stop(self):
        p, self.proc = self.proc, None
        if p is not None and p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()

    def restart(self):
        self.stop()
        self.start()


def _has_user(name):
    import pwd
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), 0.2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def tmpbase():
    d = tempfile.mkdtemp(prefix="mqpy-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def certs(tmpbase):
    d = os.path.join(tmpbase, "certs")
    subprocess.run(["sh", os.path.join(SOURCE_ROOT, "tests", "support",
                                       "certs.sh"), d], check=True,
                   stdout=subprocess.DEVNULL)
    return d


@pytest.fixture
def broker(tmpbase):
    b = Broker(tmpbase)
    yield b
    b.stop()


@pytest.fixture(scope="session")
def shared_broker(tmpbase):
    """One broker for tests that only need one and do not restart it."""
    b = Broker(tmpbase)
    yield b
    b.stop()


@pytest.fixture(scope="session")
def tls_broker(tmpbase, certs):
    b = Broker(tmpbase, tls=True, certs=certs)
    yield b
    b.stop()


class Recorder:
    """A paho-mqtt (Debian's 1.6) subscriber that records every message as
    (topic, payload, qos, retain)."""

    def __init__(self, port, topics, qos=2, protocol=None, client_id=""):
        import paho.mqtt.client as paho
        self.msgs = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        kw = {"protocol": protocol} if protocol else {}
        self.c = paho.Client(client_id, **kw)
        self.topics = topics if isinstance(topics, list) else [topics]
        self.qos = qos
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = lambda c, u, m, g, *a: self.ready.set()
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert self.ready.wait(10), "recorder did not subscribe"

    def _on_connect(self, c, u, flags, rc, *a):
        c.subscribe([(t, self.qos) for t in self.topics])

    def _on_message(self, c, u, m):
        with self.lock:
            self.msgs.append((m.topic, m.payload, m.qos, bool(m.retain)))

    def count(self):
        with self.lock:
            return len(self.msgs)

    def wait_count(self, n, timeout=10):
        return wait_for(lambda: self.count() >= n, timeout)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def recorder():
    made = []

    def make(port, topics, **kw):
        r = Recorder(port, topics, **kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def program_text(path, lib):
    """The program at `path` with its import line switched to `lib`
    ("libmq" or "paho")."""
    with open(path) as f:
        text = f.read()
    if lib == "paho":
        text = text.replace("import libmq.client as mqtt",
                            "import paho.mqtt.client as mqtt")
        assert "paho.mqtt.client" in text
    return text


def run_program(path, lib, env, args=(), timeout=60, tmp=None):
    """Run an example with /usr/bin/python3 against libmq or paho-mqtt.
    Returns the CompletedProcess (text output)."""
    src = program_text(path, lib)
    fd, script = tempfile.mkstemp(suffix=".py", dir=tmp)
    with os.fdopen(fd, "w") as f:
        f.write(src)
    full = dict(os.environ)
    full.update(env)
    try:
        return subprocess.run([PYTHON, script] + list(args), env=full,
                              capture_output=True, text=True,
                              timeout=timeout)
    finally:
        os.unlink(script)


def start_program(path, lib, env, args=(), tmp=None):
    """Start an example (see run_program); returns (Popen, script path)."""
    src = program_text(path, lib)
    fd, script = tempfile.mkstemp(suffix=".py", dir=tmp)
    with os.fdopen(fd, "w") as f:
        f.write(src)
    full = dict(os.environ)
    full.update(env)
    p = subprocess.Popen([PYTHON, script] + list(args), env=full,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    return p, script



# Debian's proxies as the tools' tests start them (tests/tools/toolslib.py)
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "tools"))
import toolslib  # noqa: E402


@pytest.fixture
def proxy():
    """make(kind, user=None, password=None): tinyproxy ("http") or dante
    ("socks5") on a free loopback port, stopped by PID at the end (or by
    the test's px.stop(), which returns the proxy's log); pytest.skip()
    when the program is not installed."""
    made = []

    def make(kind, **kw):
        try:
            px = toolslib.Proxy(kind, **kw)
        except toolslib.Skip as e:
            pytest.skip(str(e))
        made.append(px)
        return px
    yield make
    for px in made:
        if not px.log.closed:
            px.stop()
