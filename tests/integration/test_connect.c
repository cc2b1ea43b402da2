/*
 * test_connect.c - integration: connect/disconnect events, refused
 * connections (CONNACK reason codes, v3 mapping), unreachable broker,
 * the source address (MQ_SOPT_BIND_ADDRESS), host names on the resolver
 * pool.
 * Threading: single-threaded Criterion tests, one process (and broker) each.
 */
#include <dirent.h>
#include <unistd.h>

#include "integ.h"

INTEG_SUITE(connect);

static void connect_disconnect(int proto)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "cd", proto);

    CHECK(mq_is_connected(c) == 0, "connected before mq_connect");
    CHECK_RC(mq_connect(c), MQ_OK);
    mq_event *ev = integ_wait(c, MQ_EVENT_CONNECT, INTEG_WAIT_MS);
    CHECK(mq_event_reason(ev) == MQ_RC_SUCCESS, "reason 0x%02x",
          (unsigned)mq_event_reason(ev));
    CHECK(mq_event_error(ev) == MQ_OK, "error %s",
          mq_err_name(mq_event_error(ev)));
    CHECK(mq_event_session_present(ev) == 0, "clean start: no session");
    if (proto == MQ_PROTO_V5)
        CHECK(mq_event_props(ev) != NULL, "v5 CONNACK has properties");
    mq_event_free(ev);
    CHECK(mq_is_connected(c) == 1, "not connected after CONNECT");
    CHECK_RC(mq_connect(c), MQ_ERR_STATE);
    CHECK(mqt_broker_wait_log(b, mq_client_id(c), 2000),
          "broker did not log client id %s", mq_client_id(c));

    integ_disconnect(c);
    CHECK_RC(mq_disconnect(c, 0), MQ_ERR_NO_CONN);
    /* The broker saw a DISCONNECT packet, not a dropped socket. */
    char needle[160];
    snprintf(needle, sizeof needle, "Received DISCONNECT from %s",
             mq_client_id(c));
    CHECK(mqt_broker_wait_log(b, needle, 2000), "no \"%s\" in broker log",
          needle);

    /* connect again on the same handle */
    integ_connect(c);
    integ_disconnect(c);
}

Test(connect, connect_disconnect_v311) { connect_disconnect(MQ_PROTO_V311); }
Test(connect, connect_disconnect_v5) { connect_disconnect(MQ_PROTO_V5); }

static void refused(int proto)
{
    mqt_broker_opts o = {.deny_anonymous = 1};
    mqt_broker *b = integ_broker(&o);
    mq_client *c = integ_client(b, "refused", proto);

    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT, 0), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    mq_event *ev = integ_wait(c, MQ_EVENT_CONNECT, INTEG_WAIT_MS);
    /* v5: reason 0x87; v3.1.1: return code 5 mapped to 0x87 */
    CHECK(mq_event_reason(ev) == MQ_RC_NOT_AUTHORIZED,
          "CONNACK reason 0x%02x, expected 0x87",
          (unsigned)mq_event_reason(ev));
    mq_event_free(ev);
    ev = integ_wait(c, MQ_EVENT_DISCONNECTED, INTEG_WAIT_MS);
    CHECK(mq_event_error(ev) == MQ_ERR_REFUSED, "DISCONNECTED error %s",
          mq_err_name(mq_event_error(ev)));
    CHECK(mq_event_will_reconnect(ev) == 0, "reconnect is off");
    mq_event_free(ev);
    CHECK(mq_is_connected(c) == 0, "connected after refusal");
}

Test(connect, refused_not_authorized_v311) { refused(MQ_PROTO_V311); }
Test(connect, refused_not_authorized_v5) { refused(MQ_PROTO_V5); }

static void bad_credentials(int proto)
{
    /* A password file with one user: a wrong password is refused. */
    mqt_broker_opts o = {.deny_anonymous = 1};
    mqt_broker *b = integ_broker(&o);
    mq_client *c = integ_client(b, "badpw", proto);

    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT, 0), MQ_OK);
    CHECK_RC(mq_set_str(c, MQ_SOPT_USERNAME, "nobody"), MQ_OK);
    CHECK_RC(mq_set_str(c, MQ_SOPT_PASSWORD, "wrong"), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    mq_event *ev = integ_wait(c, MQ_EVENT_CONNECT, INTEG_WAIT_MS);
    /* no password_file: mosquitto refuses as not authorised */
    CHECK(mq_event_reason(ev) >= 0x80, "CONNACK reason 0x%02x",
          (unsigned)mq_event_reason(ev));
    mq_event_free(ev);
}

Test(connect, refused_with_username_v311) { bad_credentials(MQ_PROTO_V311); }
Test(connect, refused_with_username_v5) { bad_credentials(MQ_PROTO_V5); }

Test(connect, no_broker_listening)
{
    mqt_broker *b = integ_broker(NULL);
    char uri[64];
    snprintf(uri, sizeof uri, "%s", mqt_broker_uri(b));
    mqt_broker_stop(b, 5000);

    mq_client *c = integ_client(NULL, "nobroker", MQ_PROTO_V311);
    CHECK_RC(mq_set_server(c, uri), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT, 0), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    mq_event *ev = integ_wait(c, MQ_EVENT_DISCONNECTED, INTEG_WAIT_MS);
    CHECK(mq_event_error(ev) == MQ_ERR_CONNREFUSED, "error %s",
          mq_err_name(mq_event_error(ev)));
    CHECK(mq_event_will_reconnect(ev) == 0, "reconnect is off");
    mq_event_free(ev);
}

Test(connect, reconnects_when_broker_appears)
{
    mqt_broker *b = integ_broker(NULL);
    mqt_broker_stop(b, 5000);

    mq_client *c = integ_client(b, "late", MQ_PROTO_V5);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 100), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 300), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    mq_event *ev = integ_wait(c, MQ_EVENT_DISCONNECTED, INTEG_WAIT_MS);
    CHECK(mq_event_will_reconnect(ev) == 1, "will_reconnect should be 1");
    mq_event_free(ev);
    CHECK(mqt_broker_restart(b) == 0, "restart");
    ev = integ_wait(c, MQ_EVENT_CONNECT, INTEG_WAIT_MS);
    CHECK(mq_event_reason(ev) == 0, "reason 0x%02x",
          (unsigned)mq_event_reason(ev));
    mq_event_free(ev);
    integ_disconnect(c);
}

Test(connect, broker_assigned_client_id_v5)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client_id(b, "", MQ_PROTO_V5);
    integ_connect(c);
    const char *id = mq_client_id(c);
    CHECK(id != NULL && id[0] != '\0', "no assigned client id");
    integ_disconnect(c);
}

/* MQ_SOPT_BIND_ADDRESS (issue 20): the connection leaves from the chosen
 * loopback address, and the broker sees it there. */
Test(connect, bind_address)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "bind", MQ_PROTO_V311);
    char needle[160];

    CHECK_RC(mq_set_str(c, MQ_SOPT_BIND_ADDRESS, "localhost"), MQ_ERR_INVAL);
    CHECK_RC(mq_set_str(c, MQ_SOPT_BIND_ADDRESS, "127.0.0.1:5"),
             MQ_ERR_INVAL);
    CHECK_RC(mq_set_str(c, MQ_SOPT_BIND_ADDRESS, ""), MQ_OK);
    CHECK_RC(mq_set_str(c, MQ_SOPT_BIND_ADDRESS, "::1"), MQ_OK);
    CHECK_RC(mq_set_str(c, MQ_SOPT_BIND_ADDRESS, "127.0.0.3"), MQ_OK);
    integ_connect(c);
    snprintf(needle, sizeof needle, "from 127.0.0.3:");
    CHECK(mqt_broker_wait_log(b, needle, 2000), "no \"%s\" in broker log",
          needle);
    CHECK_RC(mq_set_str(c, MQ_SOPT_BIND_ADDRESS, "127.0.0.4"), MQ_ERR_STATE);
    integ_disconnect(c);

    /* a second connection from another address, same handle */
    CHECK_RC(mq_set_str(c, MQ_SOPT_BIND_ADDRESS, "127.0.0.4"), MQ_OK);
    integ_connect(c);
    CHECK(mqt_broker_wait_log(b, "from 127.0.0.4:", 2000),
          "no 127.0.0.4 in broker log");
    integ_disconnect(c);
}

/* An IPv6 source for an IPv4-only server: no address of the server can be
 * used; the attempt fails with an event, not a hang. */
Test(connect, bind_address_wrong_family)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "bindfam", MQ_PROTO_V311);

    CHECK_RC(mq_set_str(c, MQ_SOPT_BIND_ADDRESS, "::1"), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT, 0), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    mq_event *ev = integ_wait(c, MQ_EVENT_DISCONNECTED, INTEG_WAIT_MS);
    CHECK(mq_event_error(ev) == MQ_ERR_IO, "error %s",
          mq_err_name(mq_event_error(ev)));
    CHECK(mq_event_will_reconnect(ev) == 0, "reconnect is off");
    mq_event_free(ev);
}

/* Threads of this process (/proc/self/task entries). */
static int
thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Host names are looked up on the process's resolver pool (issue 20): 40
 * clients connecting to "localhost" at once all connect, with at most 4
 * lookup threads alive at any time (before: one thread per attempt). */
Test(connect, host_name_lookups_share_a_pool)
{
    enum { N = 40 };
    mqt_broker *b = integ_broker(NULL);
    mq_client *cs[N];
    char uri[64];
    int i, base, most, up = 0, rounds;

    snprintf(uri, sizeof uri, "mqtt://localhost:%d", mqt_broker_port(b));
    for (i = 0; i < N; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "pool%d", i);
        cs[i] = mq_client_new(integ_id(tag), MQ_PROTO_V311);
        CHECK(cs[i] != NULL, "mq_client_new");
        CHECK_RC(mq_set_server(cs[i], uri), MQ_OK);
    }
    base = most = thread_count();
    CHECK(base > 0, "cannot count threads");
    for (i = 0; i < N; i++)
        CHECK_RC(mq_connect(cs[i]), MQ_OK);
    for (rounds = 0; rounds < 1000 && up < N; rounds++) {
        int t = thread_count();
        if (t > most)
            most = t;
        for (up = 0, i = 0; i < N; i++)
            up += mq_is_connected(cs[i]);
        usleep(2000);
    }
    CHECK(up == N, "%d of %d connected", up, N);
    CHECK(most <= base + 4, "%d threads at most, %d before the connects",
          most, base);
    for (i = 0; i < N; i++)
        mq_client_destroy(cs[i]);
}

/* A client destroyed while its host name is being looked up: the lookup
 * finishes on the pool without touching freed memory (the sanitizer and
 * valgrind stages run this), and the pool keeps serving others. */
Test(connect, destroy_during_lookup)
{
    mqt_broker *b = integ_broker(NULL);
    char uri[64];
    int i;

    snprintf(uri, sizeof uri, "mqtt://localhost:%d", mqt_broker_port(b));
    for (i = 0; i < 100; i++) {
        mq_client *c = integ_client(NULL, "gone", MQ_PROTO_V311);
        CHECK_RC(mq_set_server(c, uri), MQ_OK);
        CHECK_RC(mq_connect(c), MQ_OK);
        if (i % 3 == 1)
            usleep(100); /* sometimes while getaddrinfo runs */
        integ_client_destroy(c);
    }
    {
        mq_client *c = integ_client(NULL, "after", MQ_PROTO_V311);
        CHECK_RC(mq_set_server(c, uri), MQ_OK);
        integ_connect(c);
        integ_disconnect(c);
    }
}
