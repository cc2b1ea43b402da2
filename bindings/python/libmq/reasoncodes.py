"""libmq.reasoncodes - MQTT 5 reason codes as objects, with the names and
behaviour of paho.mqtt.reasoncodes.ReasonCode (paho-mqtt 2.x) and its 1.x
name ReasonCodes.

A ReasonCode compares equal to its number and to its name, so both
`rc == 0` and `rc == "Success"` work. Instances are values; no threading
concerns.
"""
from .packettypes import PacketTypes

__all__ = ["ReasonCode", "ReasonCodes"]

P = PacketTypes
_ACKS = (P.PUBACK, P.PUBREC)
_ERR_ALL = (P.CONNACK, P.PUBACK, P.PUBREC, P.SUBACK, P.UNSUBACK,
            P.DISCONNECT)

# value -> {name: packet types}; names are those of the MQTT 5 specification
# (section 2.4), as paho spells them.
_NAMES = {
    0: {"Success": (P.CONNACK, P.PUBACK, P.PUBREC, P.PUBREL, P.PUBCOMP,
                    P.UNSUBACK, P.AUTH),
        "Normal disconnection": (P.DISCONNECT,),
        "Granted QoS 0": (P.SUBACK,)},
    1: {"Granted QoS 1": (P.SUBACK,)},
    2: {"Granted QoS 2": (P.SUBACK,)},
    4: {"Disconnect with will message": (P.DISCONNECT,)},
    16: {"No matching subscribers": _ACKS},
    17: {"No subscription found": (P.UNSUBACK,)},
    24: {"Continue authentication": (P.AUTH,)},
    25: {"Re-authenticate": (P.AUTH,)},
    128: {"Unspecified error": _ERR_ALL},
    129: {"Malformed packet": (P.CONNACK, P.DISCONNECT)},
    130: {"Protocol error": (P.CONNACK, P.DISCONNECT)},
    131: {"Implementation specific error": _ERR_ALL},
    132: {"Unsupported protocol version": (P.CONNACK,)},
    133: {"Client identifier not valid": (P.CONNACK,)},
    134: {"Bad user name or password": (P.CONNACK,)},
    135: {"Not authorized": _ERR_ALL},
    136: {"Server unavailable": (P.CONNACK,)},
    137: {"Server busy": (P.CONNACK, P.DISCONNECT)},
    138: {"Banned": (P.CONNACK,)},
    139: {"Server shutting down": (P.DISCONNECT,)},
    140: {"Bad authentication method": (P.CONNACK, P.DISCONNECT)},
    141: {"Keep alive timeout": (P.DISCONNECT,)},
    142: {"Session taken over": (P.DISCONNECT,)},
    143: {"Topic filter invalid": (P.SUBACK, P.UNSUBACK, P.DISCONNECT)},
    144: {"Topic name invalid": (P.CONNACK, P.PUBACK, P.PUBREC,
                                 P.DISCONNECT)},
    145: {"Packet identifier in use": (P.PUBACK, P.PUBREC, P.SUBACK,
                                       P.UNSUBACK)},
    146: {"Packet identifier not found": (P.PUBREL, P.PUBCOMP)},
    147: {"Receive maximum exceeded": (P.DISCONNECT,)},
    148: {"Topic alias invalid": (P.DISCONNECT,)},
    149: {"Packet too large": (P.CONNACK, P.DISCONNECT)},
    150: {"Message rate too high": (P.DISCONNECT,)},
    151: {"Quota exceeded": (P.CONNACK, P.PUBACK, P.PUBREC, P.SUBACK,
                             P.DISCONNECT)},
    152: {"Administrative action": (P.DISCONNECT,)},
    153: {"Payload format invalid": (P.PUBACK, P.PUBREC, P.DISCONNECT)},
    154: {"Retain not supported": (P.CONNACK, P.DISCONNECT)},
    155: {"QoS not supported": (P.CONNACK, P.DISCONNECT)},
    156: {"Use another server": (P.CONNACK, P.DISCONNECT)},
    157: {"Server moved": (P.CONNACK, P.DISCONNECT)},
    158: {"Shared subscription not supported": (P.SUBACK, P.DISCONNECT)},
    159: {"Connection rate exceeded": (P.CONNACK, P.DISCONNECT)},
    160: {"Maximum connect time": (P.DISCONNECT,)},
    161: {"Subscription identifiers not supported": (P.SUBACK,
                                                     P.DISCONNECT)},
    162: {"Wildcard subscription not supported": (P.SUBACK, P.DISCONNECT)},
}


class ReasonCode:
    """An MQTT 5 reason code of a given packet type.

    ReasonCode(packetType, aName="Success", identifier=-1): give either the
    name or the number (identifier). An unknown name or a number that the
    packet type cannot carry raises ValueError.
    """

    def __init__(self, packetType, aName="Success", identifier=-1):
        self.packetType = packetType
        if identifier == -1:
            if packetType == P.DISCONNECT and aName == "Success":
                aName = "Normal disconnection"
            self.set(aName)
        else:
            self.value = identifier
            self.getName()  # raises ValueError for a code the packet lacks

    def __getName__(self, packetType, identifier):
        names = _NAMES.get(identifier)
        if names is None:
            raise ValueError("unknown reason code %d" % identifier)
        for name, packets in names.items():
            if packetType in packets:
                return name
        # a code defined for other packet types: keep the first name
        return next(iter(names))

    def getId(self, name):
        for value, names in _NAMES.items():
            if name in names and self.packetType in names[name]:
                return value
        raise ValueError("reason code name %r is not valid for packet "
                         "type %s" % (name, self.packetType))

    def set(self, name):
        self.value = self.getId(name)

    def unpack(self, buffer):
        c = buffer[0]
        self.value = c
        self.getName()
        return 1

    def getName(self):
        """The name of this reason code ("Not authorized")."""
        return self.__getName__(self.packetType, self.value)

    @property
    def is_failure(self):
        """True for codes >= 0x80 (paho-mqtt 2.x)."""
        return self.value >= 0x80

    def __eq__(self, other):
        if isinstance(other, int):
            return self.value == other
        if isinstance(other, str):
            return other == str(self)
        if isinstance(other, ReasonCode):
            return self.value == other.value
        return False

    def __lt__(self, other):
        if isinstance(other, ReasonCode):
            other = other.value
        return self.value < other

    def __hash__(self):
        return hash(self.value)

    def __int__(self):
        return self.value

    def __str__(self):
        return self.getName()

    def __repr__(self):
        return "ReasonCode(%s, %r)" % (PacketTypes.Names[self.packetType]
                                       if self.packetType < 16 else
                                       self.packetType, self.getName())

    def json(self):
        return self.getName()

    def pack(self):
        return bytearray([self.value])


ReasonCodes = ReasonCode  # paho-mqtt 1.x name
