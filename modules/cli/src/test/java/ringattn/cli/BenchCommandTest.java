package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import ringattn.io.Json;

/**
 * The sweep end to end: every point's error against the fp64 reference below 1e-4 (fp32, at most
 * 256 keys of values in [−1, 1): measured ~1e-7, a masking or merge defect is of order 0.1), in JSON
 * and CSV alike.
 */
class BenchCommandTest {
    static int csvColumn(List<String> csv, String name) {
        int i = List.of(csv.getFirst().split(",")).indexOf(name);
        assertTrue(i >= 0, name + " in " + csv.getFirst());
        return i;
    }

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void sweepWritesCsvJsonAndAPngPlot() throws Exception {
        CliRun r = CliRun.of("bench", "--transport", "local", "--seqs", "128,256", "--ranks", "1,2", "--head-dim", "16",
                "--heads", "2", "--threads", "1", "--check-rows", "4", "--out", dir.toString());
        assertEquals(0, r.code(), r.toString());
        List<String> csv = Files.readAllLines(dir.resolve("bench.csv"));
        assertEquals(5, csv.size(), csv.toString());
        assertTrue(csv.get(0).startsWith("transport,ranks,seq"), csv.get(0));
        List<?> json = (List<?>) Json.parse(Files.readString(dir.resolve("bench.json")));
        assertEquals(4, json.size());
        List<String> points = new java.util.ArrayList<>();
        for (int i = 0; i < json.size(); i++) {
            Map<?, ?> p = (Map<?, ?>) json.get(i);
            points.add(p.get("ranks") + "x" + p.get("seq"));
            double err = ((Number) p.get("max_abs_err")).doubleValue();
            assertTrue(err > 0 && err < 1e-4, "point " + i + ": max_abs_err " + err + " in " + p);
            assertTrue(((Number) p.get("seconds")).doubleValue() > 0, p.toString());
            assertTrue(((Number) p.get("gflops")).doubleValue() > 0, p.toString());
            double hidden = ((Number) p.get("hidden_comm_fraction")).doubleValue();
            assertTrue(hidden >= 0 && hidden <= 1, p.toString());
            SummaryFields.assertMemory(p, true);
            String[] row = csv.get(i + 1).split(",");
            assertEquals(err, Double.parseDouble(row[csvColumn(csv, "max_abs_err")]), 1e-3 * err,
                    "CSV row " + (i + 1) + " carries the same error as the JSON point");
        }
        assertEquals(List.of("1x128", "1x256", "2x128", "2x256"), points, "every point of the sweep");
        BufferedImage png = ImageIO.read(dir.resolve("bench.png").toFile());
        assertEquals(3 * 560, png.getWidth());
        assertEquals(420, png.getHeight());
        try (var files = Files.list(dir)) {
            assertEquals(3, files.count(), "no temporary files");
        }
    }

    /**
     * Before the first measured point, --warmup untimed demo runs of its shape (here 2), each
     * announced on stderr; without --warmup one. The first point is measured after them.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void warmUpPassesRunBeforeTheFirstPoint() {
        CliRun r = CliRun.of("bench", "--transport", "local", "--seqs", "64,96", "--ranks", "1", "--head-dim", "8",
                "--heads", "1", "--threads", "1", "--check-rows", "2", "--repeat", "1", "--warmup", "2",
                "--out", dir.toString());
        assertEquals(0, r.code(), r.toString());
        List<String> warm = r.err().lines().filter(l -> l.startsWith("bench: warm-up")).toList();
        assertEquals(2, warm.size(), r.toString());
        assertTrue(warm.get(0).startsWith("bench: warm-up 1/2: local P=1 S=64,") && warm.get(0).endsWith("not measured"),
                warm.get(0));
        assertTrue(warm.get(1).startsWith("bench: warm-up 2/2: local P=1 S=64,"), warm.get(1));
        CliRun byDefault = CliRun.of("bench", "--transport", "local", "--seqs", "64", "--ranks", "1", "--head-dim", "8",
                "--heads", "1", "--threads", "1", "--check-rows", "2", "--repeat", "1", "--out", dir.toString());
        assertEquals(0, byDefault.code(), byDefault.toString());
        assertEquals(1, byDefault.err().lines().filter(l -> l.startsWith("bench: warm-up 1/1: local P=1 S=64,")).count(),
                byDefault.toString());
    }
}
