--[[
luv_loop.lua - libmq inside a libuv event loop (luv, Debian package
lua-luv): watch client:event_fd() with a uv poll handle and call
client:loop(0) when it is readable; a uv timer publishes once a second-ish
(here every 50 ms, five times). No thread, no blocking call.

  lua5.4 luv_loop.lua [mqtt://host:port]   (default: MQ_TEST_URI or localhost)
]]
local uv = require "luv"
local mq = require "mq"

local uri = arg[1] or os.getenv("MQ_TEST_URI") or "mqtt://127.0.0.1:1883"
local topic = "libmq/example/luv/" .. os.time()
local client = mq.Client("luv-example-" .. os.time(), { protocol = mq.MQTTv5 })
local received, timer = 0, nil

-- The event fd is readable while libmq has events for us (level
-- triggered). Never read or close it: loop(0) takes the events.
local poll = uv.new_poll(client:event_fd())
poll:start("r", function(err)
    assert(not err, err)
    client:loop(0)
end)

local function stop()
    poll:stop()
    poll:close()
    if timer then timer:stop() timer:close() end
end

client.on_connect = function(c, _, flags, rc)
    print("connected, rc " .. rc)
    c:subscribe(topic, 1)
end

client.on_subscribe = function(c)
    print("subscribed; publishing from a uv timer")
    local n = 0
    timer = uv.new_timer()
    timer:start(0, 50, function()
        n = n + 1
        c:publish(topic, "tick " .. n, 1, false, { content_type = "text/plain" })
        if n == 5 then timer:stop() end
    end)
end

client.on_message = function(c, _, msg)
    received = received + 1
    print(("message %d: %s (%s)"):format(received, msg.payload,
                                         msg.properties.content_type))
    if received == 5 then c:disconnect() end
end

client.on_disconnect = function(_, _, rc, info)
    if not info.will_reconnect then
        print("disconnected")
        stop()
    end
end

client:connect(uri)
uv.run()          -- returns once every handle is closed
client:close()
assert(received == 5, "expected 5 messages, got " .. received)
