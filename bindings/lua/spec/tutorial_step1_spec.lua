-- tutorial_step1_spec.lua - the paho-mqtt tutorial's first program in Lua,
-- as a newcomer writes it: connect, publish, disconnect, close; run 20
-- times, every message must arrive (issue 12: 0 to 8 of 20 did, because
-- close() freed what disconnect() had not sent yet). Against the mosquitto
-- of bindings/tests/with-broker.sh.
local mq = require "mq"

local HOST = os.getenv("MQ_TEST_HOST") or "127.0.0.1"
local PORT = math.tointeger(tonumber(os.getenv("MQ_TEST_PORT") or "1883"))

describe("tutorial step 1", function()
    for _, qos in ipairs({0, 1}) do
        it("delivers 20 of 20 at QoS " .. qos, function()
            local topic = string.format("lua/step1/%d/%d", qos, os.time())
            local sub = mq.Client(string.format("lua-step1-%d-%d", qos,
                                                os.time()))
            local subscribed, got = false, 0
            sub.on_subscribe = function() subscribed = true end
            sub.on_message = function() got = got + 1 end
            sub:connect(HOST, PORT, 30)
            sub:subscribe(topic, 1)
            local t0 = os.time()
            while not subscribed and os.time() - t0 < 10 do sub:loop(0.05) end
            assert.is_true(subscribed, "subscriber not ready")

            for i = 1, 20 do
                local client = mq.Client()
                client:connect(HOST, PORT, 60)
                client:publish(topic, "hello " .. i, qos)
                client:disconnect()
                client:close()
            end

            t0 = os.time()
            while got < 20 and os.time() - t0 < 10 do sub:loop(0.05) end
            while sub:loop(0.3) > 0 do end -- and nothing more
            assert.are.equal(20, got)
            sub:disconnect()
            sub:loop_forever()
            sub:close()
        end)
    end
end)
