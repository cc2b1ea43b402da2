-- transports_spec.lua - busted tests of issue 19's transports in the Lua
-- binding: TLS-PSK against mosquitto's psk listener, what the handshake
-- negotiated (flags.tls in on_connect, resumption on a second connect),
-- maximum version, CRLs, and an HTTP CONNECT proxy (tinyproxy with Basic
-- auth) with its refusals as mq.Error values. Against the mosquitto and
-- tinyproxy of bindings/tests/with-broker.sh (MQ_TEST_* environment).
local mq = require "mq"

local URI = os.getenv("MQ_TEST_URI")
local PORT = os.getenv("MQ_TEST_PORT")
local TLS_URI = os.getenv("MQ_TEST_TLS_URI")
local CA = os.getenv("MQ_TEST_CA")
local CERTS = os.getenv("MQ_TEST_CERTS")
local PSK_URI = os.getenv("MQ_TEST_PSK_URI")
local PSK_ID = os.getenv("MQ_TEST_PSK_IDENTITY")
local PSK_KEY = os.getenv("MQ_TEST_PSK_KEY")
local PROXY_HOST = os.getenv("MQ_TEST_PROXY_HOST")
local PROXY_PORT = math.tointeger(tonumber(os.getenv("MQ_TEST_PROXY_PORT") or ""))
local PROXY_LOG = os.getenv("MQ_TEST_PROXY_LOG")

local seq = 0
local function unique(prefix)
    seq = seq + 1
    return string.format("%s-%d-%d", prefix, os.time(), seq)
end

-- Connect c to uri and run its loop until the first on_connect or
-- on_disconnect: returns the flags of a successful CONNACK, or nil and the
-- on_disconnect info (info.error: an mq.Error).
local function attempt(c, uri)
    local flags, info
    c.on_connect = function(_, _, f, rc) if rc == 0 then flags = f end end
    c.on_disconnect = function(_, _, _, i) info = i end
    c:connect(uri)
    local t0 = os.time()
    while flags == nil and info == nil and os.time() - t0 < 12 do
        c:loop(0.05)
    end
    assert(flags or info, "neither on_connect nor on_disconnect in time")
    return flags, info
end

-- A graceful disconnect, up to its on_disconnect.
local function disconnect(c)
    local done = false
    c.on_disconnect = function() done = true end
    c:disconnect()
    local t0 = os.time()
    while not done and os.time() - t0 < 12 do c:loop(0.05) end
    assert(done, "no on_disconnect after disconnect()")
end

-- A QoS 1 publish the broker acknowledged.
local function publish_acked(c, topic)
    local mid = c:publish(topic, "x", 1)
    assert.is_true(c:wait(mid, 10))
end

-- How many tunnels tinyproxy opened to the broker's plain port.
local function proxy_tunnels()
    local f = assert(io.open(PROXY_LOG))
    local log = f:read("a")
    f:close()
    local n = 0
    for _ in log:gmatch("CONNECT 127%.0%.0%.1:" .. PORT .. " ") do n = n + 1 end
    return n
end

describe("TLS-PSK", function()
    it("connects to mosquitto's psk listener and says what it negotiated", function()
        if not PSK_URI then pending("no PSK listener") return end
        local c = mq.Client(unique("psk"), { reconnect = false, tls = {
            psk = PSK_KEY, psk_identity = PSK_ID } })
        local flags, info = attempt(c, PSK_URI)
        assert.is_table(flags, info and tostring(info.error))
        assert.is_table(flags.tls)
        assert.are.equal("TLSv1.3", flags.tls.version)
        assert.truthy(flags.tls.cipher:match("^TLS_"), flags.tls.cipher)
        publish_acked(c, "lua/psk")
        c:close()

        -- TLS 1.2 PSK cipher suites with max_version
        c = mq.Client(unique("psk12"), { reconnect = false, tls = {
            psk = PSK_KEY, psk_identity = PSK_ID, max_version = "tlsv1.2" } })
        flags = attempt(c, PSK_URI)
        assert.are.equal("TLSv1.2", flags.tls.version)
        assert.truthy(flags.tls.cipher:find("PSK", 1, true), flags.tls.cipher)
        c:close()
    end)

    it("refuses a wrong key with MQ_ERR_TLS", function()
        if not PSK_URI then pending("no PSK listener") return end
        local c = mq.Client(unique("pskbad"), { reconnect = false })
        c:tls_set{ psk = "0badc0de", psk_identity = PSK_ID }
        local flags, info = attempt(c, PSK_URI)
        assert.is_nil(flags)
        assert.are.equal("MQ_ERR_TLS", info.error.name)
        c:close()
    end)
end)

describe("TLS details on connect", function()
    it("give version, cipher, ALPN and resumption; nil without TLS", function()
        if not TLS_URI then pending("no TLS broker") return end
        local c = mq.Client(unique("tlsinfo"), { reconnect = false,
                                                 tls = { ca_certs = CA } })
        local flags = attempt(c, TLS_URI)
        assert.truthy(flags.tls.version:match("^TLSv1%.[23]$"), flags.tls.version)
        assert.is_true(#flags.tls.cipher > 0)
        assert.are.equal("", flags.tls.alpn)
        assert.is_false(flags.tls.resumed)
        publish_acked(c, "lua/tlsinfo") -- the TLS 1.3 ticket came by now
        disconnect(c)
        -- the same client connects again: the session is resumed
        local info
        flags, info = attempt(c, TLS_URI)
        assert.is_table(flags, info and tostring(info.error))
        assert.is_true(flags.tls.resumed)
        c:close()

        -- session_resume = false: a full handshake every time
        c = mq.Client(unique("noresume"), { reconnect = false,
            tls = { ca_certs = CA, session_resume = false } })
        attempt(c, TLS_URI)
        publish_acked(c, "lua/tlsinfo")
        disconnect(c)
        flags, info = attempt(c, TLS_URI)
        assert.is_table(flags, info and tostring(info.error))
        assert.is_false(flags.tls.resumed)
        c:close()

        -- pulled events carry the same table; plain TCP has none
        c = mq.Client(unique("plain"), { reconnect = false })
        c:connect(URI)
        local e
        repeat e = c:next_event(10) until e == nil or e.type == mq.EVENT_CONNECT
        assert.are.equal(mq.EVENT_CONNECT, e.type)
        assert.is_nil(e.tls)
        c:close()
    end)

    it("max_version limits the version", function()
        if not TLS_URI then pending("no TLS broker") return end
        local c = mq.Client(unique("tls12"), { reconnect = false,
            tls = { ca_certs = CA, max_version = "tlsv1.2" } })
        assert.are.equal("TLSv1.2", attempt(c, TLS_URI).tls.version)
        c:close()
    end)
end)

describe("CRLs", function()
    it("accept a CRL that does not revoke the broker, refuse one that does", function()
        if not TLS_URI then pending("no TLS broker") return end
        local c = mq.Client(unique("crl"), { reconnect = false, tls = {
            ca_certs = CA, crl_file = CERTS .. "/crl-empty.pem" } })
        assert.is_table((attempt(c, TLS_URI)))
        c:close()
        for _, tls in ipairs({
            { ca_certs = CA, crl_file = CERTS .. "/crl-revoked.pem" },
            { ca_certs = CA, crl_path = CERTS .. "/crl-dir", crl_check = "leaf" },
        }) do
            c = mq.Client(unique("crlrev"), { reconnect = false, tls = tls })
            local flags, info = attempt(c, TLS_URI)
            assert.is_nil(flags)
            assert.are.equal("MQ_ERR_TLS", info.error.name)
            assert.truthy(info.message:find("revoked", 1, true), info.message)
            c:close()
        end
    end)

    it("bad tls_set fields are mq.Error values", function()
        local c = mq.Client(unique("bad"))
        local ok, err = pcall(c.tls_set, c, { crl_check = "all" })
        assert.is_false(ok)
        assert.are.equal("MQ_ERR_INVAL", err.name)
        ok, err = pcall(c.tls_set, c, { ssl_ctx = true })
        assert.is_false(ok)
        assert.truthy(tostring(err):find("unknown field 'ssl_ctx'", 1, true))
        c:close()
    end)
end)

describe("HTTP CONNECT proxy", function()
    it("carries the connection with proxy_set, as paho-mqtt", function()
        if not PROXY_PORT then pending("tinyproxy not installed") return end
        local before = proxy_tunnels()
        local c = mq.Client(unique("proxy"), { reconnect = false })
        c:proxy_set{ proxy_type = "http", proxy_addr = PROXY_HOST,
                     proxy_port = PROXY_PORT,
                     proxy_username = os.getenv("MQ_TEST_PROXY_USER"),
                     proxy_password = os.getenv("MQ_TEST_PROXY_PASS") }
        local flags, info = attempt(c, URI)
        assert.is_table(flags, info and tostring(info.error))
        publish_acked(c, "lua/proxy")
        c:close()
        assert.are.equal(before + 1, proxy_tunnels())

        -- the option form, with the URI
        c = mq.Client(unique("proxyuri"), { reconnect = false,
                                            proxy = os.getenv("MQ_TEST_PROXY_URI") })
        assert.is_table((attempt(c, URI)))
        c:close()
        assert.are.equal(before + 2, proxy_tunnels())

        -- no_proxy sends the broker's address direct
        c = mq.Client(unique("noproxy"), { reconnect = false,
            proxy = os.getenv("MQ_TEST_PROXY_URI"), no_proxy = "127.0.0.1" })
        assert.is_table((attempt(c, URI)))
        c:close()
        assert.are.equal(before + 2, proxy_tunnels())
    end)

    it("refusals are MQ_ERR_PROXY and MQ_ERR_PROXY_AUTH", function()
        if not PROXY_PORT then pending("tinyproxy not installed") return end
        local function through(uri, p)
            local c = mq.Client(unique("proxyerr"), { reconnect = false })
            c:proxy_set(p)
            local flags, info = attempt(c, uri)
            c:close()
            assert.is_nil(flags)
            return info.error
        end
        local good = { proxy_addr = PROXY_HOST, proxy_port = PROXY_PORT,
                       proxy_username = os.getenv("MQ_TEST_PROXY_USER"),
                       proxy_password = os.getenv("MQ_TEST_PROXY_PASS") }
        -- nothing listens on port 1: the proxy cannot open the tunnel
        local err = through("mqtt://127.0.0.1:1", good)
        assert.are.equal("MQ_ERR_PROXY", err.name)
        assert.is_true(mq.is_error(err))
        err = through(URI, { proxy_addr = PROXY_HOST, proxy_port = PROXY_PORT })
        assert.are.equal("MQ_ERR_PROXY_AUTH", err.name)
        err = through(URI, { proxy_addr = PROXY_HOST, proxy_port = PROXY_PORT,
                             proxy_username = "mq", proxy_password = "wrong" })
        assert.are.equal("MQ_ERR_PROXY_AUTH", err.name)
        -- URI characters in the password are escaped: the proxy gets (and
        -- refuses) them as credentials, not as a broken URI
        err = through(URI, { proxy_addr = PROXY_HOST, proxy_port = PROXY_PORT,
                             proxy_username = "m q", proxy_password = "p@ss:w/rd%" })
        assert.are.equal("MQ_ERR_PROXY_AUTH", err.name)
        -- bad arguments
        local c = mq.Client(unique("proxybad"))
        assert.has_error(function() c:proxy_set{ proxy_type = "socks4", proxy_addr = "h" } end)
        assert.has_error(function() c:proxy_set{ proxy_addr = "h", bogus = 1 } end)
        local ok, e = pcall(c.proxy_set, c, "https://proxy.example:443")
        assert.is_false(ok)
        assert.are.equal("MQ_ERR_NOT_SUPPORTED", e.name)
        c:close()
    end)
end)
