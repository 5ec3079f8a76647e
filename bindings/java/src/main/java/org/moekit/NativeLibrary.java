package org.moekit;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import org.moekit.jni.MoekitNative;
import org.moekit.jni.MoekitNativeConstants;

/**
 * Loads libmoekit_jni.so and libmoekit.so.1, once. Where from, in order:
 *
 * <ol>
 *   <li>the directory named by the system property {@code moekit.library.path} or the environment variable
 *       {@code MOEKIT_LIBRARY_PATH};
 *   <li>inside the jar ({@code org/moekit/native/linux-x86_64/}), unpacked to a temporary directory;
 *   <li>{@code java.library.path} ({@code System.loadLibrary("moekit_jni")}).
 * </ol>
 *
 * A missing library, or one with another ABI version, throws UnsatisfiedLinkError naming what was tried.
 */
public final class NativeLibrary {
  public static final String PATH_PROPERTY = "moekit.library.path";
  public static final String PATH_ENV = "MOEKIT_LIBRARY_PATH";
  private static final String RESOURCE_DIR = "/org/moekit/native/linux-x86_64/";
  private static final String JNI_LIB = "libmoekit_jni.so";
  private static final String CORE_LIB = "libmoekit.so.1";
  private static boolean loaded;
  private static String loadedFrom;

  private NativeLibrary() {}

  /** Where the libraries were loaded from (after the first use of any moekit class). */
  public static synchronized String loadedFrom() {
    load();
    return loadedFrom;
  }

  static synchronized void load() {
    if (loaded) return;
    List<String> tried = new ArrayList<>();
    String dir = System.getProperty(PATH_PROPERTY, System.getenv(PATH_ENV));
    if (dir != null) {
      loadFrom(Paths.get(dir), tried);
      loadedFrom = dir;
    } else if (NativeLibrary.class.getResource(RESOURCE_DIR + JNI_LIB) != null) {
      loadFrom(unpack(tried), tried);
      loadedFrom = "the jar (" + RESOURCE_DIR + ")";
    } else {
      tried.add("java.library.path=" + System.getProperty("java.library.path"));
      try {
        System.loadLibrary("moekit_jni");
      } catch (UnsatisfiedLinkError e) {
        throw failure(tried, e);
      }
      loadedFrom = "java.library.path";
    }
    int abi = MoekitNative.moekit_abi_version();
    if (abi != MoekitNativeConstants.MOEKIT_ABI_VERSION) {
      throw new UnsatisfiedLinkError("moekit: the native library from " + loadedFrom + " has ABI version " + abi
          + ", this jar needs " + MoekitNativeConstants.MOEKIT_ABI_VERSION);
    }
    loaded = true;
  }

  private static void loadFrom(Path dir, List<String> tried) {
    Path core = dir.resolve(CORE_LIB).toAbsolutePath();
    Path jni = dir.resolve(JNI_LIB).toAbsolutePath();
    tried.add(core.toString());
    tried.add(jni.toString());
    try {
      System.load(core.toString()); // first, so the JNI library's dependency resolves to it
      System.load(jni.toString());
    } catch (UnsatisfiedLinkError e) {
      throw failure(tried, e);
    }
  }

  private static Path unpack(List<String> tried) {
    try {
      Path dir = Files.createTempDirectory("moekit-native");
      dir.toFile().deleteOnExit();
      for (String name : new String[] {CORE_LIB, JNI_LIB}) {
        try (InputStream in = NativeLibrary.class.getResourceAsStream(RESOURCE_DIR + name)) {
          if (in == null) throw failure(tried, new UnsatisfiedLinkError("jar has no " + RESOURCE_DIR + name));
          Path file = dir.resolve(name);
          Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
          file.toFile().deleteOnExit();
        }
      }
      return dir;
    } catch (IOException e) {
      throw failure(tried, new UnsatisfiedLinkError("cannot unpack the native libraries: " + e));
    }
  }

  private static UnsatisfiedLinkError failure(List<String> tried, UnsatisfiedLinkError cause) {
    UnsatisfiedLinkError e = new UnsatisfiedLinkError("moekit: cannot load the native library (looked for "
        + String.join(", ", tried) + "; set -D" + PATH_PROPERTY + "=<dir> or " + PATH_ENV + "): "
        + cause.getMessage());
    e.initCause(cause);
    return e;
  }
}
