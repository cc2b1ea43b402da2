#!/usr/bin/python3
"""Throughput of mqbench against the best other load tools available on
this machine (issue 18), on one private mosquitto (default settings but a
loopback listener and max_queued_messages 1000000), interleaved rounds,
medians:

- mqbench pubsub (this tree)
- MQTT.js 5 (npm `mqtt`) driven by bench/mqbench-compare-mqttjs.js, the
  same shape of load from one Node process (no MQTT bench tool is
  packaged for Debian or npm; MQTT.js is the client those tools use)
- mosquitto_pub -l | mosquitto_sub -C (Debian's mosquitto-clients),
  one pair only

Usage (run by hand, not in the suite):
    npm install --prefix /tmp/mqttjs mqtt@5
    /usr/bin/python3 bench/mqbench-compare.py --mqttjs /tmp/mqttjs \
        [--build build] [--reps 3] [--only q0-1to1,...] [--quick]

Every result is the end-to-end rate: messages received / time from the
first publish to the last message received.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (publishers, subscribers, count, size, qos)
SCENARIOS = {
    "q0-1to1": (1, 1, 500000, 64, 0),
    "q1-1to1": (1, 1, 200000, 64, 1),
    "q0-pairs50": (50, 50, 500000, 64, 0),
    "q1-pairs50": (50, 50, 200000, 64, 1),
    "q0-fanin50": (50, 1, 500000, 64, 0),
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Broker:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mqcmp-")
        self.port = free_port()
        conf = os.path.join(self.dir, "m.conf")
        with open(conf, "w") as f:
            # max_queued_messages: mosquitto's default (1000) drops QoS 1
            # messages for a subscriber that falls that far behind, which
            # mosquitto_sub cannot see; the rates compare only complete runs
            f.write("user root\nlistener %d 127.0.0.1\nallow_anonymous true\n"
                    "log_dest none\nmax_queued_messages 1000000\n"
                    % self.port)
        self.p = subprocess.Popen(["mosquitto", "-c", conf],
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self):
        os.kill(self.p.pid, signal.SIGTERM)
        self.p.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def run_mqbench(build, port, pubs, subs, count, size, qos):
    args = [os.path.join(build, "tools", "mqbench"), "pubsub", "-h",
            "127.0.0.1", "-p", str(port), "-c", str(pubs), "--subs",
            str(subs), "-I", "0", "-L", str(count), "-s", str(size), "-q",
            str(qos), "-i", "0", "--json", "--progress", "none",
            "--drain", "3"]
    if subs != pubs:
        args += ["--sub-topic", "mqbench/#"]
    if qos > 0:
        args += ["--inflight", "100"]
    p = subprocess.run(args, capture_output=True, timeout=300)
    d = json.loads(p.stdout)
    return {"received": d["receive"]["count"],
            "rate": d["end_to_end"]["rate_per_s"],
            "lost": d["loss"]["lost"],
            "p50_ms": d["latency_ms"]["p50"], "p99_ms": d["latency_ms"]["p99"]}


def run_mqttjs(mqttjs, port, pubs, subs, count, size, qos):
    p = subprocess.run(["node", os.path.join(HERE,
                                             "mqbench-compare-mqttjs.js"),
                        mqttjs, str(port), str(pubs), str(subs), str(count),
                        str(size), str(qos), "100" if qos else "1000"],
                       capture_output=True, timeout=300)
    d = json.loads(p.stdout)
    return {"received": d["received"], "rate": d["msgs_per_s"],
            "lost": (count if subs == pubs else count * subs) - d["received"]}


def run_mosquitto_tools(port, pubs, subs, count, size, qos, tmp):
    if pubs != 1 or subs != 1:
        return None
    data = os.path.join(tmp, "lines-%d-%d" % (count, size))
    if not os.path.exists(data):
        with open(data, "w") as f:
            line = "x" * (size - 1) + "\n"
            f.write(line * count)
    sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-t", "cmpm",
                            "-q", str(qos), "-C", str(count), "-W", "120",
                            "-i", "cmpmsub"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # subscribed (no log to wait on with log_dest none)
    t0 = time.monotonic()
    with open(data, "rb") as f:
        subprocess.run(["mosquitto_pub", "-p", str(port), "-t", "cmpm", "-q",
                        str(qos), "-l"], stdin=f, timeout=300)
    out, _ = sub.communicate(timeout=300)
    t1 = time.monotonic()
    got = out.count(b"\n")
    return {"received": got, "rate": got / (t1 - t0), "lost": count - got}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--mqttjs", help="directory with node_modules/mqtt")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only")
    ap.add_argument("--quick", action="store_true", help="counts / 10")
    ap.add_argument("--json")
    a = ap.parse_args()
    names = a.only.split(",") if a.only else list(SCENARIOS)
    tmp = tempfile.mkdtemp(prefix="mqcmp-data-")
    results = {}
    b = Broker()
    try:
        for rep in range(a.reps):
            for name in names:
                pubs, subs, count, size, qos = SCENARIOS[name]
                if a.quick:
                    count //= 10
                tools = [("mqbench", lambda: run_mqbench(
                    a.build, b.port, pubs, subs, count, size, qos))]
                if a.mqttjs:
                    tools.append(("mqttjs", lambda: run_mqttjs(
                        a.mqttjs, b.port, pubs, subs, count, size, qos)))
                tools.append(("mosquitto_pub|sub", lambda: run_mosquitto_tools(
                    b.port, pubs, subs, count, size, qos, tmp)))
                for tool, fn in tools:
                    try:
                        r = fn()
                    except Exception as e:  # noqa: BLE001 - report and go on
                        r = {"error": str(e)[:200]}
                    if r is None:
                        continue
                    results.setdefault((name, tool), []).append(r)
                    print("round %d %-11s %-18s %s" % (rep + 1, name, tool,
                                                       json.dumps(r)))
                    sys.stdout.flush()
    finally:
        b.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nmsg/s: median over the complete runs (every message received)")
    print("\n| scenario | tool | msg/s (median) | complete runs | lost (max) |")
    print("|---|---|---:|---:|---:|")
    table = []
    for name in names:
        best_other = 0
        for (n, tool), rs in results.items():
            if n != name:
                continue
            done = [r for r in rs if "rate" in r]
            ok = [r for r in done if r["lost"] == 0]
            med = statistics.median(r["rate"] for r in ok) if ok else 0
            lost = max((r["lost"] for r in done), default=0)
            table.append({"scenario": name, "tool": tool, "rate": med,
                          "runs": len(ok), "of": len(rs), "lost": lost})
            print("| %s | %s | %s | %d of %d | %d |"
                  % (name, tool, "%.0f" % med if ok else "-", len(ok),
                     len(rs), lost))
            if tool != "mqbench":
                best_other = max(best_other, med)
        mine = [t["rate"] for t in table
                if t["scenario"] == name and t["tool"] == "mqbench"]
        if mine and best_other:
            print("| %s | mqbench / best other | %.2fx | | |"
                  % (name, mine[0] / best_other))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"table": table,
                       "raw": {"%s/%s" % k: v for k, v in results.items()}},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
