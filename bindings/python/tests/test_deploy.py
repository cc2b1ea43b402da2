"""libmq.client's deployment options against a real mosquitto (issue 19's
C API in paho's spelling): proxy_set() through Debian's tinyproxy (HTTP
CONNECT with Basic auth) and dante (SOCKS5), the same calls made with
paho-mqtt 1.6 + PySocks for comparison, proxy failures as paho-style
exceptions, the mqtt_proxy environment variable; tls_set()'s cert_reqs,
tls_version, keyfile_password and file errors; tls_set_context()'s
versions; TLS-PSK (tls_set_psk, a libmq extra).

Proxies are started on free loopback ports and stopped by PID; a test
whose proxy is not installed is skipped."""
import os
import shutil
import ssl
import tempfile
import threading

import paho.mqtt.client as paho
import pytest

import libmq.client as mqtt

from conftest import Broker, wait_for

HOST = "127.0.0.1"
PSK_ID, PSK_KEY = "py-dev", "00a1b2c3d4e5f60718293a4b5c6d7e8f"

try:
    import socks
except ImportError:          # python3-socks (PySocks) is in scripts/deps.sh
    socks = None


def roundtrip(m, cid, connect):
    """Connect with `connect(client)`, subscribe and publish to oneself
    through it; returns the payload received."""
    got, ready = [], threading.Event()
    c = m.Client(cid)
    c.on_subscribe = lambda *a: ready.set()
    c.on_message = lambda cl, u, msg: got.append(msg.payload)
    connect(c)
    c.loop_start()
    try:
        c.subscribe("deploy/%s" % cid, 1)
        assert ready.wait(10)
        c.publish("deploy/%s" % cid, b"via " + cid.encode(), qos=1)
        assert wait_for(lambda: got, 10)
    finally:
        c.disconnect()
        c.loop_stop()
    return got[0]


# ---- proxies ------------------------------------------------------------


@pytest.mark.parametrize("lib", ["libmq", "paho"])
def test_proxy_set_http_basic_auth(shared_broker, proxy, lib):
    if lib == "paho" and socks is None:
        pytest.skip("PySocks (python3-socks) not installed")
    m = {"libmq": mqtt, "paho": paho}[lib]
    px = proxy("http", user="pxuser", password="pa-ss_x.1")

    def connect(c):
        c.proxy_set(proxy_type=socks.HTTP if socks else 3,
                    proxy_addr="127.0.0.1", proxy_port=px.port,
                    proxy_username="pxuser", proxy_password="pa-ss_x.1")
        c.connect("localhost", shared_broker.port)
    assert roundtrip(m, "http-%s" % lib, connect) == b"via http-" + \
        lib.encode()
    log = px.stop()
    assert "CONNECT localhost:%d" % shared_broker.port in log, log[-2000:]


@pytest.mark.parametrize("lib", ["libmq", "paho"])
def test_proxy_set_socks5(shared_broker, proxy, lib):
    if lib == "paho" and socks is None:
        pytest.skip("PySocks (python3-socks) not installed")
    m = {"libmq": mqtt, "paho": paho}[lib]
    px = proxy("socks5")

    def connect(c):
        # libmq takes PySocks' constants as plain ints too (SOCKS5 = 2)
        c.proxy_set(proxy_type=socks.SOCKS5 if lib == "paho" else 2,
                    proxy_addr="127.0.0.1", proxy_port=px.port)
        c.connect("localhost", shared_broker.port)
    assert roundtrip(m, "socks-%s" % lib, connect) == b"via socks-" + \
        lib.encode()


def test_publish_single_with_proxy_args(shared_broker, proxy, recorder):
    from libmq import publish as mqpublish
    px = proxy("socks5")
    rec = recorder(shared_broker.port, "deploy/helper", qos=1)
    mqpublish.single("deploy/helper", "helped", qos=1, hostname="localhost",
                     port=shared_broker.port,
                     proxy_args={"proxy_type": 2, "proxy_addr": "127.0.0.1",
                                 "proxy_port": px.port})
    assert rec.wait_count(1, 10)
    assert rec.msgs[0][1] == b"helped"


def test_proxy_failures_are_paho_style(shared_broker, proxy):
    px = proxy("http", user="u", password="right")
    c = mqtt.Client("px-bad-auth")
    c.proxy_set(proxy_type=3, proxy_addr="127.0.0.1", proxy_port=px.port,
                proxy_username="u", proxy_password="wrong")
    with pytest.raises(ConnectionError) as ei:
        c.connect(HOST, shared_broker.port)
    assert isinstance(ei.value, mqtt.MQProxyAuthError)
    assert ei.value.name == "MQ_ERR_PROXY_AUTH"
    if socks is not None:      # what paho users catch with PySocks
        assert isinstance(ei.value, socks.ProxyError)
    assert "proxy" in str(ei.value).lower()
    # the failed connect() stops the retries, as paho: nothing later
    assert c.loop(0.3) == mqtt.MQTT_ERR_NO_CONN
    c.close()
    # nothing listens on the proxy port: an error naming the proxy, never
    # a direct connection to the broker
    port = px.port
    px.stop()
    d = mqtt.Client("px-dead")
    d.proxy_set(proxy_type=2, proxy_addr="127.0.0.1", proxy_port=port)
    with pytest.raises(OSError) as ei:
        d.connect(HOST, shared_broker.port)
    assert isinstance(ei.value, mqtt.MQError)
    assert "proxy" in str(ei.value).lower(), str(ei.value)
    d.close()


def test_proxy_uri_encodes_credentials():
    assert mqtt._proxy_uri("http", "::1", 8080, "u@x", "p:w/d %") == \
        "http://u%40x:p%3Aw%2Fd%20%25@[::1]:8080"
    assert mqtt._proxy_uri("socks5h", "px", 1080, None, None) == \
        "socks5h://px:1080"


def test_proxy_set_bad_arguments():
    c = mqtt.Client("px-args")
    with pytest.raises(ValueError):
        c.proxy_set(proxy_type=3)                      # no address
    with pytest.raises(ValueError):
        c.proxy_set(proxy_type=7, proxy_addr="p")      # unknown type
    with pytest.raises(ValueError):
        c.proxy_set(proxy_addr="p")
    with pytest.raises(ValueError) as ei:
        c.proxy_set(proxy_type=1, proxy_addr="p")      # SOCKS4
    assert "SOCKS4" in str(ei.value)
    with pytest.raises(TypeError):
        c.proxy_set(proxy_type=2, proxy_addr="p", proxy_kind="x")
    c.close()


def test_mqtt_proxy_environment_variable(shared_broker, proxy, monkeypatch):
    """paho (with PySocks) honours mqtt_proxy unless no_proxy names the
    broker; so does libmq."""
    px = proxy("http")
    monkeypatch.setenv("mqtt_proxy", "http://127.0.0.1:%d" % px.port)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert roundtrip(mqtt, "envpx", lambda c: c.connect(
        "localhost", shared_broker.port)) == b"via envpx"
    monkeypatch.setenv("no_proxy", "localhost")
    assert roundtrip(mqtt, "envpx-no", lambda c: c.connect(
        "localhost", shared_broker.port)) == b"via envpx-no"
    log = px.stop()
    assert log.count("CONNECT localhost:%d" % shared_broker.port) == 1, log


# ---- TLS ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls13_broker(tmpbase, certs):
    """A listener that speaks TLS 1.3 only (mosquitto's tls_version is a
    minimum) and one that wants a client certificate."""
    p13 = __import__("conftest").free_port()
    pcli = __import__("conftest").free_port()
    extra = ("listener %d 127.0.0.1\ncafile %s/ca.crt\ncertfile %s/server.crt\n"
             "keyfile %s/server.key\ntls_version tlsv1.3\n"
             "listener %d 127.0.0.1\ncafile %s/ca.crt\ncertfile %s/server.crt\n"
             "keyfile %s/server.key\nrequire_certificate true\n"
             % (p13, certs, certs, certs, pcli, certs, certs, certs))
    b = Broker(tmpbase, extra=extra)
    b.p13, b.pcli = p13, pcli
    yield b
    b.stop()


@pytest.mark.parametrize("lib", ["libmq", "paho"])
def test_tls_version_tlsv1_2_only(tls13_broker, certs, lib):
    """ssl.PROTOCOL_TLSv1_2 means TLS 1.2 only, as in paho: a TLS 1.3-only
    listener refuses it; the default (PROTOCOL_TLS) connects."""
    m = {"libmq": mqtt, "paho": paho}[lib]
    ca = os.path.join(certs, "ca.crt")
    c = m.Client("tls12-%s" % lib)
    c.tls_set(ca_certs=ca, tls_version=ssl.PROTOCOL_TLSv1_2)
    with pytest.raises(ssl.SSLError):
        c.connect("localhost", tls13_broker.p13)
    ok = m.Client("tls13-%s" % lib)
    ok.tls_set(ca_certs=ca)
    assert ok.connect("localhost", tls13_broker.p13) == 0
    ok.disconnect()


def test_tls_set_context_versions_and_hostname(tls13_broker, tls_broker,
                                               certs):
    ca = os.path.join(certs, "ca.crt")
    ctx = ssl.create_default_context(cafile=ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    c = mqtt.Client("ctx12")
    c.tls_set_context(ctx)
    with pytest.raises(ssl.SSLError):
        c.connect("localhost", tls13_broker.p13)
    c.close()
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False           # chain verified, name not
    c = mqtt.Client("ctx-noname")
    c.tls_set_context(ctx)
    assert c.connect("localhost", tls_broker.wrong_port) == 0
    c.disconnect()
    old = ssl.create_default_context(cafile=ca)
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ValueError):
        mqtt.Client("ctx-old").tls_set_context(old)


def test_tls_details_in_on_connect_flags(tls_broker, certs):
    """What the handshake negotiated (mq_event_tls) is flags["tls"] (1.x)
    or flags.tls (VERSION2), named after ssl.SSLSocket; plain TCP has
    none."""
    ca = os.path.join(certs, "ca.crt")
    seen = []
    c = mqtt.Client("tls-info")
    c.on_connect = lambda cl, u, flags, rc: seen.append(dict(flags))
    c.tls_set(ca_certs=ca)
    assert c.connect("localhost", tls_broker.tls_port) == 0
    c.loop(1.0)
    tls = seen[0]["tls"]
    assert tls["version"] in ("TLSv1.2", "TLSv1.3")
    assert tls["cipher"] and tls["alpn_protocol"] is None
    assert tls["session_reused"] is False
    c.disconnect()
    c.close()
    flags = []
    d = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, "tls-info2")
    d.on_connect = lambda cl, u, f, rc, props: flags.append(f)
    d.tls_set(ca_certs=ca, alpn_protocols=["mqtt"])
    assert d.connect("localhost", tls_broker.tls_port) == 0
    d.loop(1.0)
    assert flags[0].tls["version"] == tls["version"]
    d.disconnect()
    d.close()
    p = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, "plain-info")
    p.on_connect = lambda cl, u, f, rc, props: flags.append(f)
    assert p.connect("127.0.0.1", tls_broker.port) == 0
    p.loop(1.0)
    assert flags[1].tls is None and flags[1].session_present is False
    p.disconnect()
    p.close()


def test_tls_set_cert_reqs_none_and_client_cert(tls13_broker, tls_broker,
                                                certs):
    c = mqtt.Client("reqs-none")
    c.tls_set(cert_reqs=ssl.CERT_NONE)   # no CA at all, nothing verified
    assert c.connect("localhost", tls_broker.wrong_port) == 0
    c.disconnect()
    # an encrypted client key, its password as bytes from a callable
    ca = os.path.join(certs, "ca.crt")
    m = mqtt.Client("client-cert")
    m.tls_set(ca_certs=ca, certfile=os.path.join(certs, "client.crt"),
              keyfile=os.path.join(certs, "client-enc.key"),
              keyfile_password=lambda: b"secret")
    assert m.connect("localhost", tls13_broker.pcli) == 0
    m.disconnect()
    n = mqtt.Client("no-client-cert")
    n.tls_set(ca_certs=ca)
    with pytest.raises(OSError):
        n.connect("localhost", tls13_broker.pcli)
    n.close()


def test_tls_file_errors_like_python_ssl(certs, tmp_path):
    """A file libmq cannot read raises what Python's ssl raises in paho's
    tls_set (FileNotFoundError ...), also an MQError (MQ_ERR_FILE)."""
    c = mqtt.Client("files")
    with pytest.raises(FileNotFoundError) as ei:
        c.tls_set(ca_certs=str(tmp_path / "missing.crt"))
    assert ei.value.name == "MQ_ERR_FILE"
    assert ei.value.filename == str(tmp_path / "missing.crt")
    p = paho.Client("files-paho")
    with pytest.raises(FileNotFoundError):
        p.tls_set(ca_certs=str(tmp_path / "missing.crt"))
    c2 = mqtt.Client("files2")
    with pytest.raises(IsADirectoryError):
        c2.tls_set(ca_certs=str(tmp_path))
    c3 = mqtt.Client("files3")
    with pytest.raises(FileNotFoundError):
        c3.set_option("tls_cert_file", str(tmp_path / "none.crt"))
    for x in (c, c2, c3):
        x.close()


def test_tls_version_below_1_2_refused():
    c = mqtt.Client("tls10")
    with pytest.raises(ValueError):
        c.tls_set(tls_version=ssl.PROTOCOL_TLSv1)
    c.close()


# ---- TLS-PSK ------------------------------------------------------------------


@pytest.fixture(scope="module")
def psk_broker(tmpbase):
    d = tempfile.mkdtemp(prefix="mqpy-psk-", dir=tmpbase)
    os.chmod(d, 0o755)
    pskfile = os.path.join(d, "psk.txt")
    with open(pskfile, "w") as f:
        f.write("%s:%s\n" % (PSK_ID, PSK_KEY))
    os.chmod(pskfile, 0o644)
    port = __import__("conftest").free_port()
    b = Broker(tmpbase, extra="listener %d 127.0.0.1\npsk_hint py\n"
                              "psk_file %s\n" % (port, pskfile))
    b.psk_port = port
    yield b
    b.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("how", ["tls13-bytes", "tls12-hex"])
def test_tls_psk(psk_broker, how):
    def connect(c):
        if how == "tls13-bytes":
            c.tls_set_psk(PSK_ID, bytes.fromhex(PSK_KEY))
        else:
            c.tls_set_psk(PSK_ID, PSK_KEY, tls_version=ssl.PROTOCOL_TLSv1_2,
                          ciphers="PSK-AES128-GCM-SHA256")
        c.connect(HOST, psk_broker.psk_port)
    assert roundtrip(mqtt, "psk-" + how, connect) == b"via psk-" + \
        how.encode()


def test_tls_psk_wrong_key_and_bad_input(psk_broker):
    c = mqtt.Client("psk-wrong")
    c.tls_set_psk(PSK_ID, "0badc0de")
    with pytest.raises(ssl.SSLError):
        c.connect(HOST, psk_broker.psk_port)
    c.close()
    d = mqtt.Client("psk-input")
    with pytest.raises(ValueError):
        d.tls_set_psk(PSK_ID, "not hex")
    with pytest.raises(ValueError):
        d.tls_set_psk("", PSK_KEY)
    with pytest.raises(TypeError):
        d.tls_set_psk(PSK_ID, 1234)
    d.tls_set_psk(PSK_ID, PSK_KEY)
    with pytest.raises(ValueError):           # TLS configured already
        d.tls_set(ca_certs=None)
    d.close()
