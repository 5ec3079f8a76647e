package org.moekit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The example runs as the README says (java -cp moekit.jar MoeLayer.java), so it never rots. */
class ExampleTest {
  @Test
  void exampleRuns() throws Exception {
    Path example = Paths.get(System.getProperty("moekit.example", "bindings/java/examples/MoeLayer.java"));
    String jar = System.getProperty("moekit.jar");
    String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(java, "-cp", jar, example.toString()).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(120, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), output);
    assertTrue(output.contains("max |moekit - reference|"), output);
  }
}
