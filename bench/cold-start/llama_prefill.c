// One batched prefill of a token file with llama.cpp, for bench/cold-start.sh: loads the GGUF, decodes
// all tokens in one batch (logits of every position, F32 K/V cache, flash attention off, 1 thread),
// prints "load_s=.. prefill_s=.." on stdout. The whole process's wall time is measured outside.
// usage: llama_prefill MODEL.gguf TOKENS.npy (int64 [n])
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "llama.h"

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static int read_tokens(const char *path, llama_token **out) { // .npy int64 1-D, little-endian, C order
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char pre[10];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) { fclose(f); return -1; }
    size_t hlen = pre[6] == 1 ? (size_t) (pre[8] | pre[9] << 8) : 0;
    if (pre[6] != 1) { unsigned char b[2]; if (fread(b, 1, 2, f) != 2) { fclose(f); return -1; } hlen = pre[8] | pre[9] << 8 | b[0] << 16 | b[1] << 24; }
    char *h = malloc(hlen + 1);
    if (fread(h, 1, hlen, f) != hlen) { fclose(f); return -1; }
    h[hlen] = 0;
    if (!strstr(h, "<i8")) { fprintf(stderr, "error: %s: expected int64 tokens\n", path); fclose(f); return -1; }
    char *s = strstr(h, "'shape': (");
    int n = s ? atoi(s + 10) : -1;
    free(h);
    if (n <= 0) { fclose(f); return -1; }
    long long *v = malloc(sizeof(long long) * n);
    if (fread(v, sizeof(long long), n, f) != (size_t) n) { fclose(f); return -1; }
    fclose(f);
    *out = malloc(sizeof(llama_token) * n);
    for (int i = 0; i < n; i++) (*out)[i] = (llama_token) v[i];
    free(v);
    return n;
}

static void quiet(enum ggml_log_level level, const char *text, void *user) { (void) level; (void) text; (void) user; }

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s MODEL.gguf TOKENS.npy\n", argv[0]); return 2; }
    double t0 = now();
    llama_log_set(quiet, NULL);
    ggml_backend_load_all_from_path(getenv("LLAMA_LIB_DIR"));
    llama_backend_init();
    llama_token *tokens;
    int n = read_tokens(argv[2], &tokens);
    if (n <= 0) { fprintf(stderr, "error: %s: cannot read tokens\n", argv[2]); return 2; }
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "error: %s: cannot load model\n", argv[1]); return 2; }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n; cp.n_batch = n; cp.n_ubatch = n; cp.n_threads = 1; cp.n_threads_batch = 1;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "error: cannot create a context\n"); return 2; }
    struct llama_batch batch = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        batch.token[i] = tokens[i]; batch.pos[i] = i; batch.n_seq_id[i] = 1; batch.seq_id[i][0] = 0; batch.logits[i] = 1;
    }
    batch.n_tokens = n;
    double t1 = now();
    if (llama_decode(ctx, batch) != 0) { fprintf(stderr, "error: llama_decode failed\n"); return 1; }
    const float *logits = llama_get_logits(ctx);
    double t2 = now();
    printf("load_s=%.4f prefill_s=%.4f logit0=%.4f\n", t1 - t0, t2 - t1, logits[0]);
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
