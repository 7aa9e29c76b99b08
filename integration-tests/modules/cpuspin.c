// cpuspin MILLIS: prints "spinning", then burns CPU until MILLIS
// milliseconds of wall time (CLOCK_MONOTONIC) have passed, prints
// "spun N iterations" and exits 0. Without an argument it spins 1500 ms.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
    long long millis = argc > 1 ? atoll(argv[1]) : 1500;
    printf("spinning\n");
    fflush(stdout);
    long long end = now_ms() + millis;
    volatile unsigned long iterations = 0;
    while (now_ms() < end) {
        // Some pure computation between clock reads.
        for (int i = 0; i < 1000; i++) {
            iterations++;
        }
    }
    printf("spun %lu iterations\n", (unsigned long)iterations);
    fflush(stdout);
    return 0;
}
