package ringattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import ringattn.cuda.ffm.Cublas;

/**
 * The cuBLAS handle of the GPU device ops has its math mode pinned to CUBLAS_DEFAULT_MATH (no TF32)
 * before anything else uses it, and is destroyed when opening fails. Recorded calls stand in for
 * the library (no GPU here; BindingsTest calls the real cublasSetMathMode).
 */
class CublasHandlesTest {
    /** Records every call; {@code failOn} names a call that throws. */
    static final class Recorder implements CublasHandles.Calls {
        final List<String> calls = new ArrayList<>();
        final String failOn;

        Recorder(String failOn) {
            this.failOn = failOn;
        }

        private void call(String what) {
            calls.add(what);
            if (what.startsWith(String.valueOf(failOn))) {
                throw new IllegalStateException(what + " failed");
            }
        }

        @Override
        public long create() {
            call("create");
            return 42;
        }

        @Override
        public void setMathMode(long handle, int mode) {
            call("setMathMode " + handle + " " + mode);
        }

        @Override
        public void setStream(long handle, long stream) {
            call("setStream " + handle + " " + stream);
        }

        @Override
        public void destroy(long handle) {
            call("destroy " + handle);
        }
    }

    @Test
    void theMathModeIsPinnedToFp32BeforeTheHandleIsUsed() {
        Recorder cublas = new Recorder(null);
        assertEquals(42, CublasHandles.open(cublas, 7));
        assertEquals(List.of("create", "setMathMode 42 0", "setStream 42 7"), cublas.calls);
        assertEquals(0, Cublas.DEFAULT_MATH, "CUBLAS_DEFAULT_MATH in cublas_api.h (CUBLAS_TF32_TENSOR_OP_MATH is 3)");
    }

    @Test
    void aHandleThatCannotBePinnedIsDestroyed() {
        for (String failing : List.of("setMathMode", "setStream")) {
            Recorder cublas = new Recorder(failing);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> CublasHandles.open(cublas, 7));
            assertEquals("destroy 42", cublas.calls.getLast(), failing + ": " + cublas.calls);
            assertSame(IllegalStateException.class, e.getClass());
        }
    }
}
