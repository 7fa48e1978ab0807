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

class BenchCommandTest {
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
        Map<?, ?> first = (Map<?, ?>) json.getFirst();
        assertTrue(((Number) first.get("max_abs_err")).doubleValue() < 1e-4, first.toString());
        BufferedImage png = ImageIO.read(dir.resolve("bench.png").toFile());
        assertEquals(3 * 560, png.getWidth());
        assertEquals(420, png.getHeight());
        try (var files = Files.list(dir)) {
            assertEquals(3, files.count(), "no temporary files");
        }
    }
}
