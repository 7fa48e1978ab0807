package ringattn.model;

import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Hugging Face Llama tensor names to llama.cpp's GGUF names. Stateless. */
final class GgufNames {
    private static final Map<String, String> TOP = Map.of(
            "model.embed_tokens.weight", "token_embd.weight",
            "model.norm.weight", "output_norm.weight",
            "lm_head.weight", "output.weight");
    private static final Map<String, String> LAYER = Map.of(
            "input_layernorm.weight", "attn_norm.weight",
            "self_attn.q_proj.weight", "attn_q.weight",
            "self_attn.k_proj.weight", "attn_k.weight",
            "self_attn.v_proj.weight", "attn_v.weight",
            "self_attn.o_proj.weight", "attn_output.weight",
            "post_attention_layernorm.weight", "ffn_norm.weight",
            "mlp.gate_proj.weight", "ffn_gate.weight",
            "mlp.up_proj.weight", "ffn_up.weight",
            "mlp.down_proj.weight", "ffn_down.weight");
    private static final Pattern LAYER_NAME = Pattern.compile("model\\.layers\\.(0|[1-9][0-9]{0,8})\\.(.+)");

    private GgufNames() {
    }

    /** The GGUF name of Hugging Face tensor {@code hf}, or null when it has none. */
    static String of(String hf) {
        String top = TOP.get(hf);
        if (top != null) {
            return top;
        }
        Matcher m = LAYER_NAME.matcher(hf);
        if (!m.matches() || !LAYER.containsKey(m.group(2))) {
            return null;
        }
        return "blk." + m.group(1) + "." + LAYER.get(m.group(2));
    }
}
