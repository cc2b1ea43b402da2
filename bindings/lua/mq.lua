--[[
mq.lua - libmq for Lua 5.4: a paho-mqtt-like client over the SWIG module
mq_core (bindings/mq.i).

Threading: libmq works on its own thread, but Lua code runs only on the Lua
thread: events are pulled with mq_next_event() by loop()/loop_forever(), and
callbacks (on_connect, on_message, ...) are called from there. There is no
loop_start(): call loop(timeout) from your own loop, or watch event_fd()
(readable while events are pending) with cqueues/luv and call loop(0).

Errors: bad arguments and calls that libmq refuses raise a Lua error (a
string) that holds libmq's message and the MQ_ERR_* name.
]]

local core = require "mq_core"

local M = {}

M._VERSION = core.mq_version_string()
M.version = core.mq_version_string()

M.MQTTv311 = core.MQ_PROTO_V311
M.MQTTv5 = core.MQ_PROTO_V5

M.EVENT_CONNECT = core.MQ_EVENT_CONNECT
M.EVENT_DISCONNECTED = core.MQ_EVENT_DISCONNECTED
M.EVENT_MESSAGE = core.MQ_EVENT_MESSAGE
M.EVENT_PUBLISHED = core.MQ_EVENT_PUBLISHED
M.EVENT_SUBSCRIBED = core.MQ_EVENT_SUBSCRIBED
M.EVENT_UNSUBSCRIBED = core.MQ_EVENT_UNSUBSCRIBED
M.EVENT_LOG = core.MQ_EVENT_LOG
M.EVENT_AUTH = core.MQ_EVENT_AUTH

-- Integer options by name, for Client:set_option().
local int_options = {
    keepalive = core.MQ_OPT_KEEPALIVE_S,
    clean_start = core.MQ_OPT_CLEAN_START,
    session_expiry = core.MQ_OPT_SESSION_EXPIRY_S,
    reconnect_min_ms = core.MQ_OPT_RECONNECT_MIN_MS,
    reconnect_max_ms = core.MQ_OPT_RECONNECT_MAX_MS,
    reconnect = core.MQ_OPT_RECONNECT,
    max_inflight = core.MQ_OPT_MAX_INFLIGHT,
    queue_max_msgs = core.MQ_OPT_QUEUE_MAX_MSGS,
    queue_max_bytes = core.MQ_OPT_QUEUE_MAX_BYTES,
    offline_qos0 = core.MQ_OPT_OFFLINE_QOS0,
    tcp_nodelay = core.MQ_OPT_TCP_NODELAY,
    connect_timeout_ms = core.MQ_OPT_CONNECT_TIMEOUT_MS,
    max_events = core.MQ_OPT_MAX_EVENTS,
    publish_events = core.MQ_OPT_PUBLISH_EVENTS,
    log_level = core.MQ_OPT_LOG_LEVEL,
    max_packet_size = core.MQ_OPT_MAX_PACKET_SIZE,
    receive_maximum = core.MQ_OPT_RECEIVE_MAXIMUM,
    topic_alias_maximum = core.MQ_OPT_TOPIC_ALIAS_MAXIMUM,
    publish_timeout_ms = core.MQ_OPT_PUBLISH_TIMEOUT_MS,
    tls_insecure = core.MQ_OPT_TLS_INSECURE,
}
local str_options = {
    username = core.MQ_SOPT_USERNAME,
    password = core.MQ_SOPT_PASSWORD,
    tls_ca_file = core.MQ_SOPT_TLS_CA_FILE,
    tls_ca_path = core.MQ_SOPT_TLS_CA_PATH,
    tls_cert_file = core.MQ_SOPT_TLS_CERT_FILE,
    tls_key_file = core.MQ_SOPT_TLS_KEY_FILE,
    tls_verify_name = core.MQ_SOPT_TLS_VERIFY_NAME,
    tls_alpn = core.MQ_SOPT_TLS_ALPN,
    tls_ciphers = core.MQ_SOPT_TLS_CIPHERS,
    tls_min_version = core.MQ_SOPT_TLS_MIN_VERSION,
    persist_dir = core.MQ_SOPT_PERSIST_DIR,
}
M.options = int_options
M.string_options = str_options

--- Text for an MQ_ERR_* code.
function M.strerror(code) return core.mq_strerror(code) end
--- Name ("MQ_ERR_TOPIC") of an MQ_ERR_* code.
function M.error_name(code) return core.mq_err_name(code) end
--- Text for an MQTT reason code.
function M.reason_string(rc) return core.mq_reason_string(rc) end
--- true if topic name `topic` matches topic filter `filter`.
function M.topic_matches(filter, topic)
    return core.mq_topic_matches(filter, topic) == 1
end

local function fail(what, rc, level)
    error(string.format("mq.%s: %s (%s)", what, core.mq_strerror(rc),
                        core.mq_err_name(rc)), level + 1)
end

-- rc < 0 -> raise at the caller of the method that called check()
local function check(what, rc)
    if rc < 0 then fail(what, rc, 3) end
    return rc
end

local function argcheck(cond, n, fname, msg)
    if not cond then
        error(string.format("bad argument #%d to '%s' (%s)", n, fname, msg), 3)
    end
end

local function props_table(p)
    if p == nil then return nil end
    local t = { user = {} }
    for i = 0, core.mq_props_user_count(p) - 1 do
        t.user[#t.user + 1] = { core.mq_props_user_key(p, i),
                                core.mq_props_user_value(p, i) }
    end
    t.content_type = core.mq_props_get_string(p, core.MQ_PROP_CONTENT_TYPE)
    t.response_topic = core.mq_props_get_string(p, core.MQ_PROP_RESPONSE_TOPIC)
    t.reason_string = core.mq_props_get_string(p, core.MQ_PROP_REASON_STRING)
    t.assigned_client_identifier = core.mq_props_get_string(
        p, core.MQ_PROP_ASSIGNED_CLIENT_IDENTIFIER)
    t.correlation_data = core.mq_props_get_binary(p,
        core.MQ_PROP_CORRELATION_DATA)
    local v = core.mq_props_get_int_value(p,
        core.MQ_PROP_MESSAGE_EXPIRY_INTERVAL, 0)
    if v >= 0 then t.message_expiry_interval = v end
    v = core.mq_props_get_int_value(p, core.MQ_PROP_PAYLOAD_FORMAT_INDICATOR, 0)
    if v >= 0 then t.payload_format_indicator = v end
    return t
end

-- Copy an event into a plain table (the C event is freed right after).
local function event_table(ev)
    local kind = core.mq_event_type(ev)
    local e = {
        type = kind,
        error = core.mq_event_error(ev),
        reason = core.mq_event_reason(ev),
        token = core.mq_event_token(ev),
    }
    if kind == core.MQ_EVENT_MESSAGE then
        e.topic = core.mq_event_topic(ev)
        e.payload = core.mq_event_payload(ev) or ""
        e.qos = core.mq_event_qos(ev)
        e.retain = core.mq_event_retain(ev) ~= 0
        e.dup = core.mq_event_dup(ev) ~= 0
        e.mid = core.mq_event_packet_id(ev)
        e.properties = props_table(core.mq_event_props(ev))
    elseif kind == core.MQ_EVENT_CONNECT then
        e.session_present = core.mq_event_session_present(ev) ~= 0
        e.properties = props_table(core.mq_event_props(ev))
    elseif kind == core.MQ_EVENT_DISCONNECTED then
        e.will_reconnect = core.mq_event_will_reconnect(ev) ~= 0
        e.message = core.mq_event_message(ev)
    elseif kind == core.MQ_EVENT_SUBSCRIBED
        or kind == core.MQ_EVENT_UNSUBSCRIBED then
        local codes = {}
        for i = 0, core.mq_event_reason_count(ev) - 1 do
            codes[#codes + 1] = core.mq_event_reason_at(ev, i)
        end
        e.reason_codes = codes
    elseif kind == core.MQ_EVENT_LOG then
        e.level = core.mq_event_log_level(ev)
        e.message = core.mq_event_message(ev)
    end
    return e
end

local Client = {}
Client.__index = Client
M.Client_mt = Client

local function handle(self, what)
    local c = rawget(self, "_c")
    if c == nil then
        error(string.format("mq.%s: %s (%s)", what,
            core.mq_strerror(core.MQ_ERR_DESTROYED),
            core.mq_err_name(core.MQ_ERR_DESTROYED)), 3)
    end
    return c
end

--[[
mq.Client(client_id, opts) -> client
  client_id: string, or nil/"" for a broker-assigned id.
  opts (all optional): protocol = mq.MQTTv311 (default) | mq.MQTTv5,
    clean_session (boolean), keepalive (seconds), userdata,
    reconnect (boolean), reconnect_min / reconnect_max (seconds),
    username, password, and any name of mq.options / mq.string_options.
]]
function M.Client(client_id, opts)
    argcheck(client_id == nil or type(client_id) == "string", 1, "Client",
             "string or nil expected")
    argcheck(opts == nil or type(opts) == "table", 2, "Client",
             "table or nil expected")
    opts = opts or {}
    local proto = opts.protocol or M.MQTTv311
    local c = core.mq_client_new(client_id or "", proto)
    if c == nil then
        error(string.format("mq.Client: %s (%s)",
            "invalid client id or protocol, or out of memory",
            core.mq_err_name(core.MQ_ERR_INVAL)), 2)
    end
    local self = setmetatable({ _c = c, userdata = opts.userdata,
                                _stop = false }, Client)
    for k, v in pairs(opts) do
        if k == "clean_session" or k == "clean_start" then
            self:set_option("clean_start", v and 1 or 0)
        elseif k == "reconnect" then
            self:set_option("reconnect", v and 1 or 0)
        elseif k == "reconnect_min" then
            self:set_option("reconnect_min_ms", math.floor(v * 1000))
        elseif k == "reconnect_max" then
            self:set_option("reconnect_max_ms", math.floor(v * 1000))
        elseif int_options[k] or str_options[k] then
            self:set_option(k, v)
        elseif k ~= "protocol" and k ~= "userdata" then
            self:close()
            error(string.format("mq.Client: unknown option '%s'", k), 2)
        end
    end
    return self
end
M.new = M.Client

--- Set an option by name (see mq.options, mq.string_options) or number.
function Client:set_option(name, value)
    local c = handle(self, "set_option")
    local id = int_options[name] or str_options[name] or name
    argcheck(math.type(id) == "integer", 1, "set_option", "unknown option")
    if id >= 100 then
        argcheck(value == nil or type(value) == "string", 2, "set_option",
                 "string or nil expected")
        check("set_option", core.mq_set_str(c, id, value))
    else
        if type(value) == "boolean" then value = value and 1 or 0 end
        argcheck(math.type(value) == "integer", 2, "set_option",
                 "integer expected")
        check("set_option", core.mq_set_int(c, id, value))
    end
    return self
end

--- Read back an integer option (nil if unknown).
function Client:get_option(name)
    local c = handle(self, "get_option")
    local id = int_options[name] or name
    local v = core.mq_get_int_value(c, id, -1 << 62)
    if v == -1 << 62 then return nil end
    return v
end

function Client:username_pw_set(username, password)
    local c = handle(self, "username_pw_set")
    check("username_pw_set", core.mq_set_str(c, core.MQ_SOPT_USERNAME, username))
    if password == nil then
        check("username_pw_set", core.mq_set_str(c, core.MQ_SOPT_PASSWORD, nil))
    else
        argcheck(type(password) == "string", 2, "username_pw_set",
                 "string expected")
        check("username_pw_set", core.mq_set_password(c, password))
    end
end

function Client:will_set(topic, payload, qos, retain)
    local c = handle(self, "will_set")
    check("will_set", core.mq_set_will(c, topic, payload or "", qos or 0,
                                       retain and 1 or 0, nil))
end

function Client:will_clear()
    check("will_clear", core.mq_set_will(handle(self, "will_clear"), nil, "",
                                         0, 0, nil))
end

--- Reconnect backoff bounds, in seconds (paho: reconnect_delay_set).
function Client:reconnect_delay_set(min_delay, max_delay)
    self:set_option("reconnect_min_ms", math.floor((min_delay or 1) * 1000))
    self:set_option("reconnect_max_ms", math.floor((max_delay or 30) * 1000))
end

--[[
client:connect(host, port, keepalive)
  host: a host name or address, a URI ("mqtt://h:1883", "mqtts://...",
  "ws://...", "unix:///path") or several URIs separated by spaces/commas.
  port (default 1883) is used only with a bare host.
  Returns at once; the result comes to on_connect / on_disconnect from
  loop(). libmq then reconnects by itself until disconnect().
]]
function Client:connect(host, port, keepalive)
    local c = handle(self, "connect")
    argcheck(type(host) == "string", 1, "connect", "string expected")
    argcheck(port == nil or math.type(port) == "integer", 2, "connect",
             "integer expected")
    local uri = host
    if not host:find("://", 1, true) and not host:find("[ ,]") and port then
        if host:find(":", 1, true) then
            uri = "[" .. host .. "]:" .. port
        else
            uri = host .. ":" .. port
        end
    end
    if keepalive ~= nil then self:set_option("keepalive", keepalive) end
    check("connect", core.mq_set_server(c, uri))
    self._stop = false
    check("connect", core.mq_connect(c))
end
Client.connect_async = Client.connect

--- Graceful disconnect (v5: with reason code, default 0).
function Client:disconnect(reason)
    check("disconnect", core.mq_disconnect(handle(self, "disconnect"),
                                           reason or 0))
end

--[[
client:publish(topic, payload, qos, retain) -> mid
  payload: any Lua string (binary-safe) or nil. Returns libmq's token,
  reported again by on_publish(client, userdata, mid, rc) for QoS > 0.
]]
function Client:publish(topic, payload, qos, retain)
    local c = handle(self, "publish")
    argcheck(type(topic) == "string", 1, "publish", "string expected")
    argcheck(payload == nil or type(payload) == "string", 2, "publish",
             "string or nil expected")
    argcheck(qos == nil or math.type(qos) == "integer", 3, "publish",
             "integer expected")
    return check("publish", core.mq_publish(c, topic, payload or "", qos or 0,
                                            retain and 1 or 0))
end

--- client:subscribe(filter, qos) -> mid; result in on_subscribe.
function Client:subscribe(filter, qos)
    local c = handle(self, "subscribe")
    argcheck(type(filter) == "string", 1, "subscribe", "string expected")
    argcheck(qos == nil or math.type(qos) == "integer", 2, "subscribe",
             "integer expected")
    return check("subscribe", core.mq_subscribe(c, filter, qos or 0))
end

--- client:unsubscribe(filter) -> mid; result in on_unsubscribe.
function Client:unsubscribe(filter)
    local c = handle(self, "unsubscribe")
    argcheck(type(filter) == "string", 1, "unsubscribe", "string expected")
    return check("unsubscribe", core.mq_unsubscribe(c, filter))
end

function Client:is_connected()
    return core.mq_is_connected(handle(self, "is_connected")) == 1
end

function Client:client_id()
    return core.mq_client_id(handle(self, "client_id"))
end

--- Messages accepted by publish() but not yet completed.
function Client:queued()
    return core.mq_queued_messages(handle(self, "queued"))
end

--[[
The event fd: readable while events are pending (level triggered). Watch it
with cqueues/luv/poll and call loop(0) when it is readable. Never read or
close it.
]]
function Client:event_fd()
    return core.mq_event_fd(handle(self, "event_fd"))
end
Client.socket = Client.event_fd

local function call(self, name, ...)
    local f = self[name]
    if f then f(self, self.userdata, ...) end
end

-- Dispatch one event table to the callbacks.
function Client:_dispatch(e)
    local k = e.type
    if k == core.MQ_EVENT_MESSAGE then
        call(self, "on_message", e)
    elseif k == core.MQ_EVENT_CONNECT then
        call(self, "on_connect", { session_present = e.session_present },
             e.reason, e.properties)
    elseif k == core.MQ_EVENT_DISCONNECTED then
        if not e.will_reconnect then self._stop = true end
        call(self, "on_disconnect", e.error, {
            reason = e.reason, will_reconnect = e.will_reconnect,
            message = e.message,
            error_name = core.mq_err_name(e.error) })
    elseif k == core.MQ_EVENT_PUBLISHED then
        call(self, "on_publish", e.token, e.error, e.reason)
    elseif k == core.MQ_EVENT_SUBSCRIBED then
        call(self, "on_subscribe", e.token, e.reason_codes)
    elseif k == core.MQ_EVENT_UNSUBSCRIBED then
        call(self, "on_unsubscribe", e.token, e.reason_codes)
    elseif k == core.MQ_EVENT_LOG then
        call(self, "on_log", e.level, e.message)
    end
end

--- Take one event as a table (or nil), waiting up to timeout seconds
--- (nil or negative: forever). For users who prefer pulling to callbacks.
function Client:next_event(timeout)
    local c = handle(self, "next_event")
    local ms = -1
    if timeout and timeout >= 0 then ms = math.floor(timeout * 1000) end
    local ev = core.mq_next_event(c, ms)
    if ev == nil then return nil end
    local ok, e = pcall(event_table, ev)
    core.mq_event_free(ev)
    if not ok then error(e, 2) end
    return e
end

--[[
client:loop(timeout) -> n
  Wait up to `timeout` seconds (default 1.0; 0 = do not wait) for an event,
  then dispatch it and every other pending event to the callbacks. Returns
  the number of events dispatched. An error raised by a callback propagates.
]]
function Client:loop(timeout)
    if timeout == nil then timeout = 1.0 end
    argcheck(type(timeout) == "number", 1, "loop", "number expected")
    local n = 0
    local e = self:next_event(timeout)
    while e do
        n = n + 1
        self:_dispatch(e)
        if rawget(self, "_c") == nil then break end -- closed by a callback
        e = self:next_event(0)
    end
    return n
end

--[[
client:loop_forever() - dispatch events until loop_stop() is called (from a
callback), or until the client is disconnected by disconnect() or loses the
connection for good (reconnect off).
]]
function Client:loop_forever()
    self._stop = false
    while not self._stop and rawget(self, "_c") ~= nil do
        self:loop(-1)
    end
end

function Client:loop_stop()
    self._stop = true
end

--- Destroy the client at once (no DISCONNECT; call disconnect() first for a
--- graceful one). Also run by the garbage collector and by <close>.
function Client:close()
    local c = rawget(self, "_c")
    if c ~= nil then
        self._c = nil
        core.mq_client_destroy(c)
    end
end
Client.__gc = Client.close
Client.__close = Client.close

function Client:__tostring()
    local c = rawget(self, "_c")
    if c == nil then return "mq.Client (closed)" end
    return string.format("mq.Client (%s)", core.mq_client_id(c))
end

return M
