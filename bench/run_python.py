#!/usr/bin/python3
"""run_python.py - Python client benchmark (issue 15): libmq's Python
binding against paho-mqtt, the same driver (bench_python.py) for both, on
the brokers run.py starts (the fake acknowledging broker for publisher
alone, a private mosquitto for end to end and round trips). Prints
throughput and CPU per message side by side with the ratio libmq/paho.

  /usr/bin/python3 bench/run_python.py [--quick] [--reps N]
      [--bindir DIR] [--pythonpath DIR] [--only a,b]

--bindir holds fakebroker (a -Dbench=true build: <build>/bench);
--pythonpath the built binding (<build>/bindings/python). Every process
started here is stopped by its PID.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import Brokers, parse_result, fmt  # noqa: E402

LIBS = ["libmq", "paho"]
# name, broker, driver scenario, size, qos, (quick, default) counts
SCENARIOS = [
    ("pub-q0", "fake", "pub", 64, 0, (20000, 200000)),
    ("pub-q1", "fake", "pub", 64, 1, (5000, 50000)),
    ("e2e-q0", "mosq", "e2e", 64, 0, (10000, 100000)),
    ("e2e-q1", "mosq", "e2e", 64, 1, (3000, 30000)),
    ("rtt-q1", "mosq", "rtt", 64, 1, (300, 2000)),
]
BUDGET = (5, 20)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--bindir", default=here)
    ap.add_argument("--pythonpath", default=os.path.join(
        os.path.dirname(here), "bindings", "python"))
    ap.add_argument("--only")
    args = ap.parse_args()
    mode = 0 if args.quick else 1
    reps = args.reps or (1 if args.quick else 3)
    scs = [s for s in SCENARIOS if not args.only or
           s[0] in args.only.split(",")]
    env = dict(os.environ, PYTHONPATH=args.pythonpath)
    driver = os.path.join(here, "bench_python.py")
    brokers = Brokers(args.bindir, {s[1] for s in scs})
    results = {s[0]: {lib: [] for lib in LIBS} for s in scs}
    started = time.time()
    try:
        for rep in range(reps):
            order = LIBS if rep % 2 == 0 else LIBS[::-1]
            for sc in scs:
                port = brokers.ports[sc[1]]
                for lib in order:
                    cmd = ["/usr/bin/python3", driver, lib, sc[2],
                           "127.0.0.1", str(port), str(sc[5][mode]),
                           str(sc[3]), str(sc[4]), "budget=%d" % BUDGET[mode]]
                    try:
                        p = subprocess.run(cmd, capture_output=True,
                                           text=True, env=env, timeout=300)
                        r = parse_result(p.stdout) or {
                            "status": "crash: " + p.stderr[-300:]}
                    except subprocess.TimeoutExpired:
                        r = {"status": "killed(timeout)"}
                    results[sc[0]][lib].append(r)
                    print("[%4.0fs] round %d %-7s %-6s %s" % (
                        time.time() - started, rep + 1, sc[0], lib,
                        "%s msg/s, %s cpu s/M" % (
                            fmt(r.get("msgs_per_s")), fmt(r.get("cpu_s_per_M")))
                        if r.get("status") == "ok" else r.get("status")),
                        file=sys.stderr, flush=True)
    finally:
        brokers.close()

    def med(rows, key):
        v = [r[key] for r in rows if r.get("status") == "ok" and key in r]
        return statistics.median(v) if v else None

    print("Python clients, %s mode, %d round(s), %.0f s; medians; "
          "ratio = libmq / paho-mqtt." % (["quick", "default"][mode], reps,
                                           time.time() - started))
    print()
    print("| scenario | count | libmq msg/s | paho msg/s | throughput ratio "
          "| libmq cpu s/M | paho cpu s/M | CPU ratio | libmq p50/p99 us "
          "| paho p50/p99 us |")
    print("|---" * 10 + "|")
    bad = False
    for sc in scs:
        m = {lib: med(results[sc[0]][lib], "msgs_per_s") for lib in LIBS}
        c = {lib: med(results[sc[0]][lib], "cpu_s_per_M") for lib in LIBS}
        lat = {lib: "%s / %s" % (fmt(med(results[sc[0]][lib], "p50_us")),
                                 fmt(med(results[sc[0]][lib], "p99_us")))
               if sc[2] == "rtt" else "" for lib in LIBS}
        bad = bad or m["libmq"] is None
        print("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            sc[0], sc[5][mode], fmt(m["libmq"]), fmt(m["paho"]),
            "%.2fx" % (m["libmq"] / m["paho"]) if m["libmq"] and m["paho"]
            else "n/a", fmt(c["libmq"]), fmt(c["paho"]),
            "%.2fx" % (c["libmq"] / c["paho"]) if c["libmq"] and c["paho"]
            else "n/a", lat["libmq"], lat["paho"]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
