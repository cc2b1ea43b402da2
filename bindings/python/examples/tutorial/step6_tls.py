# Tutorial step 6: TLS with the broker's certificate and host name verified.
# Prints "connected" and publishes, or prints the TLS error and exits 1
# when the certificate does not match the host name.
import os
import ssl
import sys

import libmq.client as mqtt  # was: import paho.mqtt.client as mqtt

broker_address = os.environ.get("MQTT_BROKER", "localhost")
port = int(os.environ.get("MQTT_PORT", "8883"))
ca_file = os.environ.get("MQTT_CA", "ca.crt")

client = mqtt.Client("P6")
client.tls_set(ca_certs=ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
try:
    client.connect(broker_address, port)
except ssl.SSLError as e:
    print("TLS error:", e)
    sys.exit(1)
print("connected")
info = client.publish("tutorial/tls", "secure hello", qos=1)
info.wait_for_publish(5)
client.disconnect()
