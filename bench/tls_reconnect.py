#!/usr/bin/python3
"""TLS session resumption against mosquitto: runs bench/tls_reconnect (built
with -Dbench=true) with resumption on and off, TLS 1.3 and 1.2, on plain
loopback and through a relay that delays every chunk (a slow link), and
prints a markdown table with the client's handshake time and CPU per
reconnect and the broker's CPU per reconnect (from /proc/<pid>/stat).

Usage: /usr/bin/python3 build-bench/bench/tls_reconnect.py [--count N]
       [--delay-ms D] [--bindir build-bench/bench]
mosquitto runs on a free loopback port with certificates made by
tests/support/certs.sh, and is stopped by PID.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.realpath(__file__))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def broker_cpu_ms(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) * 1000.0 / ticks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--delay-ms", type=int, default=20)
    ap.add_argument("--bindir", default=HERE)
    ap.add_argument("--broker-nagle", dest="nodelay", action="store_false",
                    help="leave mosquitto's Nagle on (its default): adds a "
                         "delayed-ACK stall after its TLS 1.3 tickets")
    ap.add_argument("--src", default=None,
                    help="source tree (default: found from this file)")
    a = ap.parse_args()
    src = a.src
    if src is None:
        src = HERE
        while src != "/" and not os.path.exists(
                os.path.join(src, "tests", "support", "certs.sh")):
            src = os.path.dirname(src)
    prog = os.path.join(a.bindir, "tls_reconnect")
    d = tempfile.mkdtemp(prefix="libmq-tlsbench-")
    os.chmod(d, 0o755)
    proc = None
    try:
        subprocess.run(["sh", os.path.join(src, "tests/support/certs.sh"), d],
                       check=True, capture_output=True)
        port = free_port()
        conf = os.path.join(d, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\ncafile %s/ca.crt\n"
                    "certfile %s/server.crt\nkeyfile %s/server.key\n"
                    "allow_anonymous true\nuser root\n%s"
                    % (port, d, d, d,
                       "set_tcp_nodelay true\n" if a.nodelay else ""))
        proc = subprocess.Popen(["mosquitto", "-c", conf],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        rows = []
        for delay in (0, a.delay_ms):
            count = a.count if delay == 0 else max(20, a.count // 10)
            for tls in ("1.3", "1.2"):
                for resume in (0, 1):
                    cmd = [prog, "--port", str(port), "--cafile",
                           os.path.join(d, "ca.crt"), "--count", str(count),
                           "--resume", str(resume), "--delay-ms", str(delay)]
                    if tls == "1.2":
                        cmd.append("--tls12")
                    b0 = broker_cpu_ms(proc.pid)
                    out = subprocess.run(cmd, check=True, capture_output=True,
                                         text=True, timeout=600).stdout
                    b1 = broker_cpu_ms(proc.pid)
                    m = dict(re.findall(r"(\w+)=([\d.]+)", out))
                    m["broker_cpu"] = (b1 - b0) / count
                    rows.append(m)
        print("| TLS | delay each way | resumption | resumed | handshake "
              "median | handshake mean | client CPU / reconnect | broker CPU "
              "/ reconnect |")
        print("|---|---|---|---|---|---|---|---|")
        for m in rows:
            print("| %s | %s ms | %s | %s/%s | %.2f ms | %.2f ms | %.3f ms | "
                  "%.3f ms |" % (m["tls"], m["delay_ms"],
                                 "on" if m["resume"] == "1" else "off",
                                 m["resumed"], m["count"],
                                 float(m["handshake_median_ms"]),
                                 float(m["handshake_mean_ms"]),
                                 float(m["cpu_ms_per_reconnect"]),
                                 m["broker_cpu"]))
    finally:
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(5)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
