# asyncio with libmq's pollable event descriptor: no loop thread; the
# asyncio loop calls client.loop_read() whenever events are pending, so
# callbacks run on the asyncio thread. Publishes 10 messages to itself.
import asyncio
import os

import libmq.client as mqtt

broker_address = os.environ.get("MQTT_BROKER", "localhost")
port = int(os.environ.get("MQTT_PORT", "1883"))


async def main():
    loop = asyncio.get_running_loop()
    got = asyncio.Queue()
    client = mqtt.Client("asyncio-example")
    client.on_message = lambda c, u, msg: got.put_nowait(msg.payload)
    client.connect(broker_address, port)
    loop.add_reader(client.event_fd(), client.loop_read)
    client.loop_read()           # events that connect() already took
    client.subscribe("asyncio/demo", qos=1)
    await asyncio.sleep(0.2)
    for i in range(10):
        client.publish("asyncio/demo", "message %d" % i, qos=1)
    payloads = [await asyncio.wait_for(got.get(), 5) for _ in range(10)]
    loop.remove_reader(client.event_fd())
    client.disconnect()
    print("got %d messages" % len(payloads))


asyncio.run(main())
