// llama.cpp's decode beside ringattn's, for bench/decode.sh: loads the GGUF, prefills a prompt token
// file in chunks of UBATCH tokens (logits of the last position only), picks the first token greedily,
// then runs N-1 single-token decode steps (greedy, every generated token fed back, end-of-text
// ignored, as ringattn's bench does). F32 K/V cache, flash attention off, n_ctx = prompt + N, the given
// thread count for prefill and decode. A warm-up (a 32-token prefill and one decode step, then the
// cache cleared) comes first, as the JIT warm-up does on the Java side.
// Prints one JSON line: prompt and context sizes, threads, prefill_s, first_token_s (prefill + the
// first pick), decode_s (the N-1 steps), decode_tok_s = (N-1) / decode_s, and the generated ids.
// usage: llama_decode MODEL.gguf PROMPT.npy (int64 [C]) N THREADS [UBATCH=512]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "llama.h"
#include "../cold-start/npy_tokens.h"

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static void quiet(enum ggml_log_level level, const char *text, void *user) {
    (void) user;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static int positive(const char *name, const char *text) {
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == 0 || *end != 0 || v < 1 || v > 1 << 24) {
        fprintf(stderr, "error: %s: expected a positive integer, got '%s'\n", name, text);
        exit(2);
    }
    return (int) v;
}

static int argmax(const float *logits, int vocab) {
    int best = 0;
    for (int i = 1; i < vocab; i++) if (logits[i] > logits[best]) best = i;
    return best;
}

// Feeds tokens[0..n) at positions first.. in chunks of ubatch; only the last position's logits are kept.
static int prefill(struct llama_context *ctx, struct llama_batch *batch, const llama_token *tokens, int n, int first, int ubatch) {
    for (int at = 0; at < n; at += ubatch) {
        int m = n - at < ubatch ? n - at : ubatch;
        for (int i = 0; i < m; i++) {
            batch->token[i] = tokens[at + i]; batch->pos[i] = first + at + i;
            batch->n_seq_id[i] = 1; batch->seq_id[i][0] = 0; batch->logits[i] = at + i == n - 1;
        }
        batch->n_tokens = m;
        if (llama_decode(ctx, *batch) != 0) return -1;
    }
    return 0;
}

static int step(struct llama_context *ctx, struct llama_batch *batch, llama_token token, int pos) {
    batch->token[0] = token; batch->pos[0] = pos; batch->n_seq_id[0] = 1; batch->seq_id[0][0] = 0; batch->logits[0] = 1;
    batch->n_tokens = 1;
    return llama_decode(ctx, *batch);
}

int main(int argc, char **argv) {
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: %s MODEL.gguf PROMPT.npy N THREADS [UBATCH=512]\n", argv[0]);
        return 2;
    }
    int n_new = positive("N", argv[3]);
    int threads = positive("THREADS", argv[4]);
    int ubatch = argc == 6 ? positive("UBATCH", argv[5]) : 512;
    llama_log_set(quiet, NULL);
    ggml_backend_load_all_from_path(getenv("LLAMA_LIB_DIR"));
    llama_backend_init();
    llama_token *prompt;
    int n = read_tokens(argv[2], &prompt);
    if (n <= 0) { fprintf(stderr, "error: PROMPT.npy: cannot read int64 tokens from %s\n", argv[2]); return 2; }
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "error: MODEL.gguf: cannot load %s\n", argv[1]); return 2; }
    int vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    for (int i = 0; i < n; i++) {
        if (prompt[i] < 0 || prompt[i] >= vocab) { fprintf(stderr, "error: PROMPT.npy: token %d at %d outside [0, %d)\n", prompt[i], i, vocab); return 2; }
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) (n + n_new);
    cp.n_batch = (uint32_t) ubatch; cp.n_ubatch = (uint32_t) ubatch; cp.n_seq_max = 1;
    cp.n_threads = threads; cp.n_threads_batch = threads;
    cp.type_k = GGML_TYPE_F32; cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "error: cannot create a context of %d tokens (ubatch %d)\n", n + n_new, ubatch); return 1; }
    if (llama_n_ctx(ctx) < (uint32_t) (n + n_new)) { fprintf(stderr, "error: context holds %u tokens, need %d\n", llama_n_ctx(ctx), n + n_new); return 1; }
    struct llama_batch batch = llama_batch_init(ubatch, 0, 1);

    int warm = n < 32 ? n : 32;
    if (prefill(ctx, &batch, prompt, warm, 0, ubatch) != 0 || step(ctx, &batch, prompt[0], warm) != 0) {
        fprintf(stderr, "error: llama_decode failed in the warm-up\n"); return 1;
    }
    llama_memory_clear(llama_get_memory(ctx), true);

    llama_token *out = malloc(sizeof(llama_token) * n_new);
    double t0 = now();
    if (prefill(ctx, &batch, prompt, n, 0, ubatch) != 0) { fprintf(stderr, "error: llama_decode failed in the prefill\n"); return 1; }
    const float *logits = llama_get_logits_ith(ctx, -1);
    double t1 = now();
    out[0] = argmax(logits, vocab);
    double t2 = now();
    for (int i = 1; i < n_new; i++) {
        if (step(ctx, &batch, out[i - 1], n + i - 1) != 0) { fprintf(stderr, "error: llama_decode failed at step %d\n", i); return 1; }
        out[i] = argmax(llama_get_logits_ith(ctx, -1), vocab);
    }
    double t3 = now();
    printf("{\"prompt_tokens\": %d, \"n_ctx\": %u, \"threads\": %d, \"ubatch\": %d, \"prefill_s\": %.6f, \"first_token_s\": %.6f, "
           "\"decode_s\": %.6f, \"steps\": %d, \"decode_tok_s\": %.3f, \"tokens\": [",
           n, llama_n_ctx(ctx), threads, ubatch, t1 - t0, t2 - t0, t3 - t2, n_new - 1, n_new > 1 ? (n_new - 1) / (t3 - t2) : 0.0);
    for (int i = 0; i < n_new; i++) printf(i ? ", %d" : "%d", out[i]);
    printf("]}\n");
    free(out);
    free(prompt);
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
