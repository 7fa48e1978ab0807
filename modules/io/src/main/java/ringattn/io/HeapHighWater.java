package ringattn.io;

import com.sun.management.GarbageCollectionNotificationInfo;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import javax.management.NotificationEmitter;
import javax.management.openmbean.CompositeData;

/**
 * This JVM's heap high-water mark: the most heap ever in use at once, in bytes. Heap use only grows
 * between collections, so the peak is the largest "used before GC" summed over the heap pools that
 * a collection reports, or the use now if larger. {@link #track()} subscribes to the collectors'
 * notifications; call it at start-up, since collections before it are not seen (the pools' own
 * peaks, which are per pool and taken at different times, are not summed: that would overstate).
 * Thread-safe.
 */
public final class HeapHighWater {
    private static final AtomicLong PEAK = new AtomicLong();
    private static final Set<String> HEAP_POOLS = ManagementFactory.getMemoryPoolMXBeans().stream()
            .filter(p -> p.getType() == MemoryType.HEAP).map(MemoryPoolMXBean::getName).collect(Collectors.toSet());
    private static volatile boolean tracking;

    private HeapHighWater() {
    }

    /** Starts following collections (idempotent). Where the platform has no notifications, does nothing. */
    public static synchronized void track() {
        if (tracking) {
            return;
        }
        tracking = true;
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            if (gc instanceof NotificationEmitter emitter) {
                emitter.addNotificationListener((n, handback) -> {
                    if (GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION.equals(n.getType())) {
                        var info = GarbageCollectionNotificationInfo.from((CompositeData) n.getUserData());
                        PEAK.accumulateAndGet(heapUsed(info.getGcInfo().getMemoryUsageBeforeGc()), Math::max);
                    }
                }, null, null);
            }
        }
    }

    /** True once {@link #track()} ran: collections since then are counted. */
    public static boolean tracking() {
        return tracking;
    }

    /** The heap high-water mark in bytes: the largest heap use seen before a collection, or now. */
    public static long bytes() {
        long now = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        return PEAK.accumulateAndGet(now, Math::max);
    }

    private static long heapUsed(Map<String, MemoryUsage> byPool) {
        long sum = 0;
        for (var e : byPool.entrySet()) {
            if (HEAP_POOLS.contains(e.getKey())) {
                sum += e.getValue().getUsed();
            }
        }
        return sum;
    }
}
