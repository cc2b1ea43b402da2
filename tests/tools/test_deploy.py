"""mqpub/mqsub with the deployment options in mosquitto's spelling, against a
real mosquitto: --psk/--psk-identity (a psk listener), --proxy through
Debian's dante (socks5h://) and tinyproxy (http://, an extension), --crlfile
(an extension: a revoked broker certificate is refused), --key as a URI and
--keyform/--tls-engine usage errors. Proxies are started on free loopback
ports and stopped by PID; a test whose proxy is not installed is skipped
(reported as ok with "# SKIP").

Run with MQPUB=mosquitto_pub MQSUB=mosquitto_sub to check the expectations
that mosquitto's tools share (PSK, socks5h proxy) against the reference.
"""
import os
import shutil
import subprocess
import tempfile

from toolslib import (MQPUB, MQSUB, REFERENCE, Bg, Broker, Proxy, Skip,
                      check, eq, free_port, main, make_certs, run, test)

HERE = os.path.dirname(os.path.abspath(__file__))
CRL_SH = os.path.join(HERE, "..", "transport", "crl.sh")
PSK_ID, PSK_KEY = "tools-dev", "00a1b2c3d4e5f60718293a4b5c6d7e8f"


def skippable(fn):
    def wrapper():
        try:
            fn()
        except Skip as e:
            print("# SKIP %s: %s" % (fn.__name__, e))
    wrapper.__name__ = fn.__name__
    return test(wrapper)


def sub_bg(broker, topic, extra=()):
    """A subscriber for one message, returned once the broker has
    acknowledged its subscription (its id is unique to the test)."""
    cid = "deploy-%d-%s" % (os.getpid(), topic.replace("/", "-"))
    s = Bg([MQSUB, "-p", str(broker.port), "-i", cid, "-t", topic, "-C", "1",
            "-W", "10"] + list(extra))
    broker.wait_subscribed(cid)
    return s


def received(s, payload):
    r = s.wait()
    eq(r.rc, 0, "subscriber (%r)" % r)
    eq(r.out.strip(), payload, "payload")


@test
def psk_publish():
    b = Broker(psk=(PSK_ID, PSK_KEY))
    pport, pskfile = b.psk_port, b.psk_file
    try:
        s = sub_bg(b, "psk/t")
        r = run([MQPUB, "-h", "127.0.0.1", "-p", str(pport), "-t", "psk/t",
                 "-m", "over-psk", "--psk", PSK_KEY, "--psk-identity",
                 PSK_ID])
        eq(r.rc, 0, "--psk publish (%r)" % r)
        received(s, b"over-psk")
        r = run([MQPUB, "-h", "127.0.0.1", "-p", str(pport), "-t", "psk/t",
                 "-m", "x", "--psk", "0badc0de", "--psk-identity", PSK_ID])
        check(r.rc != 0, "wrong PSK must fail (%r)" % r)
        if not REFERENCE:
            check(b"PSK" in r.err, "the message names the PSK (%r)" % r)
        r = run([MQPUB, "-p", str(pport), "-t", "t", "-m", "x", "--psk",
                 PSK_KEY])
        eq(r.rc, 1, "--psk without --psk-identity is a usage error")
        r = run([MQPUB, "-p", str(pport), "-t", "t", "-m", "x", "--psk",
                 PSK_KEY, "--psk-identity", PSK_ID, "--cafile", pskfile])
        eq(r.rc, 1, "--psk with --cafile is a usage error")
    finally:
        b.stop()


@skippable
def proxy_socks5h_dante():
    px = Proxy("socks5")
    try:
        s = sub_bg(B, "px/s")
        r = run([MQPUB, "-h", "localhost", "-p", str(B.port), "-t", "px/s",
                 "-m", "via-socks", "--proxy",
                 "socks5h://127.0.0.1:%d" % px.port])
        eq(r.rc, 0, "--proxy socks5h (%r)" % r)
        received(s, b"via-socks")
        if not REFERENCE:
            # the subscriber too, through the proxy
            s2 = sub_bg(B, "px/s2",
                        ("--proxy", "socks5h://127.0.0.1:%d" % px.port))
            eq(run([MQPUB, "-p", str(B.port), "-t", "px/s2", "-m",
                    "back"]).rc, 0, "plain publish")
            received(s2, b"back")
        r = run([MQPUB, "-p", str(B.port), "-t", "t", "-m", "x", "--proxy",
                 "socks5h://127.0.0.1:%d" % free_port()])
        check(r.rc != 0, "a dead proxy must fail (%r)" % r)
        if not REFERENCE:
            check(b"proxy" in r.err, "the message names the proxy (%r)" % r)
    finally:
        px.stop()


@skippable
def proxy_http_tinyproxy():
    if REFERENCE:
        raise Skip("mosquitto's tools have no HTTP proxy")
    px = Proxy("http")
    try:
        s = sub_bg(B, "px/h")
        r = run([MQPUB, "-h", "localhost", "-p", str(B.port), "-t", "px/h",
                 "-m", "via-http", "--proxy",
                 "http://127.0.0.1:%d" % px.port])
        eq(r.rc, 0, "--proxy http (%r)" % r)
        received(s, b"via-http")
        r = run([MQPUB, "-p", str(B.port), "-t", "t", "-m", "x", "--proxy",
                 "ftp://127.0.0.1:1"])
        check(r.rc != 0 and b"--proxy" in r.err, "bad proxy URL (%r)" % r)
    finally:
        log = px.stop()
    check("CONNECT localhost:%d" % B.port in log,
          "tinyproxy saw the CONNECT (log: %r)" % log[-500:])


@test
def crlfile_and_key_uri():
    if REFERENCE:
        return  # extensions of mqpub
    d = tempfile.mkdtemp(prefix="mqtools-crl-")
    os.chmod(d, 0o755)
    c = make_certs(d)
    subprocess.run(["sh", CRL_SH, d], check=True, capture_output=True)
    tport, mport = free_port(), free_port()
    conf = "\n".join([
        "listener %d 127.0.0.1" % tport,
        "cafile " + c["ca.crt"], "certfile " + c["server.crt"],
        "keyfile " + c["server.key"],
        "listener %d 127.0.0.1" % mport,
        "cafile " + c["ca.crt"], "certfile " + c["server.crt"],
        "keyfile " + c["server.key"], "require_certificate true"])
    b = Broker(extra_conf=conf)
    try:
        base = ["-h", "localhost", "-t", "crl/t", "-m", "x", "--cafile",
                c["ca.crt"]]
        r = run([MQPUB, "-p", str(tport), "--crlfile",
                 os.path.join(d, "crl-empty.pem")] + base)
        eq(r.rc, 0, "CRL without the broker's certificate (%r)" % r)
        r = run([MQPUB, "-p", str(tport), "--crlfile",
                 os.path.join(d, "crl-revoked.pem")] + base)
        check(r.rc != 0 and b"revoked" in r.err, "revoked (%r)" % r)
        r = run([MQPUB, "-p", str(tport), "--crlfile",
                 os.path.join(d, "crl-dir")] + base)
        check(r.rc != 0 and b"revoked" in r.err, "CRL directory (%r)" % r)
        r = run([MQPUB, "-p", str(mport), "--cert", c["client.crt"],
                 "--key", "file:" + c["client.key"]] + base)
        eq(r.rc, 0, "--key as a file: URI (%r)" % r)
        r = run([MQPUB, "-p", str(mport), "--cert", c["client.crt"],
                 "--key", "file:/nonexistent/k.pem"] + base)
        check(r.rc != 0 and b"/nonexistent/k.pem" in r.err,
              "unreadable key URI (%r)" % r)
    finally:
        b.stop()
        shutil.rmtree(d, ignore_errors=True)


@test
def engine_usage_errors():
    r = run([MQPUB, "-t", "t", "-m", "x", "--keyform", "der"])
    eq(r.rc, 1, "bad --keyform (%r)" % r)
    if REFERENCE:
        return
    r = run([MQPUB, "-t", "t", "-m", "x", "--keyform", "engine", "--cert",
             "c.crt", "--key", "pkcs11:object=k"])
    eq(r.rc, 1, "--keyform engine without --tls-engine (%r)" % r)
    r = run([MQPUB, "-t", "t", "-m", "x", "--tls-engine-kpass-sha1", "ab"])
    eq(r.rc, 1, "--tls-engine-kpass-sha1 (%r)" % r)
    check(b"pin-value" in r.err, repr(r))
    r = run([MQPUB, "-p", str(B.port), "-t", "t", "-m", "x", "--cafile",
             "/etc/ssl/certs/ca-certificates.crt", "--keyform", "engine",
             "--tls-engine", "libmq-no-such-engine", "--cert",
             "/etc/ssl/certs/ca-certificates.crt", "--key", "pkcs11:x"])
    check(r.rc != 0 and b"libmq-no-such-engine" in r.err,
          "unknown engine (%r)" % r)


if __name__ == "__main__":
    B = Broker()
    try:
        main()
    finally:
        B.stop()
