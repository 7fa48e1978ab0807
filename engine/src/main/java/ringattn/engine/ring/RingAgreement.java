package ringattn.engine.ring;

import java.nio.charset.StandardCharsets;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.transport.RingTransport;

/**
 * The check that opens every pass: each rank checks its own arguments, then all ranks exchange
 * their parameters and any local error by an all-gather, and every rank fails with the same message
 * when one rank's arguments are wrong or the ranks disagree — a clear error everywhere, never a
 * hang. Borrows the transport; stateless otherwise; not thread-safe (collective calls).
 */
final class RingAgreement {
    private final RingTransport transport;
    private final RingOptions options;

    RingAgreement(RingTransport transport, RingOptions options) {
        this.transport = transport;
        this.options = options;
    }

    /**
     * Collective: the plan of a {@code pass} ("forward" or "backward") over this rank's shards
     * ({@code dOut} null in the forward).
     *
     * @throws IllegalArgumentException on every rank, naming the rank and argument, or the disagreement
     */
    RingPlan agree(String pass, Tensor q, Tensor k, Tensor v, Tensor dOut, int seqLen) {
        int world = transport.worldSize();
        String error = pass.equals("backward") && !options.backwardPasses()
                ? "backward: this ring was made for forward passes only (RingOptions.forwardOnly()); make it with the "
                  + "default options to run backward passes"
                : localError(q, k, v, dOut, seqLen);
        String params = error != null ? "" : "S=" + seqLen + " heads=" + q.heads() + " kvHeads=" + k.heads()
                + " headDim=" + q.headDim() + " dtype=" + q.dtype() + " " + options.spec() + " layout=" + options.layout()
                + " backwardPasses=" + options.backwardPasses() + " pass=" + pass;
        byte[][] all = transport.allGather(((error == null ? "ok" : "error") + "\n" + (error == null ? params : error))
                .getBytes(StandardCharsets.UTF_8), options.timeout());
        String mine = null;
        for (int r = 0; r < world; r++) {
            String[] parts = new String(all[r], StandardCharsets.UTF_8).split("\n", 2);
            if (parts[0].equals("error")) {
                throw new IllegalArgumentException("rank " + r + ": " + parts[1]);
            }
            if (mine == null) {
                mine = parts[1];
            } else if (!mine.equals(parts[1])) {
                throw new IllegalArgumentException("ranks disagree on the job: rank 0 has {" + mine + "}, rank " + r
                        + " has {" + parts[1] + "}");
            }
        }
        return new RingPlan(world, seqLen, options.layout(), options.spec());
    }

    private String localError(Tensor q, Tensor k, Tensor v, Tensor dOut, int seqLen) {
        try {
            if (q == null || k == null || v == null) {
                return (q == null ? "q" : k == null ? "k" : "v") + ": must not be null";
            }
            q.checkOpen("q");
            k.checkOpen("k");
            v.checkOpen("v");
            if (seqLen < 0) {
                return "seqLen: must be >= 0, got " + seqLen;
            }
            options.spec().checkSequenceLength(seqLen);
            int expected = options.layout().positions(transport.rank(), transport.worldSize(), seqLen).size();
            if (q.tokens() != expected) {
                return "q: " + q.tokens() + " tokens, but the " + options.layout().name().toLowerCase()
                        + " shard of rank " + transport.rank() + " for S=" + seqLen + " has " + expected;
            }
            if (k.tokens() != expected || v.tokens() != expected) {
                return (k.tokens() != expected ? "k" : "v") + ": " + (k.tokens() != expected ? k : v).tokens()
                        + " tokens, expected " + expected;
            }
            if (k.headDim() != q.headDim() || v.headDim() != q.headDim()) {
                return "k/v: headDim " + k.headDim() + "/" + v.headDim() + " differs from q's " + q.headDim();
            }
            if (v.heads() != k.heads()) {
                return "v: " + v.heads() + " heads, k has " + k.heads();
            }
            if (q.heads() % k.heads() != 0) {
                return "k: query heads " + q.heads() + " are not a multiple of K/V heads " + k.heads();
            }
            if (k.dtype() != q.dtype() || v.dtype() != q.dtype()) {
                return "k/v: dtype " + k.dtype() + "/" + v.dtype() + " differs from q's " + q.dtype();
            }
            if (dOut != null) {
                dOut.checkOpen("dOut");
                if (dOut.tokens() != q.tokens() || dOut.heads() != q.heads() || dOut.headDim() != q.headDim()) {
                    return "dOut: shape " + dOut.shapeString() + " differs from q " + q.shapeString();
                }
            }
            return null;
        } catch (RuntimeException e) {
            return e.getMessage();
        }
    }
}
