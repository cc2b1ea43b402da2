"""libmq - the Python binding of libmq, an MQTT 3.1.1 / 5.0 client library
in C, with paho-mqtt's API.

    import libmq.client as mqtt         # in place of paho.mqtt.client
    client = mqtt.Client("my-id")
    client.connect("localhost")
    client.publish("house/light", "ON", qos=1)
    client.disconnect()

Modules mirror paho-mqtt's: libmq.client, libmq.publish (single, multiple),
libmq.subscribe (simple, callback), libmq.properties, libmq.reasoncodes,
libmq.subscribeoptions, libmq.packettypes, libmq.enums. libmq.mq_core is
the SWIG-generated flat C API (mq.h) for what the paho layer does not cover.
"""
from . import mq_core
from .client import (Client, MQTTMessage, MQTTMessageInfo, MQError,
                     MQTTError, error_string, connack_string,
                     topic_matches_sub, MQTTv311, MQTTv5)
from .enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from .properties import Properties
from .reasoncodes import ReasonCode, ReasonCodes
from .subscribeoptions import SubscribeOptions
from .packettypes import PacketTypes

__version__ = mq_core.mq_version_string()

__all__ = ["Client", "MQTTMessage", "MQTTMessageInfo", "MQError",
           "MQTTError", "error_string", "connack_string",
           "topic_matches_sub", "MQTTv311", "MQTTv5", "CallbackAPIVersion",
           "MQTTErrorCode", "MQTTProtocolVersion", "Properties",
           "ReasonCode", "ReasonCodes", "SubscribeOptions", "PacketTypes",
           "mq_core", "__version__"]
