#!/usr/bin/python3
"""The paho-mqtt 1.6 side of tests/integration/test_tutorial.c: the same
tutorial step as examples/tutorial/step4_reconnect.c, in the form the paho
tutorial gives it, so the tests can compare what each delivers.

step4: subscribe in on_connect, loop_forever (reconnects by itself); print
       "connected ...", "disconnected ..." and "message <topic> <payload>
       [(retained)]" lines; a message "quit" ends it.
Run with /usr/bin/python3 (python3-paho-mqtt is installed for it only).
"""
import argparse

import paho.mqtt.client as mqtt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["step4"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--persistent", action="store_true",
                    help="clean_session=False")
    a = ap.parse_args()

    def on_connect(client, userdata, flags, rc):
        print("connected (reason %d, session present %d)"
              % (rc, flags.get("session present", 0)), flush=True)
        client.subscribe(a.topic, qos=1)

    def on_disconnect(client, userdata, rc):
        print("disconnected (%d), reconnecting" % rc, flush=True)

    def on_message(client, userdata, msg):
        print("message %s %s%s" % (msg.topic, msg.payload.decode(),
                                   " (retained)" if msg.retain else ""),
              flush=True)
        if msg.payload == b"quit":
            client.disconnect()

    c = mqtt.Client("paho-step4", clean_session=not a.persistent)
    c.on_connect = on_connect
    c.on_disconnect = on_disconnect
    c.on_message = on_message
    c.reconnect_delay_set(min_delay=1, max_delay=2)
    c.connect(a.host, a.port, 60)
    c.loop_forever()


if __name__ == "__main__":
    main()
