#!/usr/bin/python3
"""mqbench against a real mosquitto at small scale (hundreds of clients):
usage errors, counts that add up, loss / duplicate / reorder detection
through a proxy that really drops, duplicates and swaps PUBLISH packets,
exit codes, running out of descriptors, TLS / WebSocket / Unix transports,
TLS-PSK and proxies (Debian's tinyproxy) with mqpub's options, shared
subscriptions, a subscriber we did not write (mosquitto_sub), and the end
of a run against a broker that stopped answering (bounded by --drain; a
second signal exits at once)."""
import contextlib
import json
import os
import resource
import signal
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from toolslib import (Bg, Broker, M_SUB, MOSQUITTO, Proxy, Skip, check, eq,
                      free_port, main, make_certs, test)

MQBENCH = os.environ.get("MQBENCH", "mqbench")
B = None


def bench(*args, timeout=60, preexec=None):
    p = subprocess.run([MQBENCH] + list(args), capture_output=True,
                       timeout=timeout, preexec_fn=preexec)
    return p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


def bench_json(*args, timeout=60, preexec=None):
    rc, out, err = bench(*(list(args) + ["--json", "--progress", "none"]),
                         timeout=timeout, preexec=preexec)
    try:
        doc = json.loads(out)
    except ValueError:
        raise AssertionError("not JSON: rc=%r out=%r err=%r" % (rc, out, err))
    eq(doc["exit_code"], rc, "exit_code in the JSON and the real one")
    return rc, doc, err


def HP(b=None):
    return ["-h", "127.0.0.1", "-p", str((b or B).port)]


# ---- a packet-aware proxy that alters PUBLISH packets to clients -------

class FaultProxy:
    """Forwards TCP to the broker. Counts PUBLISH packets going from the
    broker to clients (over all connections, from 1) and drops the ones in
    `drop`, sends the ones in `dup` twice, and holds each one in `swap`
    back until the next PUBLISH has gone."""

    def __init__(self, upstream_port, drop=(), dup=(), swap=()):
        self.up = upstream_port
        self.drop, self.dup, self.swap = set(drop), set(dup), set(swap)
        self.n = 0
        self.done = []
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.up))
            for s in (c, u):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.socks += [c, u]
            threading.Thread(target=self._raw, args=(c, u),
                             daemon=True).start()
            threading.Thread(target=self._packets, args=(u, c),
                             daemon=True).start()

    @staticmethod
    def _raw(src, dst):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _packets(self, src, dst):
        buf = b""
        held = None
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                buf += b
                out = b""
                while True:
                    pkt, buf = self._take(buf)
                    if pkt is None:
                        break
                    if pkt[0] >> 4 != 3:
                        out += pkt
                        continue
                    with self.lock:
                        self.n += 1
                        n = self.n
                    if n in self.drop:
                        self.done.append(("drop", n))
                        continue
                    if n in self.swap:
                        self.done.append(("swap", n))
                        held = pkt
                        continue
                    out += pkt
                    if n in self.dup:
                        self.done.append(("dup", n))
                        out += pkt
                    if held is not None:
                        out += held
                        held = None
                if out:
                    dst.sendall(out)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @staticmethod
    def _take(buf):
        """One whole MQTT packet from the front of buf, or (None, buf)."""
        if len(buf) < 2:
            return None, buf
        mult, rl, i = 1, 0, 1
        while True:
            if i >= len(buf):
                return None, buf
            byte = buf[i]
            rl += (byte & 127) * mult
            mult *= 128
            i += 1
            if byte & 128 == 0:
                break
        if len(buf) < i + rl:
            return None, buf
        return buf[:i + rl], buf[i + rl:]

    def stop(self):
        self.ls.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


# ---- usage errors ----------------------------------------------------------

def usage_error(args, needle):
    rc, out, err = bench(*args)
    eq(rc, 1, "exit code of %r (out=%r err=%r)" % (args, out[:200], err))
    check(needle in err, "%r not in stderr %r" % (needle, err))


@test
def usage_errors_exit_1():
    usage_error([], "")
    usage_error(["bogus"], "unknown command 'bogus'")
    usage_error(["pub", "--bogus"], "unknown option '--bogus'")
    usage_error(["pub", "-s", "10"], "smaller than the 32-byte mqbench header")
    usage_error(["pub", "-q", "3"], "invalid QoS")
    usage_error(["pub", "-c", "0"], "invalid client count")
    usage_error(["pub", "-c", "x"], "invalid client count")
    usage_error(["pub", "-I", "5", "-r", "100"], "not both")
    usage_error(["pub", "-t", "a/#"], "invalid publish topic")
    usage_error(["sub", "-t", "a/#/b"], "invalid subscription filter")
    usage_error(["pub", "-t", "a/%x"], "unknown %-sequence")
    usage_error(["pub", "--shared"], "--shared is for sub and pubsub")
    usage_error(["conn", "-L", "5"], "-L is not used by conn")
    usage_error(["pub", "-V", "31"], "MQTT 3.1 (-V 31) is not supported")
    usage_error(["pub", "-V", "7"], "invalid protocol version")
    usage_error(["pub", "--uri", "mqtt://x", "-p", "1"], "--uri replaces")
    usage_error(["pub", "--uri", "bogus://x"], "bad URI 'bogus://x'")
    usage_error(["pub", "-p", "70000"], "invalid port")
    usage_error(["pub", "-P", "pw"], "no username")
    usage_error(["pub", "--events", "x"], "invalid --events")
    usage_error(["pub", "-c"], "-c needs a value")
    usage_error(["pub", "--tls-version", "tlsv9"], "in option --tls-version")
    usage_error(["pub", "-h", "no-such-host.invalid"], "cannot resolve host")
    usage_error(["pub", "-x", "10", "-V", "4"], "-x needs MQTT 5")
    rc, out, err = bench("--help")
    eq(rc, 1, "--help exit code")
    check("Usage: mqbench conn|pub|sub|pubsub" in out, out)


# ---- counts ------------------------------------------------------------------

@test
def pubsub_counts_add_up_qos1_hundreds_of_clients():
    # 100 publishers, 100 subscribers in pairs (mqbench/%i), 3000 messages
    rc, d, err = bench_json("pubsub", *HP(), "-c", "100", "-i", "0",
                            "-I", "20", "-L", "3000", "-q", "1")
    eq(rc, 0, "rc (%s)" % err)
    eq(d["connect"]["connected"], 200, "connected")
    eq(d["publish"]["count"], 3000, "published")
    eq(d["publish"]["acked"], 3000, "acked")
    eq(d["receive"]["count"], 3000, "received")
    eq(d["loss"]["lost"], 0, "lost")
    eq(d["loss"]["expected"], 3000, "expected")
    eq(len(d["subscribers"]), 100, "subscribers")
    eq(sorted({s["expected"] for s in d["subscribers"]}), [30], "per sub")
    eq(d["latency_ms"]["count"], 3000, "latency samples")
    check(0 < d["latency_ms"]["p50"] <= d["latency_ms"]["p99"]
          <= d["latency_ms"]["max"], d["latency_ms"])


@test
def pubsub_fan_in_qos2_v311_and_fan_out_qos0():
    rc, d, err = bench_json("pubsub", *HP(), "-c", "10", "--subs", "1",
                            "--sub-topic", "fanin/#", "-t", "fanin/%c",
                            "-I", "0", "-L", "5000", "-q", "2", "-V", "3")
    eq(rc, 0, "rc (%s)" % err)
    eq(d["protocol"], 4, "protocol")
    eq(d["receive"]["count"], 5000, "fan-in received")
    eq(d["loss"]["duplicates"], 0, "no duplicates at QoS 2")
    rc, d, err = bench_json("pubsub", *HP(), "-c", "1", "--subs", "50",
                            "-t", "fanout/x", "-I", "2", "-L", "200")
    eq(rc, 0, "rc (%s)" % err)
    eq(d["receive"]["count"], 200 * 50, "fan-out received")
    eq(d["loss"]["expected"], 200 * 50, "fan-out expected")


@test
def conn_holds_hundreds_of_connections():
    rc, d, err = bench_json("conn", *HP(), "-c", "300", "-i", "0",
                            "--duration", "1")
    eq(rc, 0, "rc (%s)" % err)
    eq(d["connect"]["connected"], 300, "connected")
    eq(d["connect"]["failed"], 0, "failed")
    eq(d["connect"]["connack_ms"]["count"], 300, "connect samples")
    check(d["memory"]["connections"] == 300, d["memory"])
    check(d["memory"]["per_connection_kb"] > 0, d["memory"])


@test
def separate_sub_and_pub_processes_and_mosquitto_sub_interop():
    s = Bg([MQBENCH, "sub", *HP(), "-c", "3", "-t", "sep/#", "--idle", "2",
            "--json", "--progress", "none", "--prefix", "sepsub"])
    B.wait_subscribed("sepsub-s2")
    ms = Bg([M_SUB, "-p", str(B.port), "-t", "sep/#", "-C", "200",
             "-i", "msub", "-F", "%l"])
    B.wait_subscribed("msub")
    rc, out, err = bench("pub", *HP(), "-c", "4", "-L", "200", "-I", "5",
                         "-t", "sep/%i", "-s", "100", "--progress", "none")
    eq(rc, 0, "pub rc (%s)" % err)
    check("published     200" in out, out)
    r = s.wait(30)
    eq(r.rc, 0, "sub rc (%r)" % r)
    d = json.loads(r.out)
    eq(d["receive"]["count"], 600, "3 subscribers x 200")
    eq(d["loss"]["lost"], 0, "lost")
    # the planned count in the header gives the expected total
    eq(d["loss"]["expected"], 600, "announced")
    m = ms.wait(30)
    eq(m.rc, 0, "mosquitto_sub rc")
    eq(m.out.split(), [b"100"] * 200, "mosquitto_sub saw 200 x 100 bytes")


# ---- loss, duplicates, reordering through a faulty path ------------------

@test
def loss_duplicates_and_reordering_are_detected():
    px = FaultProxy(B.port, drop={10, 57}, dup={20}, swap={30})
    try:
        rc, d, err = bench_json("pubsub", "--uri",
                                "mqtt://127.0.0.1:%d" % px.port,
                                "-c", "1", "--subs", "1", "-I", "2",
                                "-L", "100", "--drain", "1")
    finally:
        px.stop()
    eq(sorted(px.done), [("drop", 10), ("drop", 57), ("dup", 20),
                         ("swap", 30)], "faults applied")
    eq(rc, 3, "exit code for loss (%s)" % err)
    eq(d["publish"]["count"], 100, "published")
    eq(d["receive"]["count"], 99, "received: 100 - 2 dropped + 1 duplicate")
    eq(d["loss"]["lost"], 2, "lost")
    eq(d["loss"]["duplicates"], 1, "duplicates")
    eq(d["loss"]["reordered"], 1, "reordered")
    sub = d["subscribers"][0]
    eq((sub["lost"], sub["duplicates"], sub["reordered"]), (2, 1, 1),
       "per subscriber")
    # the text report names the subscriber
    px = FaultProxy(B.port, drop={3})
    try:
        rc, out, err = bench("pubsub", "--uri",
                             "mqtt://127.0.0.1:%d" % px.port, "-c", "1",
                             "--subs", "1", "-I", "2", "-L", "20",
                             "--drain", "1", "--progress", "none",
                             "--prefix", "lossy")
    finally:
        px.stop()
    eq(rc, 3, "rc")
    check("1 lost of 20 expected" in out, out)
    check("lossy-s0: received 19 of 20, lost 1" in out, out)


@test
def loss_of_the_last_message_found_from_the_announced_count():
    # separate processes: only the planned count in the header tells the
    # subscriber that message 50 (the last) is missing
    px = FaultProxy(B.port, drop={50})
    try:
        s = Bg([MQBENCH, "sub", "--uri", "mqtt://127.0.0.1:%d" % px.port,
                "-c", "1", "-t", "tail/#", "--idle", "1.5", "--json",
                "--progress", "none", "--prefix", "tailsub"])
        B.wait_subscribed("tailsub-s0")
        rc, out, err = bench("pub", *HP(), "-c", "1", "-L", "50", "-I", "2",
                             "-t", "tail/x", "--progress", "none")
        eq(rc, 0, "pub rc")
        r = s.wait(30)
    finally:
        px.stop()
    d = json.loads(r.out)
    eq(d["receive"]["count"], 49, "received")
    eq(d["loss"]["lost"], 1, "the tail loss is counted")
    eq(r.rc, 3, "sub exit code")


@test
def duplicates_at_qos1_are_reported_but_allowed():
    px = FaultProxy(B.port, dup={5})
    try:
        rc, d, err = bench_json("pubsub", "--uri",
                                "mqtt://127.0.0.1:%d" % px.port, "-c", "1",
                                "--subs", "1", "-I", "2", "-L", "20",
                                "-q", "1", "--drain", "1")
    finally:
        px.stop()
    eq(d["loss"]["duplicates"], 1, "duplicate seen")
    eq(d["loss"]["lost"], 0, "nothing lost")
    eq(rc, 0, "QoS 1 may duplicate")


# ---- failures and exit codes ------------------------------------------------

@test
def connection_refused_exit_2_with_reason():
    rc, d, err = bench_json("conn", "-h", "127.0.0.1", "-p",
                            str(free_port()), "-c", "5", "-i", "0")
    eq(rc, 2, "rc")
    eq(d["connect"]["failed"], 5, "failed")
    check(any("refused" in f["reason"] for f in d["failures"]), d["failures"])


@test
def bad_password_exit_2_with_connack_reason():
    b = Broker(users={"alice": "secret"})
    try:
        rc, out, err = bench("pub", *HP(b), "-c", "3", "-L", "3", "-u",
                             "alice", "-P", "wrong", "--progress", "none")
        eq(rc, 2, "rc (%s)" % out)
        check("3 failed" in out, out)
        check("CONNACK: Bad user name or password" in out or
              "CONNACK: Not authorized" in out, out)
        rc, out, err = bench("pub", *HP(b), "-c", "3", "-L", "3", "-u",
                             "alice", "-P", "secret", "--progress", "none")
        eq(rc, 0, "rc with the right password (%s)" % out)
    finally:
        b.stop()


@test
def out_of_descriptors_is_reported_not_a_crash():
    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (150, 150))
    rc, d, err = bench_json("conn", *HP(), "-c", "400", "-i", "0",
                            "--duration", "0.5", preexec=low_limit)
    eq(rc, 2, "rc (%s)" % err)
    check("RLIMIT_NOFILE is 150" in err, err)
    reached = d["connect"]["connected"]
    check(50 < reached < 150, "connections reached: %d" % reached)
    stop = d["limits"]["stopped"] or ""
    check("at %d connected: out of file descriptors" % reached in stop,
          stop)
    check(d["limits"]["events"] == "poll", d["limits"])
    # the text form says it too
    rc, out, err = bench("conn", *HP(), "-c", "400", "-i", "0", "--duration",
                         "0.5", "--progress", "none", preexec=low_limit)
    eq(rc, 2, "rc")
    check("stopped starting clients at " in out and
          "connected: out of file descriptors (RLIMIT_NOFILE 150)" in out,
          out)


@test
def out_of_local_ports_is_reported():
    # a private network namespace (ours alone) with 50 local ports and its
    # own mosquitto: the 51st connection gets EADDRNOTAVAIL
    if not (shutil.which("unshare") and shutil.which("ip")):
        print("# skipped: no unshare/ip")
        return
    d = tempfile.mkdtemp(prefix="mqbench-ports-")
    conf = os.path.join(d, "m.conf")
    with open(conf, "w") as f:
        f.write("user root\nlistener 1883 127.0.0.1\nallow_anonymous true\n"
                "max_connections -1\nlog_dest none\n")
    script = """
ip link set lo up || exit 90
echo "40000 40049" > /proc/sys/net/ipv4/ip_local_port_range || exit 91
"$1" -c "$2" & b=$!
i=0
until (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; do
    i=$((i+1)); [ $i -gt 100 ] && { kill $b; exit 92; }; sleep 0.05
done
"$3" conn -h 127.0.0.1 -p 1883 -c 80 -i 0 --duration 0.3 --json \
    --progress none
rc=$?
kill $b; wait $b
exit $rc
"""
    p = subprocess.run(["unshare", "-n", "bash", "-c", script, "sh",
                        MOSQUITTO, conf, MQBENCH], capture_output=True,
                       timeout=60)
    shutil.rmtree(d, ignore_errors=True)
    if p.returncode >= 90 or b"unshare failed" in p.stderr:
        print("# skipped: no private network namespace here (%r)"
              % p.stderr[-200:])
        return
    d = json.loads(p.stdout)
    eq(p.returncode, 2, "rc")
    reached = d["connect"]["connected"]
    check(40 <= reached <= 50, "connections reached: %d" % reached)
    stop = d["limits"]["stopped"] or ""
    check("at %d connected: out of local ports" % reached in stop and
          "ip_local_port_range" in stop, stop)
    check(any("Cannot assign requested address" in f["reason"]
              for f in d["failures"]), d["failures"])


@test
def sigint_stops_an_endless_run_with_a_report():
    import signal
    import time
    p = subprocess.Popen([MQBENCH, "pubsub", *HP(), "-c", "5", "-I", "10",
                          "--progress", "lines", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    seen = b""
    while time.time() < deadline and b"recv" not in seen:
        seen += p.stderr.readline()
    time.sleep(1.2)
    os.kill(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=20)
    d = json.loads(out)
    check(d["interrupted"], d)
    check(d["publish"]["count"] > 0, d["publish"])
    eq(d["loss"]["lost"], 0, "nothing lost when stopped")
    eq(p.returncode, 0, "rc")
    check(b"conn 10/10" in seen + err, "progress line: %r" % (seen + err))


# ---- shared subscriptions, rate, transports -------------------------------

@test
def shared_subscription_group_counts_once():
    rc, d, err = bench_json("pubsub", *HP(), "-c", "2", "--subs", "4",
                            "--shared", "--sub-topic", "shr/#", "-t",
                            "shr/%i", "-I", "1", "-L", "1000", "-q", "1")
    eq(rc, 0, "rc (%s)" % err)
    eq(len(d["subscribers"]), 1, "one share group")
    g = d["subscribers"][0]
    eq(g["name"], "$share/mqbench/shr/#", "group name")
    eq(g["members"], 4, "members")
    eq(g["received"], 1000, "each message once in the group")
    eq(g["lost"], 0, "lost")


@test
def total_rate_is_kept():
    rc, d, err = bench_json("pub", *HP(), "-c", "20", "-i", "0", "-r", "500",
                            "--duration", "3")
    eq(rc, 0, "rc (%s)" % err)
    r = d["publish"]["rate_per_s"]
    check(400 < r < 600, "rate %r for -r 500" % r)
    check(1200 < d["publish"]["count"] < 1800, d["publish"])


@test
def tls_websocket_and_unix_transports():
    d0 = tempfile.mkdtemp(prefix="mqbench-tls-")
    certs = make_certs(d0)
    tls_port, ws_port = free_port(), free_port()
    b = Broker(extra_conf="\n".join([
        "listener %d 127.0.0.1" % tls_port,
        "cafile " + certs["ca.crt"],
        "certfile " + certs["server.crt"],
        "keyfile " + certs["server.key"],
        "listener %d 127.0.0.1" % ws_port,
        "protocol websockets"]))
    try:
        rc, d, err = bench_json("pubsub", "-h", "localhost", "-p",
                                str(tls_port), "--cafile", certs["ca.crt"],
                                "-c", "3", "-I", "5", "-L", "60")
        eq(rc, 0, "TLS rc (%s)" % err)
        check(d["uris"][0].startswith("mqtts://"), d["uris"])
        eq(d["receive"]["count"], 60, "TLS received")
        rc, d, err = bench_json("pubsub", "-h", "127.0.0.1", "-p",
                                str(ws_port), "--ws", "-c", "3", "-I", "5",
                                "-L", "60")
        eq(rc, 0, "ws rc (%s)" % err)
        check(d["uris"][0].startswith("ws://127.0.0.1"), d["uris"])
        eq(d["receive"]["count"], 60, "ws received")
        rc, d, err = bench_json("pubsub", "--unix", b.sock, "-c", "3",
                                "-I", "5", "-L", "60", "-q", "2")
        eq(rc, 0, "unix rc (%s)" % err)
        eq(d["receive"]["count"], 60, "unix received")
        # wrong CA: a clear failure, exit 2
        rc, d, err = bench_json("conn", "-h", "localhost", "-p",
                                str(tls_port), "--cafile", certs["client.crt"],
                                "-c", "2")
        eq(rc, 2, "TLS with a wrong CA")
        check(d["failures"], d)
        # --crlfile and --tls-provider reach libmq as in mqpub
        rc, d, err = bench_json("conn", "-h", "localhost", "-p",
                                str(tls_port), "--cafile", certs["ca.crt"],
                                "--crlfile", os.path.join(d0, "none.crl"),
                                "-c", "1")
        eq(rc, 2, "a CRL file that is not there")
        check(any("CRL file" in f["reason"] for f in d["failures"]), d)
        rc, d, err = bench_json("conn", "-h", "localhost", "-p",
                                str(tls_port), "--cafile", certs["ca.crt"],
                                "--tls-provider", "nosuchprovider", "-c", "1")
        eq(rc, 2, "a TLS provider that is not there")
        check(any("nosuchprovider" in f["reason"] for f in d["failures"]), d)
    finally:
        b.stop()


@test
def several_destinations_share_the_clients():
    b2 = Broker()
    try:
        rc, d, err = bench_json("conn", "--uri", "mqtt://127.0.0.1:%d,"
                                "mqtt://127.0.0.1:%d" % (B.port, b2.port),
                                "-c", "10", "-i", "0", "--duration", "0.3",
                                "--prefix", "spread")
        eq(rc, 0, "rc (%s)" % err)
        eq(d["connect"]["connected"], 10, "connected")
        eq(b2.log_text().count("New client connected"), 5,
           "half on the second broker")
    finally:
        b2.stop()


# ---- the end of a run: bounded, and at once on a second signal -------------

@contextlib.contextmanager
def stalled_broker_run(args, stop_after="conn 2/2"):
    """Run mqbench with `args` against a private broker and SIGSTOP the
    broker once the progress shows `stop_after`: connections stay open,
    nothing is acknowledged any more. Yields the mqbench Popen; afterwards
    mqbench is killed if still running and the broker resumed and
    stopped, by PID."""
    b = Broker()
    p = subprocess.Popen([MQBENCH] + args + ["-h", "127.0.0.1", "-p",
                                             str(b.port), "--progress",
                                             "lines", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 20
        seen = b""
        while time.time() < deadline and stop_after.encode() not in seen:
            seen += p.stderr.readline()
        check(stop_after.encode() in seen, "progress: %r" % seen)
        os.kill(b.proc.pid, signal.SIGSTOP)
        time.sleep(0.5)              # messages go out, none acknowledged
        yield p
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        if b.proc.poll() is None:
            os.kill(b.proc.pid, signal.SIGCONT)
        b.stop()


def finish(p):
    """Wait for mqbench's end: (its JSON report, stderr, seconds taken)."""
    t0 = time.time()
    out, err = p.communicate(timeout=30)
    return json.loads(out), err, time.time() - t0


@test
def end_of_run_is_bounded_by_drain_when_the_broker_stalls():
    """The broker stops answering (SIGSTOP): the drain and the graceful
    disconnects at the end each take at most --drain, and what was never
    acknowledged is counted as failed publishes (exit 4), not lost
    silently; before issue 12's follow-up the end waited for libmq's own
    disconnect timeout plus destroy (10 s and more)."""
    with stalled_broker_run(["pub", "-c", "2", "-q", "1", "-I", "20",
                             "--duration", "3", "--drain", "1"]) as p:
        d, err, took = finish(p)
    check(took < 6.5, "ended %.1f s after the broker stalled (at most 1.5 "
          "s of the duration left, drain 1 + 1)" % took)
    check(d["publish"]["failed"] > 0, d["publish"])
    eq(p.returncode, 4, "publishes failed (%s)" % err[-300:])


@test
def second_signal_exits_at_once():
    """Interrupted while draining towards a stalled broker with a long
    --drain: a second SIGINT ends the drain and the disconnects at once
    (mq_disconnect_now) and mqbench still prints its report."""
    with stalled_broker_run(["pub", "-c", "3", "-q", "1", "-I", "10",
                             "--drain", "60"], "conn 3/3") as p:
        os.kill(p.pid, signal.SIGINT)
        time.sleep(1.0)
        check(p.poll() is None, "still draining after the first signal")
        os.kill(p.pid, signal.SIGINT)
        d, err, took = finish(p)
    check(took < 3.5, "exit took %.1f s after the second signal" % took)
    check(d["interrupted"], d)
    check(d["publish"]["failed"] > 0, d["publish"])


# ---- TLS-PSK and proxies, as mqpub takes them ----------------------------

PSK_ID, PSK_KEY = "bench-dev", "00a1b2c3d4e5f60718293a4b5c6d7e8f"


@test
def psk_and_tls_option_checks():
    b = Broker(psk=(PSK_ID, PSK_KEY))
    pport = b.psk_port
    try:
        # --psk means TLS: -h/-p become mqtts://
        rc, d, err = bench_json("pubsub", "-h", "127.0.0.1", "-p",
                                str(pport), "--psk", PSK_KEY,
                                "--psk-identity", PSK_ID, "-c", "2", "-I",
                                "5", "-L", "40", "-q", "1")
        eq(rc, 0, "PSK rc (%s)" % err)
        check(d["uris"][0].startswith("mqtts://"), d["uris"])
        eq(d["receive"]["count"], 40, "received over PSK")
        rc, d, err = bench_json("conn", "--uri", "mqtts://127.0.0.1:%d"
                                % pport, "--psk", "0badc0de",
                                "--psk-identity", PSK_ID, "-c", "1")
        eq(rc, 2, "a wrong key fails to connect")
        check(any("PSK" in f["reason"] or "psk" in f["reason"]
                  for f in d["failures"]), d["failures"])
    finally:
        b.stop()
    # the checks across options, in mqpub's (mosquitto's) wording
    usage_error(["conn", "--psk", PSK_KEY], "--psk-identity required")
    usage_error(["conn", "--psk", PSK_KEY, "--psk-identity", PSK_ID,
                 "--cafile", "ca.crt"], "Only one of --psk or --cafile")
    usage_error(["conn", "--keyform", "engine", "--key", "k", "--cert",
                 "c"], "--keyform engine needs --tls-engine")
    usage_error(["conn", "--keyform", "der"], "Invalid keyform")
    usage_error(["conn", "--tls-engine-kpass-sha1", "x"], "pin-value")
    usage_error(["conn", "--cert", "c.crt"], "Both certfile and keyfile")
    usage_error(["conn", "--unix", "/tmp/x.sock", "--proxy",
                 "socks5h://127.0.0.1:1"], "--proxy cannot be used with")


@test
def proxy_passes_host_names_to_the_proxy():
    try:
        px = Proxy("http")
    except Skip as e:
        print("# SKIP proxy test: %s" % e)
        return
    try:
        rc, d, err = bench_json("pubsub", "-h", "localhost", "-p",
                                str(B.port), "--proxy",
                                "http://127.0.0.1:%d" % px.port, "-c", "2",
                                "-I", "5", "-L", "40", "-q", "1")
        eq(rc, 0, "through the proxy (%s)" % err)
        eq(d["receive"]["count"], 40, "received")
        check(d["uris"][0].startswith("mqtt://localhost:"), d["uris"])
        # a proxy nobody listens on: the clients fail, naming the proxy
        rc, d, err = bench_json("conn", "-h", "127.0.0.1", "-p", str(B.port),
                                "--proxy", "socks5h://127.0.0.1:%d"
                                % free_port(), "-c", "1")
        eq(rc, 2, "dead proxy")
        check(any("proxy" in f["reason"] for f in d["failures"]),
              d["failures"])
        rc, out, err = bench("conn", "-h", "127.0.0.1", "-p", str(B.port),
                             "--proxy", "ftp://127.0.0.1:1", "-c", "1",
                             "--progress", "none")
        check(rc != 0 and "--proxy" in err, "bad proxy URL: %r" % err)
    finally:
        log = px.stop()
    eq(log.count("CONNECT localhost:%d" % B.port), 4,
       "4 clients tunnelled by name: %s" % log[-1500:])


if __name__ == "__main__":
    B = Broker()
    try:
        main()
    finally:
        B.stop()
