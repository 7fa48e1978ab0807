package ringattn.engine.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TensorTest {
    @Test
    void allocationIsAlignedZeroedAndSized() {
        try (Tensor t = Tensor.allocate(7, 3, 5, DType.F32)) {
            assertEquals(0, t.segment().address() % Tensor.ALIGNMENT_BYTES, "64-byte aligned");
            assertEquals(7L * 3 * 5 * 4, t.segment().byteSize());
            for (long i = 0; i < t.elementCount(); i++) {
                assertEquals(0f, t.getFlat(i));
            }
        }
    }

    @Test
    void viewsShareMemoryWithoutCopying() {
        try (Tensor t = Tensor.allocate(10, 2, 4, DType.BF16)) {
            Tensor view = t.tokens(3, 4);
            view.set(1, 1, 2, 1.5f);
            assertEquals(1.5f, t.get(4, 1, 2), "write through the view lands in the owner");
            assertEquals(t.segment().address() + 3 * t.tokenStrideBytes(), view.segment().address());
            view.close(); // a view owns nothing
            assertTrue(t.isOpen());
        }
    }

    @Test
    void closedTensorIsRefusedWithItsName() {
        Tensor t = Tensor.allocate(2, 1, 2, DType.F32);
        Tensor view = t.tokens(0, 1);
        t.close();
        assertFalse(t.isOpen());
        assertFalse(view.isOpen(), "views die with their owner");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> view.checkOpen("k"));
        assertTrue(e.getMessage().startsWith("k:"), e.getMessage());
        t.close(); // idempotent
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals(1.0f, DType.BF16.round(1.0f + 0x1p-9f), "below half an ulp rounds down");
        assertEquals(1.0f + 0x1p-7f, DType.BF16.round(1.0f + 0x1p-7f + 0x1p-9f + 0x1p-12f), "above half rounds up");
        assertEquals(1.0f, DType.BF16.round(1.0f + 0x1p-8f), "tie to even (down)");
        assertEquals(1.0f + 0x1p-6f, DType.BF16.round(1.0f + 0x1p-7f + 0x1p-8f), "tie to even (up)");
        assertTrue(Float.isNaN(DType.BF16.round(Float.NaN)));
        assertEquals(Float.POSITIVE_INFINITY, DType.BF16.round(Float.POSITIVE_INFINITY));
    }

    @Test
    void badShapesNameTheArgument() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(-1, 1, 1, DType.F32))
                .getMessage().startsWith("tokens:"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(1, 0, 1, DType.F32))
                .getMessage().startsWith("heads:"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(1, 1, 0, DType.F32))
                .getMessage().startsWith("headDim:"));
        assertThrows(ArithmeticException.class, () -> Tensor.byteSize(Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE, DType.F32));
        try (Tensor t = Tensor.allocate(4, 1, 1, DType.F32)) {
            assertThrows(IndexOutOfBoundsException.class, () -> t.tokens(3, 2));
        }
    }

    @Test
    void copyConvertsBetweenDtypes() {
        try (Tensor f = Tensor.allocate(3, 2, 3, DType.F32)) {
            for (long i = 0; i < f.elementCount(); i++) {
                f.setFlat(i, i * 0.3f - 1);
            }
            try (Tensor b = f.copyAs(DType.BF16)) {
                for (long i = 0; i < f.elementCount(); i++) {
                    assertEquals(DType.BF16.round(f.getFlat(i)), b.getFlat(i));
                }
            }
        }
    }
}
