-- mq_spec.lua - busted tests for the Lua binding, against the mosquitto
-- started by bindings/tests/with-broker.sh (MQ_TEST_* environment).
local mq = require "mq"

local HOST = os.getenv("MQ_TEST_HOST") or "127.0.0.1"
local PORT = math.tointeger(tonumber(os.getenv("MQ_TEST_PORT") or "1883"))
local BROKER = os.getenv("MQ_TEST_BROKER")

local seq = 0
local function unique(prefix)
    seq = seq + 1
    return string.format("%s-%d-%d", prefix, os.time(), seq)
end

-- Run the loops of `clients` until cond() is true or `timeout` s pass.
local function wait_for(clients, cond, timeout)
    local t0 = os.time()
    timeout = timeout or 10
    while not cond() do
        for _, c in ipairs(clients) do c:loop(0.02) end
        if os.time() - t0 > timeout + 1 then return false end
    end
    return true
end

local function new_connected(opts)
    local c = mq.Client(unique("lua"), opts)
    local connected = false
    c.on_connect = function(_, _, _, rc)
        if rc == 0 then connected = true end
    end
    c:connect(HOST, PORT, 30)
    assert.is_true(wait_for({c}, function() return connected end, 10),
                   "client did not connect")
    return c
end

describe("mq module", function()
    it("has a version and integer constants", function()
        assert.is_string(mq.version)
        assert.are.equal("integer", math.type(mq.MQTTv5))
        assert.are.equal("integer", math.type(mq.EVENT_MESSAGE))
        assert.is_true(mq.topic_matches("a/+/c", "a/b/c"))
        assert.is_false(mq.topic_matches("a/#", "b/c"))
        assert.are.equal("MQ_ERR_TOPIC", mq.error_name(-6))
    end)

    it("gives an integer event fd", function()
        local c = mq.Client("fd-test")
        local fd = c:event_fd()
        assert.are.equal("integer", math.type(fd))
        assert.is_true(fd >= 0)
        c:close()
        assert.has_error(function() c:event_fd() end)
    end)
end)

describe("bad arguments", function()
    local c
    before_each(function() c = mq.Client(unique("bad")) end)
    after_each(function() c:close() end)

    it("raise libmq's message for a wildcard topic", function()
        assert.error_matches(function() c:publish("a/+", "x") end,
            "invalid topic name or topic filter %(MQ_ERR_TOPIC%)")
    end)
    it("raise for QoS 3", function()
        assert.error_matches(function() c:publish("a/b", "x", 3) end,
            "QoS must be 0, 1 or 2 %(MQ_ERR_QOS%)")
        assert.error_matches(function() c:subscribe("a/b", 7) end,
            "MQ_ERR_QOS")
    end)
    it("raise for a bad filter", function()
        assert.error_matches(function() c:subscribe("a/#/b", 0) end,
            "MQ_ERR_TOPIC")
    end)
    it("raise for a bad URI or option", function()
        assert.error_matches(function() c:connect("bogus://x") end,
            "MQ_ERR_URI")
        assert.error_matches(function() c:set_option("keepalive", -5) end,
            "MQ_ERR_INVAL")
    end)
    it("raise for wrong Lua types", function()
        assert.error_matches(function() c:publish({}, "x") end,
            "bad argument #1 to 'publish'")
        assert.error_matches(function() c:publish("a", {}) end,
            "bad argument #2 to 'publish'")
    end)
    it("refuse an unknown protocol", function()
        assert.has_error(function() mq.Client("x", { protocol = 9 }) end)
    end)
end)

for _, proto in ipairs({ mq.MQTTv311, mq.MQTTv5 }) do
describe("round trip (protocol " .. proto .. ")", function()
    local sub, pub
    before_each(function()
        sub = new_connected({ protocol = proto })
        pub = new_connected({ protocol = proto })
    end)
    after_each(function()
        sub:close()
        pub:close()
    end)

    for qos = 0, 2 do
        it("binary payloads at QoS " .. qos, function()
            local topic = unique("lua/rt") .. "/q" .. qos
            local got = {}
            local subscribed = false
            sub.on_subscribe = function(_, _, mid, codes)
                assert.are.same({ qos }, codes)
                subscribed = true
            end
            sub.on_message = function(_, _, msg) got[#got + 1] = msg end
            sub:subscribe(topic, qos)
            assert.is_true(wait_for({ sub }, function() return subscribed end))

            local acked = {}
            pub.on_publish = function(_, _, mid, rc)
                acked[mid] = rc
            end
            local payloads = { "a\0b\0\255zz", "", "\0", string.rep("\0\1\2", 1000) }
            local mids = {}
            for i, p in ipairs(payloads) do
                mids[i] = pub:publish(topic, p, qos)
                assert.are.equal("integer", math.type(mids[i]))
                assert.is_true(mids[i] > 0)
            end
            assert.is_true(wait_for({ sub, pub }, function()
                return #got == #payloads
            end), "messages not received")
            for i, p in ipairs(payloads) do
                assert.are.equal(#p, #got[i].payload)
                assert.are.equal(p, got[i].payload)
                assert.are.equal(topic, got[i].topic)
                assert.are.equal(qos, got[i].qos)
            end
            if qos > 0 then
                assert.is_true(wait_for({ pub }, function()
                    for _, m in ipairs(mids) do
                        if acked[m] == nil then return false end
                    end
                    return true
                end), "publish not acknowledged")
                for _, m in ipairs(mids) do assert.are.equal(0, acked[m]) end
            end
        end)
    end

    it("unsubscribes", function()
        local topic = unique("lua/unsub")
        local done, got = false, 0
        sub.on_unsubscribe = function() done = true end
        sub.on_message = function() got = got + 1 end
        sub:subscribe(topic, 1)
        sub:unsubscribe(topic)
        assert.is_true(wait_for({ sub }, function() return done end))
        pub:publish(topic, "x", 1)
        wait_for({ sub, pub }, function() return false end, 0.5)
        assert.are.equal(0, got)
    end)

    it("disconnects gracefully and loop_forever returns", function()
        local info
        pub.on_disconnect = function(_, _, rc, i) info = { rc = rc, i = i } end
        pub:disconnect()
        pub:loop_forever()
        assert.is_not_nil(info)
        assert.are.equal(0, info.rc)
        assert.is_false(info.i.will_reconnect)
        assert.is_false(pub:is_connected())
    end)
end)
end

describe("reconnect", function()
    it("comes back after a broker restart and keeps its subscription", function()
        if not BROKER then pending("no MQ_TEST_BROKER") return end
        local c = mq.Client(unique("lua-rc"), { reconnect_min = 0.1,
                                               reconnect_max = 0.5 })
        local connects, lost = 0, nil
        c.on_connect = function(_, _, _, rc) if rc == 0 then connects = connects + 1 end end
        c.on_disconnect = function(_, _, rc, info) lost = info end
        local got = {}
        c.on_message = function(_, _, m) got[#got + 1] = m.payload end
        c:connect(HOST, PORT)
        assert.is_true(wait_for({ c }, function() return connects == 1 end))
        local topic = unique("lua/rc")
        c:subscribe(topic, 1)
        c:publish(topic, "before", 1)
        assert.is_true(wait_for({ c }, function() return #got == 1 end))

        assert.are.equal(0, os.execute(BROKER .. " stop") and 0 or 1)
        assert.is_true(wait_for({ c }, function() return lost ~= nil end))
        assert.is_true(lost.will_reconnect)
        assert.are.equal(0, os.execute(BROKER .. " start") and 0 or 1)
        assert.is_true(wait_for({ c }, function() return connects == 2 end, 15),
                       "no reconnect")
        c:publish(topic, "after\0", 1)
        assert.is_true(wait_for({ c }, function() return #got == 2 end),
                       "no message after reconnect")
        assert.are.equal("after\0", got[2])
        c:close()
    end)
end)
