// deep_recursion [N]: recurses N levels deep (unbounded without N), each
// frame keeping 1 KiB on the C stack, which lives in linear memory: without
// a bound the stack pointer runs below 0 and the module traps with an out
// of bounds memory access. Prints "recursing", then, if it ever returns,
// "depth N".
#include <stdio.h>
#include <stdlib.h>

static unsigned long limit = ~0UL;

__attribute__((noinline)) static unsigned long dive(volatile char *up, unsigned long n) {
    volatile char frame[1024];
    frame[0] = (char)n;
    frame[sizeof frame - 1] = up ? up[0] : 0;
    if (n >= limit) {
        return n;
    }
    return dive(frame, n + 1) + (frame[sizeof frame - 1] & 0);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        limit = strtoul(argv[1], NULL, 10);
    }
    printf("recursing\n");
    fflush(stdout);
    printf("depth %lu\n", dive(NULL, 0));
    return 0;
}
