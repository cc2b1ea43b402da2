#!/usr/bin/python3
"""mqrr (MQTT 5 request/response) against a real mosquitto; the responder is
mosquitto_sub + mosquitto_pub, so the request's Response Topic property is
checked by a client we did not write."""
import threading

from toolslib import (Bg, Broker, M_PUB, M_SUB, MQRR, check, eq, main, run,
                      test, free_port)

B = None


def P():
    return ["-p", str(B.port)]


def responder(req_topic, cid, reply, extra_fmt=""):
    """Answer one request on req_topic on its Response Topic."""
    s = Bg([M_SUB] + P() + ["-V", "5", "-t", req_topic, "-i", cid, "-C", "1",
                            "-F", "%R" + extra_fmt])
    B.wait_subscribed(cid)
    box = {}

    def answer():
        r = s.wait(20)
        box["req"] = r.out
        resp_topic = r.out.split(b"|")[0].strip().decode()
        if resp_topic:
            run([M_PUB] + P() + ["-V", "5", "-t", resp_topic, "-m", reply])
    th = threading.Thread(target=answer)
    th.start()
    return th, box


def usage_error(args, needle):
    r = run([MQRR] + args)
    eq(r.rc, 1, "exit code of %r (%r)" % (args, r))
    check(needle.encode() in r.err, "%r not in stderr %r" % (needle, r.err))


@test
def bad_options_give_usage_error():
    usage_error(["-t", "a", "-m", "x"], "response topic must be supplied")
    usage_error(["-e", "r", "-m", "x"], "must be supplied")
    usage_error(["-t", "a", "-e", "r"], "must be supplied")
    usage_error(["-t", "a", "-e", "r/#", "-m", "x"], "Invalid response topic")
    usage_error(["-t", "a", "-e", "r", "-m", "x", "-z"], "Unknown option")
    usage_error(["-t", "a", "-e", "r", "-m", "x", "-W", "0"],
                "Invalid timeout")
    usage_error(["-t", "a", "-e", "r", "-m", "x", "-F", "%z"],
                "Invalid format specifier")
    r = run([MQRR, "--help"])
    eq(r.rc, 1, "--help rc")
    check(b"Usage:" in r.out, repr(r))


@test
def request_and_response():
    th, box = responder("rr/req", "resp1", "pong", "|%p")
    r = run([MQRR] + P() + ["-t", "rr/req", "-e", "rr/resp", "-m", "ping",
                            "-W", "10"])
    th.join()
    eq(r.rc, 0, "rc %r" % r)
    eq(r.out, b"pong\n", "response printed")
    eq(box["req"], b"rr/resp|ping\n", "request had the Response Topic")


@test
def verbose_format_qos_and_properties():
    th, box = responder("rr/req2", "resp2", "pong2", "|%p|%C|%P")
    r = run([MQRR] + P() + ["-t", "rr/req2", "-e", "rr/resp2", "-m", "ping",
                            "-q", "1", "-v", "-D", "publish", "content-type",
                            "text/x", "-D", "publish", "user-property", "a",
                            "b"])
    th.join()
    eq(r.rc, 0, "rc %r" % r)
    eq(r.out, b"rr/resp2 pong2\n", "-v")
    eq(box["req"], b"rr/resp2|ping|text/x|a:b\n", "request properties")
    th, box = responder("rr/req3", "resp3", "pong3")
    r = run([MQRR] + P() + ["-t", "rr/req3", "-e", "rr/resp3", "-n", "-F",
                            "%t=%p %q", "-N"])
    th.join()
    eq(r.out, b"rr/resp3=pong3 0", "-F -N")


@test
def timeout_exit_27():
    r = run([MQRR] + P() + ["-t", "rr/nobody", "-e", "rr/never", "-m", "x",
                            "-W", "1"])
    eq(r.rc, 27, "rc %r" % r)
    eq(r.err, b"Timed out\n", "stderr")
    r = run([MQRR] + P() + ["-t", "rr/nobody", "-e", "rr/never", "-m", "x",
                            "-W", "1", "-V", "mqttv311"])
    eq(r.rc, 27, "v3.1.1 rc %r" % r)


@test
def connection_refused():
    r = run([MQRR, "-p", str(free_port()), "-t", "a", "-e", "b", "-m", "x"])
    eq(r.rc, 1, "rc")
    check(b"Connection refused" in r.err, repr(r))


if __name__ == "__main__":
    B = Broker()
    try:
        main()
    finally:
        B.stop()
