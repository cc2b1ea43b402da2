"""libmq.subscribeoptions - MQTT 5 subscription options, with the names of
paho.mqtt.subscribeoptions.SubscribeOptions.

Instances are plain values; no threading concerns.
"""

__all__ = ["SubscribeOptions"]


class SubscribeOptions:
    """Options of one subscription (MQTT 5 section 3.8.3.1): maximum QoS,
    No Local, Retain As Published, Retain Handling. Bad values raise
    ValueError."""

    RETAIN_SEND_ON_SUBSCRIBE = 0
    RETAIN_SEND_IF_NEW_SUB = 1
    RETAIN_DO_NOT_SEND = 2

    def __init__(self, qos=0, noLocal=False, retainAsPublished=False,
                 retainHandling=RETAIN_SEND_ON_SUBSCRIBE):
        if qos not in (0, 1, 2):
            raise ValueError("qos must be 0, 1 or 2")
        if retainHandling not in (0, 1, 2):
            raise ValueError("retainHandling must be 0, 1 or 2")
        self.QoS = qos
        self.noLocal = bool(noLocal)
        self.retainAsPublished = bool(retainAsPublished)
        self.retainHandling = retainHandling

    def pack(self):
        """The options byte as sent in SUBSCRIBE (bytes of length 1)."""
        return bytes([self.value()])

    def value(self):
        """The options byte as an int (libmq's MQ_SUB_* bits)."""
        return (self.QoS | (0x04 if self.noLocal else 0) |
                (0x08 if self.retainAsPublished else 0) |
                (self.retainHandling << 4))

    def unpack(self, buffer):
        b = buffer[0]
        if b & 0xC0 or (b >> 4) & 0x03 == 3 or b & 0x03 == 3:
            raise ValueError("invalid subscription options byte 0x%02x" % b)
        self.QoS = b & 0x03
        self.noLocal = bool(b & 0x04)
        self.retainAsPublished = bool(b & 0x08)
        self.retainHandling = (b >> 4) & 0x03
        return 1

    def json(self):
        return {"QoS": self.QoS, "noLocal": self.noLocal,
                "retainAsPublished": self.retainAsPublished,
                "retainHandling": self.retainHandling}

    def __eq__(self, other):
        return (isinstance(other, SubscribeOptions) and
                self.value() == other.value())

    def __repr__(self):
        return str(self.json())

    __str__ = __repr__
