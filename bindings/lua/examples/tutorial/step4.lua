-- Tutorial step 4: on_connect and on_disconnect; libmq reconnects by
-- itself (here across a broker restart) and on_connect subscribes again,
-- as the paho tutorial does.
local mq = require "mq"

local topic = os.getenv("TUTORIAL_TOPIC") or "tutorial/step4"
local client = mq.Client(nil, { reconnect_min = 0.2, reconnect_max = 1 })
local connects, done = 0, false
client.on_connect = function(c, userdata, flags, rc)
    if rc ~= 0 then return end
    connects = connects + 1
    print("connected") io.stdout:flush()
    c:subscribe(topic, 1)
end
client.on_subscribe = function() print("subscribed") io.stdout:flush() end
client.on_disconnect = function(c, userdata, rc, info)
    if connects > 0 and info.error and info.will_reconnect and not c._lost then
        c._lost = true
        print("connection lost, reconnecting: true") io.stdout:flush()
    end
end
client.on_message = function(c, userdata, msg)
    print(("received %q after %d connections"):format(msg.payload, connects))
    io.stdout:flush()
    if connects >= 2 then c:disconnect() end
end
client:connect(os.getenv("MQ_TEST_URI") or "mqtt://localhost:1883")
client:loop_forever()
client:close()
