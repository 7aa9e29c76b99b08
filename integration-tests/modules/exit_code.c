// Exits with the integer given in argv[1] (0 when absent).
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int code = argc > 1 ? atoi(argv[1]) : 0;
    fflush(stdout);
    exit(code);
}
