// One batched prefill of a token file with llama.cpp, for bench/cold-start.sh: loads the GGUF, decodes
// all tokens in one batch (logits of every position, F32 K/V cache, flash attention off, 1 thread),
// prints "load_s=.. prefill_s=.." on stdout. The whole process's wall time is measured outside.
// usage: llama_prefill MODEL.gguf TOKENS.npy (int64 [n])
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "llama.h"
#include "npy_tokens.h"

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

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
