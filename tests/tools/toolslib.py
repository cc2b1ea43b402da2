"""Helpers for the mqpub/mqsub/mqrr/mqbench tests: a private mosquitto
broker on a free loopback port (stopped by PID), Debian's proxies (dante,
tinyproxy) likewise, subprocess runners with timeouts, and a tiny TAP
reporter.

Environment: MQPUB, MQSUB, MQRR name the programs under test; setting them to
mosquitto_pub/mosquitto_sub/mosquitto_rr runs the same expectations against
the reference tools (useful to check the tests themselves).
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

MQPUB = os.environ.get("MQPUB", "mqpub")
MQSUB = os.environ.get("MQSUB", "mqsub")
MQRR = os.environ.get("MQRR", "mqrr")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
M_PUB = shutil.which("mosquitto_pub") or "mosquitto_pub"
M_SUB = shutil.which("mosquitto_sub") or "mosquitto_sub"
REFERENCE = os.path.basename(MQSUB).startswith("mosquitto")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Broker:
    """mosquitto on 127.0.0.1:<free port>, with a log file we can wait on.
    psk=(identity, hex key): one more listener, on .psk_port, for TLS-PSK
    with that key (its psk_file is .psk_file)."""

    def __init__(self, extra_conf="", users=None, psk=None):
        self.dir = tempfile.mkdtemp(prefix="mqtools-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.sock = os.path.join(self.dir, "mqtt.sock")
        self.log = os.path.join(self.dir, "broker.log")
        conf = os.path.join(self.dir, "mosquitto.conf")
        lines = [
            "user root",
            "per_listener_settings false",
            "log_dest file " + self.log,
            "log_type all",
            "persistence false",
            "max_queued_messages 1000000",
            "listener %d 127.0.0.1" % self.port,
            "listener 0 " + self.sock,
        ]
        if users:
            pwfile = os.path.join(self.dir, "passwd")
            open(pwfile, "w").close()
            for user, pw in users.items():
                subprocess.run(["mosquitto_passwd", "-b", pwfile, user, pw],
                               check=True, capture_output=True)
            lines += ["allow_anonymous false", "password_file " + pwfile]
        else:
            lines.append("allow_anonymous true")
        if psk:
            self.psk_port = free_port()
            self.psk_file = os.path.join(self.dir, "psk.txt")
            with open(self.psk_file, "w") as f:
                f.write("%s:%s\n" % psk)
            os.chmod(self.psk_file, 0o644)
            lines += ["listener %d 127.0.0.1" % self.psk_port,
                      "psk_hint tools", "psk_file " + self.psk_file]
        if extra_conf:
            lines.append(extra_conf)
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("mosquitto did not start")

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, needle, timeout=10, count=1):
        """Wait until needle appears count times in the broker log."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.log_text().count(needle) >= count:
                return True
            time.sleep(0.02)
        raise AssertionError("broker log never showed %r" % needle)

    def wait_subscribed(self, client_id, count=1):
        self.wait_log("Sending SUBACK to " + client_id, count=count)

    def stop(self):
        stop_pid(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class Skip(Exception):
    """A test whose program is not installed (reported "# SKIP")."""


def wait_port(port, proc):
    import socket
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    raise AssertionError("proxy did not start")


def stop_pid(proc, timeout=5):
    """SIGTERM a process we started (by its PID), SIGKILL if it lingers."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


class Proxy:
    """dante (SOCKS5, no auth) or tinyproxy (HTTP CONNECT; Basic auth when
    user and password are given: tinyproxy takes only letters, digits and
    -_. in them) on loopback. Skip if the program is not installed."""

    def __init__(self, kind, user=None, password=None):
        self.dir = tempfile.mkdtemp(prefix="mqtools-proxy-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        conf = os.path.join(self.dir, "proxy.conf")
        if kind == "socks5":
            prog = shutil.which("danted") or "/usr/sbin/danted"
            text = ("logoutput: stderr\ninternal: 127.0.0.1 port = %d\n"
                    "external: 127.0.0.1\nsocksmethod: none\n"
                    "clientmethod: none\nuser.privileged: root\n"
                    "user.unprivileged: nobody\n"
                    "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\n"
                    "socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\n"
                    % self.port)
            args = [prog, "-f", conf, "-N", "1"]
        else:
            prog = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
            text = ("Port %d\nListen 127.0.0.1\nTimeout 60\n"
                    "Allow 127.0.0.1\nLogLevel Connect\n" % self.port)
            if user:
                text += "BasicAuth %s %s\n" % (user, password)
            args = [prog, "-d", "-c", conf]
        if not os.access(prog, os.X_OK):
            shutil.rmtree(self.dir, ignore_errors=True)
            raise Skip("%s not installed" % os.path.basename(prog))
        with open(conf, "w") as f:
            f.write(text)
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = subprocess.Popen(args, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc)

    def text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def stop(self):
        """Stop by PID; returns the proxy's log (complete only now: its
        stdout to a file is block-buffered). Once only."""
        stop_pid(self.proc)
        text = self.text()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return text


class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def __repr__(self):
        return "rc=%r out=%r err=%r" % (self.rc, self.out[:300], self.err[:300])


def run(args, stdin=b"", timeout=15):
    p = subprocess.run(args, input=stdin, capture_output=True,
                       timeout=timeout)
    return Result(p.returncode, p.stdout, p.stderr)


class Bg:
    """A background process whose output is collected at the end."""

    def __init__(self, args, stdin_pipe=False):
        self.args = args
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL)

    def wait(self, timeout=15):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            out, err = self.proc.communicate()
            raise AssertionError("%s did not exit in time; out=%r err=%r"
                                 % (self.args, out[-300:], err[-300:]))
        return Result(self.proc.returncode, out, err)

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        return self.wait()


def check(cond, msg=""):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError("%s: %r != %r" % (msg, a, b))


_tests = []


def test(fn):
    _tests.append(fn)
    return fn


def main():
    """Run the registered tests; TAP on stdout; exit 1 on any failure."""
    only = sys.argv[1:]
    chosen = [t for t in _tests if not only or t.__name__ in only]
    print("1..%d" % len(chosen))
    failed = 0
    for i, t in enumerate(chosen, 1):
        t0 = time.time()
        try:
            t()
            print("ok %d - %s (%.2fs)" % (i, t.__name__, time.time() - t0))
        except Exception as e:  # noqa: BLE001 - report every failure
            failed += 1
            print("not ok %d - %s" % (i, t.__name__))
            for line in (str(e) + "\n" + traceback.format_exc()).splitlines():
                print("# " + line)
        sys.stdout.flush()
    sys.exit(1 if failed else 0)


def make_certs(d, server_names=("DNS:localhost", "IP:127.0.0.1")):
    """Throwaway CA, server and client certificates (openssl CLI) in d."""
    def ossl(*args):
        subprocess.run(["openssl"] + list(args), check=True,
                       capture_output=True, cwd=d)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
         "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=test-ca")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=" + ",".join(server_names) + "\n")
    for name, ext in (("server", True), ("client", False)):
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout",
             name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
        args = ["x509", "-req", "-in", name + ".csr", "-CA", "ca.crt",
                "-CAkey", "ca.key", "-CAcreateserial", "-out", name + ".crt",
                "-days", "2"]
        if ext:
            args += ["-extfile", "ext.cnf"]
        ossl(*args)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    return {k: os.path.join(d, k) for k in
            ("ca.crt", "server.crt", "server.key", "client.crt",
             "client.key")}
