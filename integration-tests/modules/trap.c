// Executes the `unreachable` instruction.
#include <stdio.h>

int main(void) {
    fflush(stdout);
    __builtin_trap();
}
