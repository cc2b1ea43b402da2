-- Tutorial step 6: TLS. The broker's certificate is checked against the CA
-- and the host name of the URI; a certificate for another name is refused.
--   lua5.4 step6.lua mqtts://localhost:8883 ca.crt
local mq = require "mq"

local uri, ca = arg[1], arg[2]
if not uri or not ca then
    io.stderr:write("usage: lua5.4 step6.lua mqtts://host:port ca.crt\n")
    os.exit(2)
end
local client = mq.Client(nil, { reconnect = false })
client:tls_set{ ca_certs = ca }
local result = 3
client.on_connect = function(c, userdata, flags, rc)
    if rc == 0 then
        print("connected securely")
        result = 0
        c:disconnect()
    end
end
client.on_disconnect = function(c, userdata, rc, info)
    if info.error and info.error.name == "MQ_ERR_TLS" then
        print("TLS error: " .. tostring(info.error))
        result = 1
    elseif info.error then
        print("error: " .. tostring(info.error))
    end
end
client:connect(uri)
client:loop_forever()
client:close()
os.exit(result)
