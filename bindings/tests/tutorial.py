#!/usr/bin/env python3
"""tutorial.py LANG - run the paho-mqtt tutorial's steps written in LANG
(lua, go or node: bindings/<lang>/examples/tutorial/) against the broker
of with-broker.sh, with mosquitto_sub / mosquitto_pub (clients we did not
write) on the other side, and check what a newcomer expects:

  step 1  connect, publish, disconnect: 20 runs at QoS 0 and 20 at QoS 1,
          all 40 messages delivered
  step 2  subscribe with a message handler, background loop: 3 messages
  step 3  every loop style of the language: 2 messages each
  step 4  connect/disconnect handlers, reconnect across a broker restart,
          a message after it
  step 5  persistent session, QoS 1, retained Last Will "home/status
          offline" published by the broker after a SIGKILL of the program;
          a command sent while it was dead reaches the restarted program
  step 6  TLS with host name verification: the right host connects, a
          certificate for another name is refused

Prints one "ok"/"not ok" line per check and "N passed, N failed" last;
exit 0 only if all passed. Environment: MQ_TEST_* of with-broker.sh; for
go, the go tool's environment (the driver builds each step with -race).
"""
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BIND = os.path.dirname(HERE)
LANG = sys.argv[1] if len(sys.argv) > 1 else ''
URI = os.environ.get('MQ_TEST_URI', '')
HOST = os.environ.get('MQ_TEST_HOST', '127.0.0.1')
PORT = os.environ.get('MQ_TEST_PORT', '1883')
BROKER = os.environ.get('MQ_TEST_BROKER', '')
PY = sys.executable
results = []
tmp = tempfile.mkdtemp(prefix='mq-tutorial-')


def check(name, ok, detail=''):
    results.append(ok)
    print(('ok' if ok else 'not ok') + f' {len(results)} - {LANG} {name}' +
          ('' if ok or not detail else f'\n# {detail}'), flush=True)
    return ok


def command(step, *args):
    if LANG == 'lua':
        return ['lua5.4', os.path.join(BIND, 'lua', 'examples', 'tutorial', f'step{step}.lua'), *args]
    if LANG == 'node':
        return ['node', os.path.join(BIND, 'node', 'examples', 'tutorial', f'step{step}.js'), *args]
    if LANG == 'go':
        exe = os.path.join(tmp, f'step{step}')
        if not os.path.exists(exe):
            subprocess.run(['go', 'build', '-race', '-o', exe, f'./examples/tutorial/step{step}'],
                           cwd=os.path.join(BIND, 'go'), check=True)
        return [exe, *args]
    raise SystemExit(f'unknown language {LANG!r} (lua, go, node)')


def env(**kw):
    e = dict(os.environ)
    e.update({k: str(v) for k, v in kw.items()})
    return e


class Sub:
    """mosquitto_sub on a topic, started and subscribed before use."""

    def __init__(self, topic, count, qos=1, extra=()):
        self.p = subprocess.Popen(['stdbuf', '-oL', 'mosquitto_sub', '-h', HOST, '-p', PORT, '-t', topic, '-q', str(qos),
                                   '-C', str(count), '-W', '60', '-d', '-F', 'MSG %p', *extra],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        for line in self.p.stdout:
            if 'received SUBACK' in line:
                break
            if line.startswith('MSG '):
                self.lines.append(line[4:].rstrip('\n'))

    def wait(self, timeout=30):
        try:
            out, _ = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, _ = self.p.communicate()
        self.lines += [ln[4:] for ln in out.splitlines() if ln.startswith('MSG ')]
        return self.lines


def pub(topic, payload, qos=1, retain=False):
    subprocess.run(['mosquitto_pub', '-h', HOST, '-p', PORT, '-t', topic, '-m', payload, '-q', str(qos)]
                   + (['-r'] if retain else []), check=True)


def retained(topic):
    r = subprocess.run(['mosquitto_sub', '-h', HOST, '-p', PORT, '-t', topic, '-C', '1', '-W', '5',
                        '-F', '%p'], capture_output=True, text=True)
    return r.stdout.strip()


class Program:
    """A step program whose stdout lines are collected by a thread."""

    def __init__(self, step, *args, **kw):
        self.p = subprocess.Popen(command(step, *args), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env(**kw))
        self.out = []
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.err = ''

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip('\n'))
        self.lines.put(None)

    def expect(self, text, timeout=20):
        """Take lines until one contains text; False on EOF or time-out."""
        deadline = time.time() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.time()))
            except queue.Empty:
                return False
            if line is None:
                self.lines.put(None)
                return False
            self.out.append(line)
            if text in line:
                return True

    def finish(self, timeout=20):
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.reader.join(5)
        while True:
            line = self.lines.get()
            if line is None:
                break
            self.out.append(line)
        self.err = self.p.stderr.read()
        return self.p.returncode

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()


def step1():
    cmd = command(1)   # Go: built here, not while mosquitto_sub's -W runs
    for qos in (0, 1):
        topic = f'tutorial/{LANG}/step1/q{qos}'
        sub = Sub(topic, 20)
        failures = 0
        for _ in range(20):
            r = subprocess.run(cmd, env=env(TUTORIAL_QOS=qos, TUTORIAL_TOPIC=topic),
                               capture_output=True, text=True, timeout=30)
            failures += r.returncode != 0
        got = sub.wait(timeout=10)
        check(f'step 1 QoS {qos}: 20 runs of connect/publish/disconnect deliver 20 messages',
              failures == 0 and len(got) == 20, f'{len(got)} delivered, {failures} runs failed')


def receive_steps(step, style, count):
    topic = f'tutorial/{LANG}/step{step}/{style or "x"}'
    prog = Program(step, *([style] if style else []), TUTORIAL_TOPIC=topic)
    ok = prog.expect('subscribed')
    for i in range(count):
        pub(topic, f'message {i}')
    rc = prog.finish()
    got = [ln for ln in prog.out if 'received' in ln]
    check(f'step {step}{" " + style if style else ""}: {count} messages through the handler',
          ok and rc == 0 and len(got) == count, f'rc {rc}, out {prog.out}, err {prog.err[-300:]}')


def step4():
    topic = f'tutorial/{LANG}/step4'
    prog = Program(4, TUTORIAL_TOPIC=topic)
    ok = prog.expect('subscribed')
    subprocess.run([BROKER, 'stop'], check=True)
    lost = prog.expect('connection lost')
    subprocess.run([BROKER, 'start'], check=True)
    back = prog.expect('subscribed', timeout=30)
    pub(topic, 'after the restart')
    rc = prog.finish()
    check('step 4: reconnect across a broker restart, subscribed again, message after it',
          ok and lost and back and rc == 0 and any('after 2 connections' in ln for ln in prog.out),
          f'ok {ok} lost {lost} back {back} rc {rc}, out {prog.out}')


def step5():
    ident = f'tutorial-step5-{LANG}-{os.getpid()}'
    prog = Program(5, TUTORIAL_ID=ident)
    ready = prog.expect('ready')
    online = retained('home/status')
    prog.kill()
    # the broker publishes the Will when it sees the connection die
    deadline, status = time.time() + 10, ''
    while time.time() < deadline:
        status = retained('home/status')
        if status == 'offline':
            break
        time.sleep(0.1)
    check('step 5: retained status online, then the Will "offline" after SIGKILL',
          ready and online == 'online' and status == 'offline', f'ready {ready} online {online!r} then {status!r}')
    pub('home/commands', 'lights on')   # queued in the persistent session
    pub('home/commands', 'stop')
    again = Program(5, TUTORIAL_ID=ident)
    rc = again.finish(timeout=30)
    cmds = [ln for ln in again.out if ln.startswith('command:')]
    check('step 5: commands sent while the program was dead reach it (persistent session)',
          rc == 0 and cmds == ['command: lights on', 'command: stop'], f'rc {rc}, out {again.out}')
    status = retained('home/status')
    check('step 5: a clean end (publish "stopped", disconnect) leaves no Will', status == 'stopped',
          f'status {status!r}')


def step6():
    ca = os.environ.get('MQ_TEST_CA')
    good, wrong = os.environ.get('MQ_TEST_TLS_URI'), os.environ.get('MQ_TEST_TLS_WRONG_URI')
    if not ca or not good:
        check('step 6: TLS (no TLS listener: skipped)', True)
        return
    r = subprocess.run(command(6, good, ca), capture_output=True, text=True, timeout=30)
    check('step 6: TLS to the right host name connects', r.returncode == 0 and 'connected securely' in r.stdout,
          r.stdout + r.stderr)
    r = subprocess.run(command(6, wrong, ca), capture_output=True, text=True, timeout=30)
    check('step 6: a certificate for another host name is refused', r.returncode == 1 and 'TLS error' in r.stdout,
          f'rc {r.returncode} ' + r.stdout + r.stderr)


STYLES = {'lua': ['loop', 'forever', 'luv'], 'go': ['handler', 'channel'], 'node': ['callbacks', 'async']}


def main():
    if not URI:
        print('tutorial.py: run under with-broker.sh (MQ_TEST_URI)')
        return 77
    steps = sys.argv[2:] or ['1', '2', '3', '4', '5', '6']
    for s in steps:
        try:
            if s == '1':
                step1()
            elif s == '2':
                receive_steps(2, None, 3)
            elif s == '3':
                for style in STYLES[LANG]:
                    receive_steps(3, style, 2)
            elif s == '4':
                step4()
            elif s == '5':
                step5()
            elif s == '6':
                step6()
        except Exception as e:  # a broken step is a failed check, the rest still run
            check(f'step {s} ran', False, repr(e))
    passed = sum(results)
    print(f'{passed} passed, {len(results) - passed} failed')
    return 0 if passed == len(results) else 1


if __name__ == '__main__':
    sys.exit(main())
