/*
 * tls_broker.c - throwaway certificates and a private mosquitto with a
 * plain, TLS or mutual-TLS listener, for the TLS transport tests.
 *
 * Threading: test thread only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tls_broker.h"

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* fork + exec argv with stdout/stderr to @p log (NULL: inherit). The child
 * dies with the test process. Returns the pid or -1. */
static pid_t
spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd;

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 0);
            close(fd);
        }
        if (log != NULL) {
            fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Wait for @p pid up to @p timeout_ms; SIGKILL after that. Exit status,
 * 128+signal, or -1. */
static int
reap(pid_t pid, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    int st;

    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);

        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0 && errno != EINTR)
            return -1;
        if (now_ms() >= end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        sleep_ms(10);
    }
}

static int
is_file(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Find certs.sh: see tls_broker.h. */
static int
find_certs_sh(char *out, size_t len)
{
    const char *env = getenv("MQ_TEST_CERTS_SH");
    char here[PATH_MAX], exe[PATH_MAX], *slash;
    const char *prefixes[4];
    ssize_t n;
    int i;

    if (env != NULL && is_file(env)) {
        snprintf(out, len, "%s", env);
        return 0;
    }
#ifdef MQT_CERTS_SH
    if (is_file(MQT_CERTS_SH)) {
        snprintf(out, len, "%s", MQT_CERTS_SH);
        return 0;
    }
#endif
    /* __FILE__ is absolute, or relative to the build root (meson/ninja). */
    snprintf(here, sizeof here, "%s", __FILE__);
    slash = strrchr(here, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        snprintf(here, sizeof here, ".");
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    slash = strrchr(exe, '/');
    if (slash != NULL)
        *slash = '\0';
    prefixes[0] = "";
    prefixes[1] = "/..";
    prefixes[2] = "/../..";
    prefixes[3] = "/../../..";
    if (snprintf(out, len, "%s/certs.sh", here) < (int)len && is_file(out))
        return 0;
    for (i = 0; here[0] != '/' && i < 4 && exe[0] != '\0'; i++) {
        if (snprintf(out, len, "%s%s/%s/certs.sh", exe, prefixes[i], here)
                < (int)len
            && is_file(out))
            return 0;
    }
    fprintf(stderr, "tls_broker: cannot find certs.sh (set MQ_TEST_CERTS_SH)\n");
    return -1;
}

static int
make_tmpdir(char *dir, size_t len, const char *tag)
{
    const char *base = getenv("TMPDIR");

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    snprintf(dir, len, "%s/libmq-%s.XXXXXX", base, tag);
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "tls_broker: mkdtemp %s: %s\n", dir, strerror(errno));
        return -1;
    }
    /* mosquitto started as root reads its files as user "mosquitto". */
    chmod(dir, 0755);
    return 0;
}

int
mqt_tls_make_certs(char *dir, size_t len)
{
    char script[PATH_MAX];
    pid_t pid;
    int rc;

    if (find_certs_sh(script, sizeof script) != 0)
        return -1;
    if (make_tmpdir(dir, len, "certs") != 0)
        return -1;
    {
        char *argv[] = { "/bin/sh", script, dir, NULL };

        pid = spawn(argv, NULL);
    }
    if (pid < 0)
        return -1;
    rc = reap(pid, 30000);
    if (rc != 0) {
        fprintf(stderr, "tls_broker: %s %s failed (%d)\n", script, dir, rc);
        return -1;
    }
    return 0;
}

void
mqt_tls_rmdir(const char *dir)
{
    char *argv[] = { "rm", "-rf", NULL, NULL };
    pid_t pid;

    if (dir == NULL || dir[0] == '\0')
        return;
    argv[2] = (char *)dir;
    pid = spawn(argv, NULL);
    if (pid > 0)
        reap(pid, 10000);
}

static const char *
mosquitto_path(void)
{
    const char *env = getenv("MQ_TEST_MOSQUITTO");

    if (env != NULL && env[0] != '\0')
        return env;
    if (access("/usr/sbin/mosquitto", X_OK) == 0)
        return "/usr/sbin/mosquitto";
    return "mosquitto";
}

int
mqt_tls_have_mosquitto(void)
{
    const char *p = mosquitto_path();
    const char *path;
    char buf[PATH_MAX];

    if (strchr(p, '/') != NULL)
        return access(p, X_OK) == 0;
    path = getenv("PATH");
    while (path != NULL && *path != '\0') {
        size_t n = strcspn(path, ":");

        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, p);
        if (access(buf, X_OK) == 0)
            return 1;
        path += n;
        if (*path == ':')
            path++;
    }
    return 0;
}

static int
free_port(void)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0
        && getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int
port_accepts(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

    if (fd < 0)
        return 0;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void
dump_file(const char *path)
{
    char buf[512];
    FILE *f = fopen(path, "r");

    if (f == NULL)
        return;
    fprintf(stderr, "---- %s\n", path);
    while (fgets(buf, sizeof buf, f) != NULL)
        fputs(buf, stderr);
    fclose(f);
}

static int
write_conf(const char *conf, int port, const char *certdir, const char *cert,
           mqt_tls_listener kind)
{
    FILE *f = fopen(conf, "w");

    if (f == NULL)
        return -1;
    fprintf(f, "listener %d 127.0.0.1\n", port);
    fprintf(f, "allow_anonymous true\n");
    fprintf(f, "persistence false\n");
    fprintf(f, "log_type all\n");
    if (kind != MQT_TLS_LISTENER_PLAIN) {
        fprintf(f, "cafile %s/ca.crt\n", certdir);
        fprintf(f, "certfile %s/%s.crt\n", certdir, cert);
        fprintf(f, "keyfile %s/%s.key\n", certdir, cert);
    }
    if (kind == MQT_TLS_LISTENER_MTLS)
        fprintf(f, "require_certificate true\n");
    return fclose(f) == 0 ? 0 : -1;
}

int
mqt_tls_broker_start(mqt_tls_broker *b, const char *certdir,
                     const char *cert, mqt_tls_listener kind)
{
    char conf[300], log[300];
    int attempt;

    memset(b, 0, sizeof *b);
    if (make_tmpdir(b->dir, sizeof b->dir, "broker") != 0)
        return -1;
    snprintf(conf, sizeof conf, "%s/mosquitto.conf", b->dir);
    snprintf(log, sizeof log, "%s/broker.log", b->dir);

    for (attempt = 0; attempt < 5; attempt++) {
        char *argv[] = { (char *)mosquitto_path(), "-c", conf, NULL };
        long long end;

        b->port = free_port();
        if (b->port <= 0)
            continue;
        if (write_conf(conf, b->port, certdir, cert ? cert : "server",
                       kind) != 0)
            break;
        b->pid = spawn(argv, log);
        if (b->pid < 0) {
            b->pid = 0;
            break;
        }
        end = now_ms() + 5000;
        while (now_ms() < end) {
            int st;

            if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
                b->pid = 0; /* exited: a bind race, or a config error */
                break;
            }
            if (port_accepts(b->port))
                return 0;
            sleep_ms(10);
        }
        if (b->pid > 0) {
            kill(b->pid, SIGKILL);
            reap(b->pid, 2000);
            b->pid = 0;
        }
    }
    fprintf(stderr, "tls_broker: mosquitto did not start\n");
    dump_file(conf);
    dump_file(log);
    mqt_tls_rmdir(b->dir);
    b->dir[0] = '\0';
    return -1;
}

void
mqt_tls_broker_stop(mqt_tls_broker *b)
{
    if (b == NULL)
        return;
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        reap(b->pid, 3000);
        b->pid = 0;
    }
    if (b->dir[0] != '\0') {
        mqt_tls_rmdir(b->dir);
        b->dir[0] = '\0';
    }
}
