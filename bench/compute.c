/* A compute-bound kernel for the benchmark: the same C runs natively
 * (gcc -O2) and as a WASI module (clang --target=wasm32-wasi -O2).
 *
 * Two nested-loop kernels, both with loop-carried dependences so that
 * neither compiler can vectorize them away, and a checksum printed at the
 * end so that nothing is optimized out:
 *   1. escape-time iteration over an N/12 x N/12 grid (double arithmetic,
 *      data-dependent branches, no memory traffic);
 *   2. longest-common-subsequence dynamic programming over two
 *      pseudo-random sequences of length N (integer work, loads and stores
 *      into two rows of N+1 ints, unpredictable branches).
 * Work grows as N^2.  Usage: compute [N]   (default N = 26000). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint32_t rng_state = 12345u;
static uint32_t next_rand(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static uint64_t escape_time(int side, int max_iter) {
    uint64_t total = 0;
    for (int py = 0; py < side; py++) {
        double ci = -1.25 + 2.5 * py / side;
        for (int px = 0; px < side; px++) {
            double cr = -2.0 + 2.6 * px / side;
            double zr = 0.0, zi = 0.0;
            int it = 0;
            while (it < max_iter && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2.0 * zr * zi + ci;
                zr = t;
                it++;
            }
            total = total * 31 + (uint64_t)it;
        }
    }
    return total;
}

static uint64_t lcs(int n) {
    unsigned char *a = malloc((size_t)n), *b = malloc((size_t)n);
    int *prev = calloc((size_t)n + 1, sizeof *prev);
    int *cur = calloc((size_t)n + 1, sizeof *cur);
    if (!a || !b || !prev || !cur) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (int i = 0; i < n; i++) {
        a[i] = (unsigned char)(next_rand() % 4);
        b[i] = (unsigned char)(next_rand() % 4);
    }
    for (int i = 1; i <= n; i++) {
        unsigned char ai = a[i - 1];
        for (int j = 1; j <= n; j++) {
            int v;
            if (ai == b[j - 1])
                v = prev[j - 1] + 1;
            else
                v = prev[j] > cur[j - 1] ? prev[j] : cur[j - 1];
            cur[j] = v;
        }
        int *t = prev;
        prev = cur;
        cur = t;
    }
    uint64_t r = (uint64_t)prev[n];
    free(a);
    free(b);
    free(prev);
    free(cur);
    return r;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 26000;
    if (n < 12) {
        fprintf(stderr, "usage: compute [N >= 12]\n");
        return 2;
    }
    uint64_t e = escape_time(n / 12, 200);
    uint64_t l = lcs(n);
    printf("compute n=%d escape=%llu lcs=%llu\n", n, (unsigned long long)e,
           (unsigned long long)l);
    return 0;
}
