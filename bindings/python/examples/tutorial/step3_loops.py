# Tutorial step 3: the three ways to run the loop. Run with the style as
# argument: forever, manual or start. Each subscribes in on_connect,
# publishes three messages to itself and stops after receiving them.
import os
import sys
import time

import libmq.client as mqtt  # was: import paho.mqtt.client as mqtt

broker_address = os.environ.get("MQTT_BROKER", "localhost")
port = int(os.environ.get("MQTT_PORT", "1883"))
style = sys.argv[1] if len(sys.argv) > 1 else "forever"
received = []


def on_connect(client, userdata, flags, rc):
    print("Connected with result code " + str(rc))
    client.subscribe("tutorial/loops/" + style, qos=1)


def on_subscribe(client, userdata, mid, granted_qos):
    for i in range(3):
        client.publish("tutorial/loops/" + style, "msg %d" % i, qos=1)


def on_message(client, userdata, msg):
    print(msg.topic + " " + str(msg.payload))
    received.append(msg.payload)
    if len(received) == 3 and style == "forever":
        client.disconnect()


client = mqtt.Client("P3-" + style)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect(broker_address, port, 60)

if style == "forever":
    client.loop_forever()
elif style == "manual":
    deadline = time.time() + 10
    while len(received) < 3 and time.time() < deadline:
        client.loop(0.1)
    client.disconnect()
else:
    client.loop_start()
    deadline = time.time() + 10
    while len(received) < 3 and time.time() < deadline:
        time.sleep(0.05)
    client.disconnect()
    client.loop_stop()
print("received", len(received))
sys.exit(0 if len(received) == 3 else 1)
