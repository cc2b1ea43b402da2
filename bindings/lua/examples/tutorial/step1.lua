-- Tutorial step 1: connect, publish one message, disconnect, as a
-- newcomer writes it after the paho-mqtt tutorial.
--   lua5.4 step1.lua          (broker: MQ_TEST_URI, default mqtt://localhost:1883)
-- connect() returns at once; publish() queues the message; disconnect()
-- sends what was published before it, then DISCONNECT; loop_forever()
-- returns once that is done.
local mq = require "mq"

local client = mq.Client()
client:connect(os.getenv("MQ_TEST_URI") or "mqtt://localhost:1883")
client:publish(os.getenv("TUTORIAL_TOPIC") or "tutorial/step1", "Hello from libmq",
               math.tointeger(tonumber(os.getenv("TUTORIAL_QOS") or "0")))
client:disconnect()
client:loop_forever()
client:close()
print("published and disconnected")
