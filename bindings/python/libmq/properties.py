"""libmq.properties - MQTT 5 properties with the attribute names of
paho.mqtt.properties.Properties: `props.ResponseTopic = "a/b"`,
`props.UserProperty = ("k", "v")` (appends), `props.CorrelationData = b".."`.

A Properties object is built by the application for one packet type and
turned into libmq's property list when a call sends it; received properties
arrive as Properties objects on messages and callbacks. Not thread-safe:
do not change one object from two threads at once.
"""
from . import mq_core as _core
from .packettypes import PacketTypes

__all__ = ["Properties", "MQTTException"]


class MQTTException(Exception):
    """Raised for a property that is unknown or not allowed in the packet
    type (as paho-mqtt does). Also a ValueError-like misuse."""


P = PacketTypes
# mq.h's property id: (paho's name, kind, packet types); kind: "int",
# "str", "bin", "user"
_PROPS = {
    _core.MQ_PROP_PAYLOAD_FORMAT_INDICATOR:
        ("PayloadFormatIndicator", "int", (P.PUBLISH, P.WILLMESSAGE)),
    _core.MQ_PROP_MESSAGE_EXPIRY_INTERVAL:
        ("MessageExpiryInterval", "int", (P.PUBLISH, P.WILLMESSAGE)),
    _core.MQ_PROP_CONTENT_TYPE:
        ("ContentType", "str", (P.PUBLISH, P.WILLMESSAGE)),
    _core.MQ_PROP_RESPONSE_TOPIC:
        ("ResponseTopic", "str", (P.PUBLISH, P.WILLMESSAGE)),
    _core.MQ_PROP_CORRELATION_DATA:
        ("CorrelationData", "bin", (P.PUBLISH, P.WILLMESSAGE)),
    _core.MQ_PROP_SUBSCRIPTION_IDENTIFIER:
        ("SubscriptionIdentifier", "int", (P.PUBLISH, P.SUBSCRIBE)),
    _core.MQ_PROP_SESSION_EXPIRY_INTERVAL:
        ("SessionExpiryInterval", "int", (P.CONNECT, P.CONNACK, P.DISCONNECT)),
    _core.MQ_PROP_ASSIGNED_CLIENT_IDENTIFIER:
        ("AssignedClientIdentifier", "str", (P.CONNACK,)),
    _core.MQ_PROP_SERVER_KEEP_ALIVE:
        ("ServerKeepAlive", "int", (P.CONNACK,)),
    _core.MQ_PROP_AUTHENTICATION_METHOD:
        ("AuthenticationMethod", "str", (P.CONNECT, P.CONNACK, P.AUTH)),
    _core.MQ_PROP_AUTHENTICATION_DATA:
        ("AuthenticationData", "bin", (P.CONNECT, P.CONNACK, P.AUTH)),
    _core.MQ_PROP_REQUEST_PROBLEM_INFORMATION:
        ("RequestProblemInformation", "int", (P.CONNECT,)),
    _core.MQ_PROP_WILL_DELAY_INTERVAL:
        ("WillDelayInterval", "int", (P.WILLMESSAGE,)),
    _core.MQ_PROP_REQUEST_RESPONSE_INFORMATION:
        ("RequestResponseInformation", "int", (P.CONNECT,)),
    _core.MQ_PROP_RESPONSE_INFORMATION:
        ("ResponseInformation", "str", (P.CONNACK,)),
    _core.MQ_PROP_SERVER_REFERENCE:
        ("ServerReference", "str", (P.CONNACK, P.DISCONNECT)),
    _core.MQ_PROP_REASON_STRING:
        ("ReasonString", "str", (P.CONNACK, P.PUBACK, P.PUBREC, P.PUBREL,
                                 P.PUBCOMP, P.SUBACK, P.UNSUBACK, P.DISCONNECT,
                                 P.AUTH)),
    _core.MQ_PROP_RECEIVE_MAXIMUM:
        ("ReceiveMaximum", "int", (P.CONNECT, P.CONNACK)),
    _core.MQ_PROP_TOPIC_ALIAS_MAXIMUM:
        ("TopicAliasMaximum", "int", (P.CONNECT, P.CONNACK)),
    _core.MQ_PROP_TOPIC_ALIAS:
        ("TopicAlias", "int", (P.PUBLISH,)),
    _core.MQ_PROP_MAXIMUM_QOS:
        ("MaximumQoS", "int", (P.CONNACK,)),
    _core.MQ_PROP_RETAIN_AVAILABLE:
        ("RetainAvailable", "int", (P.CONNACK,)),
    _core.MQ_PROP_USER_PROPERTY:
        ("UserProperty", "user", (P.CONNECT, P.CONNACK, P.PUBLISH,
                                  P.WILLMESSAGE, P.PUBACK, P.PUBREC, P.PUBREL,
                                  P.PUBCOMP, P.SUBSCRIBE, P.SUBACK,
                                  P.UNSUBSCRIBE, P.UNSUBACK, P.DISCONNECT,
                                  P.AUTH)),
    _core.MQ_PROP_MAXIMUM_PACKET_SIZE:
        ("MaximumPacketSize", "int", (P.CONNECT, P.CONNACK)),
    _core.MQ_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE:
        ("WildcardSubscriptionAvailable", "int", (P.CONNACK,)),
    _core.MQ_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE:
        ("SubscriptionIdentifierAvailable", "int", (P.CONNACK,)),
    _core.MQ_PROP_SHARED_SUBSCRIPTION_AVAILABLE:
        ("SharedSubscriptionAvailable", "int", (P.CONNACK,)),
}
_BY_NAME = {v[0]: k for k, v in _PROPS.items()}
# Subscription Identifier repeats in a received PUBLISH: kept as a list.
_LISTS = ("UserProperty", "SubscriptionIdentifier")


class Properties:
    """MQTT 5 properties for one packet type (PacketTypes.PUBLISH, ...)."""

    def __init__(self, packetType):
        self.packetType = packetType
        self.types = ["Byte", "Two Byte Integer", "Four Byte Integer",
                      "Variable Byte Integer", "Binary Data",
                      "UTF-8 Encoded String", "UTF-8 String Pair"]
        self.names = dict(_BY_NAME)
        self.properties = {k: (v[1], v[2]) for k, v in _PROPS.items()}

    def allowsMultipleInstances(self, compressedName):
        return self.getIdentFromName(compressedName) in (
            _core.MQ_PROP_USER_PROPERTY, _core.MQ_PROP_SUBSCRIPTION_IDENTIFIER)

    def getIdentFromName(self, compressedName):
        try:
            return _BY_NAME[compressedName]
        except KeyError:
            raise MQTTException("Property name not found: %s" %
                                compressedName) from None

    def __setattr__(self, name, value):
        if name[0].islower() or name not in _BY_NAME:
            if name[0].isupper():
                raise MQTTException("Property name not found: %s" % name)
            object.__setattr__(self, name, value)
            return
        ident = _BY_NAME[name]
        pname, kind, packets = _PROPS[ident]
        if self.packetType not in packets:
            raise MQTTException("Property %s does not apply to packet type "
                                "%s" % (name, _packet_name(self.packetType)))
        if kind == "user":
            items = self.__dict__.setdefault(name, [])
            if isinstance(value, tuple) and len(value) == 2 and \
                    all(isinstance(x, str) for x in value):
                items.append(value)
            elif isinstance(value, list) and all(
                    isinstance(x, tuple) and len(x) == 2 for x in value):
                items.extend(value)
            else:
                raise MQTTException("UserProperty must be a (key, value) "
                                    "tuple of str or a list of them")
            return
        if kind == "int":
            if isinstance(value, list) and name in _LISTS:
                vals = value
            else:
                vals = [value]
            for v in vals:
                if isinstance(v, bool) or not isinstance(v, int) or v < 0 \
                        or v > 0xFFFFFFFF:
                    raise MQTTException("%s must be a non-negative integer"
                                        % name)
            if name in _LISTS:
                self.__dict__.setdefault(name, []).extend(vals)
            else:
                object.__setattr__(self, name, value)
            return
        if kind == "str" and not isinstance(value, str):
            raise MQTTException("%s must be a str" % name)
        if kind == "bin":
            if isinstance(value, str):
                value = value.encode("utf-8")
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise MQTTException("%s must be bytes" % name)
            value = bytes(value)
        object.__setattr__(self, name, value)

    def _items(self):
        """(id, name, value) of every property set, values as stored."""
        for name, value in self.__dict__.items():
            ident = _BY_NAME.get(name)
            if ident is not None:
                yield ident, name, value

    def isEmpty(self):
        return next(self._items(), None) is None

    def clear(self):
        for name in [n for _, n, _ in self._items()]:
            del self.__dict__[name]

    def json(self):
        out = {}
        for _, name, value in self._items():
            if isinstance(value, bytes):
                value = value.hex()
            out[name] = value
        return out

    def __str__(self):
        return "[" + ", ".join("%s : %s" % (n, v) for _, n, v in
                               self._items()) + "]"

    __repr__ = __str__

    def __eq__(self, other):
        return (isinstance(other, Properties) and
                dict((i, v) for i, _, v in self._items()) ==
                dict((i, v) for i, _, v in other._items()))

    # -- libmq glue ----------------------------------------------------
    @classmethod
    def _from_list(cls, packet_type, pairs):
        """Build from mq_py_take's [(id, value), ...] (received props)."""
        p = cls(packet_type)
        d = p.__dict__
        for ident, value in pairs:
            spec = _PROPS.get(ident)
            if spec is None:
                continue
            name = spec[0]
            if name in _LISTS:
                d.setdefault(name, []).append(value)
            else:
                d[name] = value
        return p


def _packet_name(ptype):
    if ptype == P.WILLMESSAGE:
        return "WillMessage"
    return P.Names[ptype] if 0 <= ptype < 16 else str(ptype)
