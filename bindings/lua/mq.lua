--[[
mq.lua - libmq for Lua 5.4: a paho-mqtt-like client over the SWIG module
mq_core (bindings/mq.i).

Threading: libmq works on its own thread, but Lua code runs only on the Lua
thread: events are pulled with mq_next_event() by loop()/loop_forever(), and
callbacks (on_connect, on_message, ...) are called from there. There is no
loop_start(): call loop(timeout) from your own loop, or watch event_fd()
(readable while events are pending) with cqueues/luv and call loop(0).

Errors: bad arguments and calls that libmq refuses raise a Lua error whose
value is an mq.Error object: err.code (the negative MQ_ERR_* number),
err.name ("MQ_ERR_TOPIC"), err.message (libmq's text, with the call's name)
and err.reason (an MQTT reason code, when the broker gave one);
tostring(err) gives "mq.publish: invalid topic name or topic filter
(MQ_ERR_TOPIC)". mq.is_error(v) tells them apart from other errors.

MQTT 5 properties are Lua tables keyed by the lower-case MQ_PROP_* names
(content_type = "text/plain", correlation_data = "...", user = {{k, v},
...}, subscription_identifier = 7, ...), both to send and as received.
]]

local core = require "mq_core"

local M = {}

M._VERSION = core.mq_version_string()
M.version = core.mq_version_string()
M.version_num = core.mq_version() -- 0xMMmmpp

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
M.EVENT_RECOVERED = core.MQ_EVENT_RECOVERED
M.EVENT_RESUBSCRIBED = core.MQ_EVENT_RESUBSCRIBED

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
    tls_no_hostname_check = core.MQ_OPT_TLS_NO_HOSTNAME_CHECK,
    persist_sync = core.MQ_OPT_PERSIST_SYNC,
    auto_ack = core.MQ_OPT_AUTO_ACK,
    protocol_fallback = core.MQ_OPT_PROTOCOL_FALLBACK,
    protocol_in_use = core.MQ_OPT_PROTOCOL_IN_USE, -- read-only (get_option)
    topic_alias_auto = core.MQ_OPT_TOPIC_ALIAS_AUTO,
    max_event_bytes = core.MQ_OPT_MAX_EVENT_BYTES,
    disconnect_timeout_ms = core.MQ_OPT_DISCONNECT_TIMEOUT_MS,
    tls_session_resume = core.MQ_OPT_TLS_SESSION_RESUME,
    tls_crl_check = core.MQ_OPT_TLS_CRL_CHECK, -- 2 whole chain, 1 leaf
    proxy_from_env = core.MQ_OPT_PROXY_FROM_ENV,
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
    tls_ca_pem = core.MQ_SOPT_TLS_CA_PEM,
    tls_cert_pem = core.MQ_SOPT_TLS_CERT_PEM,
    tls_key_pem = core.MQ_SOPT_TLS_KEY_PEM,
    tls_key_password = core.MQ_SOPT_TLS_KEY_PASSWORD,
    tls_key_uri = core.MQ_SOPT_TLS_KEY_URI,
    tls_cert_uri = core.MQ_SOPT_TLS_CERT_URI,
    tls_providers = core.MQ_SOPT_TLS_PROVIDERS,
    tls_engine = core.MQ_SOPT_TLS_ENGINE,
    tls_psk = core.MQ_SOPT_TLS_PSK,
    tls_psk_identity = core.MQ_SOPT_TLS_PSK_IDENTITY,
    tls_crl_file = core.MQ_SOPT_TLS_CRL_FILE,
    tls_crl_path = core.MQ_SOPT_TLS_CRL_PATH,
    tls_max_version = core.MQ_SOPT_TLS_MAX_VERSION,
    proxy = core.MQ_SOPT_PROXY,
    no_proxy = core.MQ_SOPT_NO_PROXY,
    persist_dir = core.MQ_SOPT_PERSIST_DIR,
    bind_address = core.MQ_SOPT_BIND_ADDRESS,
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

--- The error object raised by every failing call (see the top of this file).
local Error = {}
Error.__index = Error
M.Error = Error

function Error.__tostring(e)
    return e.message
end

local function new_error(what, code, reason, text)
    local name = core.mq_err_name(code)
    local msg = text or core.mq_strerror(code)
    local e = setmetatable({ code = code, name = name, reason = reason or 0,
        message = string.format("mq.%s: %s (%s)", what, msg, name) }, Error)
    if reason and reason ~= 0 then
        e.message = e.message .. string.format(": %s (0x%02x)",
            core.mq_reason_string(reason), reason)
    end
    return e
end
M.new_error = new_error

--- true if v is an error raised by this module.
function M.is_error(v) return getmetatable(v) == Error end

local function fail(what, rc, level)
    error(new_error(what, rc), level + 1)
end

-- rc < 0 -> raise at the caller of the method that called check()
local function check(what, rc)
    if rc < 0 then fail(what, rc, 3) end
    return rc
end

-- a Lua type error, as an mq.Error with MQ_ERR_INVAL
local function argcheck(cond, n, fname, msg)
    if not cond then
        local e = new_error(fname, core.MQ_ERR_INVAL)
        if n == 0 then
            e.message = string.format("bad properties for '%s' (%s) (MQ_ERR_INVAL)",
                                      fname, msg)
        else
            e.message = string.format("bad argument #%d to '%s' (%s) (MQ_ERR_INVAL)",
                                      n, fname, msg)
        end
        error(e, 3)
    end
end

-- a string C can take whole: MQTT strings cannot hold NUL either
local function cstring(s, n, fname)
    argcheck(type(s) == "string", n, fname, "string expected")
    if s:find("\0", 1, true) then
        error(new_error(fname, core.MQ_ERR_UTF8), 3)
    end
    return s
end

--- How many libmq worker threads serve this process's clients (1..64).
function M.set_worker_threads(n)
    argcheck(math.type(n) == "integer", 1, "set_worker_threads", "integer expected")
    check("set_worker_threads", core.mq_set_worker_threads(n))
end

--- true if `topic` is a valid topic name to publish to, else nil and an
--- mq.Error (MQ_ERR_TOPIC, MQ_ERR_UTF8).
function M.topic_check(topic)
    cstring(topic, 1, "topic_check")
    local rc = core.mq_topic_check(topic)
    if rc < 0 then return nil, new_error("topic_check", rc) end
    return true
end

--- true if `filter` is a valid topic filter, else nil and an mq.Error.
function M.filter_check(filter)
    cstring(filter, 1, "filter_check")
    local rc = core.mq_filter_check(filter)
    if rc < 0 then return nil, new_error("filter_check", rc) end
    return true
end

-- MQTT 5 properties: Lua name (lower-case MQ_PROP_* name) -> id and kind
-- (int, str, bin); user properties are the list `user = {{k, v}, ...}`.
local prop_kinds = {
    payload_format_indicator = "int", message_expiry_interval = "int",
    content_type = "str", response_topic = "str", correlation_data = "bin",
    subscription_identifier = "int", session_expiry_interval = "int",
    assigned_client_identifier = "str", server_keep_alive = "int",
    authentication_method = "str", authentication_data = "bin",
    request_problem_information = "int", will_delay_interval = "int",
    request_response_information = "int", response_information = "str",
    server_reference = "str", reason_string = "str", receive_maximum = "int",
    topic_alias_maximum = "int", topic_alias = "int", maximum_qos = "int",
    retain_available = "int", maximum_packet_size = "int",
    wildcard_subscription_available = "int",
    subscription_identifier_available = "int",
    shared_subscription_available = "int",
}
local prop_ids = {
    payload_format_indicator = core.MQ_PROP_PAYLOAD_FORMAT_INDICATOR,
    message_expiry_interval = core.MQ_PROP_MESSAGE_EXPIRY_INTERVAL,
    content_type = core.MQ_PROP_CONTENT_TYPE,
    response_topic = core.MQ_PROP_RESPONSE_TOPIC,
    correlation_data = core.MQ_PROP_CORRELATION_DATA,
    subscription_identifier = core.MQ_PROP_SUBSCRIPTION_IDENTIFIER,
    session_expiry_interval = core.MQ_PROP_SESSION_EXPIRY_INTERVAL,
    assigned_client_identifier = core.MQ_PROP_ASSIGNED_CLIENT_IDENTIFIER,
    server_keep_alive = core.MQ_PROP_SERVER_KEEP_ALIVE,
    authentication_method = core.MQ_PROP_AUTHENTICATION_METHOD,
    authentication_data = core.MQ_PROP_AUTHENTICATION_DATA,
    request_problem_information = core.MQ_PROP_REQUEST_PROBLEM_INFORMATION,
    will_delay_interval = core.MQ_PROP_WILL_DELAY_INTERVAL,
    request_response_information = core.MQ_PROP_REQUEST_RESPONSE_INFORMATION,
    response_information = core.MQ_PROP_RESPONSE_INFORMATION,
    server_reference = core.MQ_PROP_SERVER_REFERENCE,
    reason_string = core.MQ_PROP_REASON_STRING,
    receive_maximum = core.MQ_PROP_RECEIVE_MAXIMUM,
    topic_alias_maximum = core.MQ_PROP_TOPIC_ALIAS_MAXIMUM,
    topic_alias = core.MQ_PROP_TOPIC_ALIAS,
    maximum_qos = core.MQ_PROP_MAXIMUM_QOS,
    retain_available = core.MQ_PROP_RETAIN_AVAILABLE,
    maximum_packet_size = core.MQ_PROP_MAXIMUM_PACKET_SIZE,
    wildcard_subscription_available =
        core.MQ_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE,
    subscription_identifier_available =
        core.MQ_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE,
    shared_subscription_available = core.MQ_PROP_SHARED_SUBSCRIPTION_AVAILABLE,
    -- user = core.MQ_PROP_USER_PROPERTY, a list of {key, value}
}
M.property_ids = prop_ids

-- A received mq_props list as a table with every property present (nil
-- when the packet had none). subscription_identifier is a list when the
-- PUBLISH matched several subscriptions.
local function props_table(p)
    if p == nil or core.mq_props_count(p) == 0 then return nil end
    local t = { user = {} }
    for i = 0, core.mq_props_user_count(p) - 1 do
        t.user[#t.user + 1] = { core.mq_props_user_key(p, i),
                                core.mq_props_user_value(p, i) }
    end
    for name, id in pairs(prop_ids) do
        if core.mq_props_has(p, id) == 1 then
            local kind = prop_kinds[name]
            if kind == "str" then
                t[name] = core.mq_props_get_string(p, id)
            elseif kind == "bin" then
                t[name] = core.mq_props_get_binary(p, id) or ""
            else
                local all, n = {}, 0
                while true do
                    local v = core.mq_props_get_int_value(p, id, n)
                    if v < 0 then break end
                    n = n + 1
                    all[n] = v
                end
                t[name] = (n > 1) and all or all[1]
            end
        end
    end
    return t
end

-- A properties table -> a new mq_props list (nil for nil or {}); the
-- caller frees it with core.mq_props_free. Raises mq.Error.
local function props_new(t, what)
    if t == nil or next(t) == nil then return nil end
    argcheck(type(t) == "table", 0, what, "properties table expected")
    local p = core.mq_props_new()
    local ok, err = pcall(function()
        for name, v in pairs(t) do
            if name == "user" then
                argcheck(type(v) == "table", 0, what, "user: list of {key, value} expected")
                for _, kv in ipairs(v) do
                    argcheck(type(kv) == "table", 0, what, "user: {key, value} expected")
                    check(what, core.mq_props_add_user(p, cstring(kv[1], 0, what),
                                                       cstring(kv[2], 0, what)))
                end
            else
                local id = prop_ids[name]
                argcheck(id ~= nil, 0, what, "unknown property '" .. tostring(name) .. "'")
                local kind = prop_kinds[name]
                if kind == "str" then
                    check(what, core.mq_props_add_string(p, id, cstring(v, 0, what)))
                elseif kind == "bin" then
                    argcheck(type(v) == "string", 0, what, name .. ": string expected")
                    check(what, core.mq_props_add_binary(p, id, v))
                else
                    local list = type(v) == "table" and v or { v }
                    for _, one in ipairs(list) do
                        if type(one) == "boolean" then one = one and 1 or 0 end
                        argcheck(math.type(one) == "integer" and one >= 0, 0, what,
                                 name .. ": non-negative integer expected")
                        check(what, core.mq_props_add_int(p, id, one))
                    end
                end
            end
        end
    end)
    if not ok then
        core.mq_props_free(p)
        error(err, 3)
    end
    return p
end

-- f(list) with the properties of t, freed afterwards; returns f's result
local function with_props(t, what, f)
    local p = props_new(t, what)
    local ok, r = pcall(f, p)
    if p ~= nil then core.mq_props_free(p) end
    if not ok then error(r, 3) end
    return r
end

-- What the TLS handshake of a CONNECT event negotiated, as a table
-- {version = "TLSv1.3", cipher = "TLS_AES_256_GCM_SHA384", alpn = "" (none),
-- resumed = false}; nil for a connection without TLS.
local function tls_table(ev)
    local version = core.mq_event_tls(ev, core.MQ_TLS_VERSION)
    if version == nil then return nil end
    return {
        version = version,
        cipher = core.mq_event_tls(ev, core.MQ_TLS_CIPHER),
        alpn = core.mq_event_tls(ev, core.MQ_TLS_ALPN) or "",
        resumed = core.mq_event_tls(ev, core.MQ_TLS_RESUMED) == "1",
    }
end

-- Copy an event into a plain table (the C event is freed right after).
local function event_table(ev)
    local kind = core.mq_event_type(ev)
    local e = {
        type = kind,
        error = core.mq_event_error(ev),
        reason = core.mq_event_reason(ev),
        token = core.mq_event_token(ev),
        tag = core.mq_event_tag(ev),
        properties = props_table(core.mq_event_props(ev)),
    }
    if kind == core.MQ_EVENT_MESSAGE or kind == core.MQ_EVENT_RECOVERED then
        e.topic = core.mq_event_topic(ev)
        e.payload = core.mq_event_payload(ev) or ""
        e.qos = core.mq_event_qos(ev)
        e.retain = core.mq_event_retain(ev) ~= 0
        e.dup = core.mq_event_dup(ev) ~= 0
        e.mid = core.mq_event_packet_id(ev)
        if kind == core.MQ_EVENT_RECOVERED then
            e.mid = e.token
            e.tag = core.mq_event_tag(ev)
        end
    elseif kind == core.MQ_EVENT_CONNECT then
        e.session_present = core.mq_event_session_present(ev) ~= 0
        e.tls = tls_table(ev)
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
    elseif kind == core.MQ_EVENT_RESUBSCRIBED then
        e.topic = core.mq_event_topic(ev)
        e.qos = core.mq_event_qos(ev)
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
        error(new_error(what, core.MQ_ERR_DESTROYED), 3)
    end
    return c
end

--[[
mq.Client(client_id, opts) -> client
  client_id: string, or nil/"" for a broker-assigned id.
  opts (all optional): protocol = mq.MQTTv311 (default) | mq.MQTTv5,
    clean_session (boolean), keepalive (seconds), userdata,
    reconnect (boolean), reconnect_min / reconnect_max (seconds),
    username, password, properties (MQTT 5 CONNECT properties), will =
    {topic, payload, qos, retain, properties}, tls = {...} (see tls_set),
    proxy = a URI or {...} (see proxy_set), no_proxy, proxy_from_env,
    and any name of mq.options / mq.string_options.
]]
function M.Client(client_id, opts)
    argcheck(client_id == nil or type(client_id) == "string", 1, "Client",
             "string or nil expected")
    argcheck(opts == nil or type(opts) == "table", 2, "Client",
             "table or nil expected")
    opts = opts or {}
    local proto = opts.protocol or M.MQTTv311
    if client_id then cstring(client_id, 1, "Client") end
    local c = core.mq_client_new(client_id or "", proto)
    if c == nil then
        error(new_error("Client", core.MQ_ERR_INVAL, nil,
            "invalid client id or protocol, or out of memory"), 2)
    end
    local self = setmetatable({ _c = c, userdata = opts.userdata,
                                _stop = false }, Client)
    local ok, err = pcall(function()
        for k, v in pairs(opts) do
            if k == "clean_session" or k == "clean_start" then
                self:set_option("clean_start", v and 1 or 0)
            elseif k == "reconnect" then
                self:set_option("reconnect", v and 1 or 0)
            elseif k == "reconnect_min" then
                self:set_option("reconnect_min_ms", math.floor(v * 1000))
            elseif k == "reconnect_max" then
                self:set_option("reconnect_max_ms", math.floor(v * 1000))
            elseif k == "properties" then
                self:connect_properties_set(v)
            elseif k == "will" then
                argcheck(type(v) == "table", 2, "Client", "will: table expected")
                self:will_set(v.topic, v.payload, v.qos, v.retain, v.properties)
            elseif k == "tls" then
                self:tls_set(v)
            elseif k == "proxy" then
                self:proxy_set(v)
            elseif int_options[k] or str_options[k] then
                self:set_option(k, v)
            elseif k ~= "protocol" and k ~= "userdata" then
                argcheck(false, 2, "Client", "unknown option '" .. tostring(k) .. "'")
            end
        end
    end)
    if not ok then
        self:close()
        error(err, 2)
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
        if value ~= nil then cstring(value, 2, "set_option") end
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
    if username ~= nil then cstring(username, 1, "username_pw_set") end
    check("username_pw_set", core.mq_set_str(c, core.MQ_SOPT_USERNAME, username))
    if password == nil then
        check("username_pw_set", core.mq_set_str(c, core.MQ_SOPT_PASSWORD, nil))
    else
        argcheck(type(password) == "string", 2, "username_pw_set",
                 "string expected")
        check("username_pw_set", core.mq_set_password(c, password))
    end
end

--- client:will_set(topic, payload, qos, retain, properties): the Last Will
--- (properties: MQTT 5 Will properties, e.g. will_delay_interval).
function Client:will_set(topic, payload, qos, retain, properties)
    local c = handle(self, "will_set")
    cstring(topic, 1, "will_set")
    argcheck(payload == nil or type(payload) == "string", 2, "will_set",
             "string or nil expected")
    argcheck(qos == nil or math.type(qos) == "integer", 3, "will_set",
             "integer expected")
    with_props(properties, "will_set", function(p)
        check("will_set", core.mq_set_will(c, topic, payload or "", qos or 0,
                                           retain and 1 or 0, p))
    end)
end

function Client:will_clear()
    check("will_clear", core.mq_set_will(handle(self, "will_clear"), nil, "",
                                         0, 0, nil))
end

--- MQTT 5 CONNECT properties (user, authentication_method, ...).
function Client:connect_properties_set(properties)
    local c = handle(self, "connect_properties_set")
    with_props(properties, "connect_properties_set", function(p)
        check("connect_properties_set", core.mq_set_connect_props(c, p))
    end)
end

local tls_fields = {
    ca_certs = "tls_ca_file", ca_path = "tls_ca_path", ca_pem = "tls_ca_pem",
    certfile = "tls_cert_file", cert_pem = "tls_cert_pem",
    keyfile = "tls_key_file", key_pem = "tls_key_pem",
    keyfile_password = "tls_key_password", ciphers = "tls_ciphers",
    alpn = "tls_alpn", min_version = "tls_min_version",
    max_version = "tls_max_version", verify_name = "tls_verify_name",
    psk = "tls_psk", psk_identity = "tls_psk_identity",
    crl_file = "tls_crl_file", crl_path = "tls_crl_path",
    key_uri = "tls_key_uri", cert_uri = "tls_cert_uri",
    providers = "tls_providers", engine = "tls_engine",
}
-- tls_set's boolean fields -> their integer options
local tls_flags = {
    no_hostname_check = "tls_no_hostname_check", insecure = "tls_insecure",
    session_resume = "tls_session_resume",
}
local crl_checks = { chain = 2, leaf = 1 }

--[[
client:tls_set{...} - TLS settings for mqtts:// and wss:// (paho-mqtt's
names where it has them; *_pem take the PEM text itself). Fields:
  ca_certs, ca_path, ca_pem       CA file / hashed directory / PEM text
  certfile, cert_pem, keyfile, key_pem, keyfile_password
                                  client certificate and key
  key_uri, cert_uri               key / certificate by URI ("file:...",
                                  "pkcs11:..." through a provider or engine)
  providers, engine               OpenSSL 3 providers to load ("pkcs11"),
                                  an engine id for key_uri ("pkcs11")
  psk, psk_identity               TLS-PSK: the key in hex (as mosquitto's
                                  psk_file and mosquitto_pub --psk), no
                                  certificates
  crl_file, crl_path              CRLs (file, or hashed directory); a
                                  revoked broker certificate is refused
  crl_check = "chain" | "leaf"    which certificates need a CRL (default
                                  "chain")
  min_version, max_version        "tlsv1.2" or "tlsv1.3"
  ciphers, alpn, verify_name      OpenSSL cipher list, ALPN list, name to
                                  verify instead of the host
  no_hostname_check, insecure     booleans: skip the host name check / all
                                  checks
  session_resume                  boolean (default true): reconnects resume
                                  the TLS session
Host names are verified unless no_hostname_check or insecure. What a
connection negotiated comes to on_connect in flags.tls. An application
SSL_CTX (mq_set_tls_ctx) is C only.
]]
function Client:tls_set(t)
    argcheck(type(t) == "table", 1, "tls_set", "table expected")
    for k, v in pairs(t) do
        if tls_flags[k] then
            self:set_option(tls_flags[k], v) -- booleans or 0/1
        elseif k == "crl_check" then
            argcheck(crl_checks[v] ~= nil, 1, "tls_set",
                     "crl_check: \"chain\" or \"leaf\" expected")
            self:set_option("tls_crl_check", crl_checks[v])
        else
            argcheck(tls_fields[k] ~= nil, 1, "tls_set",
                     "unknown field '" .. tostring(k) .. "'")
            self:set_option(tls_fields[k], v)
        end
    end
end

--- paho-mqtt's tls_insecure_set(true): do not check the host name.
function Client:tls_insecure_set(value)
    self:set_option("tls_no_hostname_check", value and 1 or 0)
end

-- percent-encode a proxy user name or password for the proxy URI
local function uri_escape(s)
    return (s:gsub("[^%w%-%._~]", function(ch)
        return string.format("%%%02X", ch:byte())
    end))
end

local proxy_ports = { http = 8080, socks5 = 1080, socks5h = 1080 }

--[[
client:proxy_set{proxy_type=, proxy_addr=, proxy_port=, proxy_username=,
                 proxy_password=}
client:proxy_set("http://user:password@host:3128")
client:proxy_set(nil)
  Connect (mqtt://, mqtts://, ws://, wss://) through a proxy, with
  paho-mqtt's argument names: proxy_type "http" (HTTP CONNECT, Basic auth)
  or "socks5" / "socks5h" (SOCKS5, the proxy resolves the broker's name),
  proxy_port (default 8080 for http, 1080 for SOCKS5, as PySocks), user
  name and password (any bytes; percent-encoded here). Or the proxy as a
  URI, as libmq takes it; nil connects directly again. Hosts that go
  direct: the no_proxy option; the proxy from the environment
  (https_proxy, http_proxy, all_proxy, no_proxy): proxy_from_env = true.
  A refusal by the proxy reaches on_disconnect as MQ_ERR_PROXY (bad or
  missing credentials: MQ_ERR_PROXY_AUTH); libmq never falls back to a
  direct connection.
]]
function Client:proxy_set(p)
    handle(self, "proxy_set")
    if p == nil or type(p) == "string" then
        return self:set_option("proxy", p)
    end
    argcheck(type(p) == "table", 1, "proxy_set", "table, string or nil expected")
    for k in pairs(p) do
        argcheck(k == "proxy_type" or k == "proxy_addr" or k == "proxy_port"
                 or k == "proxy_username" or k == "proxy_password", 1,
                 "proxy_set", "unknown field '" .. tostring(k) .. "'")
    end
    local kind = p.proxy_type or "http"
    argcheck(proxy_ports[kind] ~= nil, 1, "proxy_set",
             "proxy_type: \"http\", \"socks5\" or \"socks5h\" expected")
    local host = cstring(p.proxy_addr, 1, "proxy_set")
    argcheck(host ~= "", 1, "proxy_set", "proxy_addr: host name expected")
    local port = p.proxy_port or proxy_ports[kind]
    argcheck(math.type(port) == "integer", 1, "proxy_set",
             "proxy_port: integer expected")
    if host:find(":", 1, true) and host:sub(1, 1) ~= "[" then
        host = "[" .. host .. "]"
    end
    local auth = ""
    if p.proxy_username ~= nil then
        argcheck(type(p.proxy_username) == "string", 1, "proxy_set",
                 "proxy_username: string expected")
        auth = uri_escape(p.proxy_username)
        if p.proxy_password ~= nil then
            argcheck(type(p.proxy_password) == "string", 1, "proxy_set",
                     "proxy_password: string expected")
            auth = auth .. ":" .. uri_escape(p.proxy_password)
        end
        auth = auth .. "@"
    end
    return self:set_option("proxy", string.format("%s://%s%s:%d", kind, auth,
                                                  host, port))
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
    cstring(host, 1, "connect")
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

--- Graceful disconnect (v5: with reason code, default 0, and DISCONNECT
--- properties such as session_expiry_interval, reason_string).
function Client:disconnect(reason, properties)
    local c = handle(self, "disconnect")
    argcheck(reason == nil or math.type(reason) == "integer", 1, "disconnect",
             "integer expected")
    with_props(properties, "disconnect", function(p)
        if p == nil then
            check("disconnect", core.mq_disconnect(c, reason or 0))
        else
            check("disconnect", core.mq_disconnect_v5(c, reason or 0, p))
        end
    end)
end

--- Forced disconnect (MQTT.js end(true)): nothing more is delivered;
--- what was not is settled at once (kept for the next connect, or
--- on_publish with MQ_ERR_ABORTED), then on_disconnect.
function Client:disconnect_now(reason)
    local c = handle(self, "disconnect_now")
    argcheck(reason == nil or math.type(reason) == "integer", 1, "disconnect_now",
             "integer expected")
    check("disconnect_now", core.mq_disconnect_now(c, reason or 0))
end

-- seconds (nil or negative: no limit) -> milliseconds for the mq_wait*
local function wait_ms(timeout, fname)
    argcheck(timeout == nil or type(timeout) == "number", 1, fname, "number expected")
    if timeout == nil or timeout < 0 then return -1 end
    return math.floor(timeout * 1000)
end

-- the outcome of a mq_wait* call: true, or nil and an mq.Error
local function outcome(what, rc)
    if rc < 0 then return nil, new_error(what, rc) end
    return true
end

--[[
client:wait(mid, timeout) -> true | nil, err
  Block (up to timeout seconds; nil: no limit) until the publish,
  subscribe or unsubscribe behind mid (the value they returned) finished:
  true when it succeeded, else nil and an mq.Error (MQ_ERR_REFUSED,
  MQ_ERR_ABORTED, MQ_ERR_TIMEOUT, ...), like paho's wait_for_publish().
  Takes no events: on_publish etc. still run from loop().
]]
function Client:wait(mid, timeout)
    local c = handle(self, "wait")
    argcheck(math.type(mid) == "integer", 1, "wait", "integer expected")
    return outcome("wait", core.mq_wait(c, mid, wait_ms(timeout, "wait")))
end

--- client:wait_connected(timeout) -> true | nil, err: block until
--- connected, or the attempt in progress failed (paho's blocking connect).
function Client:wait_connected(timeout)
    local c = handle(self, "wait_connected")
    return outcome("wait_connected",
                   core.mq_wait_connected(c, wait_ms(timeout, "wait_connected")))
end

--- client:wait_disconnected(timeout) -> true | nil, err: block until a
--- disconnect() finished delivering and the client is idle.
function Client:wait_disconnected(timeout)
    local c = handle(self, "wait_disconnected")
    return outcome("wait_disconnected",
                   core.mq_wait_disconnected(c, wait_ms(timeout, "wait_disconnected")))
end

--[[
client:publish(topic, payload, qos, retain, properties) -> mid
  payload: any Lua string (binary-safe) or nil. properties: MQTT 5 (a
  table, see the top of this file). tag: an integer stored with the
  message (with persist_dir it comes back in on_recovered after a crash).
  Returns libmq's token, reported again by on_publish(client, userdata,
  mid, rc) for QoS > 0.
]]
function Client:publish(topic, payload, qos, retain, properties, tag)
    local c = handle(self, "publish")
    cstring(topic, 1, "publish")
    argcheck(payload == nil or type(payload) == "string", 2, "publish",
             "string or nil expected")
    argcheck(qos == nil or math.type(qos) == "integer", 3, "publish",
             "integer expected")
    argcheck(tag == nil or math.type(tag) == "integer", 6, "publish",
             "integer expected")
    return with_props(properties, "publish", function(p)
        if tag ~= nil and tag ~= 0 then
            return check("publish", core.mq_publish_tagged(c, topic, payload or "",
                qos or 0, retain and 1 or 0, p, tag))
        end
        if p == nil then
            return check("publish", core.mq_publish(c, topic, payload or "",
                                                    qos or 0, retain and 1 or 0))
        end
        return check("publish", core.mq_publish_v5(c, topic, payload or "",
                                                   qos or 0, retain and 1 or 0, p))
    end)
end

-- qos or {qos=, no_local=, retain_as_published=, retain_handling=} -> bits
local function sub_options(o, n)
    if o == nil then return 0 end
    if math.type(o) == "integer" then return o end
    argcheck(type(o) == "table", n, "subscribe", "integer or options table expected")
    local q, rh = o.qos or 0, o.retain_handling or 0
    argcheck(math.type(q) == "integer" and math.type(rh) == "integer", n,
             "subscribe", "qos and retain_handling must be integers")
    return q | (o.no_local and core.MQ_SUB_NO_LOCAL or 0)
             | (o.retain_as_published and core.MQ_SUB_RETAIN_AS_PUBLISHED or 0)
             | (rh << core.MQ_SUB_RETAIN_HANDLING_SHIFT)
end

--[[
client:subscribe(filter, qos, properties) -> mid
client:subscribe({{filter, qos}, {filter2, {qos=1, no_local=true}}, ...}, nil,
                 properties) -> mid
  qos: an integer or a table of MQTT 5 subscription options (qos, no_local,
  retain_as_published, retain_handling). One SUBSCRIBE for all filters;
  the result comes to on_subscribe(client, userdata, mid, granted).
]]
function Client:subscribe(filter, qos, properties)
    local c = handle(self, "subscribe")
    local list = filter
    if type(filter) == "string" then list = { { filter, qos } } end
    argcheck(type(list) == "table" and #list > 0, 1, "subscribe",
             "string or list of {filter, qos} expected")
    local fl = core.mq_filter_list_new()
    local ok, r = pcall(function()
        for i, e in ipairs(list) do
            argcheck(type(e) == "table", 1, "subscribe", "{filter, qos} expected")
            cstring(e[1], 1, "subscribe")
            local bits = sub_options(e[2], type(filter) == "string" and 2 or 1)
            local rc = core.mq_filter_check(e[1])
            if rc < 0 then error(new_error("subscribe", rc), 0) end
            if (bits & core.MQ_SUB_QOS_MASK) ~= bits % 4 or bits < 0
                or (bits & core.MQ_SUB_QOS_MASK) > 2 then
                error(new_error("subscribe", core.MQ_ERR_QOS), 0)
            end
            check("subscribe", core.mq_filter_list_add(fl, e[1], bits))
        end
        return with_props(properties, "subscribe", function(p)
            return check("subscribe", core.mq_subscribe_many_list(c, fl, p))
        end)
    end)
    core.mq_filter_list_free(fl)
    if not ok then error(r, 2) end
    return r
end

--- client:unsubscribe(filter | {filter, ...}, properties) -> mid; one
--- UNSUBSCRIBE, result in on_unsubscribe (a reason code per filter).
function Client:unsubscribe(filter, properties)
    local c = handle(self, "unsubscribe")
    if type(filter) == "string" then
        cstring(filter, 1, "unsubscribe")
        return with_props(properties, "unsubscribe", function(p)
            if p == nil then
                return check("unsubscribe", core.mq_unsubscribe(c, filter))
            end
            return check("unsubscribe", core.mq_unsubscribe_v5(c, filter, p))
        end)
    end
    argcheck(type(filter) == "table" and #filter > 0, 1, "unsubscribe",
             "string or list expected")
    local fl = core.mq_filter_list_new()
    local ok, r = pcall(function()
        for _, f in ipairs(filter) do
            check("unsubscribe", core.mq_filter_list_add(fl, cstring(f, 1, "unsubscribe"), 0))
        end
        return with_props(properties, "unsubscribe", function(p)
            return check("unsubscribe", core.mq_unsubscribe_many_list(c, fl, p))
        end)
    end)
    core.mq_filter_list_free(fl)
    if not ok then error(r, 2) end
    return r
end

--- MQTT 5 enhanced authentication: send AUTH (reason 0x18 continue, 0x19
--- re-authenticate) with properties (authentication_method, _data).
--- The broker's AUTH packets reach on_auth(client, userdata, reason, props).
function Client:auth(reason, properties)
    local c = handle(self, "auth")
    argcheck(math.type(reason) == "integer", 1, "auth", "integer expected")
    with_props(properties, "auth", function(p)
        check("auth", core.mq_auth(c, reason, p))
    end)
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
with luv/cqueues/poll and call loop(0) when it is readable (see
examples/luv_loop.lua). Never read or close it.
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
        call(self, "on_connect", { session_present = e.session_present,
                                   tls = e.tls },
             e.reason, e.properties)
    elseif k == core.MQ_EVENT_DISCONNECTED then
        if not e.will_reconnect then self._stop = true end
        call(self, "on_disconnect", e.error, {
            reason = e.reason, will_reconnect = e.will_reconnect,
            message = e.message, properties = e.properties,
            error = e.error < 0 and new_error("connection", e.error, e.reason,
                                               e.message) or nil,
            error_name = core.mq_err_name(e.error) })
    elseif k == core.MQ_EVENT_PUBLISHED then
        call(self, "on_publish", e.token, e.error, e.reason, e.properties)
    elseif k == core.MQ_EVENT_SUBSCRIBED then
        call(self, "on_subscribe", e.token, e.reason_codes, e.properties)
    elseif k == core.MQ_EVENT_UNSUBSCRIBED then
        call(self, "on_unsubscribe", e.token, e.reason_codes, e.properties)
    elseif k == core.MQ_EVENT_LOG then
        call(self, "on_log", e.level, e.message)
    elseif k == core.MQ_EVENT_AUTH then
        call(self, "on_auth", e.reason, e.properties)
    elseif k == core.MQ_EVENT_RECOVERED then
        call(self, "on_recovered", e)
    elseif k == core.MQ_EVENT_RESUBSCRIBED then
        call(self, "on_resubscribe", e.topic, e.reason, e.properties)
    end
end

-- Take one event: the C event and its table (nil if none came in
-- timeout seconds; nil or negative: forever). The caller frees the event.
local function take(c, timeout)
    local ms = -1
    if timeout and timeout >= 0 then ms = math.floor(timeout * 1000) end
    local ev = core.mq_next_event(c, ms)
    if ev == nil then return nil end
    local ok, e = pcall(event_table, ev)
    if not ok then
        core.mq_event_free(ev)
        error(e, 3)
    end
    return ev, e
end

--[[
client:next_event(timeout) -> table or nil
  Take one event as a table, waiting up to timeout seconds (nil or negative:
  forever). For users who prefer pulling to callbacks. The C event is freed
  here, so a received QoS 1/2 message is acknowledged (PUBACK/PUBREC) once
  the table is returned: the application has it then. loop() and
  loop_forever() acknowledge only after on_message returned.
]]
function Client:next_event(timeout)
    local ev, e = take(handle(self, "next_event"), timeout)
    if ev == nil then return nil end
    core.mq_event_free(ev)
    return e
end

-- Dispatch one taken event, then free it, also when a callback raises:
-- freeing a received QoS 1/2 message is what acknowledges it, so a process
-- that dies inside on_message gets the message again from the broker.
local function dispatch_free(self, ev, e)
    local ok, err = pcall(self._dispatch, self, e)
    core.mq_event_free(ev)
    if not ok then error(err, 0) end
end

--[[
client:loop(timeout) -> n
  Wait up to `timeout` seconds (default 1.0; 0 = do not wait) for an event,
  then dispatch it and every other pending event to the callbacks. Returns
  the number of events dispatched. An error raised by a callback propagates.
  A received QoS 1/2 message is acknowledged after its on_message returned
  (or raised), as paho-mqtt does.
]]
function Client:loop(timeout)
    if timeout == nil then timeout = 1.0 end
    argcheck(type(timeout) == "number", 1, "loop", "number expected")
    local n = 0
    local ev, e = take(handle(self, "loop"), timeout)
    while ev do
        n = n + 1
        dispatch_free(self, ev, e)
        if rawget(self, "_c") == nil then break end -- closed by a callback
        ev, e = take(handle(self, "loop"), 0)
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
