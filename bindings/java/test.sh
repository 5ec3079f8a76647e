#!/usr/bin/env bash
# Compiles the JUnit 5 tests against moekit.jar and runs them with Debian's junit5 console launcher.
# Usage: bindings/java/test.sh <output dir of build.sh>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$(cd "$1" && pwd)
junit=${JUNIT_CONSOLE_JAR:-/usr/share/java/junit-platform-console-standalone.jar}
[ -f "$junit" ] || { echo "test.sh: $junit not found (apt-get install junit5)" >&2; exit 1; }

rm -rf "$out/test-classes" && mkdir -p "$out/test-classes"
javac -d "$out/test-classes" -cp "$out/moekit.jar:$junit" -Xlint:all -Werror \
      $(find "$here/src/test/java" -name '*.java')
cd "$repo"
java -Dmoekit.jar="$out/moekit.jar" -Dmoekit.test.classes="$out/test-classes" -Dmoekit.example="$here/examples/MoeLayer.java" \
     -Dmoekit.test.vectors="$repo/tests/vectors" \
     -jar "$junit" --class-path "$out/moekit.jar:$out/test-classes" --scan-class-path "$out/test-classes" \
     --disable-banner --details=summary --details-theme=ascii --fail-if-no-tests
