# Tutorial step 1: connect, publish, disconnect.
# The paho-mqtt tutorial's first program with only the import line changed.
# Broker, port and QoS come from the environment so the tests can run it.
import os

import libmq.client as mqtt  # was: import paho.mqtt.client as mqtt

broker_address = os.environ.get("MQTT_BROKER", "localhost")
port = int(os.environ.get("MQTT_PORT", "1883"))
qos = int(os.environ.get("MQTT_QOS", "0"))

client = mqtt.Client("P1")  # create new instance
client.connect(broker_address, port)  # connect to broker
client.publish("house/main-light", "OFF", qos=qos)  # publish
client.disconnect()
