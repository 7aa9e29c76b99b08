// Prints a greeting and exits 0.
#include <stdio.h>

int main(void) {
    printf("Hello from Wasm!\n");
    return 0;
}
