#!/usr/bin/python3
"""Idle-connection scale test for mqbench (issue 18), run by hand, not in
the test suite:

    /usr/bin/python3 bench/mqbench-scale.py [--clients 100000]
        [--build build] [--hold 10] [--procs N] [--json out.json]

It starts local mosquitto brokers configured for many clients
(max_connections -1, RLIMIT_NOFILE raised for them with a preexec
setrlimit, listeners on several 127.0.0.x addresses so that no (source,
destination) pair runs out of ephemeral ports), then `mqbench conn` with
--clients idle connections, and reports connect rate and memory per
connection, on mqbench's side and mosquitto's. Brokers are stopped by PID.

Limits: a process can raise its descriptor limit only up to the hard limit
(raising that needs CAP_SYS_RESOURCE). Each libmq connection costs one
descriptor (mqbench watches events without a pipe per client when
descriptors are short: --events poll), each broker connection one. When the
hard limit is below what one process needs, the script says so and, with
--procs N (or --procs auto), spreads the clients over N mqbench processes
and as many brokers as needed, so the brokers still see --clients
connections.
"""
import argparse
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PER_ADDR = 5000           # connections per (destination address, port): at
#   15000 per destination, connects slowed tenfold (SYN retransmissions
#   as the ephemeral port range filled up); 5000 kept them fast
BASE_PORT = 28830


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for lim in (want, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (lim, max(lim, hard)))
            return resource.getrlimit(resource.RLIMIT_NOFILE)
        except (ValueError, OSError):
            pass
    return soft, hard


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Brokers:
    def __init__(self, count, addrs_each, nofile, port):
        self.dir = tempfile.mkdtemp(prefix="mqbench-scale-")
        self.procs, self.uris = [], []
        addr = 1
        for b in range(count):
            conf = os.path.join(self.dir, "b%d.conf" % b)
            lines = ["user root", "per_listener_settings false",
                     "allow_anonymous true", "persistence false",
                     "max_connections -1", "log_type error",
                     "log_dest file " + os.path.join(self.dir,
                                                     "b%d.log" % b)]
            for _ in range(addrs_each):
                host = "127.0.0.%d" % addr
                addr += 1
                lines.append("listener %d %s" % (port, host))
                self.uris.append("mqtt://%s:%d" % (host, port))
            with open(conf, "w") as f:
                f.write("\n".join(lines) + "\n")

            def pre(n=nofile):
                resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
            self.procs.append(subprocess.Popen(
                [MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, preexec_fn=pre))
        time.sleep(0.5)
        for p in self.procs:
            if p.poll() is not None:
                self.stop()
                raise RuntimeError("mosquitto did not start (port %d busy?)"
                                   % port)

    def rss_kb(self):
        return sum(rss_kb(p.pid) for p in self.procs)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=100000)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--hold", type=float, default=10.0,
                    help="seconds to hold the connections")
    ap.add_argument("--procs", default="1",
                    help="mqbench processes: a number or 'auto'")
    ap.add_argument("--rate", type=float, default=0,
                    help="client starts per second (default: no pacing, "
                         "--max-connecting 100)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--port", type=int, default=BASE_PORT)
    ap.add_argument("--json", help="write the summary here")
    a = ap.parse_args()

    mqbench = os.path.join(a.build, "tools", "mqbench")
    soft, hard = raise_nofile(a.clients + 1000)
    per_proc_max = hard - 100
    print("RLIMIT_NOFILE: soft %d, hard %d (raising the hard limit needs "
          "CAP_SYS_RESOURCE)" % (soft, hard))
    procs = max(1, math.ceil(a.clients / per_proc_max)) \
        if a.procs == "auto" else int(a.procs)
    per_proc = math.ceil(a.clients / procs)
    if per_proc > per_proc_max:
        print("NOTE: %d clients in one process need about %d descriptors; "
              "this machine allows %d per process. mqbench will stop at the "
              "limit and report it; rerun with --procs auto to spread the "
              "clients over processes." % (per_proc, per_proc + 64, hard))
    brokers = max(1, math.ceil(a.clients / per_proc_max))
    per_broker = math.ceil(a.clients / brokers)
    addrs_each = max(1, math.ceil(per_broker / PER_ADDR))
    print("%d client(s) in %d mqbench process(es), %d broker(s) with %d "
          "listener address(es) each" % (a.clients, procs, brokers,
                                         addrs_each))
    b = Brokers(brokers, addrs_each, hard, a.port)
    results = []
    try:
        base_rss = b.rss_kb()
        uris = ",".join(b.uris)
        runs = []
        t0 = time.time()
        for i in range(procs):
            n = min(per_proc, a.clients - i * per_proc)
            args = [mqbench, "conn", "--uri", uris, "-c", str(n),
                    "-n", str(i * per_proc), "--prefix", "scale%d" % i,
                    "--duration", str(a.hold), "--json", "--progress",
                    "lines", "-k", "300", "--workers", str(a.workers)]
            if a.rate > 0:
                args += ["-R", str(a.rate / procs)]
            else:
                args += ["-i", "0"]
            runs.append(subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                preexec_fn=lambda: raise_nofile(per_proc + 1000)))
        # sample the brokers' memory while the connections are held
        peak_broker = 0
        samples = []  # (seconds since start, mqbench RSS KiB summed)
        while any(p.poll() is None for p in runs):
            peak_broker = max(peak_broker, b.rss_kb())
            samples.append((time.time() - t0,
                            sum(rss_kb(p.pid) for p in runs
                                if p.poll() is None)))
            time.sleep(0.5)
        wall = time.time() - t0
        for p in runs:
            out, err = p.communicate()
            try:
                results.append(json.loads(out))
            except ValueError:
                print("mqbench failed (rc %d): %s" % (p.returncode,
                                                      err.decode()[-2000:]))
                return 1
            tail = [ln for ln in err.decode().splitlines() if ln.strip()]
            for ln in tail[-3:]:
                print("  mqbench: " + ln)
    finally:
        b.stop()

    connected = sum(r["connect"]["connected"] for r in results)
    failed = sum(r["connect"]["failed"] for r in results)
    phase = max(r["connect_phase_s"] for r in results)
    mem = [r["memory"] for r in results]
    kb_conn = (sum(m["connected_kb"] - m["baseline_kb"] for m in mem) /
               max(1, sum(m["connections"] for m in mem)))
    summary = {
        "clients": a.clients, "procs": procs, "brokers": brokers,
        "listener_addresses": len(b.uris), "nofile_hard": hard,
        "connected": connected, "failed": failed,
        "connect_phase_s": phase,
        "connect_rate_per_s": connected / phase if phase > 0 else 0,
        "connack_ms_p50": max(r["connect"]["connack_ms"]["p50"]
                              for r in results),
        "connack_ms_p99": max(r["connect"]["connack_ms"]["p99"]
                              for r in results),
        "mqbench_kb_per_connection": kb_conn,
        "mqbench_rss_mb": sum(m["connected_kb"] for m in mem) / 1024.0,
        "broker_kb_per_connection":
            (peak_broker - base_rss) / connected if connected else 0,
        "broker_rss_mb": peak_broker / 1024.0,
        "stopped": [r["limits"]["stopped"] for r in results
                    if r["limits"]["stopped"]],
        "failures": [f for r in results for f in r["failures"]],
        "wall_s": wall,
    }
    # flat RSS while held (issue 20): the clients' memory sampled every
    # 0.5 s from 2 s after the last connect to 5 s before the end (the
    # processes tear down in the last seconds)
    held = [kb for t, kb in samples
            if phase + 2 <= t <= wall - 5 and kb > 0]
    if held:
        summary["held_rss_mb_min"] = min(held) / 1024.0
        summary["held_rss_mb_max"] = max(held) / 1024.0
        summary["held_rss_samples"] = len(held)
        summary["held_rss_mb_first_last"] = [held[0] / 1024.0,
                                             held[-1] / 1024.0]
        summary["rss_series_mb"] = [(round(t, 1), round(kb / 1024.0, 1))
                                    for t, kb in samples[::10]]
    print(json.dumps(summary, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary": summary, "runs": results}, f, indent=1)
    return 0 if connected == a.clients else 2


if __name__ == "__main__":
    sys.exit(main())
