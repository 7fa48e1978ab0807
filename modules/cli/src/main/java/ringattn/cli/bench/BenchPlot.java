package ringattn.cli.bench;

import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Draws a sweep as one PNG with three XChart panels side by side: throughput against S (one series
 * per transport and P), throughput against P (one series per transport and S), and hidden
 * communication against S. Needs {@code java.awt.headless=true} on machines without a display
 * (set by {@link #png}). Stateless.
 */
public final class BenchPlot {
    private static final int WIDTH = 560;
    private static final int HEIGHT = 420;

    private BenchPlot() {
    }

    /** The PNG bytes of the plot. */
    public static byte[] png(List<BenchPoint> points) {
        System.setProperty("java.awt.headless", "true");
        List<XYChart> charts = List.of(
                chart("Throughput vs sequence length", "S (tokens)", "GFLOP/s", points,
                        p -> p.transport() + " P=" + p.ranks(), BenchPoint::seqLen, BenchPoint::gflops),
                chart("Throughput vs ranks", "P (ranks)", "GFLOP/s", points,
                        p -> p.transport() + " S=" + p.seqLen(), BenchPoint::ranks, BenchPoint::gflops),
                chart("Hidden communication", "S (tokens)", "% hidden", points,
                        p -> p.transport() + " P=" + p.ranks(), BenchPoint::seqLen, p -> 100 * p.hiddenFraction()));
        BufferedImage all = new BufferedImage(WIDTH * charts.size(), HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = all.createGraphics();
        try {
            for (int i = 0; i < charts.size(); i++) {
                g.drawImage(BitmapEncoder.getBufferedImage(charts.get(i)), i * WIDTH, 0, null);
            }
        } finally {
            g.dispose();
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try {
            ImageIO.write(all, "png", bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    private static XYChart chart(String title, String xLabel, String yLabel, List<BenchPoint> points,
                                 Function<BenchPoint, String> series, ToDoubleFunction<BenchPoint> x,
                                 ToDoubleFunction<BenchPoint> y) {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title).xAxisTitle(xLabel)
                .yAxisTitle(yLabel).build();
        chart.getStyler().setLegendVisible(true);
        chart.getStyler().setMarkerSize(7);
        chart.getStyler().setXAxisDecimalPattern("#");
        Map<String, TreeMap<Double, Double>> bySeries = new java.util.LinkedHashMap<>(); // sweep order
        for (BenchPoint p : points) {
            bySeries.computeIfAbsent(series.apply(p), k -> new TreeMap<>()).put(x.applyAsDouble(p), y.applyAsDouble(p));
        }
        bySeries.forEach((name, xy) -> {
            List<Double> xs = new ArrayList<>(xy.keySet());
            List<Double> ys = new ArrayList<>(xy.values());
            chart.addSeries(name, xs, ys).setMarker(SeriesMarkers.CIRCLE);
        });
        if (bySeries.isEmpty()) {
            chart.addSeries("no data", List.of(0.0), List.of(0.0));
        }
        return chart;
    }
}
