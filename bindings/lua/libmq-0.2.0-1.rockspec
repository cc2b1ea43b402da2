-- luarocks package of libmq's Lua 5.4 binding (module "mq"). It builds
-- against an installed libmq found by pkg-config (Debian: libmq-dev):
--   luarocks --lua-version=5.4 make bindings/lua/libmq-0.2.0-1.rockspec
--                                       (from a checkout: needs swig)
--   luarocks --lua-version=5.4 install libmq-0.2.0-1.src.rock
--                                       (scripts/package.sh rock: the SWIG
--                                        output is in the rock, no swig)
-- The version is libmq's (scripts/set-version.sh renames this file).
rockspec_format = "3.0"
package = "libmq"
version = "0.2.0-1"
source = {
   url = "git+https://github.com/libmq/libmq.git",
   tag = "v0.2.0",
}
description = {
   summary = "MQTT 3.1.1 and 5.0 client for Lua 5.4 on libmq",
   detailed = [[
The module mq is a binding of libmq, an MQTT client library in C: paho-like
methods and callbacks, MQTT 5 properties, TLS, persistence, and an event
descriptor to integrate with an application's own event loop (luv...).
]],
   homepage = "https://github.com/libmq/libmq",
   license = "MIT",
   labels = { "mqtt", "iot", "network" },
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
build = {
   type = "command",
   build_command = [[sh bindings/lua/build-rock.sh "$(LUA_INCDIR)" "$(CC)" "$(CFLAGS)" "$(LIBFLAG)"]],
   install = {
      lua = { mq = "bindings/lua/mq.lua" },
      lib = { mq_core = "bindings/lua/mq_core.so" },
   },
}
