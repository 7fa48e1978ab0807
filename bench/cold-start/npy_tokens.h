// Reads a 1-D int64 .npy token file (little-endian, C order) into llama_token ids, for the llama.cpp
// drivers of bench/. Returns the count (> 0) and a malloc'ed array in *out, or -1 on any error.
#ifndef RINGATTN_NPY_TOKENS_H
#define RINGATTN_NPY_TOKENS_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"

static int read_tokens(const char *path, llama_token **out) { // .npy int64 1-D, little-endian, C order
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char pre[10];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) { fclose(f); return -1; }
    size_t hlen = pre[6] == 1 ? (size_t) (pre[8] | pre[9] << 8) : 0;
    if (pre[6] != 1) { unsigned char b[2]; if (fread(b, 1, 2, f) != 2) { fclose(f); return -1; } hlen = pre[8] | pre[9] << 8 | b[0] << 16 | b[1] << 24; }
    char *h = malloc(hlen + 1);
    if (!h || fread(h, 1, hlen, f) != hlen) { free(h); fclose(f); return -1; }
    h[hlen] = 0;
    if (!strstr(h, "<i8")) { fprintf(stderr, "error: %s: expected int64 tokens\n", path); free(h); fclose(f); return -1; }
    char *s = strstr(h, "'shape': (");
    int n = s ? atoi(s + 10) : -1;
    free(h);
    if (n <= 0) { fclose(f); return -1; }
    long long *v = malloc(sizeof(long long) * n);
    if (!v || fread(v, sizeof(long long), n, f) != (size_t) n) { free(v); fclose(f); return -1; }
    fclose(f);
    *out = malloc(sizeof(llama_token) * n);
    for (int i = 0; i < n; i++) (*out)[i] = (llama_token) v[i];
    free(v);
    return n;
}

#endif
