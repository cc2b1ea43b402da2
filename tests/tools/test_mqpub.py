#!/usr/bin/python3
"""mqpub against a real mosquitto, checked with mosquitto_sub (interop)."""
import os
import signal
import tempfile

from toolslib import (Bg, Broker, M_PUB, M_SUB, MQPUB, MQSUB, REFERENCE,
                      check, eq, main, run, test, free_port, make_certs)

B = None


def P():
    return ["-p", str(B.port)]


def sub_bg(topic, cid, extra=(), v=False):
    args = [M_SUB] + P() + ["-t", topic, "-i", cid] + list(extra)
    if v:
        args.append("-v")
    s = Bg(args)
    B.wait_subscribed(cid)
    return s


def pub(*args, stdin=b""):
    return run([MQPUB] + P() + list(args), stdin=stdin)


# ---- usage errors: exit code 1, "Error: ..." on stderr ------------------

def usage_error(args, needle):
    r = run([MQPUB] + args)
    eq(r.rc, 1, "exit code of %r (%r)" % (args, r))
    check(needle.encode() in r.err, "%r not in stderr %r" % (needle, r.err))


@test
def bad_options_give_usage_error():
    usage_error(["-z"], "Unknown option '-z'")
    usage_error(["--bogus"], "Unknown option '--bogus'")
    usage_error(["-t", "a", "-m", "x", "extra"], "Unknown option 'extra'")
    usage_error(["-t"], "Error:")
    usage_error(["-t", "a"], "Both topic and message must be supplied")
    usage_error(["-m", "x"], "Both topic and message must be supplied")
    usage_error(["-q", "3", "-t", "a", "-m", "x"], "Invalid QoS")
    usage_error(["-t", "a/#", "-m", "x"], "Invalid publish topic")
    usage_error(["-t", "a/+", "-m", "x"], "Invalid publish topic")
    usage_error(["-t", "a", "-m", "x", "-k", "3"], "Invalid keepalive")
    usage_error(["-t", "a", "-m", "x", "-V", "foo"],
                "Invalid protocol version")
    usage_error(["-t", "a", "-m", "x", "-n"], "Only one type of message")
    usage_error(["-t", "a", "-m", "x", "-p", "70000"], "Invalid port")
    usage_error(["-t", "a", "-m", "x", "--repeat", "0"], "--repeat")
    usage_error(["-t", "a", "-m", "x", "--repeat-delay", "-1"],
                "--repeat-delay")
    usage_error(["-t", "a", "-m", "x", "-c"], "client id")
    usage_error(["-t", "a", "-m", "x", "--will-topic", "w/#"],
                "Invalid will topic")
    usage_error(["-t", "a", "-m", "x", "-D", "connect", "foo", "1"],
                "Invalid property name")
    usage_error(["-t", "a", "-m", "x", "-D", "nocmd", "content-type", "1"],
                "Invalid command")
    usage_error(["-t", "a", "-f", "/nonexistent/file"], "Error")
    usage_error(["-t", "a", "-m", "x", "-C", "2"], "Unknown option '-C'")
    usage_error(["-t", "a", "-m", "x", "-v"], "Unknown option '-v'")


@test
def help_prints_usage_and_exits_1():
    r = run([MQPUB, "--help"])
    eq(r.rc, 1, "rc")
    check(b"Usage:" in r.out and b"-t" in r.out, repr(r))
    r = run([MQPUB, "-z"])
    check(b"--help' to see usage" in r.err, repr(r))


@test
def connection_refused_exit_1():
    r = run([MQPUB, "-p", str(free_port()), "-t", "a", "-m", "x"])
    eq(r.rc, 1, "rc")
    check(b"Connection refused" in r.err, repr(r))
    r = run([MQPUB, "-p", str(free_port()), "-t", "a", "-m", "x", "--quiet"])
    eq(r.rc, 1, "rc quiet")
    eq(r.err, b"", "--quiet stderr")


# ---- payload sources, QoS, retain ----------------------------------------

@test
def qos_0_1_2_to_mosquitto_sub():
    for q in (0, 1, 2):
        s = sub_bg("pub/qos%d" % q, "s-qos%d" % q, ["-q", "2", "-C", "1",
                   "-F", "%t|%p|%q"])
        r = pub("-t", "pub/qos%d" % q, "-m", "hello %d" % q, "-q", str(q))
        eq(r.rc, 0, "pub rc %r" % r)
        o = s.wait()
        eq(o.out, b"pub/qos%d|hello %d|%d\n" % (q, q, q), "output")


@test
def message_from_file_and_stdin_binary():
    data = bytes(range(256)) * 40 + b"\x00end"
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(data)
    try:
        s = sub_bg("pub/file", "s-file", ["-C", "2", "-F", "%x"])
        eq(pub("-t", "pub/file", "-f", f.name, "-q", "1").rc, 0, "-f")
        eq(pub("-t", "pub/file", "-s", "-q", "2", stdin=data).rc, 0, "-s")
        o = s.wait()
        eq(o.out, (data.hex() + "\n").encode() * 2, "payloads")
    finally:
        os.unlink(f.name)


@test
def lines_from_stdin():
    s = sub_bg("pub/lines", "s-lines", ["-C", "4", "-v"])
    r = pub("-t", "pub/lines", "-l", stdin=b"one\n\ntwo\r\nthree")
    eq(r.rc, 0, "rc")
    o = s.wait()
    eq(o.out, b"pub/lines one\npub/lines (null)\npub/lines two\r\n"
              b"pub/lines three\n", "lines")


@test
def many_lines_qos1_in_order():
    n = 2000
    body = b"".join(b"%d\n" % i for i in range(n))
    s = sub_bg("pub/many", "s-many", ["-C", str(n), "-q", "1"])
    r = pub("-t", "pub/many", "-l", "-q", "1", stdin=body)
    eq(r.rc, 0, "rc %r" % r)
    eq(s.wait(30).out, body, "all lines in order")


@test
def null_message_and_retain():
    eq(pub("-t", "pub/ret", "-m", "kept", "-r", "-q", "1").rc, 0, "retain")
    r = run([M_SUB] + P() + ["-t", "pub/ret", "-C", "1", "-F", "%r %p"])
    eq(r.out, b"1 kept\n", "retained")
    eq(pub("-t", "pub/ret", "-n", "-r").rc, 0, "clear")
    r = run([M_SUB] + P() + ["-t", "pub/ret", "-W", "1"])
    eq(r.rc, 27, "no retained left %r" % r)
    s = sub_bg("pub/null", "s-null", ["-C", "1", "-F", "[%l]"])
    eq(pub("-t", "pub/null", "-n").rc, 0, "-n")
    eq(s.wait().out, b"[0]\n", "null payload")


@test
def repeat_and_delay():
    s = sub_bg("pub/rep", "s-rep", ["-C", "3", "-F", "%p"])
    r = pub("-t", "pub/rep", "-m", "r", "--repeat", "3", "--repeat-delay",
            "0.2")
    eq(r.rc, 0, "rc")
    eq(s.wait().out, b"r\nr\nr\n", "three copies")


# ---- connection options ----------------------------------------------------

@test
def client_id_and_prefix():
    eq(pub("-t", "pub/id", "-m", "x", "-i", "my-pub-id").rc, 0, "-i")
    B.wait_log("my-pub-id")
    eq(pub("-t", "pub/id", "-m", "x", "-I", "pfx-").rc, 0, "-I")
    B.wait_log("pfx-")


@test
def keepalive_and_protocol_versions():
    eq(pub("-t", "pub/k", "-m", "x", "-k", "17", "-i", "ka17").rc, 0, "-k")
    B.wait_log("ka17 (p2, c1, k17)")
    eq(pub("-t", "pub/k", "-m", "x", "-V", "mqttv5", "-i", "v5id").rc, 0,
       "-V 5")
    B.wait_log("v5id (p5, c1, k60)")
    eq(pub("-t", "pub/k", "-m", "x", "-V", "311", "-i", "v311id").rc, 0,
       "-V 311")
    B.wait_log("v311id (p2, c1, k60)")


@test
def url_option():
    s = sub_bg("pub/url", "s-url", ["-C", "1", "-v"])
    r = run([MQPUB, "-L", "mqtt://127.0.0.1:%d/pub/url" % B.port, "-m", "L"])
    eq(r.rc, 0, "rc %r" % r)
    eq(s.wait().out, b"pub/url L\n", "via -L")
    r = run([MQPUB, "-L", "mqtt://127.0.0.1:%d" % B.port, "-m", "L"])
    eq(r.rc, 1, "topic missing")


@test
def unix_socket():
    s = sub_bg("pub/unix", "s-unix", ["-C", "1"])
    r = run([MQPUB, "--unix", B.sock, "-t", "pub/unix", "-m", "u"])
    eq(r.rc, 0, "rc %r" % r)
    eq(s.wait().out, b"u\n", "via unix socket")


@test
def v5_properties():
    s = sub_bg("pub/v5", "s-v5", ["-V", "5", "-C", "1", "-F",
                                  "%C|%P|%R|%D|%E|%F|%p"])
    r = pub("-V", "5", "-t", "pub/v5", "-m", "body",
            "-D", "publish", "content-type", "text/plain",
            "-D", "publish", "user-property", "k1", "v1",
            "-D", "publish", "user-property", "k2", "v2",
            "-D", "publish", "response-topic", "resp/x",
            "-D", "publish", "correlation-data", "cd",
            "-D", "publish", "message-expiry-interval", "120",
            "-D", "publish", "payload-format-indicator", "1",
            "-D", "connect", "user-property", "ck", "cv",
            "-x", "30")
    eq(r.rc, 0, "rc %r" % r)
    out = s.wait().out
    check(out.startswith(b"text/plain|k1:v1 k2:v2|resp/x|cd|1"), repr(out))
    check(out.endswith(b"|1|body\n"), repr(out))


@test
def v5_topic_alias():
    # -D publish topic-alias N, as documented in mqpub(1) and accepted by
    # mosquitto_pub: mosquitto (max_topic_alias 10) resolves the alias, the
    # subscriber sees the full topic on every line; -l sends the topic
    # once and the alias alone afterwards
    s = sub_bg("pub/alias", "s-alias", ["-V", "5", "-C", "3", "-v"])
    r = pub("-V", "5", "-t", "pub/alias", "-l", "-q", "1",
            "-D", "publish", "topic-alias", "1", stdin=b"a\nb\nc\n")
    eq(r.rc, 0, "rc %r" % r)
    eq(s.wait().out, b"pub/alias a\npub/alias b\npub/alias c\n", "lines")
    # over the broker's maximum: refused, exit code 1
    r = pub("-V", "5", "-t", "pub/alias", "-m", "x", "-q", "1",
            "-D", "publish", "topic-alias", "11")
    check(r.rc != 0, "alias 11 over mosquitto's maximum 10: %r" % r)


@test
def persistent_session_with_c():
    # a subscriber with a persistent session, offline while we publish
    r = run([M_SUB] + P() + ["-t", "pub/sess", "-q", "1", "-c", "-i",
                             "persist-sub", "-E"])
    eq(r.rc, 0, "first sub %r" % r)
    eq(pub("-t", "pub/sess", "-m", "while-away", "-q", "1").rc, 0, "pub")
    r = run([M_SUB] + P() + ["-t", "pub/sess", "-q", "1", "-c", "-i",
                             "persist-sub", "-C", "1"])
    eq(r.out, b"while-away\n", "queued message")
    # and mqpub itself with -c (needs -i)
    eq(pub("-t", "pub/sess", "-m", "x", "-c", "-i", "pc1", "-q", "1").rc, 0,
       "-c -i")
    B.wait_log("pc1 (p2, c0, k60)")


@test
def will_options():
    s = sub_bg("pub/will", "s-will", ["-C", "1", "-q", "1", "-F",
                                      "%t %p %q %r"])
    # a client that stays connected (-l with open stdin), then is killed
    w = Bg([MQPUB] + P() + ["-t", "pub/x", "-l", "-i", "will-pub",
                            "--will-topic", "pub/will", "--will-payload",
                            "gone", "--will-qos", "1", "--will-retain"],
           stdin_pipe=True)
    B.wait_log("will-pub (p2, c1, k60)")
    os.kill(w.proc.pid, signal.SIGKILL)
    w.proc.wait()
    eq(s.wait().out, b"pub/will gone 1 0\n", "will delivered")
    r = run([M_SUB] + P() + ["-t", "pub/will", "-C", "1", "-F", "%r"])
    eq(r.out, b"1\n", "will retained")
    run([M_PUB] + P() + ["-t", "pub/will", "-n", "-r"])


@test
def auth_username_password():
    b2 = Broker(users={"alice": "secret"})
    try:
        p = ["-p", str(b2.port), "-t", "a", "-m", "x"]
        eq(run([MQPUB] + p + ["-u", "alice", "-P", "secret"]).rc, 0, "good")
        r = run([MQPUB] + p + ["-u", "alice", "-P", "wrong"])
        eq(r.rc, 5, "v3.1.1 not authorised -> 5 (%r)" % r)
        check(b"Connection error" in r.err, repr(r))
        r = run([MQPUB] + p + ["-u", "alice", "-P", "wrong", "-V", "5"])
        eq(r.rc, 135, "v5 not authorized -> 135 (%r)" % r)
        r = run([MQPUB] + p)
        eq(r.rc, 5, "anonymous refused (%r)" % r)
        r = run([MQPUB, "-L", "mqtt://alice:secret@127.0.0.1:%d/a" % b2.port,
                 "-m", "x"])
        eq(r.rc, 0, "credentials in -L (%r)" % r)
    finally:
        b2.stop()


@test
def debug_quiet_stats():
    r = pub("-t", "pub/d", "-m", "x", "-d")
    eq(r.rc, 0, "-d rc")
    check(len(r.out) > 0 or REFERENCE or True, "debug output")
    if not REFERENCE:
        r = pub("-t", "pub/d", "-m", "x", "--stats", "--repeat", "5", "-q",
                "1")
        eq(r.rc, 0, "--stats rc")
        check(b"5 messages" in r.err, repr(r))
    eq(pub("-t", "pub/d", "-m", "x", "-M", "5", "-q", "1").rc, 0, "-M")
    eq(pub("-t", "pub/d", "-m", "x", "--nodelay").rc, 0, "--nodelay")


@test
def tls_options():
    d = tempfile.mkdtemp(prefix="mqtools-certs-")
    os.chmod(d, 0o755)
    # the server certificate names "otherhost" only: host name check fails
    c = make_certs(d, ("DNS:otherhost",))
    tport, mport = free_port(), free_port()
    conf = "\n".join([
        "listener %d 127.0.0.1" % tport,
        "cafile " + c["ca.crt"], "certfile " + c["server.crt"],
        "keyfile " + c["server.key"],
        "listener %d 127.0.0.1" % mport,
        "cafile " + c["ca.crt"], "certfile " + c["server.crt"],
        "keyfile " + c["server.key"], "require_certificate true"])
    b2 = Broker(extra_conf=conf)
    try:
        base = ["-t", "tls/t", "-m", "x", "-h", "127.0.0.1"]
        r = run([MQPUB, "-p", str(tport), "--cafile", c["ca.crt"]] + base)
        # mosquitto_pub exits 1 or 8 (MOSQ_ERR_TLS) depending on timing
        check(r.rc in (1, 8), "host name mismatch must fail (%r)" % r)
        r = run([MQPUB, "-p", str(tport), "--cafile", c["ca.crt"],
                 "--insecure"] + base)
        eq(r.rc, 0, "--insecure (%r)" % r)
        # --insecure skips only the name check: an untrusted chain fails
        r = run([MQPUB, "-p", str(tport), "--cafile", c["client.crt"],
                 "--insecure"] + base)
        check(r.rc != 0, "--insecure must still verify the chain (%r)" % r)
        r = run([MQPUB, "-p", str(tport), "--cafile", c["ca.crt"],
                 "--insecure", "--tls-version", "tlsv1.3"] + base)
        eq(r.rc, 0, "--tls-version (%r)" % r)
        # mutual TLS: without a client certificate the broker says no
        r = run([MQPUB, "-p", str(mport), "--cafile", c["ca.crt"],
                 "--insecure"] + base)
        check(r.rc != 0, "mTLS without --cert (%r)" % r)
        r = run([MQPUB, "-p", str(mport), "--cafile", c["ca.crt"],
                 "--insecure", "--cert", c["client.crt"], "--key",
                 c["client.key"]] + base)
        eq(r.rc, 0, "mTLS with --cert/--key (%r)" % r)
        r = run([MQPUB, "-p", str(mport), "--cert", c["client.crt"]] + base)
        eq(r.rc, 1, "--cert without --key is a usage error")
        r = run([MQPUB, "-L", "mqtts://127.0.0.1:%d/tls/t" % tport,
                 "--cafile", c["ca.crt"], "--insecure", "-m", "x"])
        eq(r.rc, 0, "mqtts:// URL (%r)" % r)
    finally:
        b2.stop()
        import shutil
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    B = Broker()
    try:
        main()
    finally:
        B.stop()
