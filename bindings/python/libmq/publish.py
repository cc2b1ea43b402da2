"""libmq.publish - one-shot publishing, as paho.mqtt.publish:
single(topic, payload, ...) and multiple(msgs, ...) connect, publish, wait
until every message is completed, disconnect.

Each call uses its own client; callable from any thread.
"""
import collections.abc

from . import client as mqtt

__all__ = ["single", "multiple"]


def _client(hostname, port, client_id, keepalive, will, auth, tls, protocol,
            transport, proxy_args):
    c = mqtt.Client(client_id=client_id, userdata=None, protocol=protocol,
                    transport=transport)
    if proxy_args:
        c.proxy_set(**proxy_args)
    if auth:
        username = auth.get("username")
        if not username:
            raise KeyError("The 'username' key was not found, this is "
                           "required for auth")
        c.username_pw_set(username, auth.get("password"))
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
    c.connect(hostname, port, keepalive)
    return c


def _norm(msg):
    if isinstance(msg, dict):
        return (msg["topic"], msg.get("payload"), msg.get("qos", 0),
                msg.get("retain", False))
    if isinstance(msg, (tuple, list)):
        t = tuple(msg) + (None, 0, False)[len(msg) - 1:]
        return t[:4]
    raise TypeError("message must be a dict or a tuple")


def multiple(msgs, hostname="localhost", port=1883, client_id="",
             keepalive=60, will=None, auth=None, tls=None,
             protocol=mqtt.MQTTv311, transport="tcp", proxy_args=None):
    """Publish each message of `msgs` (dicts with topic, payload, qos,
    retain, or (topic, payload, qos, retain) tuples) and disconnect once
    all are completed. Raises as Client.connect() on connection failure,
    RuntimeError if a message could not be delivered."""
    if not isinstance(msgs, collections.abc.Iterable):
        raise TypeError("msgs must be an iterable")
    msgs = [_norm(m) for m in msgs]
    c = _client(hostname, port, client_id, keepalive, will, auth, tls,
                protocol, transport, proxy_args)
    try:
        infos = [c.publish(*m) for m in msgs]
        for info in infos:
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise RuntimeError("publish failed: %s" %
                                   mqtt.error_string(info.rc))
            info.wait_for_publish()
        c.disconnect()
    finally:
        c.close()


def single(topic, payload=None, qos=0, retain=False, hostname="localhost",
           port=1883, client_id="", keepalive=60, will=None, auth=None,
           tls=None, protocol=mqtt.MQTTv311, transport="tcp",
           proxy_args=None):
    """Publish one message and disconnect (see multiple())."""
    multiple([(topic, payload, qos, retain)], hostname, port, client_id,
             keepalive, will, auth, tls, protocol, transport, proxy_args)
