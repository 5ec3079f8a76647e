package org.moekit;

import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The native library is found inside the jar by default, and an explicit path that is wrong says so. */
class LoaderTest {
  /** Run in a child JVM: loads the library (through any moekit class) and prints where from. */
  public static void main(String[] args) {
    System.out.println("version " + Context.version() + " from " + NativeLibrary.loadedFrom());
  }

  static String run(String... jvmArgs) throws Exception {
    String javaBin = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
    String cp = System.getProperty("moekit.jar") + ":" + System.getProperty("moekit.test.classes");
    List<String> cmd = new ArrayList<>(List.of(javaBin));
    cmd.addAll(List.of(jvmArgs));
    cmd.addAll(List.of("-cp", cp, LoaderTest.class.getName()));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(60, TimeUnit.SECONDS));
    return p.exitValue() + "\n" + out;
  }

  @Test
  void loadsFromTheJar() throws Exception {
    String out = run();
    assertTrue(out.startsWith("0\n") && out.contains("from the jar"), out);
  }

  @Test
  void wrongExplicitPathNamesWhatWasLookedFor() throws Exception {
    String out = run("-Dmoekit.library.path=/nonexistent/moekit");
    assertNotEquals('0', out.charAt(0), out);
    assertTrue(out.contains("UnsatisfiedLinkError") && out.contains("/nonexistent/moekit/libmoekit.so.1"), out);
  }
}
