/* codec.c - placeholder, being written. */
typedef int mqi_placeholder_codec;
