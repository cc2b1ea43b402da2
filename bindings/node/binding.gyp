# binding.gyp - builds the addon mq_native.node when the npm package is
# installed (build-addon.js runs node-gyp for the Node that runs it), against
# the libmq that pkg-config finds (Debian: libmq-dev).
#
# The C++ source is SWIG's V8 output for bindings/mq.i. The npm tarball
# carries it (src/mq_node_wrap.cxx, made by the prepack script), so
# installing needs no swig; in a checkout (npm install <repo>/bindings/node)
# it is made at build time, which needs swig.
{
  "variables": {
    "mq_prebuilt_wrap": "<!(node -p \"require('fs').existsSync('src/mq_node_wrap.cxx')\")",
  },
  "targets": [
    {
      "target_name": "mq_native",
      "include_dirs": ["<!@(pkg-config --cflags-only-I libmq | sed 's/-I//g')"],
      "libraries": ["<!@(pkg-config --libs libmq)", "<!@(node build-addon.js --rpath)"],
      "cflags_cc": ["-Wno-unused-parameter"],
      "conditions": [
        ["mq_prebuilt_wrap=='true'", {
          "sources": ["src/mq_node_wrap.cxx"],
        }, {
          "actions": [{
            "action_name": "swig",
            "inputs": ["../mq.i", "../../libmq/include/mq.h"],
            "outputs": ["<(INTERMEDIATE_DIR)/mq_node_wrap.cxx"],
            "action": ["swig", "-javascript", "-node", "-c++",
                       "-module", "mq_native", "-I../../libmq/include",
                       "-o", "<(INTERMEDIATE_DIR)/mq_node_wrap.cxx", "../mq.i"],
            "process_outputs_as_sources": 1,
          }],
        }],
      ],
    },
  ],
}
