/* measure [-t SECONDS] RESULT-FILE COMMAND [ARG...]
 *
 * Runs COMMAND once (fork + execvp, stdio inherited) and writes
 * "WALL_NS MAXRSS_KIB STATUS TIMED_OUT" to RESULT-FILE, where WALL_NS is the
 * CLOCK_MONOTONIC time from just before fork to wait4's return, MAXRSS_KIB
 * is wait4's ru_maxrss for the child (the largest resident set of the child
 * and of every descendant it reaped: for `runtime run`, the container init
 * too), STATUS is the exit code (128+N for a signal) and TIMED_OUT is 1 when
 * COMMAND was killed (SIGKILL) after -t SECONDS.
 *
 * Why a C helper: the benchmark's driver is Python, and a process spawned
 * from Python (vfork/posix_spawn) inherits Python's own resident set into
 * its ru_maxrss at exec. Forked from this small process, the child starts
 * from ~1 MiB, so the peak it reports is its own. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t child_pid, timed_out;

static void on_alarm(int sig) {
    (void)sig;
    timed_out = 1;
    kill(child_pid, SIGKILL);
}

int main(int argc, char **argv) {
    unsigned timeout = 0;
    if (argc > 2 && strcmp(argv[1], "-t") == 0) {
        timeout = (unsigned)atoi(argv[2]);
        argv += 2;
        argc -= 2;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: measure [-t SECONDS] RESULT-FILE COMMAND [ARG...]\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("measure: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], &argv[2]);
        fprintf(stderr, "measure: exec %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    child_pid = pid;
    if (timeout) {
        signal(SIGALRM, on_alarm);
        alarm(timeout);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("measure: wait4");
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror("measure: result file");
        return 2;
    }
    fprintf(f, "%lld %ld %d %d\n", ns, ru.ru_maxrss, code, (int)timed_out);
    fclose(f);
    return 0;
}
