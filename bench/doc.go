// Package bench holds Mosaic's benchmarks that compare the platform with the
// raw drivers and peer tools on the same machine. Results and the commands
// that produced them are in README.md beside this file.
package bench
