#!/usr/bin/python3
"""bench_python.py - one benchmark driver for both Python MQTT clients:
libmq's Python binding (libmq.client) and paho-mqtt (paho.mqtt.client),
the same code with only the import switched (issue 15).

  bench_python.py LIB pub|e2e|rtt HOST PORT COUNT SIZE QOS [budget=S]

LIB is "libmq" or "paho". Prints one RESULT line in the format of the C
drivers (bench_common.h): msgs_per_s, cpu_s_per_M (user+sys of this whole
process per million messages), p50/p99 for rtt. Both clients use
loop_start(), MQTT 3.1.1, at most 100 QoS>0 messages in flight and a
window of accepted-but-not-completed messages (10,000 for QoS 0, 200 for
QoS 1/2) so that neither queues without bound.
"""
import resource
import sys
import threading
import time


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_utime, r.ru_stime


def peak_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Window:
    """Counts completions; publishers wait while too many are open."""

    def __init__(self, size):
        self.size = size
        self.done = 0
        self.cv = threading.Condition()

    def complete(self, *a):
        with self.cv:
            self.done += 1
            if self.done % 64 == 0 or True:
                self.cv.notify()

    def wait_below(self, sent):
        if sent - self.done < self.size:
            return
        with self.cv:
            while sent - self.done >= self.size:
                self.cv.wait(1.0)

    def wait_all(self, n, deadline):
        with self.cv:
            while self.done < n and time.monotonic() < deadline:
                self.cv.wait(0.5)
        return self.done


def make(mqtt, cid):
    c = mqtt.Client(cid)
    c.max_inflight_messages_set(100)
    return c


def run(lib, scen, host, port, count, size, qos, budget):
    if lib == "libmq":
        import libmq.client as mqtt
    else:
        import paho.mqtt.client as mqtt
    payload = b"x" * size
    window = Window(10000 if qos == 0 else 200)
    res = {"sent": 0, "received": 0, "p50_us": 0, "p99_us": 0}
    deadline = time.monotonic() + (budget or 3600)
    if scen == "pub":
        c = make(mqtt, "bench-pub-%s" % lib)
        c.on_publish = window.complete
        c.connect(host, port)
        c.loop_start()
        time.sleep(0.2)
        c0, t0 = cpu(), time.monotonic()
        sent = 0
        while sent < count and time.monotonic() < deadline:
            window.wait_below(sent)
            c.publish("bench/pub", payload, qos)
            sent += 1
        done = window.wait_all(sent, time.monotonic() + 60)
        t1, c1 = time.monotonic(), cpu()
        n = done
        res["sent"] = sent
        c.disconnect()
        c.loop_stop()
    elif scen == "e2e":
        got = Window(0)
        last = [0.0]

        def on_message(cl, u, m):
            got.complete()
            last[0] = time.monotonic()
        s = make(mqtt, "bench-sub-%s" % lib)
        s.on_message = on_message
        ready = threading.Event()
        s.on_subscribe = lambda *a: ready.set()
        s.connect(host, port)
        s.loop_start()
        s.subscribe("bench/e2e", qos)
        ready.wait(10)
        p = make(mqtt, "bench-e2e-pub-%s" % lib)
        p.on_publish = window.complete
        p.connect(host, port)
        p.loop_start()
        time.sleep(0.2)
        c0, t0 = cpu(), time.monotonic()
        sent = 0
        while sent < count and time.monotonic() < deadline:
            window.wait_below(sent)
            p.publish("bench/e2e", payload, qos)
            sent += 1
        n = got.wait_all(sent, time.monotonic() + 60)
        t1, c1 = (last[0] or time.monotonic()), cpu()
        res["sent"], res["received"] = sent, n
        p.disconnect()
        p.loop_stop()
        s.disconnect()
        s.loop_stop()
    else:  # rtt
        ev = threading.Event()
        c = make(mqtt, "bench-rtt-%s" % lib)
        c.on_message = lambda cl, u, m: ev.set()
        ready = threading.Event()
        c.on_subscribe = lambda *a: ready.set()
        c.connect(host, port)
        c.loop_start()
        c.subscribe("bench/rtt", qos)
        ready.wait(10)
        lat = []
        c0, t0 = cpu(), time.monotonic()
        for _ in range(count):
            ev.clear()
            s = time.monotonic()
            c.publish("bench/rtt", payload, qos)
            if not ev.wait(5):
                break
            lat.append((time.monotonic() - s) * 1e6)
        t1, c1 = time.monotonic(), cpu()
        n = len(lat)
        lat.sort()
        if lat:
            res["p50_us"] = lat[len(lat) // 2]
            res["p99_us"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        res["sent"] = res["received"] = n
        c.disconnect()
        c.loop_stop()
    el = max(t1 - t0, 1e-9)
    cs = c1[0] - c0[0]
    status = "ok" if n >= min(count, res["sent"]) and n > 0 else \
        "incomplete"
    print("RESULT lib=py-%s scenario=%s qos=%d count=%d size=%d sent=%d "
          "received=%d elapsed_s=%.3f msgs_per_s=%.0f mib_per_s=%.2f "
          "cpu_s=%.3f cpu_user_s=%.3f cpu_sys_s=%.3f cpu_s_per_M=%.2f "
          "peak_rss_kb=%d p50_us=%.1f p99_us=%.1f status=%s" % (
              lib, scen, qos, n, size, res["sent"], res["received"], el,
              n / el, n * size / el / 1048576, cs, c1[1] - c0[1],
              c1[2] - c0[2], cs / max(n, 1) * 1e6, peak_kb(), res["p50_us"],
              res["p99_us"], status), flush=True)
    return 0 if status == "ok" else 1


def main(argv):
    if len(argv) < 8:
        sys.exit(__doc__)
    lib, scen, host, port, count, size, qos = argv[1:8]
    budget = 0.0
    for a in argv[8:]:
        if a.startswith("budget="):
            budget = float(a[7:])
    return run(lib, scen, host, int(port), int(count), int(size), int(qos),
               budget)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
