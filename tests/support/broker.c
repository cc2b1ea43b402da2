/*
 * broker.c - test harness: private mosquitto brokers and external commands.
 * Threading: not thread-safe; use from the test's main thread only.
 */
#include "broker.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MQT_MOSQUITTO
#define MQT_MOSQUITTO "/usr/sbin/mosquitto"
#endif

#define MQT_START_TRIES 10
#define MQT_READY_MS 5000

struct mqt_broker {
    int port;
    pid_t pid;              /* 0 when not running */
    int persistence;
    int deny_anonymous;
    char *extra_conf;
    char *acl;
    char dir[256];
    char conf_path[300];
    char log_path[300];
    char uri[64];
    long log_start;         /* log offset where the current run began */
    int run_uid;            /* -1: run as ourselves */
    int run_gid;
    mqt_broker *next;       /* registry */
};

struct mqt_proc {
    pid_t pid;
    int status;             /* valid when done */
    int done;
    char out_path[300];
    char err_path[300];
    mqt_proc *next;         /* registry */
};

static mqt_broker *g_brokers;
static mqt_proc *g_procs;
static int g_atexit_done;

/* ---- small utilities ------------------------------------------------ */

long long mqt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mqt_sleep_ms(int ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void warnf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("[mqt-harness] ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const char *tmp_base(void)
{
    const char *t = getenv("TMPDIR");
    return (t && *t) ? t : "/tmp";
}

/* Read a whole file; malloc'd, NUL-terminated. NULL if it cannot be read. */
static char *read_file(const char *path, long offset, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, len = 0;

    if (!f)
        return NULL;
    if (offset > 0 && fseek(f, offset, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    for (;;) {
        if (cap - len < 4097) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    if (out_len)
        *out_len = len;
    return buf;
}

static long file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    return (long)st.st_size;
}

static int free_port(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = -1;

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int tcp_probe(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok;

    if (fd < 0)
        return 0;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static void at_exit_cleanup(void)
{
    mqt_cleanup_all();
}

static void ensure_atexit(void)
{
    if (!g_atexit_done) {
        g_atexit_done = 1;
        atexit(at_exit_cleanup);
    }
}

/* Returns 1 if the child exited (and reaps it), 0 if still running. */
static int reap(pid_t pid, int *status)
{
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) {
        if (status)
            *status = st;
        return 1;
    }
    return 0;
}

static int wait_exit(pid_t pid, int timeout_ms, int *status)
{
    long long deadline = mqt_now_ms() + timeout_ms;
    for (;;) {
        if (reap(pid, status))
            return 1;
        if (mqt_now_ms() >= deadline)
            return 0;
        mqt_sleep_ms(10);
    }
}

/* ---- broker --------------------------------------------------------- */

static int write_conf(mqt_broker *b)
{
    FILE *f = fopen(b->conf_path, "w");
    if (!f)
        return -1;
    fprintf(f, "# generated by tests/support/broker.c\n");
    fprintf(f, "listener %d 127.0.0.1\n", b->port);
    fprintf(f, "allow_anonymous %s\n", b->deny_anonymous ? "false" : "true");
    fprintf(f, "log_dest stderr\n");
    fprintf(f, "log_type all\n");
    fprintf(f, "log_timestamp_format %%H:%%M:%%S\n");
    fprintf(f, "connection_messages true\n");
    if (b->persistence) {
        fprintf(f, "persistence true\n");
        fprintf(f, "persistence_location %s/\n", b->dir);
    } else {
        fprintf(f, "persistence false\n");
    }
    if (b->acl)
        fprintf(f, "acl_file %s/acl\n", b->dir);
    if (b->extra_conf)
        fprintf(f, "%s\n", b->extra_conf);
    if (fclose(f) != 0)
        return -1;
    chmod(b->conf_path, 0644);
    if (b->acl) {
        char path[300];
        snprintf(path, sizeof path, "%s/acl", b->dir);
        f = fopen(path, "w");
        if (!f)
            return -1;
        fprintf(f, "%s\n", b->acl);
        if (fclose(f) != 0)
            return -1;
        chmod(path, 0644);
    }
    return 0;
}

static int log_marker(mqt_broker *b, const char *what)
{
    FILE *f = fopen(b->log_path, "a");
    if (!f)
        return -1;
    fprintf(f, "=== [mqt-harness] %s broker on port %d ===\n", what, b->port);
    fclose(f);
    b->log_start = file_size(b->log_path);
    return 0;
}

/* fork+exec mosquitto. Only async-signal-safe calls in the child: the test
 * process may already run libmq threads. */
static int launch(mqt_broker *b)
{
    char *argv[4];
    pid_t parent = getpid();
    int logfd, nullfd;
    pid_t pid;

    logfd = open(b->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (logfd < 0)
        return -1;
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nullfd < 0) {
        close(logfd);
        return -1;
    }
    argv[0] = (char *)"mosquitto";
    argv[1] = (char *)"-c";
    argv[2] = b->conf_path;
    argv[3] = NULL;

    pid = fork();
    if (pid < 0) {
        close(logfd);
        close(nullfd);
        return -1;
    }
    if (pid == 0) {
        dup2(nullfd, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        if (b->run_uid >= 0) {
            /* Drop to the mosquitto user ourselves: mosquitto then has no
             * reason to change credentials, which would clear PDEATHSIG. */
            if (setgroups(0, NULL) != 0 || setgid((gid_t)b->run_gid) != 0 ||
                setuid((uid_t)b->run_uid) != 0)
                _exit(126);
        }
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        execv(MQT_MOSQUITTO, argv);
        _exit(127);
    }
    close(logfd);
    close(nullfd);
    b->pid = pid;
    return 0;
}

static int log_has_since_start(mqt_broker *b, const char *needle)
{
    char *s = read_file(b->log_path, b->log_start, NULL);
    int found = s && strstr(s, needle) != NULL;
    free(s);
    return found;
}

/* 0 when ready; -1 if the broker died (e.g. port taken) or timed out. */
static int wait_ready(mqt_broker *b)
{
    long long deadline = mqt_now_ms() + MQT_READY_MS;
    int status;

    while (mqt_now_ms() < deadline) {
        if (reap(b->pid, &status)) {
            b->pid = 0;
            return -1;
        }
        if (log_has_since_start(b, " running") && tcp_probe(b->port)) {
            /* Make sure it was ours that answered, not a broker of another
             * test that got the same port. */
            if (reap(b->pid, &status)) {
                b->pid = 0;
                return -1;
            }
            return 0;
        }
        mqt_sleep_ms(20);
    }
    warnf("broker on port %d not ready after %d ms", b->port, MQT_READY_MS);
    kill(b->pid, SIGKILL);
    wait_exit(b->pid, 2000, NULL);
    b->pid = 0;
    return -1;
}

static void registry_add(mqt_broker *b)
{
    b->next = g_brokers;
    g_brokers = b;
}

static void registry_remove(mqt_broker *b)
{
    mqt_broker **pp;
    for (pp = &g_brokers; *pp; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            return;
        }
    }
}

static void remove_dir(const char *dir);

/* Remove temp dirs left by test processes that died without cleanup
 * (Criterion timeout, crash): each dir holds "owner" with the pid of the
 * process that made it. */
static void sweep_stale_dirs(void)
{
    DIR *d = opendir(tmp_base());
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[512], *s;
        long pid;
        if (strncmp(e->d_name, "mqt-broker-", 11) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s/owner", tmp_base(), e->d_name);
        s = read_file(path, 0, NULL);
        if (!s)
            continue; /* being created, or not ours */
        pid = strtol(s, NULL, 10);
        free(s);
        if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
            snprintf(path, sizeof path, "%s/%s", tmp_base(), e->d_name);
            remove_dir(path);
        }
    }
    closedir(d);
}

mqt_broker *mqt_broker_start(const mqt_broker_opts *opts)
{
    mqt_broker *b;
    char tmpl[256];
    int tries;

    ensure_atexit();
    sweep_stale_dirs();
    b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->run_uid = -1;
    b->run_gid = -1;
    if (opts) {
        b->persistence = opts->persistence;
        b->deny_anonymous = opts->deny_anonymous;
        if (opts->extra_conf)
            b->extra_conf = strdup(opts->extra_conf);
        if (opts->acl)
            b->acl = strdup(opts->acl);
    }
    snprintf(tmpl, sizeof tmpl, "%s/mqt-broker-XXXXXX", tmp_base());
    if (!mkdtemp(tmpl)) {
        warnf("mkdtemp(%s): %s", tmpl, strerror(errno));
        free(b->extra_conf);
        free(b->acl);
        free(b);
        return NULL;
    }
    snprintf(b->dir, sizeof b->dir, "%s", tmpl);
    snprintf(b->conf_path, sizeof b->conf_path, "%s/mosquitto.conf", b->dir);
    snprintf(b->log_path, sizeof b->log_path, "%s/broker.log", b->dir);
    {
        char owner[300];
        FILE *f;
        snprintf(owner, sizeof owner, "%s/owner", b->dir);
        f = fopen(owner, "w");
        if (f) {
            fprintf(f, "%d\n", (int)getpid());
            fclose(f);
        }
    }

    if (geteuid() == 0) {
        /* mosquitto refuses to stay root; run it as `mosquitto` and give
         * that user the dir (persistence db) and the log file. */
        struct passwd *pw = getpwnam("mosquitto");
        if (pw) {
            b->run_uid = (int)pw->pw_uid;
            b->run_gid = (int)pw->pw_gid;
            if (chown(b->dir, pw->pw_uid, pw->pw_gid) != 0)
                warnf("chown %s: %s", b->dir, strerror(errno));
        }
    }
    chmod(b->dir, 0755);
    registry_add(b);

    for (tries = 0; tries < MQT_START_TRIES; tries++) {
        b->port = free_port();
        if (b->port <= 0)
            continue;
        snprintf(b->uri, sizeof b->uri, "mqtt://127.0.0.1:%d", b->port);
        if (write_conf(b) != 0 || log_marker(b, "starting") != 0) {
            warnf("cannot write config/log in %s: %s", b->dir,
                  strerror(errno));
            break;
        }
        if (launch(b) != 0) {
            warnf("fork: %s", strerror(errno));
            break;
        }
        if (wait_ready(b) == 0)
            return b;
        warnf("broker start on port %d failed (try %d), retrying", b->port,
              tries + 1);
    }
    warnf("could not start mosquitto (%s)", MQT_MOSQUITTO);
    mqt_broker_dump_log(b, stderr);
    mqt_broker_destroy(b);
    return NULL;
}

int mqt_broker_port(const mqt_broker *b)
{
    return b ? b->port : -1;
}

const char *mqt_broker_uri(const mqt_broker *b)
{
    return b ? b->uri : "";
}

const char *mqt_broker_dir(const mqt_broker *b)
{
    return b ? b->dir : "";
}

pid_t mqt_broker_pid(const mqt_broker *b)
{
    return b ? b->pid : 0;
}

int mqt_broker_running(mqt_broker *b)
{
    if (!b || b->pid <= 0)
        return 0;
    if (reap(b->pid, NULL)) {
        b->pid = 0;
        return 0;
    }
    return 1;
}

int mqt_broker_stop(mqt_broker *b, int timeout_ms)
{
    int status = 0;

    if (!b || b->pid <= 0)
        return 0;
    if (timeout_ms <= 0)
        timeout_ms = 5000;
    kill(b->pid, SIGTERM);
    if (!wait_exit(b->pid, timeout_ms, &status)) {
        warnf("broker pid %d ignored SIGTERM for %d ms; SIGKILL",
              (int)b->pid, timeout_ms);
        kill(b->pid, SIGKILL);
        wait_exit(b->pid, 5000, &status);
        b->pid = 0;
        return -1;
    }
    b->pid = 0;
    log_marker(b, "stopped");
    return (WIFEXITED(status) && WEXITSTATUS(status) == 0) ? 0 : -1;
}

int mqt_broker_kill9(mqt_broker *b)
{
    if (!b || b->pid <= 0)
        return -1;
    kill(b->pid, SIGKILL);
    wait_exit(b->pid, 5000, NULL);
    b->pid = 0;
    log_marker(b, "killed (SIGKILL)");
    return 0;
}

int mqt_broker_restart(mqt_broker *b)
{
    long long deadline;

    if (!b)
        return -1;
    if (b->pid > 0)
        mqt_broker_stop(b, 5000);
    deadline = mqt_now_ms() + 10000;
    do {
        if (log_marker(b, "restarting") != 0 || launch(b) != 0)
            return -1;
        if (wait_ready(b) == 0)
            return 0;
        mqt_sleep_ms(200); /* port busy (TIME_WAIT, or taken): try again */
    } while (mqt_now_ms() < deadline);
    warnf("could not restart the broker on port %d", b->port);
    mqt_broker_dump_log(b, stderr);
    return -1;
}

static void remove_dir(const char *dir)
{
    /* The dir is flat: conf, log, mosquitto.db (+ tmp files). */
    static const char *const names[] = {"mosquitto.conf", "broker.log",
                                        "mosquitto.db", "mosquitto.db.new",
                                        "acl", "owner",
                                        NULL};
    char path[512];
    for (int i = 0; names[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    if (rmdir(dir) != 0)
        warnf("could not remove %s: %s", dir, strerror(errno));
}

void mqt_broker_destroy(mqt_broker *b)
{
    if (!b)
        return;
    if (b->pid > 0)
        mqt_broker_stop(b, 3000);
    registry_remove(b);
    if (getenv("MQT_KEEP_DIRS"))
        warnf("keeping %s", b->dir);
    else
        remove_dir(b->dir);
    free(b->extra_conf);
    free(b->acl);
    free(b);
}

int mqt_broker_wait_log(mqt_broker *b, const char *needle, int timeout_ms)
{
    long long deadline = mqt_now_ms() + timeout_ms;
    for (;;) {
        char *s = read_file(b->log_path, 0, NULL);
        int found = s && strstr(s, needle) != NULL;
        free(s);
        if (found)
            return 1;
        if (mqt_now_ms() >= deadline)
            return 0;
        mqt_sleep_ms(10);
    }
}

int mqt_broker_log_count(mqt_broker *b, const char *needle)
{
    char *s = read_file(b->log_path, 0, NULL);
    int n = 0;
    size_t nl = strlen(needle);
    if (s && nl) {
        for (char *p = strstr(s, needle); p; p = strstr(p + nl, needle))
            n++;
    }
    free(s);
    return n;
}

void mqt_broker_dump_log(mqt_broker *b, FILE *out)
{
    char *s;
    if (!b)
        return;
    s = read_file(b->conf_path, 0, NULL);
    fprintf(out, "----- broker port %d, dir %s: config -----\n%s", b->port,
            b->dir, s ? s : "(none)\n");
    free(s);
    s = read_file(b->log_path, 0, NULL);
    fprintf(out, "----- broker port %d: log -----\n%s", b->port,
            s ? s : "(none)\n");
    fprintf(out, "----- end of broker log (port %d) -----\n", b->port);
    free(s);
    fflush(out);
}

void mqt_dump_all_logs(void)
{
    for (mqt_broker *b = g_brokers; b; b = b->next)
        mqt_broker_dump_log(b, stderr);
}

/* ---- external commands --------------------------------------------- */

static void proc_unregister(mqt_proc *p)
{
    mqt_proc **pp;
    for (pp = &g_procs; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

static void proc_free(mqt_proc *p)
{
    proc_unregister(p);
    unlink(p->out_path);
    unlink(p->err_path);
    free(p);
}

mqt_proc *mqt_spawn(char *const argv[])
{
    mqt_proc *p;
    int outfd, errfd, nullfd;
    pid_t parent = getpid();
    pid_t pid;

    ensure_atexit();
    p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    snprintf(p->out_path, sizeof p->out_path, "%s/mqt-out-XXXXXX",
             tmp_base());
    snprintf(p->err_path, sizeof p->err_path, "%s/mqt-err-XXXXXX",
             tmp_base());
    outfd = mkstemp(p->out_path);
    errfd = mkstemp(p->err_path);
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (outfd < 0 || errfd < 0 || nullfd < 0)
        goto fail;
    pid = fork();
    if (pid < 0)
        goto fail;
    if (pid == 0) {
        dup2(nullfd, 0);
        dup2(outfd, 1);
        dup2(errfd, 2);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(outfd);
    close(errfd);
    close(nullfd);
    p->pid = pid;
    p->next = g_procs;
    g_procs = p;
    return p;

fail:
    warnf("spawn %s: %s", argv[0], strerror(errno));
    if (outfd >= 0) {
        close(outfd);
        unlink(p->out_path);
    }
    if (errfd >= 0) {
        close(errfd);
        unlink(p->err_path);
    }
    if (nullfd >= 0)
        close(nullfd);
    free(p);
    return NULL;
}

pid_t mqt_proc_pid(const mqt_proc *p)
{
    return p ? p->pid : 0;
}

char *mqt_proc_stderr(mqt_proc *p)
{
    return p ? read_file(p->err_path, 0, NULL) : NULL;
}

int mqt_proc_finish(mqt_proc *p, int timeout_ms, char **out, size_t *out_len)
{
    int status = 0, rc;

    if (out)
        *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!p)
        return -1;
    if (wait_exit(p->pid, timeout_ms, &status)) {
        if (WIFEXITED(status))
            rc = WEXITSTATUS(status);
        else if (WIFSIGNALED(status))
            rc = 128 + WTERMSIG(status);
        else
            rc = -1;
    } else {
        kill(p->pid, SIGKILL);
        wait_exit(p->pid, 5000, NULL);
        rc = -1;
    }
    if (out)
        *out = read_file(p->out_path, 0, out_len);
    proc_free(p);
    return rc;
}

int mqt_run(char *const argv[], int timeout_ms, char **out, size_t *out_len)
{
    mqt_proc *p = mqt_spawn(argv);
    char *err;
    int status = 0, rc;

    if (out)
        *out = NULL;
    if (!p)
        return -1;
    /* Like mqt_proc_finish, but print stderr when it failed. */
    if (wait_exit(p->pid, timeout_ms, &status))
        rc = WIFEXITED(status) ? WEXITSTATUS(status)
                               : 128 + WTERMSIG(status);
    else {
        kill(p->pid, SIGKILL);
        wait_exit(p->pid, 5000, NULL);
        rc = -1;
    }
    if (rc != 0) {
        err = mqt_proc_stderr(p);
        warnf("command %s %s (status %d); stderr:\n%s", argv[0],
              rc < 0 ? "timed out" : "failed", rc, err ? err : "");
        free(err);
    }
    if (out)
        *out = read_file(p->out_path, 0, out_len);
    proc_free(p);
    return rc;
}

void mqt_cleanup_all(void)
{
    while (g_procs) {
        mqt_proc *p = g_procs;
        kill(p->pid, SIGKILL);
        wait_exit(p->pid, 2000, NULL);
        proc_free(p);
    }
    while (g_brokers)
        mqt_broker_destroy(g_brokers);
}
