# Tutorial step 4: on_connect / on_disconnect and a connected flag; the
# client keeps publishing across a broker restart (loop_start reconnects).
# Publishes "n" every 0.1 s on tutorial/reconnect until it has published
# MQTT_COUNT messages while connected, then disconnects.
import os
import time

import libmq.client as mqtt  # was: import paho.mqtt.client as mqtt

broker_address = os.environ.get("MQTT_BROKER", "localhost")
port = int(os.environ.get("MQTT_PORT", "1883"))
count = int(os.environ.get("MQTT_COUNT", "40"))


def on_connect(client, userdata, flags, rc):
    if rc == 0:
        client.connected_flag = True  # set flag
        print("connected OK", flush=True)
    else:
        print("Bad connection Returned code=", rc, flush=True)


def on_disconnect(client, userdata, rc):
    client.connected_flag = False
    print("disconnecting reason  " + str(rc), flush=True)


mqtt.Client.connected_flag = False  # create flag in class
client = mqtt.Client("P4")
client.on_connect = on_connect
client.on_disconnect = on_disconnect
client.reconnect_delay_set(min_delay=0.2, max_delay=1)
print("Connecting to broker ", broker_address, flush=True)
client.connect(broker_address, port)
client.loop_start()
while not client.connected_flag:  # wait in loop
    print("In wait loop")
    time.sleep(0.1)
sent = 0
while sent < count:
    if client.connected_flag:
        client.publish("tutorial/reconnect", str(sent), qos=1)
        sent += 1
    time.sleep(0.1)
client.disconnect()
client.loop_stop()
print("done", flush=True)
