"""libmq.client on the C API of issues 12 and 13, against a real mosquitto:
the graceful disconnect (delivers with or without a loop thread, bounded
when the broker is gone, never silent about what it gives up),
wait_for_publish()/is_published() through mq_wait, one UNSUBSCRIBE for a
list, libmq's own resubscribe next to the tutorial's subscribe in
on_connect (compared with paho-mqtt 1.6), messages recovered from the
persistence store after SIGKILL, the new options, disconnect_now(), the
broker-assigned client id, worker threads, and auth()/on_auth against a
scripted broker (mosquitto has no AUTH method without a plugin).

Scenarios that paho-mqtt can run too are run with both and compared."""
import os
import signal
import subprocess
import threading
import time

import paho.mqtt.client as paho
import pytest

import libmq.client as mqtt

from conftest import PYTHON, wait_for

HOST = "127.0.0.1"
LIBS = {"libmq": mqtt, "paho": paho}


def v2(lib, *args, **kw):
    """A client with paho 2.x callbacks (VERSION2) for libmq; paho 1.6 has
    only the 1.x signatures."""
    return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, *args, **kw)


# ---- disconnect ---------------------------------------------------------


def offline_client(broker, name, loop):
    """A VERSION2 client that was connected (with a loop_start() thread if
    loop == "thread") and has lost its broker: (client, done) where done
    collects (mid, is_failure) of on_publish."""
    done = []
    c = v2(mqtt, name)
    c.on_publish = lambda cl, u, mid, rc, props: done.append(
        (mid, rc.is_failure))
    c.reconnect_delay_set(0.2, 0.5)
    c.connect(HOST, broker.port)
    if loop == "thread":
        c.loop_start()
    broker.stop()
    assert wait_for(lambda: not c.is_connected(), 10)
    return c, done


def test_disconnect_and_loop_stop_deliver(shared_broker, recorder):
    """paho's pattern: loop_start(), publish, disconnect(), loop_stop():
    with libmq every message reaches a subscriber, QoS 0 and 1. paho-mqtt
    1.6 sends its DISCONNECT after what it has written so far and drops
    the QoS 1 messages still waiting for an in-flight slot (4 of 300 when
    this test was written); its count is printed for comparison."""
    got = {}
    for lib in sorted(LIBS):
        m = LIBS[lib]
        rec = recorder(shared_broker.port, "drain/%s/#" % lib, qos=1)
        c = m.Client("drain-%s" % lib)
        c.connect(HOST, shared_broker.port)
        c.loop_start()
        for i in range(300):
            c.publish("drain/%s/%d" % (lib, i % 2), b"%d" % i, qos=i % 2)
        c.disconnect()
        c.loop_stop()
        rec.wait_count(300, 10 if lib == "libmq" else 2)
        time.sleep(0.2)
        got[lib] = rec.count()
    print("delivered of 300: %r" % got)
    assert got["libmq"] == 300, got
    assert got["paho"] <= got["libmq"]


def test_disconnect_without_loop_returns_when_closed(shared_broker,
                                                     recorder):
    rec = recorder(shared_broker.port, "drain/noloop", qos=1)
    c = mqtt.Client("drain-noloop")
    c.connect(HOST, shared_broker.port)
    infos = [c.publish("drain/noloop", b"%d" % i, qos=1) for i in range(50)]
    assert c.disconnect() == mqtt.MQTT_ERR_SUCCESS
    # the graceful disconnect waited for every PUBACK
    assert all(i.is_published() for i in infos)
    assert not c.is_connected()
    assert rec.wait_count(50, 10)
    # the final events are kept for the next loop call, as paho users of
    # loop() expect their on_disconnect there
    seen = []
    c.on_disconnect = lambda cl, u, rc: seen.append(rc)
    c.loop(0.5)
    assert seen == [mqtt.MQTT_ERR_SUCCESS]
    c.close()


@pytest.mark.parametrize("loop", ["thread", "none"])
def test_disconnect_with_broker_gone_is_bounded_and_reported(broker, loop):
    """The broker is gone: disconnect() gives up after the disconnect
    timeout, and every message it abandons is reported: VERSION2
    on_publish with a failure reason code, wait_for_publish() raising,
    an MQTT_LOG_ERR line."""
    logs = []
    c, done = offline_client(broker, "gone-%s" % loop, loop)
    c.on_log = lambda cl, u, level, buf: logs.append((level, buf))
    infos = [c.publish("gone/t", b"x", qos=q) for q in (1, 1, 1, 0, 0)]
    assert all(i.rc == mqtt.MQTT_ERR_SUCCESS for i in infos)
    assert not any(i.is_published() for i in infos)
    c.set_option("disconnect_timeout_ms", 1000)
    t0 = time.monotonic()
    assert c.disconnect() == mqtt.MQTT_ERR_SUCCESS
    if loop == "thread":
        c.loop_stop()
    else:
        while c.loop(0.2) == mqtt.MQTT_ERR_SUCCESS:
            pass
    took = time.monotonic() - t0
    assert 0.8 <= took < 6.0, took
    for i in infos:
        with pytest.raises(RuntimeError, match="abandoned"):
            i.wait_for_publish(1)
    assert sorted(done) == sorted((i.mid, True) for i in infos)
    assert sum(1 for lv, b in logs if lv == mqtt.MQTT_LOG_ERR and
               "was not delivered" in b) == len(infos)
    c.close()


@pytest.mark.parametrize("loop", ["thread", "none"])
def test_disconnect_now_does_not_wait(broker, loop):
    """disconnect_now() (mq_disconnect_now) ends even a graceful
    disconnect() that waits for a broker that is gone, at once; what it
    gives up is reported as disconnect() reports it."""
    c, done = offline_client(broker, "now-%s" % loop, loop)
    infos = [c.publish("now/t", b"x", qos=1) for _ in range(3)]
    c.set_option("disconnect_timeout_ms", 30000)
    t0 = time.monotonic()
    if loop == "thread":
        assert c.disconnect() == mqtt.MQTT_ERR_SUCCESS   # would wait 30 s
    assert c.disconnect_now() == mqtt.MQTT_ERR_SUCCESS
    if loop == "thread":
        c.loop_stop()
    else:
        while c.loop(0.2) == mqtt.MQTT_ERR_SUCCESS:
            pass
    assert time.monotonic() - t0 < 5.0
    for i in infos:
        with pytest.raises(RuntimeError):
            i.wait_for_publish(1)
    assert sorted(done) == sorted((i.mid, True) for i in infos)
    assert c.disconnect_now() == mqtt.MQTT_ERR_NO_CONN
    c.close()


def test_second_disconnect_and_disconnect_in_callback(shared_broker):
    c = mqtt.Client("disc-twice")
    got = threading.Event()

    def on_connect(cl, u, f, rc):
        t0 = time.monotonic()
        cl.publish("twice/t", "x", qos=1)
        assert cl.disconnect() == mqtt.MQTT_ERR_SUCCESS
        # from a callback it must not wait for the end
        assert time.monotonic() - t0 < 0.5
        # under way (SUCCESS), or finished already (NO_CONN), as in paho
        assert cl.disconnect() in (mqtt.MQTT_ERR_SUCCESS,
                                   mqtt.MQTT_ERR_NO_CONN)
        got.set()
    c.on_connect = on_connect
    c.connect(HOST, shared_broker.port)
    assert c.loop_forever() == mqtt.MQTT_ERR_SUCCESS
    assert got.is_set()
    assert c.disconnect() == mqtt.MQTT_ERR_NO_CONN
    c.close()


# ---- waits ----------------------------------------------------------------


def test_wait_for_publish_without_loop(shared_broker):
    """No loop ever runs: wait_for_publish() still returns once the PUBACK
    is in (libmq's worker reads it; mq_wait takes no event), and the
    completions reach on_publish at the next loop call, in order."""
    mids = []
    c = mqtt.Client("wait-noloop")
    c.on_publish = lambda cl, u, mid: mids.append(mid)
    c.connect(HOST, shared_broker.port)
    infos = [c.publish("wait/t", b"%d" % i, qos=1) for i in range(20)]
    for i in infos:
        i.wait_for_publish(5)
        assert i.is_published()
    assert mids == []                  # callbacks only from a loop
    while len(mids) < 20 and c.loop(1.0) == mqtt.MQTT_ERR_SUCCESS:
        pass
    assert mids == [i.mid for i in infos]
    c.disconnect()


def test_wait_for_publish_times_out_and_keeps_pending(broker):
    c = mqtt.Client("wait-timeout")
    c.reconnect_delay_set(0.2, 1)
    c.connect(HOST, broker.port)
    broker.stop()
    assert wait_for(lambda: not c.is_connected(), 10)
    info = c.publish("wait/late", b"x", qos=1)
    t0 = time.monotonic()
    info.wait_for_publish(0.3)
    assert 0.25 <= time.monotonic() - t0 < 3
    assert not info.is_published()
    broker.start()
    info.wait_for_publish(15)        # sent after the automatic reconnect
    assert info.is_published()
    c.disconnect()
    c.close()


def test_wait_for_publish_from_other_thread_with_loop(shared_broker):
    c = mqtt.Client("wait-threads")
    c.connect(HOST, shared_broker.port)
    c.loop_start()
    infos = [c.publish("wait/th", b"x", qos=q % 3) for q in range(60)]
    errs = []

    def waiter(chunk):
        try:
            for i in chunk:
                i.wait_for_publish(10)
                assert i.is_published()
        except Exception as e:       # pragma: no cover - reported below
            errs.append(e)
    ts = [threading.Thread(target=waiter, args=(infos[k::3],))
          for k in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert not errs
    c.disconnect()
    c.loop_stop()


# ---- unsubscribe of a list ------------------------------------------------


@pytest.mark.parametrize("proto", ["v311", "v5"])
def test_unsubscribe_list_is_one_packet(broker, proto):
    counts, calls = {}, {}
    for lib in sorted(LIBS):
        m = LIBS[lib]
        cid = "unsub-%s-%s" % (lib, proto)
        kw = {"protocol": m.MQTTv5} if proto == "v5" else {}
        c = m.Client(cid, **kw)
        subd, unsubd = threading.Event(), []
        c.on_subscribe = lambda *a: subd.set()
        c.on_unsubscribe = lambda cl, u, mid, *rest: unsubd.append(
            (mid, rest))
        c.connect(HOST, broker.port)
        c.loop_start()
        c.subscribe([("u/1", 0), ("u/2", 1), ("u/3", 2)])
        assert subd.wait(10)
        rc, mid = c.unsubscribe(["u/1", "u/2", "u/3"])
        assert rc == 0 and mid
        assert wait_for(lambda: unsubd, 10)
        time.sleep(0.3)
        c.disconnect()
        c.loop_stop()
        calls[lib] = len(unsubd)
        assert unsubd[0][0] == mid
        if proto == "v5":
            props, codes = unsubd[0][1]
            assert [x.value for x in codes] == [0, 0, 0], codes
        counts[lib] = broker.log_text().count(
            "Received UNSUBSCRIBE from %s" % cid)
    assert counts == {"libmq": 1, "paho": 1}
    assert calls == {"libmq": 1, "paho": 1}


# ---- resubscribe --------------------------------------------------------


def _retained_over_restart(m, broker, cid, logs):
    """Subscribe in on_connect (the tutorial's way) to a retained topic,
    restart the broker once; returns (messages, on_subscribe calls,
    connections)."""
    msgs, subs, conns = [], [], []
    c = m.Client(cid)

    def on_connect(cl, u, f, rc):
        conns.append(rc)
        cl.subscribe("ret/state", 1)
    c.on_connect = on_connect
    c.on_subscribe = lambda cl, u, mid, granted: subs.append(tuple(granted))
    c.on_message = lambda cl, u, msg: msgs.append((msg.payload, msg.retain))
    if logs is not None:
        c.on_log = lambda cl, u, lv, buf: logs.append(buf)
    c.reconnect_delay_set(0.2, 1)
    c.connect(HOST, broker.port)
    c.loop_start()
    assert wait_for(lambda: msgs, 10)
    broker.restart()
    assert wait_for(lambda: len(conns) >= 2 and len(msgs) >= 2, 30), \
        (conns, msgs)
    time.sleep(1.0)                      # a duplicate would come now
    c.disconnect()
    c.loop_stop()
    return list(msgs), list(subs), list(conns)


def test_retained_once_per_connection_like_paho(tmpbase):
    """A retained message and the tutorial's subscribe in on_connect over
    a broker restart: libmq resubscribes by itself and answers the
    application's SUBSCRIBE locally, so the message arrives once per
    connection and on_subscribe is still called each time, as with
    paho-mqtt 1.6."""
    from conftest import Broker
    got = {}
    logs = []
    for lib in sorted(LIBS):
        b = Broker(tmpbase, persistence=True)
        try:
            from paho.mqtt import publish as pahopub
            pahopub.single("ret/state", "on", qos=1, retain=True,
                           hostname=HOST, port=b.port)
            got[lib] = _retained_over_restart(
                LIBS[lib], b, "ret-%s" % lib,
                logs if lib == "libmq" else None)
        finally:
            b.stop()
    assert got["libmq"][0] == got["paho"][0] == [(b"on", 1), (b"on", 1)]
    assert got["libmq"][1] == got["paho"][1] == [(1,), (1,)]
    assert got["libmq"][2] == got["paho"][2] == [0, 0]
    # what libmq did by itself is a log line for a paho user
    assert any("resubscribed to ret/state" in b for b in logs), logs


# ---- persistence: recovered after SIGKILL ---------------------------------


CHILD = r"""
import sys, time
import libmq.client as mqtt
c = mqtt.Client("recov-child")
rec = c.persistence_set(sys.argv[1])
assert rec == [], rec
for i in range(1, 21):
    info = c.publish_tagged(1000 + i, "recov/t%d" % (i % 2), b"m%d" % i,
                            qos=1 + i % 2)
    assert info.rc == 0
print("stored", flush=True)
time.sleep(60)
"""


def test_recovered_after_sigkill(shared_broker, recorder, tmp_path,
                                 tmpbase):
    d = tmp_path / "store"
    d.mkdir()
    env = dict(os.environ)
    p = subprocess.Popen([PYTHON, "-c", CHILD, str(d)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().strip() == "stored", p.stderr.read()
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    rec = recorder(shared_broker.port, "recov/#", qos=2)
    c = mqtt.Client("recov-child")
    done = []
    c.on_publish = lambda cl, u, mid: done.append(mid)
    found = c.persistence_set(str(d))
    assert [m.tag for m in found] == [1000 + i for i in range(1, 21)]
    assert [(m.topic, m.payload, m.qos) for m in found] == [
        ("recov/t%d" % (i % 2), b"m%d" % i, 1 + i % 2) for i in range(1, 21)]
    assert all(isinstance(m, mqtt.RecoveredMessage) for m in found)
    assert len({m.mid for m in found}) == 20
    assert c.queued_messages() == 20
    c.connect(HOST, shared_broker.port)
    c.loop_start()
    assert rec.wait_count(20, 15), rec.count()
    assert wait_for(lambda: len(done) == 20, 10)
    # libmq resent them itself: their completions carry the recovered mids
    assert sorted(done) == sorted(m.mid for m in found)
    c.disconnect()
    c.loop_stop()
    c.close()
    time.sleep(0.2)
    assert sorted(m[1] for m in rec.msgs) == sorted(
        b"m%d" % i for i in range(1, 21))
    # the store is empty now: nothing comes back
    c2 = mqtt.Client("recov-child")
    assert c2.persistence_set(str(d)) == []
    c2.close()


# ---- a received QoS 1/2 message is acknowledged after on_message ----------


ACK_CHILD = r"""
import sys, time
import libmq.client as mqtt
qos, mode = int(sys.argv[2]), sys.argv[3]
c = mqtt.Client("ackkill-%s-%d" % (mode, qos), clean_session=False)
def on_connect(cl, u, flags, rc):
    cl.subscribe("ackkill/%s/%d" % (mode, qos), qos)
def on_subscribe(cl, u, mid, granted):
    print("subscribed", flush=True)
def on_message(cl, u, m):
    print("handler", m.payload.decode(), flush=True)
    time.sleep(60)              # killed in here: not done with the message
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, \
    on_message
c.connect("127.0.0.1", int(sys.argv[1]))
if mode == "forever":
    c.loop_forever()
elif mode == "thread":
    c.loop_start()
    time.sleep(120)
else:
    while True:
        c.loop(0.5)
"""


@pytest.mark.parametrize("mode,qos", [("forever", 1), ("forever", 2),
                                      ("thread", 1), ("loop", 2)])
def test_message_acked_after_on_message(shared_broker, mode, qos):
    """The PUBACK/PUBREC of a received QoS 1/2 message goes only after
    on_message returned (libmq acknowledges when the event is freed, as
    paho-mqtt after on_message): a subscriber killed inside its callback
    gets the message again from the broker when its session reconnects,
    instead of losing it (the C check: tests/chaos/test_repro.c)."""
    port = shared_broker.port
    topic = "ackkill/%s/%d" % (mode, qos)
    p = subprocess.Popen([PYTHON, "-c", ACK_CHILD, str(port), str(qos), mode],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().strip() == "subscribed", p.stderr.read()
        pub = paho.Client("ackkill-pub")
        pub.connect(HOST, port)
        pub.loop_start()
        pub.publish(topic, b"keep-me", qos=qos).wait_for_publish(5)
        pub.disconnect()
        pub.loop_stop()
        assert p.stdout.readline().strip() == "handler keep-me"
        time.sleep(0.3)         # time enough for an early ack to go out
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    got = []
    c = mqtt.Client("ackkill-%s-%d" % (mode, qos), clean_session=False)
    c.on_message = lambda cl, u, m: got.append((m.topic, m.payload, m.qos))
    c.connect(HOST, port)
    c.loop_start()
    try:
        assert wait_for(lambda: got, 10), "the broker did not send it again"
        assert got[0] == (topic, b"keep-me", qos)
        c.disconnect()          # acknowledged now: not sent a third time
    finally:
        c.loop_stop()
        c.close()
    again = []
    c = mqtt.Client("ackkill-%s-%d" % (mode, qos), clean_session=False)
    c.on_message = lambda cl, u, m: again.append(m.payload)
    c.connect(HOST, port)
    c.loop_start()
    time.sleep(1)
    c.disconnect()
    c.loop_stop()
    c.close()
    assert again == []


def test_message_acked_when_on_message_raises(shared_broker):
    """A callback that raises still lets go of its message: it is
    acknowledged (as paho), not held for ever (which would stall the
    broker's in-flight window)."""
    port = shared_broker.port
    got = []

    def boom(cl, u, m):
        got.append(m.payload)
        raise RuntimeError("handler failed")

    c = mqtt.Client("ackraise", clean_session=False)
    c.on_message = boom
    c.suppress_exceptions = True
    subbed = []
    c.on_subscribe = lambda cl, u, mid, granted: subbed.append(mid)
    c.connect(HOST, port)
    c.subscribe("ackraise/t", 1)
    deadline = time.monotonic() + 10
    while not subbed and time.monotonic() < deadline:
        c.loop(0.2)
    pub = paho.Client("ackraise-pub")
    pub.connect(HOST, port)
    pub.loop_start()
    for i in range(3):
        pub.publish("ackraise/t", b"%d" % i, qos=1).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()
    deadline = time.monotonic() + 10
    while len(got) < 3 and time.monotonic() < deadline:
        c.loop(0.2)
    assert got == [b"0", b"1", b"2"]
    c.suppress_exceptions = False
    with pytest.raises(RuntimeError):
        # without suppress_exceptions the error reaches the caller
        c.publish("ackraise/t", b"3", qos=1)
        while True:
            c.loop(0.2)
    c.disconnect()
    c.close()
    again = []
    c = mqtt.Client("ackraise", clean_session=False)
    c.on_message = lambda cl, u, m: again.append(m.payload)
    c.connect(HOST, port)
    c.loop_start()
    time.sleep(1)
    c.disconnect()
    c.loop_stop()
    c.close()
    assert again == []


def test_tagged_completion_nobody_saw_stays_in_store(shared_broker,
                                                     tmp_path):
    """A tagged message's record stays in the store until its on_publish
    has run: completed (PUBACK) but never dispatched when the client is
    closed, it comes back at the next start, as in C."""
    d = str(tmp_path)
    c = mqtt.Client("tag-unseen")
    c.on_publish = lambda cl, u, mid: None      # completions are wanted
    assert c.persistence_set(d) == []
    c.connect(HOST, shared_broker.port)
    info = c.publish_tagged(77, "tag/unseen", b"x", qos=1)
    info.wait_for_publish(5)                    # acknowledged ...
    c.disconnect()                              # ... taken, not dispatched
    c.close()
    c2 = mqtt.Client("tag-unseen")
    back = c2.persistence_set(d)
    assert [(m.tag, m.topic) for m in back] == [(77, "tag/unseen")]
    done = []
    c2.on_publish = lambda cl, u, mid: done.append(mid)
    c2.connect(HOST, shared_broker.port)
    c2.loop_start()
    assert wait_for(lambda: done == [back[0].mid], 10), done
    c2.disconnect()
    c2.loop_stop()
    c2.close()
    c3 = mqtt.Client("tag-unseen")
    assert c3.persistence_set(d) == []          # seen now: record gone
    c3.close()


def test_publish_tagged_bad_tag(shared_broker):
    c = mqtt.Client("tag-bad")
    for bad in (0, -1, 1 << 64, "1", 1.0, True):
        with pytest.raises(ValueError):
            c.publish_tagged(bad, "t", "x")
    assert c.publish_tagged((1 << 64) - 1, "t", "x").rc == 0
    c.close()


# ---- options ----------------------------------------------------------------


def test_new_options(shared_broker, recorder):
    rec = recorder(shared_broker.port, "alias/#", qos=1)
    c = mqtt.Client("opts", protocol=mqtt.MQTTv5)
    for name, value in (("disconnect_timeout_ms", 1500),
                        ("max_event_bytes", 1 << 20),
                        ("topic_alias_auto", 4),
                        ("protocol_fallback", 1),
                        ("proxy_from_env", 0),
                        ("tls_session_resume", 1)):
        c.set_option(name, value)
        assert c.get_option(name) == value, name
    assert c.get_option("protocol_in_use") == 0
    with pytest.raises(ValueError):
        c.set_option("protocol_in_use", 5)         # read-only
    c.connect(HOST, shared_broker.port)
    assert c.get_option("protocol_in_use") == 5
    infos = [c.publish("alias/%d" % (i % 3), b"%d" % i, qos=1)
             for i in range(30)]
    for i in infos:
        i.wait_for_publish(5)
    assert rec.wait_count(30, 10)
    assert sorted(m[0] for m in rec.msgs) == sorted(
        "alias/%d" % (i % 3) for i in range(30))
    c.disconnect()
    # a v3.1.1 client refuses v5-only values with a clear error
    c3 = mqtt.Client("opts3")
    with pytest.raises(mqtt.MQError) as ei:
        c3.set_option("topic_alias_auto", 4)
    assert ei.value.name == "MQ_ERR_NOT_SUPPORTED"
    c3.close()
    c.close()


def test_assigned_client_id_and_worker_threads(shared_broker):
    """client_id is the broker-assigned id once known (MQTT 5, empty id);
    set_worker_threads() takes mq_set_worker_threads' range."""
    with pytest.raises(ValueError):
        mqtt.set_worker_threads(0)
    with pytest.raises(ValueError):
        mqtt.set_worker_threads(65)
    assert mqtt.set_worker_threads(2) == mqtt.MQTT_ERR_SUCCESS
    try:
        got = []
        c = mqtt.Client("", protocol=mqtt.MQTTv5)
        c.on_connect = lambda cl, u, f, rc, props: got.append(
            props.AssignedClientIdentifier)
        assert c.client_id == b""
        c.connect(HOST, shared_broker.port)
        c.loop(1.0)
        assert got and got[0]
        assert c.client_id == got[0].encode()
        named = mqtt.Client("named-id", protocol=mqtt.MQTTv5)
        assert named.client_id == b"named-id"
        named.connect(HOST, shared_broker.port)
        assert named.client_id == b"named-id"
        for cl in (c, named):
            cl.disconnect()
            cl.close()
    finally:
        mqtt.set_worker_threads(1)


# ---- enhanced authentication (a scripted broker: mosquitto has no AUTH
# method without a plugin) ---------------------------------------------------


def _read_packet(sock):
    """One MQTT packet from sock: (first byte, body)."""
    def read(n):
        b = b""
        while len(b) < n:
            chunk = sock.recv(n - len(b))
            if not chunk:
                raise EOFError
            b += chunk
        return b
    first = read(1)[0]
    rem, mult = 0, 1
    while True:
        d = read(1)[0]
        rem += (d & 0x7F) * mult
        mult *= 128
        if not d & 0x80:
            break
    return first, read(rem)


def test_auth_and_on_auth_reauthenticate():
    """auth(0x19, ...) sends AUTH with the CONNECT's method; the broker's
    AUTH reaches on_auth with its reason code and properties."""
    import socket
    from libmq.packettypes import PacketTypes
    from libmq.properties import Properties
    srv = socket.socket()
    srv.bind((HOST, 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    seen = {}

    def broker():
        conn, _ = srv.accept()
        with conn:
            first, body = _read_packet(conn)
            seen["connect"] = (first, body)
            # CONNACK: success, Authentication Method "SCRM"
            conn.sendall(b"\x20\x0a\x00\x00\x07\x15\x00\x04SCRM")
            first, body = _read_packet(conn)
            seen["auth"] = (first, body)
            # AUTH: success, Authentication Method "SCRM"
            conn.sendall(b"\xf0\x09\x00\x07\x15\x00\x04SCRM")
            try:
                _read_packet(conn)      # DISCONNECT
            except EOFError:
                pass
    t = threading.Thread(target=broker, daemon=True)
    t.start()
    got = []
    c = mqtt.Client("auth-py", protocol=mqtt.MQTTv5)
    c.on_auth = lambda cl, u, rc, props: got.append(
        (rc.value, props.AuthenticationMethod))
    cp = Properties(PacketTypes.CONNECT)
    cp.AuthenticationMethod = "SCRM"
    cp.AuthenticationData = b"first"
    assert c.connect(HOST, port, properties=cp) == 0
    ap = Properties(PacketTypes.AUTH)
    ap.AuthenticationMethod = "SCRM"
    ap.AuthenticationData = b"again"
    assert c.auth(0x19, ap) == mqtt.MQTT_ERR_SUCCESS
    assert wait_for(lambda: c.loop(0.1) == 0 and got, 10)
    assert got == [(0, "SCRM")]
    first, body = seen["auth"]
    assert first == 0xF0 and body[0] == 0x19 and b"SCRM" in body and \
        b"again" in body
    assert b"first" in seen["connect"][1]
    c.disconnect()
    c.close()
    t.join(5)
    srv.close()


@pytest.mark.parametrize("how", ["connect_async", "connect"])
def test_auth_challenge_before_connack(how):
    """A broker that challenges (AUTH 0x18) before its CONNACK: on_auth,
    run by the loop thread, answers with auth(0x18, ...) and the CONNACK
    follows - with connect_async() and with a blocking connect() while a
    loop_start() thread runs."""
    import socket
    from libmq.packettypes import PacketTypes
    from libmq.properties import Properties
    srv = socket.socket()
    srv.bind((HOST, 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    seen = {}

    def broker():
        conn, _ = srv.accept()
        with conn:
            seen["connect"] = _read_packet(conn)
            # AUTH: continue authentication, method "SCRM", data "nonce"
            conn.sendall(b"\xf0\x11\x18\x0f\x15\x00\x04SCRM"
                         b"\x16\x00\x05nonce")
            seen["auth"] = _read_packet(conn)
            # CONNACK: success, Authentication Method "SCRM"
            conn.sendall(b"\x20\x0a\x00\x00\x07\x15\x00\x04SCRM")
            try:
                _read_packet(conn)      # DISCONNECT
            except EOFError:
                pass
    t = threading.Thread(target=broker, daemon=True)
    t.start()
    got, connected = [], []

    def on_auth(cl, u, rc, props):
        got.append((rc.value, props.AuthenticationData))
        ap = Properties(PacketTypes.AUTH)
        ap.AuthenticationMethod = "SCRM"
        ap.AuthenticationData = b"answer"
        cl.auth(0x18, ap)

    c = mqtt.Client("auth-early-py", protocol=mqtt.MQTTv5)
    c.on_auth = on_auth
    c.on_connect = lambda cl, u, flags, rc, props=None: connected.append(rc)
    cp = Properties(PacketTypes.CONNECT)
    cp.AuthenticationMethod = "SCRM"
    cp.AuthenticationData = b"first"
    c.loop_start()
    try:
        if how == "connect":
            assert c.connect(HOST, port, properties=cp) == 0
        else:
            c.connect_async(HOST, port, properties=cp)
        assert wait_for(lambda: connected, 10), (got, seen)
        assert got == [(0x18, b"nonce")]
        assert connected == [0]
        first, body = seen["auth"]
        assert first == 0xF0 and body[0] == 0x18 and b"answer" in body
        c.disconnect()
    finally:
        c.loop_stop()
        c.close()
        t.join(5)
        srv.close()


def test_auth_bad_input():
    from libmq.packettypes import PacketTypes
    from libmq.properties import Properties
    # bad input: a property AUTH cannot carry, MQTT 3.1.1
    c5 = mqtt.Client("auth-bad", protocol=mqtt.MQTTv5)
    bad = Properties(PacketTypes.PUBLISH)
    bad.ContentType = "x"
    with pytest.raises(ValueError):
        c5.auth(0x19, bad)
    with pytest.raises(ValueError):
        c5.auth(256)
    c3 = mqtt.Client("auth-311")
    with pytest.raises(mqtt.MQError) as e:
        c3.auth(0x19)
    assert e.value.name == "MQ_ERR_NOT_SUPPORTED"
    for cl in (c5, c3):
        cl.close()
