#!/usr/bin/env python3
"""gen_seeds.py - writes the seed corpus of every fuzz target.

Run once by hand (python3 gen_seeds.py); the output is committed under
corpus/. Each decode seed is a version byte (0: 3.1.1, 1: 5) followed by
one or more packets; each props seed is a packet-type byte followed by a
raw property block. The input formats of the other targets (store, ws,
topic, uri, tools) are described at the top of fuzz_<name>.c.
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


# ---- store: flags byte, then file content (see fuzz_store.c) -------------

def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def st_header(cid=b"fz"):
    h = b"LIBMQST\x00" + struct.pack("<III", 1, 0, len(cid)) + cid
    return h + struct.pack("<I", crc32c(h))


def st_rec(rtype, seq, body, good_crc=True):
    h = struct.pack("<BBHIQ", 0xD5, rtype, 0, len(body), seq)
    crc = crc32c(h, crc32c(body)) if good_crc else 0
    return h + struct.pack("<I", crc) + body


def st_add(seq, qos=1, state=0, pid=0, topic=b"a/b", payload=b"hello",
           prop=b"", retain=0):
    body = struct.pack("<BBBBHHIII", qos, retain, state, 0, pid, 0,
                       len(topic), len(payload), len(prop))
    return st_rec(1, seq, body + topic + payload + prop)


def st_upd(seq, state=1, pid=5):
    return st_rec(2, seq, struct.pack("<BBH", state, 0, pid))


def st_rm(seq):
    return st_rec(3, seq, b"")


recs = (st_add(1) + st_add(2, qos=2, pid=9) + st_upd(2) + st_add(3) +
        st_rm(1) + st_add(4, payload=b"x" * 300, prop=b"\x01\x01"))
write("store", "empty-fixed", b"\x03")
write("store", "records-fixed", b"\x03" + recs)
write("store", "records-whole", b"\x00" + st_header() + recs)
write("store", "torn-tail", b"\x00" + st_header() + recs[:-7])
write("store", "bad-crc", b"\x01" + st_add(1) + st_rec(1, 2, b"\x00" * 20,
                                                       False) + st_add(3))
write("store", "seq-backwards", b"\x03" + st_add(5) + st_add(4))
write("store", "bad-qos", b"\x03" + st_add(1, qos=3) + st_add(2))
write("store", "update-unknown", b"\x03" + st_add(1) + st_upd(7) + st_rm(8))
write("store", "huge-len", b"\x03" + struct.pack("<BBHIQI", 0xD5, 1, 0,
                                                  0xFFFFFFF0, 1, 0))
write("store", "other-id", b"\x0b" + recs)
write("store", "long-id", b"\x07" + recs)
write("store", "garbage", b"\x00" + b"not a store file at all")
write("store", "version-2", b"\x00" + b"LIBMQST\x00" +
      struct.pack("<III", 2, 0, 2) + b"fz" + b"\x00" * 4)
write("store", "torn-header", b"\x00" + st_header()[:13])

# ---- ws: flags, seed, server stream (see fuzz_ws.c) ----------------------


def ws_frame(op, payload, fin=True):
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126:
        h = bytes([b0, n])
    elif n < 65536:
        h = bytes([b0, 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, 127]) + struct.pack(">Q", n)
    return h + payload


WS_OK = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
         b"Connection: Upgrade\r\nSec-WebSocket-Accept: @@\r\n"
         b"Sec-WebSocket-Protocol: mqtt\r\n\r\n")
connack = b"\x20\x02\x00\x00"
write("ws", "canned-connack", b"\x01\x07" + ws_frame(2, connack))
write("ws", "head-connack", b"\x00\x03" + WS_OK + ws_frame(2, connack))
write("ws", "head-lowercase", b"\x00\x05" + WS_OK.replace(
    b"Upgrade: websocket", b"upgrade: WebSocket").replace(
    b"Connection: Upgrade", b"connection: keep-alive, upgrade"))
write("ws", "head-noproto", b"\x00\x09" + WS_OK.replace(
    b"Sec-WebSocket-Protocol: mqtt\r\n", b""))
write("ws", "head-wrongproto", b"\x00\x09" + WS_OK.replace(b": mqtt", b": x"))
write("ws", "head-badaccept", b"\x00\x01" + WS_OK.replace(b"@@", b"xyz="))
write("ws", "head-404", b"\x00\x01" + b"HTTP/1.1 404 Not Found\r\n\r\n")
write("ws", "head-nothttp", b"\x00\x01" + b"\x20\x02\x00\x00")
write("ws", "fragmented", b"\x01\x11" + ws_frame(2, b"\x20\x02", False) +
      ws_frame(9, b"ping!") + ws_frame(0, b"\x00\x00"))
write("ws", "len126", b"\x01\x13" + ws_frame(2, b"m" * 300))
write("ws", "len127", b"\x01\x17" + bytes([0x82, 127]) +
      struct.pack(">Q", 70000) + b"z" * 200)
write("ws", "close-code", b"\x01\x19" + ws_frame(2, b"ab") +
      ws_frame(8, b"\x03\xe8bye") + ws_frame(2, b"after"))
write("ws", "close-1byte", b"\x01\x1b" + ws_frame(8, b"\x03"))
write("ws", "masked", b"\x01\x1d" + bytes([0x82, 0x82, 1, 2, 3, 4, 5, 6]))
write("ws", "text", b"\x01\x1f" + ws_frame(1, b"hi"))
write("ws", "stray-cont", b"\x01\x21" + ws_frame(0, b"hi"))
write("ws", "big-ping", b"\x01\x23" + ws_frame(9, b"p" * 126))
write("ws", "io-error", b"\x03\x25" + ws_frame(2, connack))
write("ws", "pings", b"\x01\x27" + b"".join(ws_frame(9, bytes([i]) * i)
                                             for i in range(1, 9)))

# ---- topic: u16le filter length, filter, topic (see fuzz_topic.c) ----------


def tp(f, t):
    return struct.pack("<H", len(f)) + f + t


for i, (f, t) in enumerate([
        (b"a/b/c", b"a/b/c"), (b"a/+/c", b"a/x/c"), (b"a/#", b"a"),
        (b"#", b"$SYS/x"), (b"+/b", b"$x/b"), (b"$share/g/a/#", b"a/b"),
        (b"$share//a", b"a"), (b"$share/g+/a", b"a"), (b"a/+", b"a/"),
        (b"+", b""), (b"/+", b"/x"), (b"a#", b"a"), (b"a/#/b", b"a/x/b"),
        (b"+/+/+", b"//"), ("é/€/😀".encode(), "é/€/😀".encode()),
        (b"\xc0\xaf", b"\xed\xa0\x80"), (b"a\x00b", b"a\x00b"),
        (b"\xf4\x90\x80\x80", b"\xf0\x9f\x98"), (b"$share/g/", b"x")]):
    write("topic", "pair-%02d" % i, tp(f, t))

# ---- uri: the list as text (see fuzz_uri.c) --------------------------------
for i, u in enumerate([
        "mqtt://localhost:1883", "tcp://h", "mqtts://[::1]:8883",
        "ssl://h:1, tls://h:2", "ws://h:8080/mqtt", "wss://h/path?q=1",
        "unix:///run/mq.sock", "h:65535 h2:1,h3", "[fe80::1%eth0]:1",
        "mqtt://h:0", "mqtt://h:65536", "mqtt://u@h", "mqtt://h/x",
        "ws://h/a b", "foo://h", "mqtt://:1", "mqtt://[::1", "unix://rel",
        "ws://[::1]/", "  ,, mqtt://h ,\t", "mqtt://h:+1", "mqtt://h:-1"]):
    write("uri", "uri-%02d" % i, u.encode())

# ---- tools: see fuzz_tools.c -----------------------------------------------


def argv(kind, *args):
    return b"\x00" + bytes([kind]) + b"\x00".join(a.encode() for a in args)


def printing(flags, fmt, topic, prop, payload):
    return (b"\x01" + bytes([flags, len(fmt)]) + fmt + bytes([len(topic)]) +
            topic + bytes([len(prop)]) + prop + payload)


for i, a in enumerate([
        argv(0, "-t", "a/b", "-m", "hi", "-q", "2", "-r", "-h", "h", "-p",
             "1884"),
        argv(0, "-L", "mqtt://u:p@h:1/t/x", "-m", "x", "-V", "5", "-D",
             "publish", "user-property", "k", "v", "-D", "publish",
             "message-expiry-interval", "60"),
        argv(0, "-t", "t", "-n", "--will-topic", "w", "--will-payload", "p",
             "--will-qos", "1", "--will-retain", "-i", "id", "-c", "-k",
             "30", "--repeat", "3", "--repeat-delay", "0.5"),
        argv(0, "-t", "t", "-l", "-u", "user", "-P", "pw", "--cafile", "c",
             "--tls-version", "tlsv1.3", "--insecure"),
        argv(1, "-t", "a/#", "-T", "a/x", "-v", "-C", "10", "-W", "5",
             "-F", "%t %p %j @Y \\n", "-R", "--retained-only", "-N"),
        argv(1, "-L", "mqtts://[::1]:8883/a/+", "-U", "x", "-E",
             "--random-filter", "50", "--pretty", "-F", "%J"),
        argv(1, "-t", "x", "-D", "subscribe", "subscription-identifier",
             "7", "-D", "connect", "session-expiry-interval", "100", "-x",
             "600", "-V", "mqttv5"),
        argv(2, "-t", "req", "-e", "resp", "-m", "q", "-W", "2", "-D",
             "publish", "correlation-data", "abc"),
        argv(0, "--help"), argv(1, "-t"), argv(0, "-q", "3", "-t", "t"),
        argv(1, "-t", "x", "-F", "%"), argv(0, "-D", "bogus"),
        argv(1, "-t", "x", "--unknown"), argv(0, "-L", "http://h/t"),
        argv(0, "-L", "mqtt://[::1/t", "-m", "x"),
        argv(2, "-t", "t", "-e", "r", "-s"),
        printing(0, b"%t|%p|%l|%q|%r|%m|%x|%X|%10.3t|%-5l|%05l", b"a/b",
                 b"", b"payload"),
        printing(64 | 8, b"%A %C %D %E %F %P %R %S %%", b"t",
                 b"\x03\x00\x02ct\x08\x00\x01r\x09\x00\x02cd\x02\x00\x00"
                 b"\x00\x3c\x01\x01\x0b\x05\x26\x00\x01k\x00\x01v",
                 b"p"),
        printing(0, b"%j", b"t", b"", b'{"a":[1,2.5e3,true,null,"\\u00e9"]}'),
        printing(4, b"%J", b"t", b"", b'{"a":{"b":[]},"c":"x"}'),
        printing(0, b"%J", b"t", b"", b'{"a":'),
        printing(0, b"@Y-@m-@d @H:@M:@S @N @@ %I %U \\e\\a\\t\\0", b"t",
                 b"", b""),
        printing(1, b"", b"topic", b"", b"verbose"),
        printing(3, b"", b"topic", b"", b""),
        printing(0, b"%x", b"t", b"", bytes(range(256)))]):
    write("tools", "case-%02d" % i, a)
