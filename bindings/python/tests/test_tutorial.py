"""The paho-mqtt tutorial's programs (examples/tutorial/), each run as
written (import line changed) against a real mosquitto, and the same
program run with paho-mqtt (Debian's 1.6) for comparison: what a paho
subscriber receives must be the same."""
import os
import signal
import time

import pytest

from conftest import (EXAMPLES, Recorder, run_program, start_program,
                      wait_for)

TUT = os.path.join(EXAMPLES, "tutorial")
LIBS = ["libmq", "paho"]


def env_for(port, **extra):
    e = {"MQTT_BROKER": "127.0.0.1", "MQTT_PORT": str(port)}
    e.update({k: str(v) for k, v in extra.items()})
    return e


@pytest.mark.parametrize("qos", [0, 1])
def test_step1_publish_20_of_20(shared_broker, recorder, tmpbase, qos):
    """connect; publish; disconnect - 20 runs, 20 deliveries, both libs."""
    got = {}
    for lib in LIBS:
        rec = recorder(shared_broker.port, "house/main-light", qos=1)
        for _ in range(20):
            p = run_program(os.path.join(TUT, "step1_publish.py"), lib,
                            env_for(shared_broker.port, MQTT_QOS=qos),
                            tmp=tmpbase)
            assert p.returncode == 0, p.stderr
        rec.wait_count(20, 10)
        time.sleep(0.2)
        got[lib] = list(rec.msgs)
        rec.close()
    assert len(got["libmq"]) == 20, got["libmq"]
    assert got["libmq"] == got["paho"]
    assert all(m == ("house/main-light", b"OFF", qos, False)
               for m in got["libmq"])


def test_step2_subscribe_loop_start(shared_broker, tmpbase):
    out = {}
    for lib in LIBS:
        p = run_program(os.path.join(TUT, "step2_subscribe.py"), lib,
                        env_for(shared_broker.port), tmp=tmpbase)
        assert p.returncode == 0, p.stderr
        out[lib] = p.stdout
    assert "message received  OFF" in out["libmq"], out["libmq"]
    assert out["libmq"] == out["paho"]


@pytest.mark.parametrize("style", ["forever", "manual", "start"])
def test_step3_loop_styles(shared_broker, tmpbase, style):
    out = {}
    for lib in LIBS:
        p = run_program(os.path.join(TUT, "step3_loops.py"), lib,
                        env_for(shared_broker.port), args=[style],
                        tmp=tmpbase)
        assert p.returncode == 0, (lib, p.stdout, p.stderr)
        out[lib] = p.stdout
    assert "received 3" in out["libmq"]
    assert out["libmq"] == out["paho"]


@pytest.mark.parametrize("lib", LIBS)
def test_step4_reconnect_across_restart(broker, tmpbase, lib):
    rec = Recorder(broker.port, "tutorial/reconnect", qos=1)
    try:
        p, script = start_program(os.path.join(TUT, "step4_reconnect.py"),
                                  lib, env_for(broker.port, MQTT_COUNT=30),
                                  tmp=tmpbase)
        try:
            assert rec.wait_count(5, 15), "nothing before the restart"
            broker.restart()
            # the recorder (paho) reconnects too, within a second or two
            out, _ = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
            os.unlink(script)
        assert p.returncode == 0, out
        assert out.count("connected OK") >= 2, out
        assert "disconnecting reason" in out, out
        assert "done" in out
        before = rec.count()
        assert before >= 5
    finally:
        rec.close()


@pytest.mark.parametrize("lib", LIBS)
def test_step5_will_on_sigkill(broker, tmpbase, lib):
    rec = Recorder(broker.port, "home/status", qos=1)
    try:
        p, script = start_program(os.path.join(TUT, "step5_will.py"), lib,
                                  env_for(broker.port), tmp=tmpbase)
        try:
            assert rec.wait_count(1, 15), "no online status"
            assert rec.msgs[0][:2] == ("home/status", b"online")
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        finally:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
            os.unlink(script)
        assert rec.wait_count(2, 15), rec.msgs
        assert rec.msgs[1] == ("home/status", b"offline", 1, False)
    finally:
        rec.close()
    # the Will was retained: a new subscriber gets it at once
    late = Recorder(broker.port, "home/status", qos=1)
    try:
        assert late.wait_count(1, 10)
        assert late.msgs[0] == ("home/status", b"offline", 1, True)
    finally:
        late.close()


def test_step6_tls_hostname_verified(tls_broker, certs, tmpbase):
    out = {}
    for lib in LIBS:
        env = env_for(tls_broker.tls_port, MQTT_CA=os.path.join(certs,
                                                                "ca.crt"))
        env["MQTT_BROKER"] = "localhost"
        p = run_program(os.path.join(TUT, "step6_tls.py"), lib, env,
                        tmp=tmpbase)
        assert p.returncode == 0, (lib, p.stdout, p.stderr)
        assert "connected" in p.stdout
        # a certificate for another name: refused by both
        env["MQTT_PORT"] = str(tls_broker.wrong_port)
        p = run_program(os.path.join(TUT, "step6_tls.py"), lib, env,
                        tmp=tmpbase)
        assert p.returncode == 1, (lib, p.stdout, p.stderr)
        assert "TLS error" in p.stdout
        out[lib] = p.returncode
    assert out["libmq"] == out["paho"]
