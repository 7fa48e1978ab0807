package ringattn.model.linalg;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Little-endian element layouts shared by the model's kernels (alignment-free). */
public final class Layouts {
    public static final ValueLayout.OfFloat F32_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfShort BF16_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Layouts() {
    }
}
