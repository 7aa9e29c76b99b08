// write_file PATH CONTENT: writes CONTENT to PATH (creating PATH's parent
// directory when missing), reads the file back and prints what it read.
// Exits 1 with a message on stderr on any failure.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: write_file PATH CONTENT\n");
        return 1;
    }
    const char *path = argv[1];
    const char *content = argv[2];

    char parent[4096];
    strncpy(parent, path, sizeof parent - 1);
    parent[sizeof parent - 1] = '\0';
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        if (mkdir(parent, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "error: mkdir %s: %s\n", parent, strerror(errno));
            return 1;
        }
    }

    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "error: open %s for writing: %s\n", path, strerror(errno));
        return 1;
    }
    if (fputs(content, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "error: write %s: %s\n", path, strerror(errno));
        return 1;
    }

    f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "error: open %s for reading: %s\n", path, strerror(errno));
        return 1;
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        fwrite(buf, 1, n, stdout);
    }
    fclose(f);
    return 0;
}
