package ringattn.engine.ring;

import ringattn.engine.transport.RingTransport;
import ringattn.engine.transport.Transfer;

/** Which way a {@link RingChannel} moves data round the ring of a {@link RingTransport}. */
enum Direction {
    /** Sends to rank r+1, receives from rank r−1: after d hops rank r holds the block of rank r−d. */
    TO_NEXT,
    /** Sends to rank r−1, receives from rank r+1: after d hops rank r holds the block of rank r+d. */
    TO_PREVIOUS;

    Direction opposite() {
        return this == TO_NEXT ? TO_PREVIOUS : TO_NEXT;
    }

    /** The rank whose block rank {@code rank} holds {@code hops} hops into this direction (may be negative). */
    int origin(int rank, int hops, int worldSize) {
        return Math.floorMod(this == TO_NEXT ? rank - hops : rank + hops, worldSize);
    }

    /** Posts a send of the first {@code lengthBytes} bytes of buffer {@code slot} this way. */
    Transfer send(RingTransport transport, int slot, long lengthBytes, int tag) {
        return this == TO_NEXT ? transport.sendToNext(slot, lengthBytes, tag)
                : transport.sendToPrevious(slot, lengthBytes, tag);
    }

    /** Posts a receive of {@code lengthBytes} bytes into buffer {@code slot}, coming this way. */
    Transfer receive(RingTransport transport, int slot, long lengthBytes, int tag) {
        return this == TO_NEXT ? transport.receiveFromPrevious(slot, lengthBytes, tag)
                : transport.receiveFromNext(slot, lengthBytes, tag);
    }
}
