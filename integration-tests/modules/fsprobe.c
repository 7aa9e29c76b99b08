// fsprobe OP...: runs each filesystem operation given in argv and prints one
// line per operation, so a test can see what the module reached:
//   read:PATH        "read PATH: <content, newlines as \n>" or
//                    "read PATH: error <strerror>"
//   write:PATH=TEXT  "write PATH: ok" or "write PATH: error <strerror>"
//   list:PATH        "list PATH: NAME NAME ..." (sorted, without . and ..)
//                    or "list PATH: error <strerror>"
// An unknown operation prints "bad op: OP" and exits 2; otherwise it exits 0.
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void do_read(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("read %s: error %s\n", path, strerror(errno));
        return;
    }
    printf("read %s: ", path);
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') {
            fputs("\\n", stdout);
        } else {
            putchar(c);
        }
    }
    putchar('\n');
    fclose(f);
}

static void do_write(const char *arg) {
    char path[4096];
    const char *eq = strchr(arg, '=');
    if (!eq || (size_t)(eq - arg) >= sizeof path) {
        printf("write %s: error no =TEXT\n", arg);
        return;
    }
    memcpy(path, arg, eq - arg);
    path[eq - arg] = '\0';
    FILE *f = fopen(path, "w");
    if (!f) {
        printf("write %s: error %s\n", path, strerror(errno));
        return;
    }
    if (fputs(eq + 1, f) < 0 || fclose(f) != 0) {
        printf("write %s: error %s\n", path, strerror(errno));
        return;
    }
    printf("write %s: ok\n", path);
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void do_list(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        printf("list %s: error %s\n", path, strerror(errno));
        return;
    }
    char *names[1024];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 1024) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp);
    printf("list %s:", path);
    for (size_t i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    putchar('\n');
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *op = argv[i];
        if (strncmp(op, "read:", 5) == 0) {
            do_read(op + 5);
        } else if (strncmp(op, "write:", 6) == 0) {
            do_write(op + 6);
        } else if (strncmp(op, "list:", 5) == 0) {
            do_list(op + 5);
        } else {
            printf("bad op: %s\n", op);
            return 2;
        }
        fflush(stdout);
    }
    return 0;
}
