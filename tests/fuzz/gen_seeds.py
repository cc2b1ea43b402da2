#!/usr/bin/env python3
"""gen_seeds.py - writes the seed corpus for fuzz_decode and fuzz_props.

Run once by hand (python3 gen_seeds.py); the output is committed under
corpus/. Each decode seed is a version byte (0: 3.1.1, 1: 5) followed by
one or more packets; each props seed is a packet-type byte followed by a
raw property block.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(x):
    if isinstance(x, str):
        x = x.encode()
    return struct.pack(">H", len(x)) + x


def pkt(b0, body):
    return bytes([b0]) + varint(len(body)) + body


def props(*items):
    raw = b"".join(items)
    return varint(len(raw)) + raw


def p_byte(i, v): return bytes([i, v])
def p_u16(i, v): return bytes([i]) + struct.pack(">H", v)
def p_u32(i, v): return bytes([i]) + struct.pack(">I", v)
def p_var(i, v): return bytes([i]) + varint(v)
def p_str(i, v): return bytes([i]) + s(v)
def p_pair(k, v): return b"\x26" + s(k) + s(v)


ALLP_CONNACK = b"".join([
    p_u32(0x11, 3600), p_u16(0x21, 10), p_byte(0x24, 1), p_byte(0x25, 0),
    p_u32(0x27, 1 << 20), p_str(0x12, "assigned-id"), p_u16(0x22, 5),
    p_str(0x1F, "reason text"), p_pair("k", "v"), p_byte(0x28, 1),
    p_byte(0x29, 1), p_byte(0x2A, 0), p_u16(0x13, 30), p_str(0x1A, "resp"),
    p_str(0x1C, "other:1883"), p_str(0x15, "SCRAM"), p_str(0x16, "\x01\x02")])
ALLP_PUBLISH = b"".join([
    p_byte(0x01, 1), p_u32(0x02, 60), p_str(0x03, "text/plain"),
    p_str(0x08, "resp/topic"), p_str(0x09, "\x00\x01corr"), p_var(0x0B, 7),
    p_var(0x0B, 268435455), p_u16(0x23, 3), p_pair("a", "b"),
    p_pair("\u00e9t\u00e9", "\u4e2d")])

v3 = [
    pkt(0x20, b"\x00\x00"), pkt(0x20, b"\x01\x00"), pkt(0x20, b"\x00\x05"),
    pkt(0x30, s("a/b") + b"hello"), pkt(0x31, s("a/b")),
    pkt(0x32, s("t") + b"\x00\x01" + b"x" * 20),
    pkt(0x3D, s("t/\u00e9") + b"\x12\x34" + b"payload"),
    pkt(0x40, b"\x00\x01"), pkt(0x50, b"\x00\x02"), pkt(0x62, b"\x00\x02"),
    pkt(0x70, b"\x00\x02"), pkt(0x90, b"\x00\x03\x00\x01\x02\x80"),
    pkt(0xB0, b"\x00\x04"), pkt(0xD0, b""), pkt(0xC0, b""), pkt(0xE0, b""),
    pkt(0x10, s("MQTT") + b"\x04\xEE\x00\x3C" + s("cid") + s("will/t") +
        s(b"\x00\xff") + s("user") + s(b"pw")),
    pkt(0x10, s("MQIsdp") + b"\x03\x02\x00\x0A" + s("old")),
    pkt(0x82, b"\x00\x05" + s("a/+") + b"\x01" + s("#") + b"\x02"),
    pkt(0xA2, b"\x00\x06" + s("a/+") + s("$share/g/x")),
]
v5 = [
    pkt(0x20, b"\x00\x00" + props()),
    pkt(0x20, b"\x01\x00" + props(ALLP_CONNACK)),
    pkt(0x20, b"\x00\x87" + props(p_str(0x1F, "no"))),
    pkt(0x30, s("a/b") + props() + b"hello"),
    pkt(0x34, s("") + b"\x00\x09" + props(p_u16(0x23, 1)) + b"alias"),
    pkt(0x3B, s("x/y") + b"\x00\x0A" + props(ALLP_PUBLISH) + b"\x00" * 8),
    pkt(0x40, b"\x00\x01"), pkt(0x40, b"\x00\x01\x10"),
    pkt(0x40, b"\x00\x01\x97" + props(p_str(0x1F, "quota"), p_pair("x", "y"))),
    pkt(0x50, b"\x00\x02\x00" + props()), pkt(0x62, b"\x00\x02\x92"),
    pkt(0x70, b"\x00\x02\x00" + props(p_str(0x1F, "ok"))),
    pkt(0x90, b"\x00\x03" + props(p_pair("k", "v")) + b"\x00\x01\x02\x80\xa2"),
    pkt(0xB0, b"\x00\x04" + props() + b"\x00\x11"),
    pkt(0xE0, b""), pkt(0xE0, b"\x8e"),
    pkt(0xE0, b"\x9c" + props(p_str(0x1C, "srv"), p_str(0x1F, "moved"))),
    pkt(0xF0, b"\x18" + props(p_str(0x15, "M"), p_str(0x16, "d"))),
    pkt(0xD0, b""),
    pkt(0x10, s("MQTT") + b"\x05\xC6\x00\x3C" +
        props(p_u32(0x11, 10), p_u16(0x21, 5), p_u32(0x27, 1000),
              p_u16(0x22, 4), p_byte(0x17, 0), p_byte(0x19, 1),
              p_pair("a", "b"), p_str(0x15, "M")) + s("cid") +
        props(p_u32(0x18, 5), p_byte(0x01, 1), p_str(0x03, "ct")) +
        s("will") + s(b"bye") + s("u") + s(b"p")),
    pkt(0x82, b"\x00\x05" + props(p_var(0x0B, 42)) + s("a/+") + b"\x2d" +
        s("$share/g/#") + b"\x01"),
    pkt(0xA2, b"\x00\x06" + props(p_pair("u", "v")) + s("a/#")),
]
bad = [
    b"\x20\xff\xff\xff\xff\x7f",            # 5-byte remaining length
    b"\x20\xff\xff\xff\x7f",                # 256 MB announced, few bytes
    b"\x36" + b"\x05" + s("t") + b"\x00\x01",  # QoS 3
    b"\x32\x05" + s("t") + b"\x00\x00",     # packet id 0
    b"\x30\x05" + b"\x00\x03\xc0\xaf\x00",   # bad UTF-8 topic
    b"\x00\x00", b"\xF0\x00",                # reserved / AUTH on v3
    b"\x90\x03\x00\x01\x03",                 # bad SUBACK code
]
dup_props = props(p_u16(0x21, 1), p_u16(0x21, 2))


def write(dirname, name, data):
    d = os.path.join(HERE, "corpus", dirname)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


for i, p in enumerate(v3):
    write("decode", "v3-%02d" % i, b"\x00" + p)
for i, p in enumerate(v5):
    write("decode", "v5-%02d" % i, b"\x01" + p)
for i, p in enumerate(bad):
    write("decode", "bad3-%02d" % i, b"\x00" + p)
    write("decode", "bad5-%02d" % i, b"\x01" + p)
write("decode", "v5-dupprops", b"\x01" + pkt(0x20, b"\x00\x00" + dup_props))
write("decode", "v3-stream", b"\x00" + b"".join(v3))
write("decode", "v5-stream", b"\x01" + b"".join(v5))

write("props", "connack", b"\x02" + ALLP_CONNACK)
write("props", "publish", b"\x03" + ALLP_PUBLISH)
write("props", "will", b"\x10" + p_u32(0x18, 9) + p_byte(0x01, 0))
write("props", "subscribe", b"\x08" + p_var(0x0B, 1) + p_pair("k", "v"))
write("props", "disconnect", b"\x0e" + p_u32(0x11, 0) + p_str(0x1C, "s"))
write("props", "auth", b"\x0f" + p_str(0x15, "M") + p_str(0x16, "\x00"))
write("props", "dup", b"\x02" + p_u16(0x21, 1) + p_u16(0x21, 2))
write("props", "authdata-only", b"\x0f" + p_str(0x16, "d"))
write("props", "zero-recvmax", b"\x02" + p_u16(0x21, 0))
write("props", "bad-utf8", b"\x03" + b"\x03\x00\x02\xed\xa0")
write("props", "multibyte-id", b"\x03" + b"\x81\x00\x01")
