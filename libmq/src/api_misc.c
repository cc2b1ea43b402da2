/* api_misc.c - placeholder, being written. */
typedef int mqi_placeholder_api_misc;
