package org.moekit;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The shared test vectors (tests/vectors/manifest.json, format 1; raw little-endian .bin files). */
final class Vectors {
  final String name;
  final String kind;
  final double tolerance;
  final Map<String, Object> params;
  final Map<String, Object> tensors;
  private final Path dir;

  @SuppressWarnings("unchecked")
  private Vectors(Map<String, Object> c, Path dir) {
    name = (String) c.get("name");
    kind = (String) c.get("kind");
    tolerance = ((Number) c.get("tolerance")).doubleValue();
    params = (Map<String, Object>) c.get("params");
    tensors = (Map<String, Object>) c.get("tensors");
    this.dir = dir;
  }

  static Path dir() {
    String env = System.getenv("MOEKIT_TEST_VECTORS");
    return env != null ? Paths.get(env) : Paths.get(System.getProperty("moekit.test.vectors", "tests/vectors"));
  }

  @SuppressWarnings("unchecked")
  static List<Vectors> cases(String kind) throws IOException {
    Map<String, Object> manifest =
        (Map<String, Object>) new Json(Files.readString(dir().resolve("manifest.json"))).value();
    if (((Number) manifest.get("format")).intValue() != 1) throw new IOException("unknown vector format");
    List<Vectors> out = new ArrayList<>();
    for (Object c : (List<Object>) manifest.get("cases")) {
      Vectors v = new Vectors((Map<String, Object>) c, dir());
      if (v.kind.equals(kind)) out.add(v);
    }
    if (out.isEmpty()) throw new IOException("no " + kind + " cases in the shared vectors");
    return out;
  }

  boolean has(String tensor) {
    return tensors.containsKey(tensor);
  }

  @SuppressWarnings("unchecked")
  private Map<String, Object> t(String tensor) {
    return (Map<String, Object>) tensors.get(tensor);
  }

  @SuppressWarnings("unchecked")
  long[] shape(String tensor) {
    List<Object> s = (List<Object>) t(tensor).get("shape");
    return s.stream().mapToLong(x -> ((Number) x).longValue()).toArray();
  }

  String dtype(String tensor) {
    return (String) t(tensor).get("dtype");
  }

  byte[] raw(String tensor) throws IOException {
    return Files.readAllBytes(dir.resolve((String) t(tensor).get("file")));
  }

  /** The tensor as a host Tensor of its dtype (the little-endian file bytes, on a little-endian host). */
  Tensor tensor(String tensor) throws IOException {
    DType d = switch (dtype(tensor)) {
      case "float32" -> DType.F32;
      case "float16" -> DType.F16;
      case "bfloat16" -> DType.BF16;
      case "int32" -> DType.I32;
      case "float8_e4m3fn" -> DType.F8_E4M3FN;
      case "float8_e8m0fnu" -> DType.E8M0;
      case "float4_e2m1fn_x2" -> DType.FP4_E2M1X2;
      default -> throw new IOException("unexpected dtype " + dtype(tensor));
    };
    byte[] bytes = raw(tensor);
    ByteBuffer b = ByteBuffer.allocateDirect(bytes.length).order(ByteOrder.LITTLE_ENDIAN);
    b.put(bytes).flip();
    return Tensor.of(b, d, shape(tensor));
  }

  float[] floats(String tensor) throws IOException {
    return tensor(tensor).toFloatArray();
  }

  int[] ints(String tensor) throws IOException {
    return tensor(tensor).toIntArray();
  }

  double num(String p) {
    return ((Number) params.get(p)).doubleValue();
  }

  boolean flag(String p) {
    return (Boolean) params.get(p);
  }

  String str(String p) {
    return (String) params.get(p);
  }

  @Override
  public String toString() {
    return name;
  }

  /** Just enough JSON for the manifest: objects, arrays, strings (no escapes but \"), numbers, booleans. */
  static final class Json {
    private final String s;
    private int i;

    Json(String s) {
      this.s = s;
    }

    Object value() {
      skip();
      char c = s.charAt(i);
      if (c == '{') {
        Map<String, Object> m = new LinkedHashMap<>();
        i++;
        skip();
        if (s.charAt(i) == '}') {
          i++;
          return m;
        }
        while (true) {
          skip();
          String k = (String) value();
          skip();
          i++; // ':'
          m.put(k, value());
          skip();
          if (s.charAt(i++) == '}') return m;
        }
      }
      if (c == '[') {
        List<Object> l = new ArrayList<>();
        i++;
        skip();
        if (s.charAt(i) == ']') {
          i++;
          return l;
        }
        while (true) {
          l.add(value());
          skip();
          if (s.charAt(i++) == ']') return l;
        }
      }
      if (c == '"') {
        StringBuilder b = new StringBuilder();
        for (i++; s.charAt(i) != '"'; i++) {
          if (s.charAt(i) == '\\') i++;
          b.append(s.charAt(i));
        }
        i++;
        return b.toString();
      }
      if (s.startsWith("true", i)) {
        i += 4;
        return Boolean.TRUE;
      }
      if (s.startsWith("false", i)) {
        i += 5;
        return Boolean.FALSE;
      }
      if (s.startsWith("null", i)) {
        i += 4;
        return null;
      }
      int start = i;
      while (i < s.length() && "+-.eE0123456789".indexOf(s.charAt(i)) >= 0) i++;
      return Double.parseDouble(s.substring(start, i));
    }

    private void skip() {
      while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
    }
  }
}
