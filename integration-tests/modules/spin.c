// Prints "spinning", then loops forever without making any system call:
// only a signal delivered by the runtime can end it.
#include <stdio.h>

int main(void) {
    printf("spinning\n");
    fflush(stdout);
    volatile unsigned long counter = 0;
    for (;;) {
        counter++;
    }
}
