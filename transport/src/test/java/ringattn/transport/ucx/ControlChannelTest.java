package ringattn.transport.ucx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;

/** Frames of the control plane: authenticated, in order, once, in one direction; decoding bounded. */
class ControlChannelTest {
    private static final byte[] KEY = "a session key of thirty-two byte".getBytes();

    private static byte[] sent(boolean coordinatorSide, byte[] key, ControlMessage... messages) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        ControlChannel c = new ControlChannel(new Socket(), new DataInputStream(new ByteArrayInputStream(new byte[0])),
                new DataOutputStream(b), key, coordinatorSide);
        for (ControlMessage m : messages) {
            c.send(m);
        }
        return b.toByteArray();
    }

    private static ControlChannel reader(byte[] wire, boolean coordinatorSide, byte[] key) {
        return new ControlChannel(new Socket(), new DataInputStream(new ByteArrayInputStream(wire)),
                new DataOutputStream(new ByteArrayOutputStream()), key, coordinatorSide);
    }

    @Test
    void framesArriveAsSent() throws IOException {
        byte[] wire = sent(false, KEY, new ControlMessage.Gather(3, new byte[] {1, 2, 3}), new ControlMessage.Heartbeat());
        ControlChannel r = reader(wire, true, KEY);
        ControlMessage.Gather g = (ControlMessage.Gather) r.receive();
        assertEquals(3, g.seq());
        assertArrayEquals(new byte[] {1, 2, 3}, g.part());
        assertTrue(r.receive() instanceof ControlMessage.Heartbeat);
    }

    @Test
    void alteredFrameFailsAuthentication() throws IOException {
        byte[] wire = sent(false, KEY, new ControlMessage.Fail(1, "h", "reason"));
        wire[wire.length - 40] ^= 1; // a payload byte
        assertThrows(ControlChannel.ForgedFrameException.class, () -> reader(wire, true, KEY).receive());
    }

    @Test
    void frameUnderAnotherKeyFailsAuthentication() throws IOException {
        byte[] wire = sent(false, "another key".getBytes(), new ControlMessage.Heartbeat());
        assertThrows(ControlChannel.ForgedFrameException.class, () -> reader(wire, true, KEY).receive());
    }

    @Test
    void replayedFrameFailsAuthentication() throws IOException {
        byte[] one = sent(false, KEY, new ControlMessage.Fail(1, "h", "reason"));
        byte[] twice = Arrays.copyOf(one, 2 * one.length);
        System.arraycopy(one, 0, twice, one.length, one.length);
        ControlChannel r = reader(twice, true, KEY);
        r.receive();
        assertThrows(ControlChannel.ForgedFrameException.class, r::receive);
    }

    @Test
    void frameReflectedToItsSenderFailsAuthentication() throws IOException {
        byte[] wire = sent(true, KEY, new ControlMessage.Heartbeat());
        assertThrows(ControlChannel.ForgedFrameException.class, () -> reader(wire, true, KEY).receive());
    }

    @Test
    void oversizedOrMalformedFramesAreRefusedBeforeAllocating() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        new DataOutputStream(b).writeInt(Integer.MAX_VALUE);
        IOException e = assertThrows(IOException.class, () -> reader(b.toByteArray(), true, KEY).receive());
        assertTrue(e.getMessage().startsWith("control frame of 2147483647 bytes"), e.getMessage());
        // A field length beyond the frame.
        byte[] gather = new ControlMessage.Gather(1, new byte[4]).encode();
        gather[8] = 0x7f;
        assertThrows(IOException.class, () -> ControlMessage.decode(gather));
        assertThrows(IOException.class, () -> ControlMessage.decode(new byte[] {99}));
        byte[] trailing = Arrays.copyOf(new ControlMessage.Heartbeat().encode(), 2);
        assertThrows(IOException.class, () -> ControlMessage.decode(trailing));
    }

    @Test
    void everyMessageRoundTrips() throws IOException {
        List<ControlMessage> all = List.of(new ControlMessage.Join(2, 4, "p", "h", new byte[] {9}),
                new ControlMessage.Table(List.of(new ControlMessage.Peer(0, "a", new byte[] {1}),
                        new ControlMessage.Peer(1, "b", new byte[] {2})), 77),
                new ControlMessage.Refused("no"), new ControlMessage.Heartbeat(),
                new ControlMessage.Gather(5, new byte[0]), new ControlMessage.Gathered(5, List.of(new byte[] {1}, new byte[0])),
                new ControlMessage.Fail(3, "h", "r"), new ControlMessage.Bye());
        for (ControlMessage m : all) {
            ControlMessage back = ControlMessage.decode(m.encode());
            assertEquals(m.getClass(), back.getClass());
            assertArrayEquals(m.encode(), back.encode(), m.toString());
        }
    }
}
