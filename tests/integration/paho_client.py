#!/usr/bin/python3
"""Interop helper for the libmq integration tests: a paho-mqtt 1.6 client.

pub: publish each --msg to --topic, wait for every PUBACK/PUBCOMP, exit 0.
sub: subscribe to --topic, print "<topic>\t<qos>\t<retain>\t<payload>" for each
     message (payload as text), exit 0 after --count messages, 2 on timeout.
Run with /usr/bin/python3 (python3-paho-mqtt is installed for it only).
"""
import argparse
import sys
import time

import paho.mqtt.client as mqtt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["pub", "sub"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--qos", type=int, default=1)
    ap.add_argument("--v5", action="store_true")
    ap.add_argument("--msg", action="append", default=[])
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=10.0)
    a = ap.parse_args()

    proto = mqtt.MQTTv5 if a.v5 else mqtt.MQTTv311
    if a.v5:
        c = mqtt.Client(client_id=a.id, protocol=proto)
    else:
        c = mqtt.Client(client_id=a.id, protocol=proto, clean_session=True)
    got = []
    state = {"connected": False, "subscribed": False}

    def on_connect(client, userdata, flags, rc, properties=None):
        state["connected"] = (rc == 0)
        if a.mode == "sub" and rc == 0:
            client.subscribe(a.topic, qos=a.qos)

    def on_subscribe(client, userdata, mid, granted, properties=None):
        state["subscribed"] = True

    def on_message(client, userdata, msg):
        got.append(msg)
        print("%s\t%d\t%d\t%s" % (msg.topic, msg.qos, int(msg.retain),
                                  msg.payload.decode("utf-8", "replace")),
              flush=True)

    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    c.on_message = on_message
    c.connect(a.host, a.port, keepalive=30)
    c.loop_start()
    deadline = time.monotonic() + a.timeout
    rc = 0
    try:
        while not state["connected"]:
            if time.monotonic() > deadline:
                print("timeout waiting for CONNACK", file=sys.stderr)
                return 2
            time.sleep(0.01)
        if a.mode == "pub":
            infos = [c.publish(a.topic, m.encode("utf-8"), qos=a.qos)
                     for m in a.msg]
            for i in infos:
                i.wait_for_publish(timeout=max(0.1, deadline - time.monotonic()))
                if not i.is_published():
                    print("timeout waiting for publish", file=sys.stderr)
                    rc = 2
        else:
            while len(got) < a.count:
                if time.monotonic() > deadline:
                    print("timeout: %d of %d messages" % (len(got), a.count),
                          file=sys.stderr)
                    rc = 2
                    break
                time.sleep(0.01)
    finally:
        c.disconnect()
        c.loop_stop()
    return rc


if __name__ == "__main__":
    sys.exit(main())
