/*
 * broker.h - test harness: run a private mosquitto broker on a free loopback
 * port, and run external commands (mosquitto_pub/sub, python) with a timeout.
 *
 * Threading: not thread-safe; call from the thread that runs the test (the
 * broker's parent-death signal is tied to that thread).
 *
 * Every broker lives in its own temp dir (config, log, persistence) and is
 * registered in a process-wide list, so mqt_cleanup_all() (called from a
 * Criterion .fini and from atexit) stops whatever a failed test left behind.
 * Child processes also get PR_SET_PDEATHSIG(SIGKILL), so a test process killed
 * by Criterion's timeout does not leave brokers running.
 */
#ifndef MQT_BROKER_H
#define MQT_BROKER_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

typedef struct mqt_broker mqt_broker;

typedef struct {
    int persistence;        /* 1: persistence true, db in the temp dir */
    int deny_anonymous;     /* 1: allow_anonymous false (else true) */
    const char *extra_conf; /* more config lines (may hold '\n'), or NULL */
    const char *acl;        /* ACL file content (acl_file in the dir), or
                               NULL for none */
} mqt_broker_opts;

/* Start a broker (opts may be NULL for the defaults). Picks a free port,
 * retries on bind races, waits until it accepts TCP connections. NULL on
 * failure (the reason and the broker log are printed to stderr). */
mqt_broker *mqt_broker_start(const mqt_broker_opts *opts);

int mqt_broker_port(const mqt_broker *b);
/* "mqtt://127.0.0.1:<port>" */
const char *mqt_broker_uri(const mqt_broker *b);
/* The private temp dir (owned by the broker's user). */
const char *mqt_broker_dir(const mqt_broker *b);
pid_t mqt_broker_pid(const mqt_broker *b);
int mqt_broker_running(mqt_broker *b);

/* SIGTERM, waitpid; SIGKILL after timeout_ms (<= 0: 5000). Keeps the dir
 * (and so the persistence db) for a restart. 0 on a clean exit. */
int mqt_broker_stop(mqt_broker *b, int timeout_ms);
/* kill -9 and reap: a crash, nothing saved since the last autosave. */
int mqt_broker_kill9(mqt_broker *b);
/* Start again on the same port with the same config and persistence.
 * Retries for a few seconds while the port is busy. 0 on success. */
int mqt_broker_restart(mqt_broker *b);
/* Stop (if running), remove the temp dir, free. NULL is a no-op. */
void mqt_broker_destroy(mqt_broker *b);

/* Wait until the broker log contains @p needle (e.g. "Received SUBSCRIBE
 * from subid"). 1 if found, 0 on timeout. The broker runs with
 * log_type all, so every packet is logged. */
int mqt_broker_wait_log(mqt_broker *b, const char *needle, int timeout_ms);
/* Count occurrences of @p needle in the log so far. */
int mqt_broker_log_count(mqt_broker *b, const char *needle);
/* Print the broker log (and its config) to @p out. */
void mqt_broker_dump_log(mqt_broker *b, FILE *out);

/* Stop and destroy every broker still registered, and kill spawned
 * processes still running. Safe to call more than once. */
void mqt_cleanup_all(void);
/* Dump the logs of all registered brokers to stderr (for failures). */
void mqt_dump_all_logs(void);

/* ---- external commands ---------------------------------------------- */

typedef struct mqt_proc mqt_proc;

/* Start argv[0] (a path or a name on PATH) with stdout and stderr going to
 * temp files; stdin is /dev/null. NULL on failure. */
mqt_proc *mqt_spawn(char *const argv[]);
/* Wait up to timeout_ms for the process; kill it (SIGKILL) on timeout.
 * Returns its exit status (0..255), 128+signal if killed by a signal, or -1
 * on timeout. If out is not NULL, *out gets its stdout (malloc'd,
 * NUL-terminated, may hold NULs; length in *out_len if not NULL). Frees p. */
int mqt_proc_finish(mqt_proc *p, int timeout_ms, char **out, size_t *out_len);
/* Stderr of a finished or running process, malloc'd; for messages. */
char *mqt_proc_stderr(mqt_proc *p);
pid_t mqt_proc_pid(const mqt_proc *p);

/* mqt_spawn + mqt_proc_finish. On a non-zero result its stderr is printed. */
int mqt_run(char *const argv[], int timeout_ms, char **out, size_t *out_len);

/* Monotonic milliseconds. */
long long mqt_now_ms(void);
void mqt_sleep_ms(int ms);

#endif /* MQT_BROKER_H */
