"""libmq.client against a real mosquitto: QoS 0/1/2 both ways with
paho-mqtt on the other side, MQTT 5 properties, callback API versions,
MQTTMessageInfo, bad input, helpers, extras."""
import asyncio
import os
import ssl
import threading
import time

import paho.mqtt.client as paho
import pytest

import libmq
import libmq.client as mqtt
from libmq import publish as mqpublish, subscribe as mqsubscribe
from libmq.properties import Properties
from libmq.packettypes import PacketTypes
from libmq.subscribeoptions import SubscribeOptions

from conftest import EXAMPLES, Recorder, run_program, wait_for

HOST = "127.0.0.1"


def connected_client(port, *args, **kw):
    c = mqtt.Client(*args, **kw)
    c.connect(HOST, port)
    return c


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_libmq_to_paho(shared_broker, recorder, qos):
    rec = recorder(shared_broker.port, "interop/l2p/#", qos=2)
    c = connected_client(shared_broker.port, "l2p-%d" % qos)
    c.loop_start()
    payloads = [b"", b"\x00\x01\xff binary", "text \u00e9", bytearray(b"ba"),
                memoryview(b"mv"), 42, 1.5]
    infos = [c.publish("interop/l2p/%d" % i, p, qos=qos)
             for i, p in enumerate(payloads)]
    for info in infos:
        assert info.rc == mqtt.MQTT_ERR_SUCCESS
        info.wait_for_publish(5)
        assert info.is_published()
    assert rec.wait_count(len(payloads))
    c.disconnect()
    c.loop_stop()
    want = [b"", b"\x00\x01\xff binary", "text \u00e9".encode(), b"ba",
            b"mv", b"42", b"1.5"]
    got = sorted(rec.msgs)
    assert got == sorted(("interop/l2p/%d" % i, w, qos, False)
                         for i, w in enumerate(want))


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_to_libmq(shared_broker, qos):
    got, ready = [], threading.Event()
    c = mqtt.Client("p2l-%d" % qos)
    c.on_connect = lambda cl, u, f, rc: cl.subscribe("interop/p2l/+", qos)
    c.on_subscribe = lambda cl, u, mid, granted: ready.set()
    c.on_message = lambda cl, u, m: got.append((m.topic, m.payload, m.qos,
                                                m.retain, m.mid > 0))
    c.connect(HOST, shared_broker.port)
    c.loop_start()
    assert ready.wait(10)
    p = paho.Client("paho-pub-%d" % qos)
    p.connect(HOST, shared_broker.port)
    p.loop_start()
    for i in range(50):
        p.publish("interop/p2l/x", b"m%d" % i, qos=qos).wait_for_publish()
    assert wait_for(lambda: len(got) == 50, 10), len(got)
    p.disconnect()
    p.loop_stop()
    c.disconnect()
    c.loop_stop()
    assert [g[1] for g in got] == [b"m%d" % i for i in range(50)]
    assert all(g[2] == qos and g[3] == 0 and g[4] == (qos > 0) for g in got)


def test_mqtt5_properties_both_ways(shared_broker):
    got, ready = [], threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, "v5-sub",
                      protocol=mqtt.MQTTv5)
    sub.on_connect = lambda c, u, f, rc, pr: c.subscribe(
        "v5/t", options=SubscribeOptions(qos=1, noLocal=True))
    sub.on_subscribe = lambda c, u, mid, rcs, pr: ready.set()
    sub.on_message = lambda c, u, m: got.append(m)
    sub.connect(HOST, shared_broker.port)
    sub.loop_start()
    assert ready.wait(10)
    # from paho (v5) to libmq
    p = paho.Client("v5-paho", protocol=paho.MQTTv5)
    p.connect(HOST, shared_broker.port)
    p.loop_start()
    from paho.mqtt.properties import Properties as PP
    from paho.mqtt.packettypes import PacketTypes as PT
    pp = PP(PT.PUBLISH)
    pp.ResponseTopic = "v5/reply"
    pp.CorrelationData = b"\x01\x02"
    pp.UserProperty = ("k", "v")
    pp.UserProperty = ("k2", "v2")
    pp.ContentType = "text/plain"
    pp.MessageExpiryInterval = 30
    p.publish("v5/t", "hi", qos=1, properties=pp).wait_for_publish()
    assert wait_for(lambda: got, 10)
    m = got[0]
    assert m.properties.ResponseTopic == "v5/reply"
    assert m.properties.CorrelationData == b"\x01\x02"
    assert m.properties.UserProperty == [("k", "v"), ("k2", "v2")]
    assert m.properties.ContentType == "text/plain"
    assert 0 < m.properties.MessageExpiryInterval <= 30
    # from libmq to paho (v5)
    seen = []
    p.on_message = lambda c, u, msg: seen.append(msg)
    p.subscribe("v5/back", 1)
    time.sleep(0.3)
    lp = Properties(PacketTypes.PUBLISH)
    lp.ResponseTopic = "v5/r2"
    lp.UserProperty = ("a", "b")
    lp.CorrelationData = b"cd"
    acks = []
    sub.on_publish = lambda c, u, mid, rc, props: acks.append((mid, rc))
    info = sub.publish("v5/back", b"x", qos=1, properties=lp)
    info.wait_for_publish(5)
    assert info.is_published()
    assert wait_for(lambda: acks, 10)
    assert acks[0][0] == info.mid and not acks[0][1].is_failure
    assert wait_for(lambda: seen, 10)
    assert seen[0].properties.ResponseTopic == "v5/r2"
    assert seen[0].properties.UserProperty == [("a", "b")]
    assert seen[0].properties.CorrelationData == b"cd"
    # a property not allowed in PUBLISH: paho's MQTTException
    with pytest.raises(mqtt.MQTTException):
        lp.SessionExpiryInterval = 5
    p.disconnect()
    p.loop_stop()
    sub.disconnect()
    sub.loop_stop()


def test_v2_callbacks_and_reason_codes(shared_broker):
    ev = {}
    done = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, "v2cb")

    def on_connect(cl, u, flags, rc, props):
        ev["connect"] = (flags.session_present, rc, rc.is_failure)
        cl.subscribe([("v2/a", 1), ("v2/b", 2)])

    def on_subscribe(cl, u, mid, rcs, props):
        ev["sub"] = [int(r) for r in rcs]
        cl.unsubscribe(["v2/a", "v2/b"])

    def on_unsubscribe(cl, u, mid, rcs, props):
        ev["unsub"] = mid
        cl.publish("v2/c", "x", qos=1)

    def on_publish(cl, u, mid, rc, props):
        ev["pub"] = (mid, rc == 0)
        cl.disconnect()

    def on_disconnect(cl, u, flags, rc, props):
        ev["disc"] = (flags.is_disconnect_packet_from_server, int(rc))
        done.set()
    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    c.on_unsubscribe = on_unsubscribe
    c.on_publish = on_publish
    c.on_disconnect = on_disconnect
    c.connect(HOST, shared_broker.port)
    c.loop_start()
    assert done.wait(10), ev
    c.loop_stop()
    assert ev["connect"] == (False, 0, False)
    assert ev["sub"] == [1, 2]
    assert ev["pub"][1]
    assert ev["disc"] == (False, 0)


def test_publish_before_connect_and_after_disconnect(shared_broker, recorder):
    rec = recorder(shared_broker.port, "early/#", qos=1)
    c = mqtt.Client("early")
    info = c.publish("early/a", "queued", qos=1)      # before connect
    assert info.rc == mqtt.MQTT_ERR_SUCCESS and info.mid > 0
    c.connect(HOST, shared_broker.port)
    info.wait_for_publish(5)
    assert info.is_published()
    assert c.disconnect() == mqtt.MQTT_ERR_SUCCESS
    late = c.publish("early/b", "late", qos=1)
    assert late.rc == mqtt.MQTT_ERR_NO_CONN
    with pytest.raises(RuntimeError):
        late.wait_for_publish()
    assert c.subscribe("early/x") == (mqtt.MQTT_ERR_NO_CONN, None)
    assert c.disconnect() == mqtt.MQTT_ERR_NO_CONN
    assert rec.wait_count(1)
    time.sleep(0.2)
    assert rec.msgs == [("early/a", b"queued", 1, False)]


def test_queue_full_is_reported(shared_broker):
    c = mqtt.Client("qfull")
    c.max_queued_messages_set(5)
    infos = [c.publish("q/f", "x", qos=1) for _ in range(8)]
    assert [i.rc for i in infos[:5]] == [mqtt.MQTT_ERR_SUCCESS] * 5
    assert all(i.rc == mqtt.MQTT_ERR_QUEUE_SIZE for i in infos[5:])
    with pytest.raises(ValueError):
        infos[-1].wait_for_publish()
    c.close()


def test_bad_input_raises_like_paho(shared_broker):
    c = mqtt.Client("bad")
    for topic in ("a/+", "a/#", "", None):
        with pytest.raises(ValueError):
            c.publish(topic, "x")
    with pytest.raises(ValueError):
        c.publish("a\x00b", "x")
    for q in (-1, 3):
        with pytest.raises(ValueError):
            c.publish("a", "x", qos=q)
        with pytest.raises(ValueError):
            c.subscribe("a", q)
    for bad in ({}, [1], object(), (1, 2)):
        with pytest.raises(TypeError):
            c.publish("a", bad)
    with pytest.raises(ValueError):
        c.subscribe("a/#/b")
    with pytest.raises(ValueError):
        c.subscribe("")
    with pytest.raises(ValueError):
        c.subscribe(42)
    with pytest.raises(ValueError):
        c.unsubscribe(None)
    with pytest.raises(ValueError):
        c.will_set("a/+", "x")
    with pytest.raises(ValueError):
        c.connect("", 1883)
    with pytest.raises(ValueError):
        c.connect(HOST, -1)
    with pytest.raises(ValueError):
        mqtt.Client("", clean_session=False)
    with pytest.raises(ValueError):
        mqtt.Client("x", protocol=mqtt.MQTTv5, clean_session=True)
    with pytest.raises(ValueError):
        mqtt.Client("x", transport="carrier-pigeon")
    with pytest.raises(ValueError):
        mqtt.Client("x", protocol=mqtt.MQTTv31)
    with pytest.raises(ValueError):
        c.set_option("no-such-option", 1)
    with pytest.raises(libmq.MQError) as ei:
        c.set_option("keepalive_s", -5)
    assert ei.value.name == "MQ_ERR_INVAL" and ei.value.code < 0
    # the core refuses wrong types with TypeError, never crashes
    with pytest.raises(TypeError):
        libmq.mq_core.mq_publish(None, "a", 1, 0, 0)
    assert libmq.mq_core.mq_publish(None, "a", b"x", 0, 0) == \
        libmq.mq_core.MQ_ERR_INVAL
    c.close()
    with pytest.raises(libmq.MQError):
        c.set_option("keepalive_s", 5)


def test_connect_errors_are_paho_exceptions(tls_broker, certs):
    c = mqtt.Client("refused")
    port = tls_broker.port
    tls_broker_port_closed = 1   # nothing listens on port 1 of loopback
    with pytest.raises(ConnectionRefusedError) as ei:
        c.connect(HOST, tls_broker_port_closed)
    assert ei.value.name == "MQ_ERR_CONNREFUSED"
    # no retries left behind: nothing reported later
    assert c.loop(0.2) == mqtt.MQTT_ERR_NO_CONN
    t = mqtt.Client("tls-wrong")
    t.tls_set(ca_certs=os.path.join(certs, "ca.crt"))
    with pytest.raises(ssl.SSLError):
        t.connect("localhost", tls_broker.wrong_port)
    t2 = mqtt.Client("tls-wrong-insecure")
    t2.tls_set(ca_certs=os.path.join(certs, "ca.crt"))
    t2.tls_insecure_set(True)        # chain verified, host name not
    assert t2.connect("localhost", tls_broker.wrong_port) == 0
    t2.disconnect()
    c.close()
    assert port


def test_tls_set_context(tls_broker, certs):
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
    c = mqtt.Client("tls-ctx")
    c.tls_set_context(ctx)
    assert c.connect("localhost", tls_broker.tls_port) == 0
    assert c.publish("tls/ctx", "x", qos=1).rc == 0
    c.disconnect()


def test_message_callback_add_and_loop_forever(shared_broker):
    seen = []
    c = mqtt.Client("cbadd")
    c.message_callback_add("cb/special/#", lambda cl, u, m:
                           seen.append(("special", m.topic)))
    c.on_message = lambda cl, u, m: seen.append(("default", m.topic))

    def on_connect(cl, u, f, rc):
        cl.subscribe("cb/#", 1)

    def on_subscribe(cl, u, mid, g):
        cl.publish("cb/special/x", "1", qos=1)
        cl.publish("cb/other", "2", qos=1)
        cl.publish("cb/stop", "3", qos=1)

    def on_message_stop(cl, u, m):
        seen.append(("stop", m.topic))
        cl.disconnect()
    c.message_callback_add("cb/stop", on_message_stop)
    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    c.connect(HOST, shared_broker.port)
    assert c.loop_forever() == mqtt.MQTT_ERR_SUCCESS
    assert seen == [("special", "cb/special/x"), ("default", "cb/other"),
                    ("stop", "cb/stop")]


def test_callback_exception_propagates_like_paho(shared_broker):
    c = mqtt.Client("cbexc")

    def on_connect(cl, u, f, rc):
        raise KeyError("boom")
    c.on_connect = on_connect
    c.connect(HOST, shared_broker.port)
    with pytest.raises(KeyError):
        c.loop_forever()
    c.suppress_exceptions = True
    c.disconnect()


def test_publish_subscribe_helpers(shared_broker):
    port = shared_broker.port
    result = {}

    def waiter():
        result["m"] = mqsubscribe.simple("helpers/#", qos=1, msg_count=2,
                                         hostname=HOST, port=port)
    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.5)
    mqpublish.multiple([{"topic": "helpers/a", "payload": "1", "qos": 1},
                        ("helpers/b", "2", 1, False)], hostname=HOST,
                       port=port)
    t.join(15)
    assert [(m.topic, m.payload) for m in result["m"]] == [
        ("helpers/a", b"1"), ("helpers/b", b"2")]
    mqpublish.single("helpers/retained", "r", qos=1, retain=True,
                     hostname=HOST, port=port)
    m = mqsubscribe.simple("helpers/retained", hostname=HOST, port=port)
    assert m.payload == b"r" and m.retain
    mqpublish.single("helpers/retained", None, retain=True, hostname=HOST,
                     port=port)


def test_gil_released_while_waiting(shared_broker):
    """A loop thread blocked in libmq must not stop other Python threads."""
    c = connected_client(shared_broker.port, "gil")
    c.loop_start()
    n = 0
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        n += 1
    c.disconnect()
    c.loop_stop()
    assert n > 100000


def test_asyncio_example(shared_broker, tmpbase):
    p = run_program(os.path.join(EXAMPLES, "asyncio_pubsub.py"), "libmq",
                    {"MQTT_BROKER": HOST, "MQTT_PORT": str(shared_broker.port)},
                    tmp=tmpbase, timeout=30)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "got 10 messages" in p.stdout


def test_extras_persistence_and_queue(shared_broker, tmp_path, recorder):
    rec = recorder(shared_broker.port, "persist/#", qos=1)
    c = mqtt.Client("persist-1")
    c.persistence_set(str(tmp_path), sync=2)
    c.queue_limits_set(max_messages=1000, max_bytes=1 << 20)
    for i in range(5):
        c.publish("persist/x", str(i), qos=1)
    assert c.queued_messages() == 5
    c.close()          # never connected: kept on disk
    c2 = mqtt.Client("persist-1")
    c2.persistence_set(str(tmp_path))
    assert c2.queued_messages() == 5
    c2.connect(HOST, shared_broker.port)
    assert rec.wait_count(5)
    c2.disconnect()
    assert sorted(m[1] for m in rec.msgs) == [b"0", b"1", b"2", b"3", b"4"]
    assert c2.event_fd() >= 0


def test_bind_address(shared_broker):
    """paho's connect(bind_address=): the connection leaves from that
    numeric address (MQ_SOPT_BIND_ADDRESS); bind_port is not supported."""
    c = mqtt.Client(client_id="py-bind-address")
    with pytest.raises(ValueError):
        c.connect(HOST, shared_broker.port, bind_port=40000)
    c.connect(HOST, shared_broker.port, bind_address="127.0.0.6")
    c.loop_start()
    try:
        assert wait_for(c.is_connected)
        assert wait_for(lambda: "from 127.0.0.6:" in shared_broker.log_text())
    finally:
        c.disconnect()
        c.loop_stop()
