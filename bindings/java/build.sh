#!/usr/bin/env bash
# Builds the Java binding: SWIG-generated JNI code (package org.moekit.jni), the JNI library libmoekit_jni.so,
# and moekit.jar with both native libraries inside (org/moekit/native/linux-x86_64/). Plain javac/jar.
# Usage: bindings/java/build.sh <moekit install prefix> <output dir>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
prefix=$(cd "$1" && pwd)
out=$(mkdir -p "$2" && cd "$2" && pwd)
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}

rm -rf "$out/gen" "$out/classes" && mkdir -p "$out/gen/org/moekit/jni" "$out/classes"
swig -java -package org.moekit.jni -module MoekitNative -I"$repo/bindings" -I"$repo/capi/include" \
     -outdir "$out/gen/org/moekit/jni" -o "$out/gen/moekit_wrap.c" "$repo/bindings/moekit.i"
# $ORIGIN: the JNI library finds libmoekit.so.1 next to itself (both are unpacked side by side).
# -fno-strict-aliasing: SWIG's Java wrappers pun jlong and pointers (as the SWIG manual advises).
cc -O2 -fPIC -shared -fno-strict-aliasing -Wall -Wno-unused-parameter -I"$java_home/include" -I"$java_home/include/linux" \
   -I"$repo/capi/include" "$out/gen/moekit_wrap.c" -o "$out/libmoekit_jni.so" \
   -L"$prefix/lib" -lmoekit -Wl,-rpath,'$ORIGIN' -Wl,--no-undefined
javac -d "$out/classes" -Xlint:all,-deprecation,-removal -Werror \
      $(find "$out/gen" "$here/src/main/java" -name '*.java')
native_dir="$out/classes/org/moekit/native/linux-x86_64"
mkdir -p "$native_dir"
cp "$out/libmoekit_jni.so" "$native_dir/"
cp -L "$prefix/lib/libmoekit.so.1" "$native_dir/"
jar --create --file "$out/moekit.jar" -C "$out/classes" .
echo "built $out/moekit.jar"
