// sleep SECONDS: prints "sleeping", sleeps (blocked in the host's
// poll_oneoff) for SECONDS seconds, then prints "awake" and exits 0.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    int secs = argc > 1 ? atoi(argv[1]) : 1;
    printf("sleeping\n");
    fflush(stdout);
    struct timespec ts = {.tv_sec = secs, .tv_nsec = 0};
    while (nanosleep(&ts, &ts) != 0) {
    }
    printf("awake\n");
    return 0;
}
