module github.com/moekit/moekit/bindings/go

go 1.19
