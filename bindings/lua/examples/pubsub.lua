-- pubsub.lua - libmq from Lua: subscribe, publish a binary payload at QoS 1
-- to ourselves, print it, disconnect.
--   lua5.4 pubsub.lua [mqtt://host:port]     (default: MQ_TEST_URI or localhost)
local mq = require "mq"

local uri = arg[1] or os.getenv("MQ_TEST_URI") or "mqtt://127.0.0.1:1883"
local topic = "libmq/example/lua"

local client = mq.Client("lua-example-" .. os.time(), { protocol = mq.MQTTv5 })

client.on_connect = function(c, userdata, flags, rc)
    print("connected, reason " .. rc)
    c:subscribe(topic, 1)
end
client.on_subscribe = function(c, userdata, mid, granted)
    print("subscribed, granted QoS " .. granted[1])
    c:publish(topic, "hello\0world", 1)      -- payloads are binary-safe
end
local acked, received = false, false
client.on_publish = function(c, userdata, mid, rc)
    print("publish " .. mid .. " acknowledged: " .. mq.strerror(rc))
    acked = true
    if received then c:disconnect() end
end
client.on_message = function(c, userdata, msg)
    print(string.format("message on %s: %q (%d bytes, QoS %d)",
                        msg.topic, msg.payload, #msg.payload, msg.qos))
    received = true
    if acked then c:disconnect() end
end
client.on_disconnect = function(c, userdata, rc, info)
    print("disconnected: " .. mq.strerror(rc))
end

client:connect(uri)
client:loop_forever()   -- returns after disconnect()
client:close()
