/* props.c - placeholder, being written. */
typedef int mqi_placeholder_props;
