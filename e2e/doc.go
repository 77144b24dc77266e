// Package e2e holds floe's black-box end-to-end tests. They build the floe
// binary, run it as separate processes against real services (Apache Kafka,
// Iceberg REST catalogs, PostgreSQL, S3) started by e2e/testbed, and judge
// the result with readers that share no code with floe (PyIceberg, DuckDB).
// The tests carry the build tag e2e: make up && go test -tags e2e ./e2e/.
package e2e
