-- Tutorial step 5: a persistent session (clean_session false, QoS 1) and a
-- retained Last Will "home/status offline" that the broker publishes when
-- the program dies without disconnecting (e.g. SIGKILL). The program says
-- "online" (retained) when connected and obeys commands on home/commands
-- until it gets "stop"; commands sent while it was away wait in the session.
local mq = require "mq"

local client = mq.Client(os.getenv("TUTORIAL_ID") or "tutorial-step5-lua",
                         { clean_session = false })
client:will_set("home/status", "offline", 1, true)
client.on_connect = function(c, userdata, flags, rc)
    c:subscribe("home/commands", 1)
    c:publish("home/status", "online", 1, true)
end
client.on_publish = function(c, userdata, mid)
    if not c._ready then
        c._ready = true
        print("ready") io.stdout:flush()
    end
end
client.on_message = function(c, userdata, msg)
    print("command: " .. msg.payload) io.stdout:flush()
    if msg.payload == "stop" then
        c:publish("home/status", "stopped", 1, true)
        c:disconnect()   -- a clean end: the broker drops the Will
    end
end
client:connect(os.getenv("MQ_TEST_URI") or "mqtt://localhost:1883")
client:loop_forever()
client:close()
