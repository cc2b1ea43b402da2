-- Tutorial step 3: the loop styles of Lua: loop(timeout) in the program's
-- own loop ("loop"), loop_forever() ("forever"), or a libuv event loop
-- watching event_fd() ("luv", needs lua-luv).
--   lua5.4 step3.lua loop|forever|luv
local mq = require "mq"

local style = arg[1] or "loop"
local topic = os.getenv("TUTORIAL_TOPIC") or "tutorial/step3"
local client = mq.Client()
local count = 0
client.on_connect = function(c) c:subscribe(topic, 1) end
client.on_subscribe = function() print("subscribed") io.stdout:flush() end
client.on_message = function(c, userdata, msg)
    count = count + 1
    print("received " .. msg.payload)
    io.stdout:flush()
    if count == 2 then c:disconnect() end
end
client:connect(os.getenv("MQ_TEST_URI") or "mqtt://localhost:1883")

if style == "loop" then
    while client:is_connected() or count < 2 do client:loop(0.5) end
elseif style == "forever" then
    client:loop_forever()   -- returns after disconnect()
elseif style == "luv" then
    local uv = require "luv"
    local poll = uv.new_poll(client:event_fd())
    client.on_disconnect = function(c, userdata, rc, info)
        if not info.will_reconnect then poll:stop() poll:close() end
    end
    poll:start("r", function() client:loop(0) end)
    uv.run()
else
    error("unknown style " .. style)
end
client:close()
