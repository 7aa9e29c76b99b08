// memhog [MAX_MIB]: mallocs 1 MiB chunks, writing to every 4 KiB page of
// each (volatile stores, so neither the allocation nor the writes can be
// optimised away), up to MAX_MIB MiB (default 256). Prints
// "allocated N MiB" and exits 0 when it got them all; prints
// "malloc failed after N MiB" and exits 12 as soon as malloc returns NULL
// (linear memory could not grow).
#include <stdio.h>
#include <stdlib.h>

#define CHUNK (1024 * 1024)
#define PAGE 4096

// The chunks stay reachable: the allocations cannot be elided.
static char *volatile chunks[4096];

int main(int argc, char **argv) {
    int max = argc > 1 ? atoi(argv[1]) : 256;
    if (max > 4096) {
        max = 4096;
    }
    for (int n = 0; n < max; n++) {
        char *p = malloc(CHUNK);
        if (p == NULL) {
            printf("malloc failed after %d MiB\n", n);
            fflush(stdout);
            return 12;
        }
        volatile char *v = p;
        for (int off = 0; off < CHUNK; off += PAGE) {
            v[off] = (char)(n + off);
        }
        v[CHUNK - 1] = (char)n;
        chunks[n] = p;
    }
    printf("allocated %d MiB\n", max);
    fflush(stdout);
    return 0;
}
