package ringattn.transport.ucx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import org.junit.jupiter.api.Test;

/** Finding 12: data-path tags carry the job's salt, so a stranger cannot predict what our receives match. */
class PutSlotsTest {
    @Test
    void tagsCarryKindSaltAndStep() {
        try (PutSlots a = new PutSlots(); PutSlots b = new PutSlots()) {
            a.salt(0x123456);
            b.salt(0x654321);
            long t = a.tag(PutSlots.KIND_DATA, 7);
            assertEquals(PutSlots.KIND_DATA, t & (0xFFL << 56));
            assertEquals(0x123456L, (t >>> 32) & 0xFF_FFFFL);
            assertEquals(7L, t & 0xFFFF_FFFFL);
            assertNotEquals(t, b.tag(PutSlots.KIND_DATA, 7));
            assertEquals(0xFFFF_FFFFL, a.tag(PutSlots.KIND_DONE, -1) & 0xFFFF_FFFFL, "negative steps stay in 32 bits");
            assertEquals(PutSlots.KIND_DONE, a.tag(PutSlots.KIND_DONE, -1) & (0xFFL << 56));
        }
    }
}
