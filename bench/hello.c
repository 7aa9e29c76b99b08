/* The benchmark's hello module: one line of output, exit 0. Built with
 * clang --target=wasm32-wasi -O2 and run both in a runwasm container and
 * by the bare `wasmedge` CLI (the VM floor). */
#include <stdio.h>

int main(void) {
    printf("Hello from Wasm!\n");
    return 0;
}
