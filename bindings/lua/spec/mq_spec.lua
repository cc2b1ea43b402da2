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

describe("error objects", function()
    it("carry code, name, message and __tostring", function()
        local c = mq.Client(unique("err"))
        local ok, e = pcall(c.publish, c, "a/+", "x")
        assert.is_false(ok)
        assert.is_true(mq.is_error(e))
        assert.are.equal(-6, e.code)
        assert.are.equal("MQ_ERR_TOPIC", e.name)
        assert.are.equal(e.message, tostring(e))
        assert.matches("invalid topic name or topic filter", e.message)
        ok, e = pcall(c.publish, c, 42, "x")
        assert.are.equal("MQ_ERR_INVAL", e.name)
        assert.matches("bad argument #1 to 'publish'", tostring(e))
        ok, e = pcall(c.publish, c, "a\0b", "x")
        assert.are.equal("MQ_ERR_UTF8", e.name)
        ok, e = pcall(c.publish, c, "a", "x", 0, false, { content_type = "t" })
        assert.are.equal("MQ_ERR_NOT_SUPPORTED", e.name) -- v5 property, v3 client
        ok, e = pcall(mq.Client, "x", { bogus = 1 })
        assert.are.equal("MQ_ERR_INVAL", e.name)
        assert.matches("unknown option 'bogus'", e.message)
        c:close()
        ok, e = pcall(c.publish, c, "a", "x")
        assert.are.equal("MQ_ERR_DESTROYED", e.name)
    end)
end)

describe("MQTT 5 properties", function()
    it("go out and come back, every kind", function()
        local sub = new_connected({ protocol = mq.MQTTv5,
            properties = { user = { { "app", "lua" } }, request_problem_information = 1 } })
        local pub = new_connected({ protocol = mq.MQTTv5 })
        local topic = unique("lua/props")
        local granted, got
        sub.on_subscribe = function(_, _, _, codes) granted = codes end
        sub.on_message = function(_, _, m) got = m end
        sub:subscribe({ { topic, { qos = 1, no_local = true, retain_handling = 1 } },
                        { topic .. "/x", 2 } }, nil,
                      { subscription_identifier = 9, user = { { "s", "1" } } })
        assert.is_true(wait_for({ sub }, function() return granted ~= nil end))
        assert.are.same({ 1, 2 }, granted)
        pub:publish(topic, "hi", 1, false, {
            payload_format_indicator = 1, message_expiry_interval = 300,
            content_type = "text/plain", response_topic = "lua/reply",
            correlation_data = "\0\1\255", user = { { "k", "v1" }, { "k", "v2" } } })
        assert.is_true(wait_for({ sub, pub }, function() return got ~= nil end))
        local p = got.properties
        assert.are.equal(1, p.payload_format_indicator)
        assert.is_true(p.message_expiry_interval <= 300)
        assert.are.equal("text/plain", p.content_type)
        assert.are.equal("lua/reply", p.response_topic)
        assert.are.equal("\0\1\255", p.correlation_data)
        assert.are.same({ { "k", "v1" }, { "k", "v2" } }, p.user)
        assert.are.equal(9, p.subscription_identifier)
        local uncodes
        sub.on_unsubscribe = function(_, _, _, codes) uncodes = codes end
        sub:unsubscribe({ topic }, { user = { { "why", "done" } } })
        assert.is_true(wait_for({ sub }, function() return uncodes ~= nil end))
        assert.are.same({ 0 }, uncodes)
        local info
        sub.on_disconnect = function(_, _, rc, i) info = i end
        sub:disconnect(0, { reason_string = "bye", session_expiry_interval = 0 })
        assert.is_true(wait_for({ sub }, function() return info ~= nil end))
        sub:close()
        pub:close()
    end)
end)

describe("TLS", function()
    local good, wrong = os.getenv("MQ_TEST_TLS_URI"), os.getenv("MQ_TEST_TLS_WRONG_URI")
    local ca = os.getenv("MQ_TEST_CA")
    local function try(uri, tls)
        local c = mq.Client(unique("tls"), { tls = tls, reconnect = false })
        local rc, info
        c.on_connect = function(_, _, _, r) rc = r end
        c.on_disconnect = function(_, _, r, i) info = i end
        c:connect(uri)
        wait_for({ c }, function() return rc ~= nil or info ~= nil end, 10)
        c:close()
        return rc == 0, info
    end
    it("verifies the host name and refuses a wrong one", function()
        if not good then pending("no TLS broker") return end
        assert.is_true(try(good, { ca_certs = ca }))
        local ok, info = try(wrong, { ca_certs = ca })
        assert.is_false(ok)
        assert.are.equal("MQ_ERR_TLS", info.error.name)
        assert.is_true(try(wrong, { ca_certs = ca, no_hostname_check = true }))
        assert.is_true(try(wrong, { ca_certs = ca, verify_name = "wrong.example.invalid" }))
        local f = assert(io.open(ca))
        local pem = f:read("a")
        f:close()
        assert.is_true(try(good, { ca_pem = pem, min_version = "tlsv1.2" }))
    end)
end)

describe("persistence", function()
    it("resends what a SIGKILLed process had stored", function()
        local dir = os.tmpname()
        os.remove(dir)
        assert.is_true(os.execute("mkdir -p " .. dir))
        local id, topic = unique("lua-persist"), unique("lua/persist")
        local child = string.format([[
            local mq = require "mq"
            local c = mq.Client(%q, { persist_dir = %q, clean_session = false })
            c:connect("mqtt://127.0.0.1:1")
            for i = 0, 4 do c:publish(%q, "m" .. i, 1, false, nil, 100 + i) end
            io.write("STORED\n") io.flush()
            while true do c:loop(1) end
        ]], id, dir, topic)
        local script = dir .. "/child.lua"
        local f = assert(io.open(script, "w"))
        f:write(child)
        f:close()
        local p = assert(io.popen("echo $$; exec lua5.4 " .. script, "r"))
        local pid = p:read("l")
        assert.are.equal("STORED", p:read("l"))
        os.execute("kill -9 " .. pid)
        p:close()
        local sub = new_connected()
        local got = {}
        local subscribed = false
        sub.on_subscribe = function() subscribed = true end
        sub.on_message = function(_, _, m) got[#got + 1] = m.payload end
        sub:subscribe(topic, 1)
        assert.is_true(wait_for({ sub }, function() return subscribed end))
        local again = mq.Client(id, { clean_session = false })
        local recovered = {}
        again.on_recovered = function(_, _, m)
            recovered[#recovered + 1] = m.payload .. "/" .. m.tag
        end
        again:set_option("persist_dir", dir)
        again:connect(HOST, PORT)
        assert.is_true(wait_for({ sub, again }, function() return #got == 5 end))
        assert.are.same({ "m0", "m1", "m2", "m3", "m4" }, got)
        assert.are.same({ "m0/100", "m1/101", "m2/102", "m3/103", "m4/104" }, recovered)
        again:close()
        sub:close()
        os.execute("rm -rf " .. dir)
    end)
end)

describe("acknowledgement after on_message", function()
    for _, qos in ipairs({ 1, 2 }) do
        it("QoS " .. qos .. ": a process killed inside on_message gets the message again", function()
            -- the broker must not have the PUBACK/PUBREC before on_message
            -- returned (tests/chaos/test_repro.c in C)
            local id, topic = unique("lua-ackkill"), unique("lua/ackkill")
            local dir = os.tmpname()
            os.remove(dir)
            assert.is_true(os.execute("mkdir -p " .. dir))
            local child = string.format([[
                local mq = require "mq"
                local c = mq.Client(%q, { clean_session = false })
                c.on_connect = function(cl) cl:subscribe(%q, %d) end
                c.on_subscribe = function() io.write("SUBSCRIBED\n") io.flush() end
                c.on_message = function(_, _, m)
                    io.write("HANDLER " .. m.payload .. "\n") io.flush()
                    local t = os.time()
                    while os.time() - t < 60 do end  -- busy until killed
                end
                c:connect(%q, %d)
                c:loop_forever()
            ]], id, topic, qos, HOST, PORT)
            local script = dir .. "/child.lua"
            local f = assert(io.open(script, "w"))
            f:write(child)
            f:close()
            local p = assert(io.popen("echo $$; exec lua5.4 " .. script, "r"))
            local pid = p:read("l")
            local ok, err = pcall(function()
                assert.are.equal("SUBSCRIBED", p:read("l"))
                local pub = new_connected()
                local done = false
                pub.on_publish = function() done = true end
                pub:publish(topic, "keep-me", qos)
                assert.is_true(wait_for({ pub }, function() return done end))
                pub:close()
                assert.are.equal("HANDLER keep-me", p:read("l"))
                local t0 = os.clock()
                while os.clock() - t0 < 0.3 do end  -- an early ack would be out
            end)
            os.execute("kill -9 " .. pid)
            p:close()
            os.execute("rm -rf " .. dir)
            assert(ok, err)
            local got = {}
            local again = mq.Client(id, { clean_session = false })
            again.on_message = function(_, _, m)
                got[#got + 1] = { m.topic, m.payload, m.qos }
            end
            again:connect(HOST, PORT)
            assert.is_true(wait_for({ again }, function() return #got == 1 end))
            assert.are.same({ { topic, "keep-me", qos } }, got)
            again:disconnect()
            wait_for({ again }, function() return not again:is_connected() end, 5)
            again:close()
        end)
    end
end)

describe("back-pressure", function()
    local function rss_kib()
        for line in io.lines("/proc/self/status") do
            local v = line:match("^VmRSS:%s+(%d+)")
            if v then return tonumber(v) end
        end
    end
    it("a client that does not call loop() keeps memory bounded", function()
        local sub = new_connected({ max_events = 16 })
        local topic = unique("lua/bp")
        local n, subscribed = 0, false
        sub.on_subscribe = function() subscribed = true end
        sub.on_message = function() n = n + 1 end
        sub:subscribe(topic, 1)
        assert.is_true(wait_for({ sub }, function() return subscribed end))
        local pub = new_connected()
        local acked = 0
        pub.on_publish = function() acked = acked + 1 end
        collectgarbage()
        local before = rss_kib()
        local payload = string.rep("x", 16 * 1024)
        local count = 2000 -- 31 MiB that sub does not take
        for i = 1, count do -- one at a time: the publisher holds little
            pub:publish(topic, payload, 1)
            assert.is_true(wait_for({ pub }, function() return acked == i end))
        end
        collectgarbage()
        local grew = rss_kib() - before
        assert.is_true(grew < 10 * 1024, "RSS grew " .. grew .. " KiB")
        assert.is_true(wait_for({ sub }, function() return n == count end, 30))
        sub:close()
        pub:close()
    end)
end)

describe("blocking helpers and disconnects (issue 12)", function()
    it("wait, wait_connected, wait_disconnected, disconnect_now", function()
        local c = mq.Client(unique("wait"))
        local ok, err = c:wait_connected(0)
        assert.is_nil(ok)
        assert.are.equal("MQ_ERR_NO_CONN", err.name)
        c:connect(HOST, PORT)
        assert.is_true(c:wait_connected(10))
        local topic = unique("lua/wait")
        local mid = c:subscribe(topic, 1)
        assert.is_true(c:wait(mid, 10))
        mid = c:publish(topic, "x", 1)
        assert.is_true(c:wait(mid, 10))
        ok, err = c:wait(999999, 0)
        assert.is_nil(ok)
        assert.are.equal("MQ_ERR_INVAL", err.name)
        assert.has_error(function() c:wait("x") end)
        c:disconnect()
        assert.is_true(c:wait_disconnected(10))
        c:close()

        local d = mq.Client(unique("now"), { reconnect_min = 0.05 })
        d:connect("mqtt://127.0.0.1:1")   -- nothing listens: keeps retrying
        local mids = { d:publish("a/b", "x", 1), d:publish("a/b", "y", 1) }
        local aborted = 0
        d.on_publish = function(_, _, _, rc)
            if mq.error_name(rc) == "MQ_ERR_ABORTED" then aborted = aborted + 1 end
        end
        d:disconnect_now()
        assert.is_true(d:wait_disconnected(5))
        assert.is_true(wait_for({ d }, function() return aborted == 2 end))
        ok, err = d:wait(mids[1], 0)
        assert.are.equal("MQ_ERR_ABORTED", err.name)
        d:close()
    end)
end)
