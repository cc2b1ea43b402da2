#!/usr/bin/python3
"""mqsub against a real mosquitto. Output is compared byte for byte with
mosquitto_sub run side by side on the same messages (interop both ways:
messages come from mosquitto_pub and from mqpub)."""
import re
import signal
import time

from toolslib import (Bg, Broker, M_PUB, M_SUB, MQPUB, MQSUB, REFERENCE,
                      check, eq, main, run, test, free_port)

B = None
_n = [0]


def P():
    return ["-p", str(B.port)]


def uid(prefix):
    _n[0] += 1
    return "%s-%d" % (prefix, _n[0])


def mpub(*args):
    r = run([M_PUB] + P() + list(args))
    eq(r.rc, 0, "mosquitto_pub %r: %r" % (args, r))


TS = re.compile(rb'"tst":\s*"[0-9T:.+\-Z]+"')


def norm(out):
    return TS.sub(b'"tst":"X"', out)


def side_by_side(sub_args, publish, timeout=15):
    """Run mqsub and mosquitto_sub with the same arguments, call publish(),
    and return both results (normalised timestamps)."""
    ida, idb = uid("mine"), uid("ref")
    a = Bg([MQSUB] + P() + sub_args + ["-i", ida])
    b = Bg([M_SUB] + P() + sub_args + ["-i", idb])
    B.wait_subscribed(ida)
    B.wait_subscribed(idb)
    publish()
    ra, rb = a.wait(timeout), b.wait(timeout)
    ra.out, rb.out = norm(ra.out), norm(rb.out)
    return ra, rb


def same(sub_args, publish):
    ra, rb = side_by_side(sub_args, publish)
    eq(ra.out, rb.out, "stdout of %r" % (sub_args,))
    eq(ra.rc, rb.rc, "exit code of %r" % (sub_args,))
    return ra


def usage_error(args, needle):
    r = run([MQSUB] + args)
    eq(r.rc, 1, "exit code of %r (%r)" % (args, r))
    check(needle.encode() in r.err, "%r not in stderr %r" % (needle, r.err))


@test
def bad_options_give_usage_error():
    usage_error(["-z"], "Unknown option '-z'")
    usage_error([], "You must specify a topic")
    usage_error(["-t", "a/#/b"], "Invalid subscription topic")
    usage_error(["-t", "a", "-C", "0"], "Invalid message count")
    usage_error(["-t", "a", "-C", "x"], "Invalid message count")
    usage_error(["-t", "a", "-W", "0"], "Invalid timeout")
    usage_error(["-t", "a", "-F", "%z"], "Invalid format specifier 'z'")
    usage_error(["-t", "a", "-F", "%"], "Incomplete format specifier")
    usage_error(["-t", "a", "-F", "%5"], "Incomplete format specifier")
    usage_error(["-t", "a", "-F", "x\\"], "Incomplete escape specifier")
    usage_error(["-t", "a", "-F", "\\z"], "Invalid escape specifier 'z'")
    # found by tests/fuzz/fuzz_tools.c: an int overflow, then gigabytes of
    # padding for every message
    usage_error(["-t", "a", "-F", "%99999999999t"], "width or precision")
    usage_error(["-t", "a", "-F", "%.65536p"], "width or precision")
    usage_error(["-t", "a", "-c"], "client id")
    usage_error(["-t", "a", "-q", "5"], "Invalid QoS")
    usage_error(["-t", "a", "-m", "x"], "Unknown option '-m'")
    usage_error(["-t", "a", "-r"], "Unknown option '-r'")
    usage_error(["-t", "a", "-T", "a/#/b"], "Error")
    r = run([MQSUB, "--help"])
    eq(r.rc, 1, "--help rc")
    check(b"Usage:" in r.out, repr(r))


@test
def connection_refused_and_connack_codes():
    r = run([MQSUB, "-p", str(free_port()), "-t", "a"])
    eq(r.rc, 1, "refused rc")
    check(b"Connection refused" in r.err, repr(r))
    b2 = Broker(users={"bob": "pw"})
    try:
        r = run([MQSUB, "-p", str(b2.port), "-t", "a", "-u", "bob", "-P",
                 "bad"])
        eq(r.rc, 5, "v3.1.1 CONNACK 5 (%r)" % r)
        r = run([MQSUB, "-p", str(b2.port), "-t", "a", "-u", "bob", "-P",
                 "bad", "-V", "mqttv5"])
        eq(r.rc, 135, "v5 CONNACK 0x87 (%r)" % r)
        r = run([MQSUB, "-p", str(b2.port), "-t", "a", "-u", "bob", "-P",
                 "pw", "-E"])
        eq(r.rc, 0, "good credentials (%r)" % r)
    finally:
        b2.stop()


@test
def timeout_exit_27():
    r = run([MQSUB] + P() + ["-t", "sub/none", "-W", "1"])
    eq(r.rc, 27, "rc")
    eq(r.err, b"Timed out\n", "stderr")
    r = run([MQSUB] + P() + ["-t", "sub/none", "-W", "1", "--quiet"])
    eq(r.rc, 27, "rc quiet")
    eq(r.err, b"", "quiet stderr")


def messages(topic):
    def go():
        mpub("-t", topic, "-m", "plain text")
        mpub("-t", topic + "/q1", "-m", "qos one", "-q", "1")
        mpub("-t", topic + "/q2", "-m", "qos two", "-q", "2")
        mpub("-t", topic, "-n")
        run([M_PUB] + P() + ["-t", topic + "/bin", "-s"],
            stdin=b'a\x01b\xffc\n\t"q"\\')
        mpub("-t", topic, "-m", '{"a": [1, 2.5e3, true, null, "x"], "b": '
             '{"c": "\\u00e9\\/\\ud83d\\ude00", "d": [], "h": [{}, []]}, '
             '"e": {}, "f": 0.1, "g": -1e300, "i": 3000000000}')
    return go


@test
def output_plain_verbose_and_no_eol_match_mosquitto_sub():
    for opts in ([], ["-v"], ["-N"], ["-v", "-N"]):
        t = uid("sub/out")
        same(["-t", t + "/#", "-t", t, "-q", "1", "-C", "6"] + opts,
             messages(t))


@test
def format_specifiers_match_mosquitto_sub():
    fmts = [
        "%t|%p|%q|%r|%l|%x|%X|%%|%m",
        "%10t|%-10t|%5.3t|%05l|%-5l|%-05l|%-3m|%3q|%03r",
        "\\\\|\\e|\\n|\\t|\\r|\\0|\\a|\\v|@@",
        "%j",
        "%J",
    ]
    for f in fmts:
        t = uid("sub/fmt")
        same(["-t", t + "/#", "-t", t, "-q", "1", "-C", "6", "-F", f],
             messages(t))
    for f in ("%j", "%J"):
        t = uid("sub/fmt")
        same(["-t", t + "/#", "-t", t, "-q", "1", "-C", "6", "-F", f,
              "--pretty"], messages(t))


@test
def time_format_specifiers():
    t = uid("sub/time")
    s = Bg([MQSUB] + P() + ["-t", t, "-C", "1", "-i", t, "-F",
                            "%I|%U|@Y-@m-@d|@N|@@|%j"])
    B.wait_subscribed(t)
    mpub("-t", t, "-m", "x")
    out = s.wait().out.decode()
    y = time.strftime("%Y")
    check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}\|"
                   r"\d{10}\.\d{9}\|" + y + r"-\d\d-\d\d\|\d{9}\|@\|"
                   r'\{"tst":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z[+-]\d{4}"',
                   out), out)


@test
def v5_properties_match_mosquitto_sub():
    t = uid("sub/v5")

    def go():
        mpub("-V", "5", "-t", t, "-m", "props",
             "-D", "publish", "content-type", "text/plain",
             "-D", "publish", "correlation-data", "corr",
             "-D", "publish", "payload-format-indicator", "1",
             "-D", "publish", "user-property", "k1", "v1",
             "-D", "publish", "user-property", "k2", "v2",
             "-D", "publish", "response-topic", "resp/t")
        mpub("-V", "5", "-t", t, "-m", "none")
    same(["-V", "5", "-t", t, "-C", "2", "-D", "subscribe",
          "subscription-identifier", "42", "-F",
          "%A|%C|%D|%E|%F|%P|%R|%S|%5S|%-4C|%6.2C|%05E"], go)
    same(["-V", "5", "-t", t, "-C", "2", "-D", "subscribe",
          "subscription-identifier", "42", "-F", "%j"], go)


@test
def count_retained_filters():
    t = uid("sub/ret")
    mpub("-t", t + "/a", "-m", "old-a", "-r")
    mpub("-t", t + "/b", "-m", "old-b", "-r")

    def live():
        mpub("-t", t + "/a", "-m", "new-a")
        mpub("-t", t + "/c", "-m", "new-c")

    # -R hides retained messages; -C counts only printed ones
    r = same(["-t", t + "/#", "-v", "-R", "-C", "2"], live)
    eq(r.out, (b"%s/a new-a\n%s/c new-c\n" % (t.encode(), t.encode())), "-R")
    # -T filters topics out
    r = same(["-t", t + "/#", "-v", "-T", t + "/a", "-C", "2"], live)
    eq(r.out, (b"%s/b old-b\n%s/c new-c\n" % (t.encode(), t.encode())), "-T")
    # --retained-only: stop at the first live message
    r = same(["-t", t + "/#", "-v", "--retained-only"], live)
    eq(r.out, (b"%s/a old-a\n%s/b old-b\n" % (t.encode(), t.encode())),
       "--retained-only")
    eq(r.rc, 0, "--retained-only rc")


@test
def remove_retained():
    t = uid("sub/rm")
    mpub("-t", t + "/a", "-m", "keep", "-r")
    mpub("-t", t + "/b", "-m", "drop", "-r")
    r = run([MQSUB] + P() + ["-t", t + "/#", "--remove-retained", "-T",
                             t + "/a", "-W", "1", "-v"])
    eq(r.rc, 27, "rc")
    r = run([M_SUB] + P() + ["-t", t + "/#", "-W", "1", "-v"])
    eq(r.out, b"%s/a keep\n" % t.encode(), "only the filtered one is left")


@test
def unsubscribe_and_exit_after_subscribe():
    t = uid("sub/u")
    r = run([MQSUB] + P() + ["-t", t, "-E", "-d"])
    eq(r.rc, 0, "-E rc (%r)" % r)
    check(b"Subscribed" in r.out or REFERENCE, "-d shows the SUBACK")
    # subscribe to two filters and unsubscribe one at once
    cid = uid("unsub")
    s = Bg([MQSUB] + P() + ["-t", t + "/x", "-t", t + "/y", "-U", t + "/x",
                            "-v", "-i", cid, "-C", "1"])
    B.wait_log("Received UNSUBSCRIBE from " + cid)
    time.sleep(0.1)
    mpub("-t", t + "/x", "-m", "should not arrive")
    mpub("-t", t + "/y", "-m", "arrives")
    eq(s.wait().out, b"%s/y arrives\n" % t.encode(), "-U")


@test
def persistent_session_qos1():
    t = uid("sub/sess")
    cid = uid("sess")
    eq(run([MQSUB] + P() + ["-t", t, "-q", "1", "-c", "-i", cid,
                            "-E"]).rc, 0, "first")
    mpub("-t", t, "-m", "queued", "-q", "1")
    r = run([MQSUB] + P() + ["-t", t, "-q", "1", "-c", "-i", cid, "-C", "1"])
    eq(r.out, b"queued\n", "session kept (%r)" % r)
    cid5 = uid("sess5")
    eq(run([MQSUB] + P() + ["-t", t, "-q", "1", "-c", "-i", cid5, "-V", "5",
                            "-x", "60", "-E"]).rc, 0, "v5 -x")
    mpub("-t", t, "-m", "queued5", "-q", "1")
    r = run([MQSUB] + P() + ["-t", t, "-q", "1", "-c", "-i", cid5, "-V", "5",
                            "-x", "60", "-C", "1"])
    eq(r.out, b"queued5\n", "v5 session kept (%r)" % r)


@test
def url_unix_random_filter_keepalive():
    t = uid("sub/url")
    cid = uid("url")
    s = Bg([MQSUB, "-L", "mqtt://127.0.0.1:%d/%s" % (B.port, t), "-C", "1",
            "-i", cid, "-k", "30"])
    B.wait_subscribed(cid)
    mpub("-t", t, "-m", "via-url")
    eq(s.wait().out, b"via-url\n", "-L")
    check("%s (p2, c1, k30)" % cid in B.log_text(), "-k 30")
    cid = uid("unix")
    s = Bg([MQSUB, "--unix", B.sock, "-t", t, "-C", "1", "-i", cid,
            "--random-filter", "100"])
    B.wait_subscribed(cid)
    mpub("-t", t, "-m", "via-unix")
    eq(s.wait().out, b"via-unix\n", "--unix")


@test
def stats_and_signal():
    if REFERENCE:
        return
    t = uid("sub/stats")
    cid = uid("stats")
    s = Bg([MQSUB] + P() + ["-t", t, "-i", cid, "--stats"])
    B.wait_subscribed(cid)
    for i in range(5):
        mpub("-t", t, "-m", str(i))
    time.sleep(0.3)
    r = s.kill(signal.SIGINT)
    eq(r.out, b"0\n1\n2\n3\n4\n", "messages")
    check(b"5 messages" in r.err, repr(r))
    eq(r.rc, -signal.SIGINT, "killed by SIGINT like mosquitto_sub")


@test
def interop_mqpub_to_mqsub_and_back():
    # mqpub -> mqsub at each QoS, and mosquitto_pub -> mqsub, large payload
    big = bytes(range(256)) * 4096   # 1 MiB
    for q in (0, 1, 2):
        t = uid("sub/io")
        cid = uid("io")
        s = Bg([MQSUB] + P() + ["-t", t, "-q", str(q), "-C", "2", "-i", cid,
                                "-F", "%q %l %x"])
        B.wait_subscribed(cid)
        eq(run([MQPUB] + P() + ["-t", t, "-q", str(q), "-s"],
               stdin=big).rc, 0, "mqpub")
        eq(run([M_PUB] + P() + ["-t", t, "-q", str(q), "-s"],
               stdin=big).rc, 0, "mosquitto_pub")
        out = s.wait(30).out
        line = b"%d %d %s\n" % (q, len(big), big.hex().encode())
        eq(out, line * 2, "QoS %d big payloads" % q)


if __name__ == "__main__":
    B = Broker()
    try:
        main()
    finally:
        B.stop()
