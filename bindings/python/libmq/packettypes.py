"""libmq.packettypes - MQTT control packet type numbers, as
paho.mqtt.packettypes names them (used by Properties and ReasonCode).

Pure data; no threading concerns.
"""

__all__ = ["PacketTypes"]


class PacketTypes:
    """Packet type numbers (MQTT 5 section 2.1.2) plus WILLMESSAGE, the
    pseudo type paho uses for Will properties."""

    indexes = range(1, 16)
    CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, \
        SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, \
        AUTH = indexes
    WILLMESSAGE = 99
    Names = ["reserved", "Connect", "Connack", "Publish", "Puback", "Pubrec",
             "Pubrel", "Pubcomp", "Subscribe", "Suback", "Unsubscribe",
             "Unsuback", "Pingreq", "Pingresp", "Disconnect", "Auth"]
