/* transport_tls.c - placeholder, being written. */
typedef int mqi_placeholder_transport_tls;
