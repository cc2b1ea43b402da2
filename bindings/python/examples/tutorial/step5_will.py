# Tutorial step 5: a persistent session (clean_session=False), QoS 1 and a
# retained Last Will "home/status offline" that the broker publishes when
# the program dies without disconnecting (the test kills it with SIGKILL).
import os
import time

import libmq.client as mqtt  # was: import paho.mqtt.client as mqtt

broker_address = os.environ.get("MQTT_BROKER", "localhost")
port = int(os.environ.get("MQTT_PORT", "1883"))


def on_connect(client, userdata, flags, rc):
    print("connected rc=%d session present=%d" % (rc,
          flags["session present"]), flush=True)
    client.publish("home/status", "online", qos=1, retain=True)
    client.subscribe("home/commands", qos=1)


def on_message(client, userdata, msg):
    print("command", msg.payload.decode(), flush=True)


client = mqtt.Client("home-controller", clean_session=False)
client.on_connect = on_connect
client.on_message = on_message
client.will_set("home/status", "offline", qos=1, retain=True)
client.connect(broker_address, port, keepalive=60)
client.loop_start()
while True:
    time.sleep(1)
