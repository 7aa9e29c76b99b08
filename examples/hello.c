/* The demo module: greets, shows what WASI gave it (argv, env, the container's
 * root preopened as "/"), and exits with the code in argv[1] (default 0). */
#include <stdio.h>
#include <stdlib.h>

extern char **environ;

int main(int argc, char **argv) {
    printf("Hello from Wasm!\n");
    for (int i = 0; i < argc; i++)
        printf("  argv[%d] = %s\n", i, argv[i]);
    for (char **e = environ; *e; e++)
        printf("  env: %s\n", *e);
    FILE *f = fopen("/etc/motd", "r");
    char line[128];
    if (f && fgets(line, sizeof line, f))
        printf("  /etc/motd in the container: %s", line);
    if (f)
        fclose(f);
    return argc > 1 ? atoi(argv[1]) : 0;
}
