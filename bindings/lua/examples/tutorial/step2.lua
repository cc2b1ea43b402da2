-- Tutorial step 2: subscribe with an on_message handler. Lua has no second
-- thread for paho's loop_start(): the program's own loop calls loop().
local mq = require "mq"

local topic = os.getenv("TUTORIAL_TOPIC") or "tutorial/step2"
local client = mq.Client()
local count = 0
client.on_connect = function(c) c:subscribe(topic, 1) end
client.on_subscribe = function() print("subscribed") io.stdout:flush() end
client.on_message = function(c, userdata, msg)
    count = count + 1
    print(("received %q on %s"):format(msg.payload, msg.topic))
    io.stdout:flush()
end
client:connect(os.getenv("MQ_TEST_URI") or "mqtt://localhost:1883")
while count < 3 do
    client:loop(1.0)     -- other work of the program would go here
end
client:disconnect()
client:loop_forever()
client:close()
