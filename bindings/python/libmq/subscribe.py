"""libmq.subscribe - one-shot subscribing, as paho.mqtt.subscribe:
simple(topics, ...) returns the first message(s), callback(cb, topics, ...)
calls cb for every message until it disconnects the client.

Each call uses its own client; callbacks run on the calling thread.
"""
from . import client as mqtt

__all__ = ["simple", "callback"]


def callback(callback, topics, qos=0, userdata=None, hostname="localhost",
             port=1883, client_id="", keepalive=60, will=None, auth=None,
             tls=None, protocol=mqtt.MQTTv311, transport="tcp",
             clean_session=True, proxy_args=None):
    """Subscribe to `topics` (a filter or a list of filters) at `qos` and
    call callback(client, userdata, message) for each message, until the
    callback calls client.disconnect()."""
    if qos < 0 or qos > 2:
        raise ValueError("qos must be in the range 0-2")
    if isinstance(topics, str):
        topics = [topics]
    state = {"userdata": userdata, "cb": callback}

    def on_connect(c, ud, flags, rc, properties=None):
        if rc != 0:
            raise mqtt.MQTTException(mqtt.connack_string(rc))
        c.subscribe([(t, qos) for t in topics])

    def on_message(c, ud, msg):
        state["cb"](c, state["userdata"], msg)

    if protocol == mqtt.MQTTv5:
        clean_session = None
    c = mqtt.Client(client_id=client_id, clean_session=clean_session,
                    protocol=protocol, transport=transport)
    c.on_connect = on_connect
    c.on_message = on_message
    if auth or will or tls or proxy_args:
        c.close()
        c = _configure(c, client_id, clean_session, protocol, transport,
                       will, auth, tls, proxy_args)
        c.on_connect = on_connect
        c.on_message = on_message
    try:
        c.connect(hostname, port, keepalive)
        c.loop_forever()
    finally:
        c.close()


def _configure(_old, client_id, clean_session, protocol, transport, will,
               auth, tls, proxy_args):
    c = mqtt.Client(client_id=client_id, clean_session=clean_session,
                    protocol=protocol, transport=transport)
    if proxy_args:
        c.proxy_set(**proxy_args)
    if auth:
        c.username_pw_set(auth["username"], auth.get("password"))
    if will:
        c.will_set(**will)
    if tls:
        if isinstance(tls, dict):
            insecure = tls.pop("insecure", False)
            c.tls_set(**tls)
            if insecure:
                c.tls_insecure_set(True)
        else:
            c.tls_set_context(tls)
    return c


def simple(topics, qos=0, msg_count=1, retained=True, hostname="localhost",
           port=1883, client_id="", keepalive=60, will=None, auth=None,
           tls=None, protocol=mqtt.MQTTv311, transport="tcp",
           clean_session=True, proxy_args=None):
    """Subscribe and return the first message (msg_count=1) or a list of
    the first msg_count messages. retained=False skips retained ones."""
    if msg_count < 1:
        raise ValueError("msg_count must be > 0")
    got = []

    def on_message(c, ud, msg):
        if msg.retain and not retained:
            return
        got.append(msg)
        if len(got) >= msg_count:
            c.disconnect()

    callback(on_message, topics, qos, None, hostname, port, client_id,
             keepalive, will, auth, tls, protocol, transport, clean_session,
             proxy_args)
    return got[0] if msg_count == 1 else got
